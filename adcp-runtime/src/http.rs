//! The HTTP surface on axum: MCP at `/mcp`, A2A at `/a2a` with its card at
//! `/.well-known/agent-card.json`, and `serve()`.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::a2a::{self, A2aTasks};
use crate::auth::{self, Caller};
use crate::error::{AdcpError, codes};
use crate::hosts::Hosts;
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::{envelope, mcp};

/// Largest request body accepted: 4 MB.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The path prefix a tenant's request arrived under, stripped by the tenant router before
/// the tenant's own routes saw it: the signed target URI is the one the caller sent.
#[derive(Clone, Debug)]
pub(crate) struct PathPrefix(pub(crate) String);

struct AppState<P> {
    server: Server<P>,
    tools: OnceLock<Arc<str>>,
    a2a: A2aTasks,
    hosts: Hosts,
}

/// This agent's base URL: the configured public URL; unset, the loopback `Host` the request
/// named (the host guard refused any other), over plain HTTP.
fn base_url<P: DecisioningPlatform>(server: &Server<P>, headers: &HeaderMap) -> String {
    if let Some(u) = &server.config().public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Refuses a request naming a `Host` or `Origin` this agent is not known by, before any
/// route sees it; in the JSON-RPC shape on the JSON-RPC endpoints.
async fn host_guard<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    match s.hosts.check(req.uri(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err((status, e)) => {
            tracing::info!(
                status = status.as_u16(),
                reason = e.message(),
                "foreign host refused"
            );
            let path = req.uri().path();
            let body = if path.ends_with("/mcp") || path.ends_with("/a2a") {
                crate::jsonrpc::adcp_error(&Value::Null, crate::jsonrpc::INVALID_REQUEST, &e, None)
            } else {
                envelope::error(&e)
            };
            (status, Json(body)).into_response()
        }
    }
}

/// Where a request arrived: which shape its answers take, and where its operation is named.
enum Binding {
    /// MCP JSON-RPC at `/mcp`: the operation is a `tools/call`'s `params.name`.
    Mcp,
    /// A2A JSON-RPC at `/a2a`: the operation is a `message/send`'s skill.
    A2a,
    /// `POST /adcp/<task>`: the body is the task's arguments.
    Raw(String),
}

/// A request past the preamble: read once, parsed once, its caller authenticated (API key,
/// OAuth token or RFC 9421 signature) and authorised for its operation.
struct Inbound<E> {
    binding: Binding,
    parts: Parts,
    /// The JSON-RPC message (MCP, A2A), or the task's arguments (raw).
    message: Value,
    caller: Caller,
    /// The AdCP operation it invokes, when it names one.
    operation: Option<String>,
    /// This agent's base URL as the caller reached it (or as configured).
    base: String,
    endpoint: PhantomData<E>,
}

/// The endpoint a handler serves, named by its `Inbound<E>` extractor: which binding the
/// request arrived on.
trait Endpoint: Send + Sync + 'static {
    fn binding(parts: &Parts) -> Binding;
}

struct McpEndpoint;
struct A2aEndpoint;
/// `POST /adcp/<task>`: the task is the path's last segment.
struct RawEndpoint;

impl Endpoint for McpEndpoint {
    fn binding(_: &Parts) -> Binding {
        Binding::Mcp
    }
}

impl Endpoint for A2aEndpoint {
    fn binding(_: &Parts) -> Binding {
        Binding::A2a
    }
}

impl Endpoint for RawEndpoint {
    fn binding(parts: &Parts) -> Binding {
        Binding::Raw(parts.uri.path().rsplit('/').next().unwrap_or("").to_owned())
    }
}

impl<P: DecisioningPlatform, E: Endpoint> FromRequest<Arc<AppState<P>>> for Inbound<E> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<AppState<P>>) -> Result<Self, Response> {
        inbound(&state.server, req).await
    }
}

/// The AdCP name of an operation (`tasks/get` is `tasks_get`); unknown names as given.
fn canonical(name: &str) -> String {
    envelope::task_named(name)
        .map_or(name, |t| t.name)
        .to_owned()
}

impl Binding {
    fn path(&self) -> String {
        match self {
            Binding::Mcp => "/mcp".into(),
            Binding::A2a => "/a2a".into(),
            Binding::Raw(tool) => format!("/adcp/{tool}"),
        }
    }

    /// The AdCP operation a parsed request invokes.
    fn operation(&self, message: &Value) -> Option<String> {
        match self {
            Binding::Mcp => (message.get("method").and_then(Value::as_str) == Some("tools/call"))
                .then(|| message.pointer("/params/name")?.as_str().map(canonical))
                .flatten(),
            Binding::A2a => a2a::skill_of(message).map(|s| canonical(&s)),
            Binding::Raw(tool) => Some(tool.clone()),
        }
    }

    /// Whether the request may be served without credentials: MCP's session methods
    /// (`initialize`, `tools/list`, ...), and public tasks; A2A task reads and cancels never.
    fn is_public(
        &self,
        message: &Value,
        operation: Option<&str>,
        auth: &crate::auth::Auth,
    ) -> bool {
        match (self, operation) {
            (_, Some(op)) => auth.is_public(op),
            (Binding::Mcp, None) => {
                message.get("method").and_then(Value::as_str) != Some("tools/call")
            }
            _ => false,
        }
    }

    /// The JSON-RPC id and the caller's `context`, for an answer made before the pipeline.
    fn echo<'a>(&self, message: &'a Value) -> (Value, Option<&'a Value>) {
        match self {
            Binding::Mcp => (
                message.get("id").cloned().unwrap_or(Value::Null),
                message.pointer("/params/arguments/context"),
            ),
            Binding::A2a => (
                message.get("id").cloned().unwrap_or(Value::Null),
                a2a::context_of(message),
            ),
            Binding::Raw(_) => (Value::Null, message.get("context")),
        }
    }

    /// An AdCP error answered before the pipeline, in this binding's shape.
    fn refuse(&self, status: StatusCode, e: &AdcpError, message: &Value) -> Response {
        let (id, context) = self.echo(message);
        let body = match self {
            Binding::Raw(_) => {
                let mut body = envelope::error(e);
                envelope::echo_context(&mut body, context.cloned());
                body
            }
            Binding::Mcp | Binding::A2a => {
                let code = if status == StatusCode::BAD_REQUEST {
                    crate::jsonrpc::PARSE_ERROR
                } else {
                    crate::jsonrpc::INVALID_REQUEST
                };
                crate::jsonrpc::adcp_error(&id, code, e, context)
            }
        };
        (status, Json(body)).into_response()
    }
}

/// The preamble every endpoint shares: the body limit, its content type, one parse, the
/// caller (a principal an adopter's middleware put in the request's extensions, else the
/// configured credentials; `x-adcp-auth` too on MCP), RFC 9421 verification, and the
/// authorisation of the operation. A refusal is the answer, in the binding's shape.
async fn inbound<P: DecisioningPlatform, E: Endpoint>(
    server: &Server<P>,
    req: Request,
) -> Result<Inbound<E>, Response> {
    let preset = req.extensions().get::<crate::store::Principal>().cloned();
    let (parts, body) = req.into_parts();
    let binding = E::binding(&parts);
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        let e = AdcpError::invalid_request(
            "body",
            format!("the request body exceeds {BODY_LIMIT} bytes"),
        );
        return Err(binding.refuse(StatusCode::PAYLOAD_TOO_LARGE, &e, &Value::Null));
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty() && !crate::media::is_json(content_type) {
        let e = AdcpError::invalid_request(
            "Content-Type",
            format!("Content-Type must be application/json, not `{content_type}`"),
        );
        return Err(binding.refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, &e, &Value::Null));
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let answerable = crate::media::quality(accept, "application/json") > 0.0
        || (matches!(binding, Binding::Mcp)
            && crate::media::quality(accept, "text/event-stream") > 0.0);
    if !answerable {
        let e = AdcpError::invalid_request(
            "Accept",
            format!(
                "the answer is application/json{}, which `{}` refuses",
                if matches!(binding, Binding::Mcp) {
                    " or text/event-stream"
                } else {
                    ""
                },
                accept.unwrap_or_default()
            ),
        );
        return Err(binding.refuse(StatusCode::NOT_ACCEPTABLE, &e, &Value::Null));
    }
    let message: Value = match (&binding, bytes.is_empty()) {
        (Binding::Raw(_), true) => json!({}),
        _ => match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            // serde_json's reason: a syntax error with its position, or nesting deeper than 128.
            Err(why) => {
                let e = AdcpError::invalid_request(
                    "body",
                    format!("the body is not valid JSON: {why}"),
                );
                return Err(binding.refuse(StatusCode::BAD_REQUEST, &e, &Value::Null));
            }
        },
    };
    let base = base_url(server, &parts.headers);
    let operation = binding.operation(&message);
    let caller = match (preset, &server.config().auth) {
        (Some(p), _) => Caller::Authenticated(p),
        (None, Some(a)) => {
            let resource = format!("{base}{}", binding.path());
            a.caller(&parts.headers, matches!(binding, Binding::Mcp), &resource)
                .await
        }
        (None, None) => Caller::Anonymous,
    };
    // A credential no principal holds may be a grant an account issued.
    let caller = match (
        &caller,
        auth::bearer(&parts.headers, matches!(binding, Binding::Mcp)),
    ) {
        (Caller::Anonymous | Caller::Invalid, Some(token)) => {
            let shared = crate::state::State::new(
                server.inner.services.state.as_ref(),
                crate::ctx::SHARED_SCOPE,
            );
            match crate::grants::find(&shared, token).await {
                Some(g) => Caller::Granted(g),
                None => caller,
            }
        }
        _ => caller,
    };
    let caller = signed(server, &parts, &bytes, operation.as_deref(), caller)
        .await
        .map_err(|(status, e, code)| {
            let mut r = binding.refuse(status, &e, &message);
            if let Ok(v) = HeaderValue::from_str(&format!("Signature error=\"{code}\"")) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        })?;
    if let Some(a) = &server.config().auth
        && caller.principal().is_none()
        && caller.grant().is_none()
        && !binding.is_public(&message, operation.as_deref(), a)
    {
        let (id, context) = binding.echo(&message);
        let resource = format!("{base}{}", binding.path());
        return Err(auth::unauthorized(a, &resource, &caller, &id, context));
    }
    Ok(Inbound {
        binding,
        parts,
        message,
        caller,
        operation,
        base,
        endpoint: PhantomData,
    })
}

/// Request signing, when configured: the caller, now the verified signer if the request was
/// signed; or why not (the status, the AdCP error, and the code for
/// `WWW-Authenticate: Signature error="..."`).
async fn signed<P: DecisioningPlatform>(
    server: &Server<P>,
    parts: &Parts,
    body: &[u8],
    operation: Option<&str>,
    caller: Caller,
) -> Result<Caller, (StatusCode, AdcpError, String)> {
    let Some(signing) = &server.config().request_signing else {
        return Ok(caller);
    };
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
        (status, e, code)
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
    let prefix = parts
        .extensions
        .get::<PathPrefix>()
        .map_or("", |p| p.0.as_str());
    let url = format!("{scheme}://{authority}{prefix}{target}");
    let incoming = Incoming {
        method: parts.method.as_str(),
        url: &url,
        headers: &parts.headers,
        body,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let otherwise = caller.principal().is_some() || caller.grant().is_some();
    match signing
        .verify(
            incoming,
            operation,
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

async fn mcp_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    i: Inbound<McpEndpoint>,
) -> Response {
    // The agent's URL is its MCP endpoint: what format ids and the like name.
    let url = format!("{}/mcp", i.base);
    mcp::handle(
        &s.server,
        &s.tools,
        &i.parts.headers,
        url,
        &i.caller,
        peer(&i.parts),
        i.message,
    )
    .await
}

/// The caller's address, when the server was started with it (`serve`, the tenant front).
fn peer(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

async fn a2a_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    i: Inbound<A2aEndpoint>,
) -> Response {
    let url = format!("{}/mcp", i.base);
    let principal = i.caller.principal().cloned();
    let grant = i.caller.grant().cloned();
    let peer = peer(&i.parts);
    Json(a2a::handle(&s.server, &s.a2a, url, principal, grant, peer, i.message).await)
        .into_response()
}

/// The per-operation binding: `POST /adcp/<task>` (also under `/mcp`) with the task's arguments
/// as the body, as request-signing graders address agents. Past authentication the answer is
/// HTTP 200 with the task's response or its AdCP error envelope, as MCP tool results are.
async fn raw_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    i: Inbound<RawEndpoint>,
) -> Response {
    let Some(tool) = i.operation.clone() else {
        return not_found().await;
    };
    if !i.message.is_object() {
        let e =
            AdcpError::invalid_request("body", "the body is the task's arguments: a JSON object");
        return i.binding.refuse(StatusCode::BAD_REQUEST, &e, &Value::Null);
    }
    let reply = s
        .server
        .call(crate::config::Call {
            tool,
            args: i.message,
            principal: i.caller.principal().cloned(),
            agent_url: format!("{}/mcp", i.base),
            a2a_push: None,
            peer: peer(&i.parts),
            grant: i.caller.grant().cloned(),
        })
        .await;
    Json(reply.body).into_response()
}

/// The JWKS of the keys outbound webhooks are signed with and, on a governance agent, its
/// approvals.
async fn jwks<P: DecisioningPlatform>(State(s): State<Arc<AppState<P>>>) -> Response {
    let config = s.server.config();
    let governs = P::descriptor().implements("check_governance");
    let keys: Vec<Arc<crate::signing::SigningKey>> = config
        .webhook_signing_key
        .iter()
        .chain(config.governance_signing_key.iter().filter(|_| governs))
        .cloned()
        .collect();
    if keys.is_empty() {
        return not_found().await;
    }
    Json(crate::signing::jwks(&keys)).into_response()
}

/// A preview page or asset this agent hosts ([`crate::previews`]), sandboxed.
async fn preview<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let shared = crate::state::State::new(
        s.server.inner.services.state.as_ref(),
        crate::ctx::SHARED_SCOPE,
    );
    let now = s.server.inner.services.clock.instant().unix_timestamp();
    match crate::previews::page(&shared, &id, now).await {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type.as_str()),
                (header::CONTENT_SECURITY_POLICY, crate::previews::POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "private, max-age=300"),
            ],
            body,
        )
            .into_response(),
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

/// Readiness: 200 when the stores answer, 503 otherwise (liveness is `/health`).
async fn ready<P: DecisioningPlatform>(State(s): State<Arc<AppState<P>>>) -> Response {
    match s.server.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer").into_response()
        }
    }
}

/// `/metrics`: with `Config::metrics_token`, to its bearer; without, to loopback peers only.
async fn metrics<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    req: Request,
) -> Response {
    use subtle::ConstantTimeEq as _;
    let allowed = match &s.server.config().metrics_token {
        Some(token) => auth::bearer(req.headers(), false)
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes()))),
        None => req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback()),
    };
    if !allowed {
        let e = AdcpError::new(
            codes::AUTH_REQUIRED,
            "metrics are served to loopback callers, or with the bearer --metrics-token",
        )
        .with_field("Authorization");
        return (StatusCode::FORBIDDEN, Json(envelope::error(&e))).into_response();
    }
    let mut r = s.server.metrics().await.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// One line per HTTP request: method, path, status, latency (no query, no headers).
async fn access_log(req: Request, next: axum::middleware::Next) -> Response {
    let began = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    tracing::info!(
        target: "adcp::access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = began.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
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
    let hosts = Hosts::new(
        server.config().public_url.as_deref(),
        &server.config().allowed_hosts,
    );
    let state = Arc::new(AppState {
        server,
        tools: OnceLock::new(),
        a2a: A2aTasks::default(),
        hosts,
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
        .route("/previews/{id}", get(preview::<P>))
        .route("/assets/{id}", get(preview::<P>))
        .route("/.well-known/agent-card.json", get(card::<P>))
        .route("/.well-known/agent.json", get(card::<P>))
        .route(
            "/.well-known/oauth-protected-resource/{resource}",
            get(resource_metadata::<P>),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host_guard::<P>,
        ))
        // Health checks and scrapes come from orchestrators by address, not by the agent's
        // name.
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready::<P>))
        .route("/metrics", get(metrics::<P>))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}
