//! MCP over streamable HTTP, stateless, in both eras.
//!
//! One POST carries one JSON-RPC message. Up to 2025-11-25, `initialize` answers but is not
//! required: a `tools/call` without one is served (the compliance runner's raw probes do
//! exactly that). From 2026-07-28 every request declares its version in `_meta` and in the
//! `MCP-Protocol-Version` header (with `Mcp-Method`, and `Mcp-Name` on `tools/call`), the
//! server is found with `server/discover`, results carry `resultType` and lists their cache
//! lifetime; a request of that era is checked as its revision says (400 with `-32602`,
//! `-32020` or `-32022`; 404 for a method it removed). The
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

/// Protocol versions negotiated by `initialize`, newest first.
const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Protocol versions each request declares for itself (no `initialize`), newest first.
const STATELESS_VERSIONS: &[&str] = &["2026-07-28"];
const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
/// A standard header missing, or disagreeing with the body.
const HEADER_MISMATCH: i64 = -32020;
const UNSUPPORTED_VERSION: i64 = -32022;
/// How long a client may keep the `server/discover` and `tools/list` answers: the tools change
/// only with a deployment.
const LIST_TTL_MS: u64 = 600_000;

/// The era of a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Era {
    /// `initialize`-negotiated (2025-11-25 and before), or no version at all.
    Negotiated,
    /// A 2026-07-28 request, its version its own.
    Stateless,
}

/// A request's era, from its `_meta` and `MCP-Protocol-Version`; or its refusal (the HTTP
/// status and the JSON-RPC error). A request neither claims is of the negotiated era.
fn era(
    headers: &HeaderMap,
    id: &Value,
    method: &str,
    params: &Value,
) -> Result<Era, (StatusCode, Value)> {
    // A value that is not text, or a header sent twice, matches nothing.
    let header = |name: &str| {
        let mut values = headers.get_all(name).iter();
        let first = values.next()?;
        let text = first.to_str().ok().filter(|_| values.next().is_none());
        Some(text.map_or("\u{fffd}", str::trim))
    };
    let meta = params.get("_meta");
    let claimed = meta.and_then(|m| m.get(VERSION_KEY));
    let announced = header("mcp-protocol-version");
    if claimed.is_none() && !announced.is_some_and(|v| STATELESS_VERSIONS.contains(&v)) {
        return Ok(Era::Negotiated);
    }
    let refuse =
        |code: i64, message: String| (StatusCode::BAD_REQUEST, jsonrpc::error(id, code, &message));
    let version = claimed.and_then(Value::as_str);
    let capabilities = meta
        .and_then(|m| m.get(CAPABILITIES_KEY))
        .is_some_and(Value::is_object);
    let (Some(version), true) = (version, capabilities) else {
        return Err(refuse(
            jsonrpc::INVALID_PARAMS,
            format!(
                "a request of MCP {} carries `params._meta` `{VERSION_KEY}` (a string) and `{CAPABILITIES_KEY}` (an object)",
                STATELESS_VERSIONS[0]
            ),
        ));
    };
    let mismatch = |name: &str, given: Option<&str>, body: &str| {
        refuse(
            HEADER_MISMATCH,
            match given {
                Some(v) => {
                    format!("Header mismatch: {name} `{v}` does not match the body's `{body}`")
                }
                None => format!(
                    "Header mismatch: the {name} header is required (the body says `{body}`)"
                ),
            },
        )
    };
    if announced != Some(version) {
        return Err(mismatch("MCP-Protocol-Version", announced, version));
    }
    if header("mcp-method") != Some(method) {
        return Err(mismatch("Mcp-Method", header("mcp-method"), method));
    }
    if method == "tools/call" {
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let given = header("mcp-name").map(decode_header);
        if given.as_deref() != Some(name) {
            return Err(mismatch("Mcp-Name", given.as_deref(), name));
        }
    }
    if !STATELESS_VERSIONS.contains(&version) {
        // The versions a request may declare; the negotiated ones come through `initialize`.
        let supported = STATELESS_VERSIONS;
        let e = json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": UNSUPPORTED_VERSION,
            "message": "Unsupported protocol version",
            "data": {"supported": supported, "requested": version},
        }});
        return Err((StatusCode::BAD_REQUEST, e));
    }
    Ok(Era::Stateless)
}

/// A header value as sent, or decoded from its `=?base64?...?=` form (for names a header
/// cannot carry).
fn decode_header(v: &str) -> String {
    use base64::Engine as _;
    v.strip_prefix("=?base64?")
        .and_then(|b| b.strip_suffix("?="))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_owned())
}

/// The server's identity, in a stateless result's `_meta`.
fn server_info<P: DecisioningPlatform>(server: &Server<P>) -> Value {
    let c = server.config();
    json!({"io.modelcontextprotocol/serverInfo": {"name": c.name, "version": c.version}})
}

/// The JSON-RPC answer to a `tools/call`: the reply's body serialised once, as the text content
/// and spliced in as `structuredContent`. The bytes are those of serialising the equivalent
/// `Value` (keys in the same sorted order) without copying the body into a second tree.
fn call_answer(id: &Value, reply: &Reply, era: Era) -> String {
    let body = serde_json::to_string(&reply.body).unwrap_or_default();
    let text = serde_json::to_string(&body).unwrap_or_default();
    let id = serde_json::to_string(id).unwrap_or_default();
    let is_error = reply.is_error;
    let result_type = if era == Era::Stateless {
        r#""resultType":"complete","#
    } else {
        ""
    };
    format!(
        r#"{{"id":{id},"jsonrpc":"2.0","result":{{"content":[{{"text":{text},"type":"text"}}],"isError":{is_error},{result_type}"structuredContent":{body}}}}}"#
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
    peer: Option<std::net::IpAddr>,
    msg: Value,
) -> Response {
    let Value::Object(mut m) = msg else {
        let e = jsonrpc::error(
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "send one JSON-RPC message per request; batches are not supported",
        );
        return respond(headers, StatusCode::BAD_REQUEST, &e);
    };
    // The message is taken apart, not copied: the arguments reach the pipeline as parsed.
    let id = m.remove("id");
    let mut params = m.remove("params").unwrap_or(Value::Null);
    let method = m.get("method").and_then(Value::as_str).unwrap_or("");
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
    let era = match era(headers, &id, method, &params) {
        Ok(era) => era,
        Err((status, e)) => return respond(headers, status, &e),
    };
    if era == Era::Stateless && !matches!(method, "server/discover" | "tools/list" | "tools/call") {
        // `initialize`, `ping` and the rest are gone from the stateless revision.
        let e = jsonrpc::error(
            &id,
            jsonrpc::METHOD_NOT_FOUND,
            &format!("method `{method}` is not supported"),
        );
        return respond(headers, StatusCode::NOT_FOUND, &e);
    }
    let out = match method {
        "server/discover" => {
            let c = server.config();
            let mut result = json!({
                "resultType": "complete",
                "supportedVersions": STATELESS_VERSIONS,
                "capabilities": {"tools": {}},
                "ttlMs": LIST_TTL_MS,
                "cacheScope": "public",
                "_meta": server_info(server),
            });
            if !c.description.is_empty() {
                result["instructions"] = json!(c.description);
            }
            jsonrpc::result(&id, result)
        }
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
            let mut text = String::with_capacity(tools.len() + id.len() + 96);
            text.push_str(r#"{"id":"#);
            text.push_str(&id);
            text.push_str(r#","jsonrpc":"2.0","result":"#);
            if era == Era::Stateless {
                // `{"tools":[..]}` with the stateless revision's fields before it.
                text.push_str(&format!(
                    r#"{{"cacheScope":"public","resultType":"complete","ttlMs":{LIST_TTL_MS},"#
                ));
                text.push_str(tools.strip_prefix('{').unwrap_or(&tools));
            } else {
                text.push_str(&tools);
            }
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
            let tool = spec.name.to_owned();
            let args = params
                .as_object_mut()
                .and_then(|p| p.remove("arguments"))
                .unwrap_or_else(|| json!({}));
            let reply = server
                .call(Call {
                    tool,
                    args,
                    principal: caller.principal().cloned(),
                    agent_url,
                    a2a_push: None,
                    peer,
                    grant: caller.grant().cloned(),
                })
                .await;
            return respond_text(headers, StatusCode::OK, call_answer(&id, &reply, era));
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
