//! The HTTP surface on axum: MCP at `/mcp`, A2A at `/a2a` with its card at
//! `/.well-known/agent-card.json`, and `serve()`.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::a2a::{self, A2aTasks};
use crate::auth::{self, Caller};
use crate::error::{AdcpError, codes};
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::{envelope, mcp};

/// Largest request body accepted: 4 MB.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

struct AppState<P> {
    server: Server<P>,
    tools: OnceLock<Arc<Value>>,
    a2a: A2aTasks,
}

/// The base URL a request reached this agent at.
fn base_url<P: DecisioningPlatform>(server: &Server<P>, headers: &HeaderMap) -> String {
    if let Some(u) = &server.config().public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// Reads a body up to the limit; over it, an AdCP error.
async fn read_body(req: Request) -> Result<(Parts, Bytes), AdcpError> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => Ok((parts, b)),
        Err(_) => Err(AdcpError::new(
            codes::INVALID_REQUEST,
            format!("the request body exceeds {BODY_LIMIT} bytes"),
        )
        .with_field("body")
        .with_recovery(crate::Recovery::Correctable)),
    }
}

fn too_large(e: &AdcpError) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": e.message(), "data": envelope::error(e)}});
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}

/// Who is calling `path`: a principal an adopter's own middleware put in the request's
/// extensions, else the configured credentials (`x-adcp-auth` too on MCP).
async fn caller<P: DecisioningPlatform>(
    server: &Server<P>,
    preset: Option<crate::ctx::Principal>,
    headers: &HeaderMap,
    path: &str,
) -> Caller {
    if let Some(p) = preset {
        return Caller::Authenticated(p);
    }
    match &server.config().auth {
        Some(a) => {
            let resource = format!("{}{path}", base_url(server, headers));
            a.caller(headers, path == "/mcp", &resource).await
        }
        None => Caller::Anonymous,
    }
}

async fn mcp_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    req: Request,
) -> Response {
    let preset = req.extensions().get::<crate::ctx::Principal>().cloned();
    let (parts, body) = match read_body(req).await {
        Ok(x) => x,
        Err(e) => return too_large(&e),
    };
    let headers = &parts.headers;
    let caller = caller(&s.server, preset, headers, "/mcp").await;
    let caller = match signed(&s.server, &parts, &body, mcp_operation, caller).await {
        Ok(c) => c,
        Err(why) => return why,
    };
    // The agent's URL is its MCP endpoint: what format ids and the like name.
    let url = format!("{}/mcp", base_url(&s.server, headers));
    mcp::handle(&s.server, &s.tools, headers, url, &caller, &body).await
}

/// The AdCP operation an MCP message invokes: `params.name` of a `tools/call`.
fn mcp_operation(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Params {
        name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Message {
        method: Option<String>,
        params: Option<Params>,
    }
    let m: Message = serde_json::from_slice(body).ok()?;
    (m.method.as_deref() == Some("tools/call"))
        .then_some(m.params?.name)
        .flatten()
}

/// Request signing, when configured: the caller, now the verified signer if the request was
/// signed; or the 401 naming the failed check (`WWW-Authenticate: Signature error="..."`).
/// `operation` finds the AdCP operation in the body; it runs only when signing is configured.
async fn signed<P: DecisioningPlatform>(
    server: &Server<P>,
    parts: &Parts,
    body: &[u8],
    operation: impl FnOnce(&[u8]) -> Option<String>,
    caller: Caller,
) -> Result<Caller, Response> {
    let Some(signing) = &server.config().request_signing else {
        return Ok(caller);
    };
    let operation = operation(body);
    use crate::signing::{Failure, Incoming, Profile};
    let refuse = |failure: Failure| {
        let code = failure.code(Profile::Request);
        let status = if failure == Failure::Unavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::UNAUTHORIZED
        };
        let e = AdcpError::new(
            codes::AUTH_REQUIRED,
            format!("the request signature was refused: {code}"),
        )
        .with_field("Signature");
        let context = serde_json::from_slice::<Value>(body).ok().and_then(|m| {
            m.pointer("/params/arguments/context")
                .or_else(|| m.get("context"))
                .cloned()
        });
        let payload = crate::jsonrpc::adcp_error(
            &Value::Null,
            crate::jsonrpc::INVALID_REQUEST,
            &e,
            context.as_ref(),
        );
        let mut r = (status, Json(payload)).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("Signature error=\"{code}\"")) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let authority = match (parts.uri.authority().map(|a| a.as_str()), host) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => {
            return Err(refuse(Failure::TargetUriMalformed));
        }
        (Some(a), _) => a.to_owned(),
        (None, Some(h)) => h.to_owned(),
        (None, None) => return Err(refuse(Failure::TargetUriMalformed)),
    };
    let scheme = server
        .config()
        .public_url
        .as_deref()
        .and_then(|u| u.split_once("://"))
        .map_or("http", |(s, _)| s);
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{scheme}://{authority}{target}");
    let incoming = Incoming {
        method: parts.method.as_str(),
        url: &url,
        headers: &parts.headers,
        body,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let otherwise = caller.principal().is_some();
    match signing
        .verify(
            incoming,
            operation.as_deref(),
            otherwise,
            server.inner.nonces.as_ref(),
            now,
        )
        .await
    {
        Ok(Some(signer)) => {
            tracing::debug!(keyid = %signer.keyid, "verified request signature");
            Ok(Caller::Authenticated(signer.principal))
        }
        Ok(None) => Ok(caller),
        Err(r) => {
            tracing::info!(code = %r.failure.code(Profile::Request), reason = r.reason, "request signature refused");
            Err(refuse(r.failure))
        }
    }
}

async fn a2a_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    req: Request,
) -> Response {
    let preset = req.extensions().get::<crate::ctx::Principal>().cloned();
    let (parts, body) = match read_body(req).await {
        Ok(x) => x,
        Err(e) => return too_large(&e),
    };
    let headers = &parts.headers;
    let caller = caller(&s.server, preset, headers, "/a2a").await;
    let caller = match signed(&s.server, &parts, &body, a2a::skill_of, caller).await {
        Ok(c) => c,
        Err(why) => return why,
    };
    let base = base_url(&s.server, headers);
    if let Some(a) = &s.server.config().auth
        && caller.principal().is_none()
        && !a2a::is_public_call(&body, a)
    {
        return auth::unauthorized(a, &format!("{base}/a2a"), &caller, &Value::Null, None);
    }
    let url = format!("{base}/mcp");
    let principal = caller.principal().cloned();
    Json(a2a::handle(&s.server, &s.a2a, url, principal, &body).await).into_response()
}

/// The per-operation binding: `POST /adcp/<task>` (also under `/mcp`) with the task's arguments
/// as the body, as request-signing graders address agents. Past authentication the answer is
/// HTTP 200 with the task's response or its AdCP error envelope, as MCP tool results are.
async fn raw_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    req: Request,
) -> Response {
    let preset = req.extensions().get::<crate::ctx::Principal>().cloned();
    let (parts, body) = match read_body(req).await {
        Ok(x) => x,
        Err(e) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, Json(envelope::error(&e))).into_response();
        }
    };
    let path = parts.uri.path().to_owned();
    let tool = path.rsplit('/').next().unwrap_or("").to_owned();
    let headers = &parts.headers;
    let caller = caller(&s.server, preset, headers, &path).await;
    let operation = |_: &[u8]| Some(tool.clone());
    let caller = match signed(&s.server, &parts, &body, operation, caller).await {
        Ok(c) => c,
        Err(why) => return why,
    };
    let base = base_url(&s.server, headers);
    if let Some(a) = &s.server.config().auth
        && caller.principal().is_none()
        && !a.is_public(&tool)
    {
        return auth::unauthorized(a, &format!("{base}{path}"), &caller, &Value::Null, None);
    }
    let args: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                let e = AdcpError::invalid_request(
                    "body",
                    "the body is the task's arguments: a JSON object",
                );
                return (StatusCode::BAD_REQUEST, Json(envelope::error(&e))).into_response();
            }
            Err(why) => {
                let e = AdcpError::invalid_request(
                    "body",
                    format!("the body is not valid JSON: {why}"),
                );
                return (StatusCode::BAD_REQUEST, Json(envelope::error(&e))).into_response();
            }
        }
    };
    if adcp_wire::task(&tool).is_none() {
        let e = AdcpError::new(codes::UNSUPPORTED_FEATURE, format!("Unknown task: {tool}"))
            .with_field("path")
            .with_recovery(crate::Recovery::Terminal);
        return Json(envelope::error(&e)).into_response();
    }
    let reply = s
        .server
        .call(crate::server::Call {
            tool,
            args,
            principal: caller.principal().cloned(),
            agent_url: format!("{base}/mcp"),
            a2a_push: None,
        })
        .await;
    Json(reply.body).into_response()
}

/// The JWKS of the key outbound webhooks are signed with.
async fn jwks<P: DecisioningPlatform>(State(s): State<Arc<AppState<P>>>) -> Response {
    match &s.server.config().webhook_signing_key {
        Some(k) => Json(crate::signing::jwks(std::slice::from_ref(k))).into_response(),
        None => not_found().await,
    }
}

/// RFC 9728 protected-resource metadata, when an authorization server is configured.
async fn resource_metadata<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    axum::extract::Path(resource): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match &s.server.config().auth {
        Some(a)
            if !a.authorization_servers().is_empty()
                && ["mcp", "a2a"].contains(&resource.as_str()) =>
        {
            let url = format!("{}/{resource}", base_url(&s.server, &headers));
            Json(auth::metadata(a, &url)).into_response()
        }
        _ => not_found().await,
    }
}

async fn card<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    headers: HeaderMap,
) -> Json<Value> {
    let url = base_url(&s.server, &headers);
    Json(a2a::agent_card(&s.server, &url))
}

async fn method_not_allowed() -> Response {
    let mut r = Response::new(Body::from("only POST is served here"));
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    r
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not found; AdCP is served at /mcp (MCP) and /a2a (A2A)"})),
    )
        .into_response()
}

/// The router of a server, to nest in an application of one's own (an agent on its own is
/// started with [`serve`](crate::serve)).
pub fn router<P: DecisioningPlatform>(server: Server<P>) -> Router {
    let state = Arc::new(AppState {
        server,
        tools: OnceLock::new(),
        a2a: A2aTasks::default(),
    });
    Router::new()
        .route(
            "/mcp",
            post(mcp_post::<P>)
                .get(method_not_allowed)
                .delete(method_not_allowed),
        )
        .route("/a2a", post(a2a_post::<P>))
        .route("/adcp/{*operation}", post(raw_post::<P>))
        .route("/mcp/adcp/{*operation}", post(raw_post::<P>))
        .route("/.well-known/jwks.json", get(jwks::<P>))
        .route("/.well-known/agent-card.json", get(card::<P>))
        .route("/.well-known/agent.json", get(card::<P>))
        .route(
            "/.well-known/oauth-protected-resource/{resource}",
            get(resource_metadata::<P>),
        )
        .route("/health", get(|| async { "ok" }))
        .fallback(not_found)
        .with_state(state)
}
