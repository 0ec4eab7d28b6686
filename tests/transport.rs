//! One success and one error on each transport, as JSON snapshots of the HTTP exchange, with
//! the values that change per run (ids, timestamps) redacted.

use adcp_runtime::router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

fn server() -> axum::Router {
    let mut config = sales_non_guaranteed::config(true);
    // The name these requests give as `Host`.
    config.allowed_hosts = vec!["seller.test".into()];
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
        .header("host", "seller.test");
    let (status, ct, bytes) = exchange(req, &body.to_string()).await;
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

/// One request to the reference seller as `build` makes it; the status, content type and body.
async fn exchange(
    build: axum::http::request::Builder,
    body: &str,
) -> (StatusCode, String, Vec<u8>) {
    let req = build.body(Body::from(body.to_owned())).expect("request");
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
        .expect("body")
        .to_vec();
    (status, ct, bytes)
}

fn mcp_post(host: &str) -> axum::http::request::Builder {
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("host", host)
}

/// DNS rebinding: a page whose name resolves to the agent sends its own name as `Host` (and
/// `Origin`); the agent answers only to its loopback names and the names it was given.
#[tokio::test]
async fn a_foreign_host_or_origin_is_refused_with_a_clear_error() {
    let call = mcp_call("get_adcp_capabilities", &json!({})).to_string();
    let rebound =
        mcp_post("rebind.attacker.example").header("origin", "http://rebind.attacker.example");
    let (status, _, body) = exchange(rebound, &call).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        body["error"]["data"]["adcp_error"]["field"], "Host",
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("rebind.attacker.example") && message.contains("--allowed-host"),
        "{body}"
    );

    // The agent card is not built from a forged Host either.
    let card = Request::get("/.well-known/agent-card.json").header("host", "evil.example");
    let (status, _, body) = exchange(card, "").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert!(!String::from_utf8_lossy(&body).contains("evil.example/a2a"));

    // A browser page elsewhere, sending to a loopback name.
    let cross = mcp_post("127.0.0.1:3000").header("origin", "https://evil.example");
    let (status, _, body) = exchange(cross, &call).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        body["error"]["data"]["adcp_error"]["field"], "Origin",
        "{body}"
    );

    // Loopback names, the allowed name and a same-site origin are served; so is A2A.
    for host in [
        "127.0.0.1:3000",
        "localhost:3000",
        "[::1]:3000",
        "seller.test",
    ] {
        let (status, _, _) = exchange(mcp_post(host), &call).await;
        assert_eq!(status, StatusCode::OK, "{host}");
    }
    let same = mcp_post("seller.test").header("origin", "http://seller.test");
    assert_eq!(exchange(same, &call).await.0, StatusCode::OK);
    let a2a = Request::post("/a2a")
        .header("content-type", "application/json")
        .header("host", "rebind.attacker.example");
    let (status, _, _) = exchange(
        a2a,
        &a2a_send("get_adcp_capabilities", &json!({})).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn accept_is_read_with_its_q_values_and_media_types_ignore_case() {
    let call = mcp_call("get_adcp_capabilities", &json!({})).to_string();
    let with_accept = |accept: &str| {
        Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", accept.to_owned())
            .header("host", "127.0.0.1")
    };
    // JSON refused, nothing else offered: 406, not JSON anyway.
    let (status, _, body) = exchange(with_accept("application/json;q=0"), &call).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let body: Value = serde_json::from_slice(&body).expect("an error body");
    assert_eq!(
        body["error"]["data"]["adcp_error"]["field"], "Accept",
        "{body}"
    );
    // JSON refused, an event stream accepted: one SSE event.
    let (status, ct, body) = exchange(
        with_accept("application/json;q=0, text/event-stream"),
        &call,
    )
    .await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "text/event-stream"));
    assert!(String::from_utf8_lossy(&body).starts_with("event: message\ndata: {"));
    // The stream preferred by q-value.
    let (_, ct, _) = exchange(
        with_accept("application/json;q=0.2, text/event-stream;q=0.9"),
        &call,
    )
    .await;
    assert_eq!(ct, "text/event-stream");
    // Both at the default weight, or a wildcard: JSON.
    for accept in [
        "application/json, text/event-stream",
        "*/*",
        "application/*",
    ] {
        let (_, ct, _) = exchange(with_accept(accept), &call).await;
        assert_eq!(ct, "application/json", "{accept}");
    }
    // Media types are case-insensitive, parameters aside.
    let upper = Request::post("/mcp")
        .header("content-type", "Application/JSON; charset=UTF-8")
        .header("accept", "APPLICATION/JSON")
        .header("host", "127.0.0.1");
    let (status, ct, _) = exchange(upper, &call).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
    let (status, _, _) = exchange(
        Request::post("/mcp")
            .header("content-type", "text/plain")
            .header("host", "127.0.0.1"),
        &call,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn tools_list_is_the_same_bytes_every_time_with_the_callers_id() {
    let list = |id: u32| json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}).to_string();
    let app = server();
    let mut bodies = Vec::new();
    for id in [1, 2] {
        let req = mcp_post("127.0.0.1")
            .body(Body::from(list(id)))
            .expect("request");
        let resp = app.clone().oneshot(req).await.expect("served");
        bodies.push(
            axum::body::to_bytes(resp.into_body(), 1 << 22)
                .await
                .expect("body"),
        );
    }
    let first: Value = serde_json::from_slice(&bodies[0]).expect("JSON");
    let second: Value = serde_json::from_slice(&bodies[1]).expect("JSON");
    assert_eq!(
        (first["id"].clone(), second["id"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(first["result"], second["result"]);
    let tools = first["result"]["tools"].as_array().expect("tools");
    assert!(
        tools
            .iter()
            .any(|t| t["name"] == "create_media_buy" && t["inputSchema"].is_object())
    );
    let tail = |b: &[u8]| b.iter().position(|c| *c == b',').map(|i| b[i..].to_vec());
    assert_eq!(
        tail(&bodies[0]),
        tail(&bodies[1]),
        "one serialisation, the id aside"
    );
}

/// A request of MCP's stateless revision: its version in `_meta` and in the headers.
fn stateless(
    method: &str,
    mut params: Value,
    version: &str,
) -> (axum::http::request::Builder, String) {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "probe", "version": "1"},
    });
    let mut req = mcp_post("127.0.0.1")
        .header("mcp-protocol-version", version)
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str() {
        req = req.header("mcp-name", name.to_owned());
    }
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": params});
    (req, body.to_string())
}

async fn json_exchange(req: axum::http::request::Builder, body: &str) -> (StatusCode, Value) {
    let (status, _, bytes) = exchange(req, body).await;
    (status, serde_json::from_slice(&bytes).expect("JSON"))
}

#[tokio::test]
async fn mcp_2026_07_28_is_served_statelessly_beside_the_negotiated_versions() {
    // A client of the negotiated era asking for the new revision gets the newest it knows.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2026-07-28", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
    let (_, body) = json_exchange(mcp_post("127.0.0.1"), &init.to_string()).await;
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25", "{body}");

    let (req, body) = stateless("server/discover", json!({}), "2026-07-28");
    let (status, body) = json_exchange(req, &body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = &body["result"];
    assert_eq!(r["resultType"], "complete");
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    assert!(r["capabilities"]["tools"].is_object());
    assert!(
        r["ttlMs"].as_u64().is_some() && r["cacheScope"] == "public",
        "{body}"
    );
    assert!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"].is_string(),
        "{body}"
    );

    let (req, body) = stateless("tools/list", json!({}), "2026-07-28");
    let (_, body) = json_exchange(req, &body).await;
    let r = &body["result"];
    assert_eq!(
        (r["resultType"].clone(), r["cacheScope"].clone()),
        (json!("complete"), json!("public"))
    );
    assert!(
        r["tools"].as_array().is_some_and(|t| t.len() > 10) && r["ttlMs"].is_u64(),
        "{body}"
    );

    let (req, body) = stateless(
        "tools/call",
        json!({"name": "get_adcp_capabilities", "arguments": {"context": {"correlation_id": "s-1"}}}),
        "2026-07-28",
    );
    let (_, body) = json_exchange(req, &body).await;
    let r = &body["result"];
    assert_eq!(r["resultType"], "complete", "{body}");
    assert_eq!(r["isError"], false);
    assert_eq!(r["structuredContent"]["context"]["correlation_id"], "s-1");

    // The handshake and ping are gone from the revision.
    for method in ["initialize", "ping"] {
        let (req, body) = stateless(method, json!({}), "2026-07-28");
        let (status, body) = json_exchange(req, &body).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::NOT_FOUND, json!(-32601)),
            "{method}"
        );
    }
}

#[tokio::test]
async fn mcp_2026_07_28_requests_are_checked_as_the_revision_says() {
    // The header and the body disagree.
    let (req, body) = stateless(
        "tools/call",
        json!({"name": "get_adcp_capabilities", "arguments": {}}),
        "2026-07-28",
    );
    let (status, answer) = json_exchange(req.header("mcp-name", "get_products"), &body).await;
    // Two Mcp-Name values are not the body's name either.
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020)),
        "{answer}"
    );
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let (status, answer) = json_exchange(
        mcp_post("127.0.0.1").header("mcp-method", "tools/list"),
        &body.to_string(),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020)),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MCP-Protocol-Version")
    );

    // The revision's header without its `_meta`.
    let list = json!({"jsonrpc": "2.0", "id": 5, "method": "server/discover", "params": {}});
    let modern = mcp_post("127.0.0.1")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover");
    let (status, answer) = json_exchange(modern, &list.to_string()).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32602)),
        "{answer}"
    );

    // A version this server does not speak: the ones it does.
    let (req, body) = stateless("server/discover", json!({}), "2099-01-01");
    let (status, answer) = json_exchange(req, &body).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32022)),
        "{answer}"
    );
    assert_eq!(answer["error"]["data"]["requested"], "2099-01-01");
    assert!(
        answer["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );

    // A negotiated-era request is untouched by all of this.
    let (status, answer) = json_exchange(
        mcp_post("127.0.0.1").header("mcp-protocol-version", "2025-11-25"),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["result"]["resultType"].is_null() && answer["result"]["tools"].is_array());
}
