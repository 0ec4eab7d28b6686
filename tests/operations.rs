//! Operating an agent: `/metrics` after a storyboard run shows its calls, readiness follows
//! the store, and the access log and call spans carry what they should and no secret.

use adcp_conformance::harness::{Seller, Store, run_storyboard};
use adcp_runtime::test_util::http_client;

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn metrics_scraped_after_a_storyboard_run_show_its_calls() {
    let seller = Seller::start_on(Store::Sqlite);
    let result = run_storyboard(&seller.mcp_url(), "idempotency", &[]);
    assert!(result.is_object(), "{result}");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let (status, content_type, text) = rt.block_on(async {
        let r = http_client()
            .get(format!("{}/metrics", seller.base_url()))
            .send()
            .await
            .expect("scraped");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (r.status().as_u16(), ct, r.text().await.expect("text"))
    });
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let created = sample(
        &text,
        "adcp_calls_total{task=\"create_media_buy\",code=\"ok\"}",
    );
    assert!(created.is_some_and(|n| n >= 1.0), "{text}");
    let replays = sample(&text, "adcp_idempotent_replays_total{}");
    assert!(
        replays.is_some_and(|n| n >= 1.0),
        "the storyboard replays a create: {text}"
    );
    // The conflicting reuse of a key is counted under its code.
    assert!(text.contains("code=\"IDEMPOTENCY_CONFLICT\""), "{text}");
    let count = sample(
        &text,
        "adcp_call_duration_seconds_count{task=\"create_media_buy\"}",
    );
    let inf = sample(
        &text,
        "adcp_call_duration_seconds_bucket{task=\"create_media_buy\",le=\"+Inf\"}",
    );
    assert_eq!(count, inf, "{text}");
    assert!(count >= created);
    assert!(sample(&text, "adcp_tasks_open{}").is_some(), "{text}");
    assert!(
        sample(&text, "adcp_webhook_outbox_pending{}").is_some(),
        "{text}"
    );

    let ready = rt.block_on(async {
        http_client()
            .get(format!("{}/ready", seller.base_url()))
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16()
    });
    assert_eq!(ready, 200);
}

/// `/metrics` is not for the internet: without a token only loopback peers get it (a request
/// with no peer address, as through an embedding router, is refused); with one, its bearer.
#[tokio::test]
async fn metrics_are_served_to_loopback_or_to_the_metrics_token() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;
    let app = |token: Option<&str>| {
        let mut config = sales_non_guaranteed::config(true);
        config.metrics_token = token.map(str::to_owned);
        adcp_runtime::router(
            sales_non_guaranteed::agent(config, adcp_runtime::Stores::memory())
                .into_server()
                .expect("boots"),
        )
    };
    let get = |auth: Option<&str>| {
        let mut r = Request::get("/metrics").header("host", "seller.example");
        if let Some(a) = auth {
            r = r.header("authorization", format!("Bearer {a}"));
        }
        r.body(Body::empty()).expect("request")
    };
    let status = |r: axum::response::Response| r.status();
    assert_eq!(
        status(app(None).oneshot(get(None)).await.unwrap()),
        StatusCode::FORBIDDEN
    );
    let token = "metrics-token-0123456789";
    assert_eq!(
        status(app(Some(token)).oneshot(get(None)).await.unwrap()),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(app(Some(token)).oneshot(get(Some("wrong"))).await.unwrap()),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(app(Some(token)).oneshot(get(Some(token))).await.unwrap()),
        StatusCode::OK
    );
}
