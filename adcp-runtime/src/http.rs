//! The HTTP surface on axum: MCP at `/mcp`, A2A at `/a2a` with its card at
//! `/.well-known/agent-card.json`, and `serve()`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::a2a::{self, A2aTasks};
use crate::auth::{self, Caller};
use crate::error::{AdcpError, codes};
use crate::platform::DecisioningPlatform;
use crate::server::{Config, Server};
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
async fn read_body(req: Request) -> Result<(HeaderMap, Bytes), AdcpError> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => Ok((parts.headers, b)),
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
    let (headers, body) = match read_body(req).await {
        Ok(x) => x,
        Err(e) => return too_large(&e),
    };
    let caller = caller(&s.server, preset, &headers, "/mcp").await;
    // The agent's URL is its MCP endpoint: what format ids and the like name.
    let url = format!("{}/mcp", base_url(&s.server, &headers));
    mcp::handle(&s.server, &s.tools, &headers, url, &caller, &body).await
}

async fn a2a_post<P: DecisioningPlatform>(
    State(s): State<Arc<AppState<P>>>,
    req: Request,
) -> Response {
    let preset = req.extensions().get::<crate::ctx::Principal>().cloned();
    let (headers, body) = match read_body(req).await {
        Ok(x) => x,
        Err(e) => return too_large(&e),
    };
    let caller = caller(&s.server, preset, &headers, "/a2a").await;
    let base = base_url(&s.server, &headers);
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

/// The router for a server: mount it as is, or nest it.
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

/// Serves `platform` on the given settings: `adcp_runtime::serve(platform).bind(addr).run()`.
pub fn serve<P: DecisioningPlatform>(platform: P) -> Serve<P> {
    Serve {
        platform,
        config: Config::default(),
        stores: None,
        addr: "127.0.0.1:3000"
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000))),
    }
}

/// A server being configured.
pub struct Serve<P> {
    platform: P,
    config: Config,
    stores: Option<crate::store::Stores>,
    addr: SocketAddr,
}

impl<P: DecisioningPlatform> Serve<P> {
    /// The settings.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The stores (memory by default; see [`crate::store::Stores`]).
    pub fn stores(mut self, stores: crate::store::Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// The address to listen on.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Checks the platform (see [`crate::boot`]), binds, and serves until SIGINT or SIGTERM,
    /// then finishes the requests in flight.
    pub async fn run(self) -> Result<(), crate::boot::ServeError> {
        let stores = self.stores.unwrap_or_default();
        let server = Server::with_stores(self.platform, self.config, stores);
        crate::boot::check(&server)?;
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(crate::boot::ServeError::Bind)?;
        run_on(server, listener).await
    }
}

/// Serves on a bound listener until SIGINT or SIGTERM.
pub async fn run_on<P: DecisioningPlatform>(
    server: Server<P>,
    listener: TcpListener,
) -> Result<(), crate::boot::ServeError> {
    let addr = listener
        .local_addr()
        .map_err(crate::boot::ServeError::Bind)?;
    let tools: Vec<&str> = server.tools().iter().map(|t| t.name).collect();
    tracing::info!(
        mcp = %format!("http://{addr}/mcp"),
        a2a = %format!("http://{addr}/a2a"),
        card = %format!("http://{addr}/.well-known/agent-card.json"),
        platform = P::descriptor().name,
        tools = tools.len(),
        stores = server.stores(),
        compliance_testing = server.config().compliance_testing,
        "serving AdCP"
    );
    server.start();
    tracing::debug!(?tools, "tools");
    axum::serve(listener, router(server))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(crate::boot::ServeError::Bind)?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
