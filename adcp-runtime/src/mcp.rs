//! MCP over streamable HTTP, stateless.
//!
//! One POST carries one JSON-RPC message. `initialize` answers but is not required: a
//! `tools/call` without one is served (the compliance runner's raw probes do exactly that). The
//! answer is plain JSON whenever the client accepts `application/json`, and a single SSE event
//! only when it accepts nothing else. No session id is issued. AdCP errors are tool results with
//! `isError: true` and the error envelope in `structuredContent`; JSON-RPC errors are kept for
//! protocol mistakes (unknown method, malformed message).

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::{Call, Reply};
use crate::jsonrpc;
use crate::platform::DecisioningPlatform;
use crate::server::Server;

/// Protocol versions this server speaks, newest first.
const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The JSON-RPC answer to a `tools/call`: the reply's body serialised once, as the text content
/// and spliced in as `structuredContent`. The bytes are those of serialising the equivalent
/// `Value` (keys in the same sorted order) without copying the body into a second tree.
pub(crate) fn tool_call_answer(id: &Value, reply: &Reply) -> String {
    let body = serde_json::to_string(&reply.body).unwrap_or_default();
    let text = serde_json::to_string(&body).unwrap_or_default();
    let id = serde_json::to_string(id).unwrap_or_default();
    let is_error = reply.is_error;
    format!(
        r#"{{"id":{id},"jsonrpc":"2.0","result":{{"content":[{{"text":{text},"type":"text"}}],"isError":{is_error},"structuredContent":{body}}}}}"#
    )
}

/// The `tools/list` result, serialised once: each call splices it into its answer.
fn tools_list<P: DecisioningPlatform>(server: &Server<P>, cache: &OnceLock<Arc<str>>) -> Arc<str> {
    cache
        .get_or_init(|| {
            let tools: Vec<Value> = server
                .tools()
                .into_iter()
                .map(|t| {
                    let schema: Value = serde_json::from_str(t.input_schema).unwrap_or_else(|_| json!({"type": "object"}));
                    json!({
                        "name": t.name,
                        "description": format!("AdCP `{}` ({}): request `{}`, response `{}`.", t.name, t.protocol, t.request_type, t.response_type),
                        "inputSchema": schema,
                    })
                })
                .collect();
            serde_json::to_string(&json!({"tools": tools})).unwrap_or_default().into()
        })
        .clone()
}

/// Serves one POST to the MCP endpoint.
pub(crate) async fn handle<P: DecisioningPlatform>(
    server: &Server<P>,
    cache: &OnceLock<Arc<str>>,
    headers: &HeaderMap,
    agent_url: String,
    caller: &crate::auth::Caller,
    msg: Value,
) -> Response {
    let Value::Object(m) = &msg else {
        let e = jsonrpc::error(
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "send one JSON-RPC message per request; batches are not supported",
        );
        return respond(headers, StatusCode::BAD_REQUEST, &e);
    };
    let id = m.get("id").cloned();
    let method = m.get("method").and_then(Value::as_str).unwrap_or("");
    let params = m.get("params").cloned().unwrap_or(Value::Null);
    let Some(id) = id else {
        // A notification (`notifications/initialized`, `notifications/cancelled`, ...).
        return StatusCode::ACCEPTED.into_response();
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return respond(
            headers,
            StatusCode::BAD_REQUEST,
            &jsonrpc::error(&id, jsonrpc::INVALID_REQUEST, "`jsonrpc` must be \"2.0\""),
        );
    }
    let out = match method {
        "initialize" => {
            let asked = params
                .get("protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or(PROTOCOL_VERSIONS[0]);
            let version = PROTOCOL_VERSIONS
                .iter()
                .find(|v| **v == asked)
                .copied()
                .unwrap_or(PROTOCOL_VERSIONS[0]);
            let c = server.config();
            jsonrpc::result(
                &id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": c.name, "version": c.version},
                    "instructions": c.description,
                }),
            )
        }
        "ping" => jsonrpc::result(&id, json!({})),
        "tools/list" => {
            let tools = tools_list(server, cache);
            let id = serde_json::to_string(&id).unwrap_or_default();
            let mut text = String::with_capacity(tools.len() + id.len() + 32);
            text.push_str(r#"{"id":"#);
            text.push_str(&id);
            text.push_str(r#","jsonrpc":"2.0","result":"#);
            text.push_str(&tools);
            text.push('}');
            return respond_text(headers, StatusCode::OK, text);
        }
        "tools/call" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return respond(
                    headers,
                    StatusCode::OK,
                    &jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        "`params.name` names the tool to call",
                    ),
                );
            };
            let Some(spec) = crate::envelope::task_named(name) else {
                let e = crate::envelope::unknown_task(name, "params.name");
                let context = params.pointer("/arguments/context");
                let err = jsonrpc::adcp_error(&id, jsonrpc::INVALID_PARAMS, &e, context);
                return respond(headers, StatusCode::OK, &err);
            };
            let args = params
                .get("arguments")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let reply = server
                .call(Call {
                    tool: spec.name.to_owned(),
                    args,
                    principal: caller.principal().cloned(),
                    agent_url,
                    a2a_push: None,
                })
                .await;
            return respond_text(headers, StatusCode::OK, tool_call_answer(&id, &reply));
        }
        other => jsonrpc::error(
            &id,
            jsonrpc::METHOD_NOT_FOUND,
            &format!("method `{other}` is not supported"),
        ),
    };
    respond(headers, StatusCode::OK, &out)
}

/// JSON unless the client prefers an event stream (a higher q-value, or JSON refused).
fn respond(headers: &HeaderMap, status: StatusCode, body: &Value) -> Response {
    respond_text(
        headers,
        status,
        serde_json::to_string(body).unwrap_or_default(),
    )
}

/// [`respond`] with the JSON already serialised.
fn respond_text(headers: &HeaderMap, status: StatusCode, text: String) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let json = crate::media::quality(accept, "application/json");
    let sse = crate::media::quality(accept, "text/event-stream");
    let (content_type, payload) = if sse > json {
        (
            "text/event-stream",
            format!("event: message\ndata: {text}\n\n"),
        )
    } else {
        ("application/json", text)
    };
    let mut r = Response::new(Body::from(payload));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
