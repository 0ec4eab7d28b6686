//! One success and one error on each transport, as JSON snapshots of the HTTP exchange, with
//! the values that change per run (ids, timestamps) redacted.

use adcp_runtime::router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

fn server() -> axum::Router {
    let config = sales_non_guaranteed::config(true);
    router(
        sales_non_guaranteed::agent(config, adcp_runtime::Stores::memory())
            .into_server()
            .expect("boots"),
    )
}

async fn post(path: &str, accept: &str, body: &Value) -> (StatusCode, String, Value) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("accept", accept)
        .header("host", "seller.test")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = server().oneshot(req).await.expect("served");
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .expect("body");
    (status, ct, serde_json::from_slice(&bytes).expect("JSON"))
}

fn mcp_call(tool: &str, args: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

fn a2a_send(skill: &str, input: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 9, "method": "message/send", "params": {"message": {
        "kind": "message", "role": "user", "messageId": "msg-1", "contextId": "ctx-1",
        "parts": [{"kind": "data", "data": {"skill": skill, "input": input}}]}}})
}

#[tokio::test]
async fn mcp_success() {
    let (status, ct, body) = post(
        "/mcp",
        "application/json",
        &mcp_call(
            "get_adcp_capabilities",
            &json!({"adcp_major_version": 3, "context": {"correlation_id": "c-1"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/json");
    assert_eq!(body["result"]["isError"], false);
    insta::assert_json_snapshot!(body, {".result.content[0].text" => "[the structured content as JSON text]"});
}

#[tokio::test]
async fn mcp_error() {
    let (status, _, body) = post(
        "/mcp",
        "application/json, text/event-stream",
        &mcp_call("create_media_buy", &json!({"account": {"brand": {"domain": "acme.example"}, "operator": "acme.example"},
                   "brand": {"domain": "acme.example"}, "start_time": "2026-06-01T00:00:00Z",
                   "end_time": "2026-07-01T00:00:00Z",
                   "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": 5000}],
                   "context": {"correlation_id": "c-2"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["structuredContent"]["adcp_error"]["field"],
        "idempotency_key"
    );
    insta::assert_json_snapshot!(body, {".result.content[0].text" => "[the structured content as JSON text]"});
}

#[tokio::test]
async fn a2a_success() {
    let (status, _, body) = post(
        "/a2a",
        "application/json",
        &a2a_send(
            "get_adcp_capabilities",
            &json!({"context": {"correlation_id": "c-3"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["status"]["state"], "completed");
    insta::assert_json_snapshot!(body, {
        ".result.id" => "[task id]",
        ".result.status.timestamp" => "[timestamp]",
        ".result.artifacts[].artifactId" => "[artifact id]",
    });
}

#[tokio::test]
async fn a2a_error() {
    let (status, _, body) = post(
        "/a2a",
        "application/json",
        &a2a_send("update_media_buy", &json!({"account": {"brand": {"domain": "acme.example"}, "operator": "acme.example"},
                   "media_buy_id": "mb_missing", "idempotency_key": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                   "paused": true, "context": {"correlation_id": "c-4"}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let data = &body["result"]["artifacts"][0]["parts"][0]["data"];
    assert_eq!(data["adcp_error"]["code"], "MEDIA_BUY_NOT_FOUND");
    insta::assert_json_snapshot!(body, {
        ".result.id" => "[task id]",
        ".result.status.timestamp" => "[timestamp]",
        ".result.artifacts[].artifactId" => "[artifact id]",
    });
}

#[tokio::test]
async fn agent_card_lists_every_tool_as_a_skill() {
    let req = Request::get("/.well-known/agent-card.json")
        .header("host", "seller.test")
        .body(Body::empty())
        .expect("request");
    let resp = server().oneshot(req).await.expect("served");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let card: Value = serde_json::from_slice(&bytes).expect("JSON");
    let skills: Vec<&str> = card["skills"]
        .as_array()
        .expect("skills")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(skills.contains(&"get_adcp_capabilities"));
    assert!(skills.contains(&"create_media_buy"));
    assert_eq!(card["url"], "http://seller.test/a2a");
    assert_eq!(card["protocolVersion"], "0.3.0");
}
