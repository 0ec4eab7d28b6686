//! Delivery reports to a buyer's `reporting_webhook`, with the reporting clock driven by the
//! test: reports at once when the compliance controller simulates delivery, on schedule at
//! each period's end, then one final report at the flight's end and nothing after; each with
//! its sequence number, signed with the buyer's HMAC secret, in the MCP webhook envelope.

use std::time::Duration;

use adcp_conformance::harness::{Hit, Receiver};
use adcp_runtime::wire::GetMediaBuyDeliveryResponse;
use adcp_runtime::{Call, Clock, Server, Stores, time};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "a-shared-secret-of-at-least-32-characters";

fn account() -> Value {
    json!({"brand": {"domain": "acme.example"}, "operator": "acme.example", "sandbox": true})
}

/// A `create_media_buy` of the test product from now to `end`, with `hook` as its
/// `reporting_webhook`.
fn create(end: &str, budget: f64, hook: &Value) -> Value {
    json!({
        "idempotency_key": format!("rpt-{}", uuid::Uuid::new_v4()),
        "account": account(),
        "brand": {"domain": "acme.example"},
        "start_time": "asap",
        "end_time": end,
        "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": budget}],
        "reporting_webhook": hook,
    })
}

async fn call(server: &Server<sales_non_guaranteed::Seller>, tool: &str, args: Value) -> Value {
    let reply = server.call(Call::new(tool, args)).await;
    assert!(!reply.is_error, "{tool}: {}", reply.body);
    reply.body
}

/// The legacy HMAC-SHA256 scheme: `sha256=<hex>` over `<timestamp>.<body>`.
fn signed(hit: &Hit) -> bool {
    let (Some(sig), Some(ts)) = (
        hit.header("x-adcp-signature"),
        hit.header("x-adcp-timestamp"),
    ) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("a key");
    mac.update(format!("{ts}.{}", hit.body).as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sig == format!("sha256={hex}")
}

/// Waits for the `n`th delivered report.
async fn reports(receiver: &Receiver, n: usize) -> Vec<Value> {
    let hits = receiver
        .wait_delivered("/reports", n, Duration::from_secs(10))
        .await;
    let delivered: Vec<&Hit> = hits.iter().filter(|h| h.status < 300).collect();
    assert!(delivered.len() >= n, "{} of {n} reports", delivered.len());
    assert!(delivered.iter().all(|h| signed(h)), "every report signed");
    delivered.iter().map(|h| h.json()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_sequence_under_simulated_delivery_ends_with_the_flight() {
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    // Early morning (UTC), whatever the time the test runs: the two hours of simulated
    // delivery below must not cross midnight, the end of the daily period. From 22:00 they
    // did: the report loop sent the day's scheduled report on its own, and the step "to
    // midnight" moved the clock back.
    let t0 = time::now_ms().date().midnight().assume_utc() + time::Duration::hours(6);
    let clock = Clock::manual(t0);
    let mut config = sales_non_guaranteed::config(true);
    config.allow_private_webhooks = true;
    config.clock = clock.clone();
    config.reporting_poll = Duration::from_millis(50);
    let server = sales_non_guaranteed::agent(config, Stores::memory())
        .into_server()
        .expect("boots");
    let end = t0 + time::Duration::days(2);
    let created = call(
        &server,
        "create_media_buy",
        create(
            &time::rfc3339(end),
            5000.0,
            &json!({
                "url": receiver.url("/reports"),
                "authentication": {"schemes": ["HMAC-SHA256"], "credentials": SECRET},
                "reporting_frequency": "daily",
                "requested_metrics": ["clicks"],
                "token": "buyer-correlation-token"
            }),
        ),
    )
    .await;
    let buy = created["media_buy_id"].as_str().expect("a buy").to_owned();
    let simulate = |imps: u64| {
        json!({"account": account(), "scenario": "simulate_delivery",
               "params": {"media_buy_id": buy, "impressions": imps, "clicks": imps / 100}})
    };

    // Simulated delivery is reported at once, twice.
    clock.advance(time::Duration::HOUR);
    call(&server, "comply_test_controller", simulate(1000)).await;
    reports(&receiver, 1).await;
    clock.advance(time::Duration::HOUR);
    call(&server, "comply_test_controller", simulate(3000)).await;
    reports(&receiver, 2).await;
    // The day's end passes: the scheduled report.
    let midnight = t0.date().midnight().assume_utc() + time::Duration::DAY;
    assert!(clock.now() < midnight, "the day's end is ahead");
    clock.advance(midnight - clock.now() + time::Duration::MINUTE);
    reports(&receiver, 3).await;
    // The flight's end passes: the final report, and nothing after it.
    clock.advance(end - clock.now() + time::Duration::DAY);
    let all = reports(&receiver, 4).await;
    clock.advance(time::Duration::days(3));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = receiver.hits().len();
    assert_eq!(after, 4, "nothing after the final report");

    let kinds: Vec<&str> = all
        .iter()
        .map(|r| {
            r["result"]["notification_type"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(kinds, ["scheduled", "scheduled", "scheduled", "final"]);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r["task_type"], "media_buy_delivery");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["token"], "buyer-correlation-token");
        let result = &r["result"];
        assert_eq!(result["sequence_number"], i as u64 + 1, "{r}");
        assert!(
            result.get("aggregated_totals").is_none(),
            "API answers only"
        );
        let report: GetMediaBuyDeliveryResponse =
            adcp_runtime::wire::decode(result.clone()).expect("a delivery report");
        let delivery = &report.media_buy_deliveries[0];
        assert_eq!(delivery.media_buy_id, buy);
        let totals = &result["media_buy_deliveries"][0]["totals"];
        assert!(
            totals.get("clicks").is_some() && totals.get("ctr").is_none(),
            "{totals}"
        );
        assert_eq!(result["partial_data"], false);
    }
    // Periods follow each other; the last ends with the flight; only it has no next.
    let period = |r: &Value, k: &str| {
        r["result"]["reporting_period"][k]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for w in all.windows(2) {
        assert_eq!(period(&w[0], "end"), period(&w[1], "start"));
        assert!(w[0]["result"]["next_expected_at"].is_string());
    }
    assert_eq!(period(&all[0], "start"), time::rfc3339(t0));
    assert_eq!(period(&all[2], "end"), time::rfc3339(midnight));
    assert_eq!(period(&all[3], "end"), time::rfc3339(end));
    assert!(all[3]["result"].get("next_expected_at").is_none());
    let imps = |r: &Value| r["result"]["media_buy_deliveries"][0]["totals"]["impressions"].as_f64();
    assert_eq!(imps(&all[1]), Some(4000.0), "the adopter's delivery data");
    // One idempotency key per notification.
    let mut keys: Vec<&str> = all
        .iter()
        .filter_map(|r| r["idempotency_key"].as_str())
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), 4);
}

#[tokio::test]
async fn a_reporting_webhook_the_outbox_would_refuse_is_refused_at_once() {
    let server = sales_non_guaranteed::agent(sales_non_guaranteed::config(true), Stores::memory())
        .into_server()
        .expect("boots");
    let mut request = create(
        "2099-01-01T00:00:00Z",
        5000.0,
        &json!({
            "url": "http://127.0.0.1:9/reports",
            "authentication": {"schemes": ["Bearer"], "credentials": SECRET},
            "reporting_frequency": "hourly"
        }),
    );
    request["context"] = json!({"trace": "t-1"});
    let reply = server.call(Call::new("create_media_buy", request)).await;
    assert!(reply.is_error, "{}", reply.body);
    assert_eq!(
        reply.body["adcp_error"]["field"], "reporting_webhook.url",
        "{}",
        reply.body
    );
    assert_eq!(reply.body["context"]["trace"], "t-1");
}

/// A create handed off to a review: its reporting webhook waits for the buy the task books.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewed_buy_reports_once_its_task_has_booked_it() {
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    let mut config = sales_non_guaranteed::config(true);
    config.allow_private_webhooks = true;
    config.reporting_poll = Duration::from_millis(50);
    let server = sales_non_guaranteed::agent(config, Stores::memory())
        .into_server()
        .expect("boots");
    let submitted = call(
        &server,
        "create_media_buy",
        create(
            "2099-01-01T00:00:00Z",
            2_000_000.0,
            &json!({
                "url": receiver.url("/reports"),
                "authentication": {"schemes": ["HMAC-SHA256"], "credentials": SECRET},
                "reporting_frequency": "hourly"
            }),
        ),
    )
    .await;
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    let task_id = submitted["task_id"].as_str().expect("a task");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let buy = loop {
        let task = call(
            &server,
            "tasks_get",
            json!({"account": account(), "task_id": task_id}),
        )
        .await;
        if let Some(b) = task["result"]["media_buy_id"].as_str() {
            break b.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "{task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    call(
        &server,
        "comply_test_controller",
        json!({"account": account(), "scenario": "simulate_delivery",
               "params": {"media_buy_id": buy, "impressions": 500}}),
    )
    .await;
    let all = reports(&receiver, 1).await;
    assert_eq!(
        all[0]["result"]["media_buy_deliveries"][0]["media_buy_id"],
        buy.as_str()
    );
    assert_eq!(all[0]["result"]["sequence_number"], 1);
}

/// A frequency or metric the products do not offer is refused before anything is booked.
#[tokio::test]
async fn a_reporting_webhook_the_products_cannot_serve_is_refused() {
    let server = sales_non_guaranteed::agent(sales_non_guaranteed::config(true), Stores::memory())
        .into_server()
        .expect("boots");
    let ask = |frequency: &str, metrics: Value| {
        create(
            "2099-01-01T00:00:00Z",
            5000.0,
            &json!({
                "url": "https://buyer.example/reports",
                "authentication": {"schemes": ["Bearer"], "credentials": SECRET},
                "reporting_frequency": frequency,
                "requested_metrics": metrics
            }),
        )
    };
    for (request, field) in [
        (
            ask("monthly", json!([])),
            "reporting_webhook.reporting_frequency",
        ),
        (
            ask("daily", json!(["grps"])),
            "reporting_webhook.requested_metrics",
        ),
    ] {
        let reply = server.call(Call::new("create_media_buy", request)).await;
        assert!(reply.is_error, "{}", reply.body);
        assert_eq!(reply.body["adcp_error"]["field"], field, "{}", reply.body);
    }
    let buys = call(&server, "get_media_buys", json!({"account": account()})).await;
    assert_eq!(
        buys["media_buys"].as_array().map(Vec::len),
        Some(0),
        "nothing booked"
    );
}
