//! Authentication over MCP and A2A: API keys, the 401 challenge, public tasks, and the OAuth
//! hook with its RFC 9728 metadata.

use std::sync::{Arc, Mutex};

use adcp_runtime::BoxFuture;
use adcp_runtime::Principal;
use adcp_runtime::router;
use adcp_runtime::{Auth, TokenVerifier};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "key-of-buyer-a-0123456789";

fn seller(auth: Auth) -> axum::Router {
    seller_with(auth, |_| {})
}

fn seller_with(auth: Auth, configure: impl FnOnce(&mut adcp_runtime::Config)) -> axum::Router {
    let mut config = sales_non_guaranteed::config(true);
    config.auth = Some(auth);
    configure(&mut config);
    // The name these requests give as `Host`.
    config.allowed_hosts = vec!["seller.test".into()];
    let server = sales_non_guaranteed::agent(config, adcp_runtime::Stores::memory())
        .into_server()
        .expect("the reference seller boots");
    router(server)
}

fn keys() -> Auth {
    Auth::new().key("buyer-a", KEY).expect("a long enough key")
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: Value,
}

async fn post(
    app: &axum::Router,
    path: &str,
    header: Option<(&str, &str)>,
    body: &Value,
) -> Answer {
    let mut req = Request::post(path)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("host", "seller.test");
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).expect("a request"))
        .await
        .expect("served");
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("a body");
    Answer {
        status,
        challenge,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
           "params": {"name": tool, "arguments": {"context": {"trace": "auth"}}}})
}

fn a2a(skill: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 5, "method": "message/send", "params": {"message": {
        "kind": "message", "role": "user", "messageId": "m-1",
        "parts": [{"kind": "data", "data": {"skill": skill,
                                            "input": {"context": {"trace": "auth"}}}}]}}})
}

#[tokio::test]
async fn protected_tasks_need_a_key_and_say_how() {
    let app = seller(keys());
    let a = post(&app, "/mcp", None, &call("list_creatives")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.challenge.as_deref(),
        Some("Bearer realm=\"http://seller.test/mcp\"")
    );
    let data = &a.body["error"]["data"];
    assert_eq!(data["adcp_error"]["code"], "AUTH_REQUIRED");
    assert_eq!(data["context"]["trace"], "auth");

    let wrong = format!("Bearer {KEY}x");
    let a = post(
        &app,
        "/mcp",
        Some(("authorization", &wrong)),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.challenge.unwrap().ends_with("error=\"invalid_token\""));
    assert!(
        !a.body.to_string().contains(KEY),
        "a credential is never echoed"
    );

    let right = format!("Bearer {KEY}");
    let a = post(
        &app,
        "/mcp",
        Some(("authorization", &right)),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["result"]["isError"], false, "{}", a.body);
    assert!(!a.body.to_string().contains(KEY));

    let a = post(
        &app,
        "/mcp",
        Some(("x-adcp-auth", KEY)),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "MCP still takes the legacy alias");
}

#[tokio::test]
async fn capabilities_stay_public() {
    let app = seller(keys());
    let a = post(&app, "/mcp", None, &call("get_adcp_capabilities")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["result"]["isError"], false);
    let a = post(
        &app,
        "/mcp",
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "discovery is public");
}

#[tokio::test]
async fn a2a_takes_authorization_only() {
    let app = seller(keys());
    assert_eq!(
        post(&app, "/a2a", None, &a2a("get_adcp_capabilities"))
            .await
            .status,
        StatusCode::OK
    );
    let a = post(&app, "/a2a", None, &a2a("list_creatives")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.challenge.as_deref(),
        Some("Bearer realm=\"http://seller.test/a2a\"")
    );
    assert_eq!(
        a.body["id"], 5,
        "the refusal answers the request: {}",
        a.body
    );
    let data = &a.body["error"]["data"];
    assert_eq!(data["adcp_error"]["code"], "AUTH_REQUIRED", "{}", a.body);
    assert_eq!(data["context"]["trace"], "auth", "context is echoed");
    let a = post(
        &app,
        "/a2a",
        Some(("x-adcp-auth", KEY)),
        &a2a("list_creatives"),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "no alias on A2A");
    let right = format!("Bearer {KEY}");
    let a = post(
        &app,
        "/a2a",
        Some(("authorization", &right)),
        &a2a("list_creatives"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let get = json!({"jsonrpc": "2.0", "id": 6, "method": "tasks/get", "params": {"id": "t"}});
    assert_eq!(
        post(&app, "/a2a", None, &get).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Accepts one token, and records the resource each token was presented to.
struct OneToken {
    seen: Mutex<Vec<String>>,
}

impl TokenVerifier for OneToken {
    fn verify<'a>(&'a self, token: &'a str, resource: &'a str) -> BoxFuture<'a, Option<Principal>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(resource.to_owned());
        Box::pin(async move {
            (token == "issued.jwt.token").then(|| Principal {
                id: "oauth-client-7".into(),
            })
        })
    }
}

#[tokio::test]
async fn oauth_tokens_go_to_the_verifier_and_the_issuer_is_advertised() {
    let verifier = Arc::new(OneToken {
        seen: Mutex::default(),
    });
    let app = seller(keys().oauth("https://auth.buyer.example", verifier.clone()));

    let a = post(&app, "/mcp", None, &call("list_creatives")).await;
    assert_eq!(
        a.challenge.as_deref(),
        Some(
            "Bearer realm=\"http://seller.test/mcp\", \
             resource_metadata=\"http://seller.test/.well-known/oauth-protected-resource/mcp\""
        )
    );
    let ok = post(
        &app,
        "/mcp",
        Some(("authorization", "Bearer issued.jwt.token")),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = post(
        &app,
        "/mcp",
        Some(("authorization", "Bearer forged.jwt.token")),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let key = format!("Bearer {KEY}");
    let by_key = post(
        &app,
        "/mcp",
        Some(("authorization", &key)),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(
        by_key.status,
        StatusCode::OK,
        "API keys still work beside OAuth"
    );
    assert_eq!(
        *verifier.seen.lock().unwrap(),
        ["http://seller.test/mcp", "http://seller.test/mcp"],
        "tokens are checked against the resource they were sent to; keys never reach the verifier"
    );

    let req = Request::get("/.well-known/oauth-protected-resource/mcp")
        .header("host", "seller.test")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let prm: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(prm["resource"], "http://seller.test/mcp");
    assert_eq!(
        prm["authorization_servers"],
        json!(["https://auth.buyer.example"])
    );
}

#[tokio::test]
async fn without_an_issuer_there_is_no_metadata() {
    let app = seller(keys());
    let req = Request::get("/.well-known/oauth-protected-resource/mcp")
        .header("host", "seller.test")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

const KEY_B: &str = "key-of-buyer-b-0123456789";

/// A flood from one principal is answered `RATE_LIMITED` (an AdCP answer, with
/// `retry_after`), while another principal is served.
#[tokio::test]
async fn a_flooding_principal_is_rate_limited_and_another_is_served() {
    let auth = keys().key("buyer-b", KEY_B).expect("a long enough key");
    let app = seller_with(auth, |c| {
        c.rate_limit = adcp_runtime::RateLimit::per_second(1).map(|r| r.burst(3));
    });
    let bearer_a = format!("Bearer {KEY}");
    let bearer_b = format!("Bearer {KEY_B}");
    let mut answers = Vec::new();
    for _ in 0..6 {
        let a = post(
            &app,
            "/mcp",
            Some(("authorization", &bearer_a)),
            &call("list_creatives"),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        answers.push(a.body["result"].clone());
    }
    let limited: Vec<&Value> = answers.iter().filter(|r| r["isError"] == true).collect();
    assert!(limited.len() >= 2, "{answers:?}");
    assert!(
        answers[..3].iter().all(|r| r["isError"] == false),
        "the burst is served"
    );
    let e = &limited[0]["structuredContent"]["adcp_error"];
    assert_eq!(e["code"], "RATE_LIMITED", "{e}");
    assert_eq!(e["recovery"], "transient");
    assert!(e["retry_after"].as_u64().is_some_and(|s| s >= 1), "{e}");
    assert_eq!(
        limited[0]["structuredContent"]["context"]["trace"], "auth",
        "context echoed"
    );

    let b = post(
        &app,
        "/mcp",
        Some(("authorization", &bearer_b)),
        &call("list_creatives"),
    )
    .await;
    assert_eq!(
        b.body["result"]["isError"], false,
        "another principal is served: {}",
        b.body
    );
}
