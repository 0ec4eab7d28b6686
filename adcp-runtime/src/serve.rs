//! The one way to start an agent: `serve(platform)`, configured, checked at boot, bound, and
//! served until the caller's shutdown future resolves (SIGINT or SIGTERM by default).
//!
//! ```no_run
//! # use adcp_runtime::{Config, Stores};
//! # async fn go<P: adcp_runtime::DecisioningPlatform>(platform: P) -> Result<(), adcp_runtime::ServeError> {
//! adcp_runtime::serve(platform)
//!     .config(Config::default())
//!     .stores(Stores::sqlite("data").await?)
//!     .catalog(Vec::new()) // the products whose recipes boot validation checks
//!     .bind("127.0.0.1:3000".parse().expect("an address"))
//!     .run()
//!     .await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use adcp_wire::Product;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::boot::{BootError, Problem, ServeError};
use crate::config::Config;
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::store::Stores;

type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts configuring an agent that serves `platform`.
pub fn serve<P: DecisioningPlatform>(platform: P) -> Serve<P> {
    Serve {
        platform,
        config: Config::default(),
        stores: None,
        catalog: None,
        proposals: None,
        listen: Listen::Addr(SocketAddr::from(([127, 0, 0, 1], 3000))),
        shutdown: None,
    }
}

enum Listen {
    Addr(SocketAddr),
    Listener(TcpListener),
}

/// An agent being configured; see [`serve`].
#[must_use = "a `Serve` does nothing until `.run()` or `.start()`"]
pub struct Serve<P> {
    platform: P,
    config: Config,
    stores: Option<Stores>,
    catalog: Option<Vec<Product>>,
    proposals: Option<std::sync::Arc<dyn crate::proposals::ProposalManager>>,
    listen: Listen,
    shutdown: Option<Shutdown>,
}

impl<P: DecisioningPlatform> Serve<P> {
    /// The settings ([`Config::default`] otherwise).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The stores (in memory otherwise; see [`Stores`]).
    pub fn stores(mut self, stores: Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// The platform's catalogue: boot validation checks every product's
    /// `implementation_config` against the declared recipes. A platform that declares recipes
    /// must give it (an empty one if it has no products yet).
    pub fn catalog(mut self, products: impl IntoIterator<Item = Product>) -> Self {
        self.catalog = Some(products.into_iter().collect());
        self
    }

    /// Composes a proposal manager with the platform: it answers `get_products` and
    /// finalizes proposals; see [`Server::with_proposals`].
    pub fn proposals(mut self, manager: impl crate::proposals::ProposalManager) -> Self {
        self.proposals = Some(std::sync::Arc::new(manager));
        self
    }

    /// The address to listen on (`127.0.0.1:3000` otherwise).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.listen = Listen::Addr(addr);
        self
    }

    /// A listener already bound (an ephemeral port in tests, a socket handed over).
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listen = Listen::Listener(listener);
        self
    }

    /// Stops serving when `signal` resolves, finishing the requests in flight (SIGINT or
    /// SIGTERM otherwise, for [`Serve::run`]).
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Checks the platform at boot and gives the server without serving it: for calls in
    /// process ([`Server::call`]) and for nesting [`router`](crate::router) in an application
    /// of one's own.
    pub fn into_server(self) -> Result<Server<P>, ServeError> {
        let Serve {
            platform,
            config,
            stores,
            catalog,
            proposals,
            ..
        } = self;
        boot(
            Server::with_stores(platform, config, stores.unwrap_or_default()),
            catalog,
            proposals,
        )
    }

    /// Checks the platform at boot (every problem at once), binds, logs what is served
    /// where, and serves in the background: the handle stops it.
    pub async fn start(self) -> Result<Running<P>, ServeError> {
        let Serve {
            platform,
            config,
            stores,
            catalog,
            proposals,
            listen,
            shutdown,
        } = self;
        let server = boot(
            Server::with_stores(platform, config, stores.unwrap_or_default()),
            catalog,
            proposals,
        )?;
        let listener = match listen {
            Listen::Addr(a) => TcpListener::bind(a).await.map_err(ServeError::Bind)?,
            Listen::Listener(l) => l,
        };
        let addr = listener.local_addr().map_err(ServeError::Bind)?;
        announce(&server, addr);
        server.start();
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async move {
            match shutdown {
                Some(s) => {
                    tokio::select! {
                        () = s => {}
                        _ = stopped => {}
                    }
                }
                None => {
                    let _ = stopped.await;
                }
            }
        };
        let app = crate::http::router(server.clone());
        let join = tokio::spawn(async move {
            // The peer's address, for what only loopback callers get (`/metrics`).
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
        });
        Ok(Running {
            addr,
            server,
            stop: Some(stop),
            join,
        })
    }

    /// Starts, and serves until the shutdown future (SIGINT or SIGTERM by default) resolves.
    pub async fn run(mut self) -> Result<(), ServeError> {
        if self.shutdown.is_none() {
            self.shutdown = Some(Box::pin(shutdown_signal()));
        }
        self.start().await?.wait().await
    }
}

/// Boot validation, with the catalogue a platform that declares recipes must give.
fn boot<P: DecisioningPlatform>(
    server: Server<P>,
    catalog: Option<Vec<Product>>,
    proposals: Option<std::sync::Arc<dyn crate::proposals::ProposalManager>>,
) -> Result<Server<P>, ServeError> {
    if let Some(m) = proposals {
        server.compose(m);
    }
    let d = P::descriptor();
    if catalog.is_none() && !d.recipe_kinds.is_empty() {
        return Err(BootError {
            problems: vec![Problem {
                area: "catalog",
                message: format!(
                    "`{}` declares recipes ({}): give `serve(..).catalog(products)` so they \
                         are checked",
                    d.name,
                    d.recipe_kinds.join(", ")
                ),
            }],
        }
        .into());
    }
    let products: Vec<serde_json::Value> = catalog
        .unwrap_or_default()
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect();
    crate::boot::check_with_catalog(&server, &products)?;
    Ok(server)
}

/// A running agent.
pub struct Running<P> {
    addr: SocketAddr,
    server: Server<P>,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<std::io::Result<()>>,
}

impl<P: DecisioningPlatform> Running<P> {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server (its stores, registries and platform).
    pub fn server(&self) -> &Server<P> {
        &self.server
    }

    /// Stops it: no new connections, the requests in flight finish.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.wait().await
    }

    /// Waits until it stops.
    pub async fn wait(self) -> Result<(), ServeError> {
        let r = match self.join.await {
            Ok(r) => r.map_err(ServeError::Bind),
            Err(e) => Err(ServeError::Bind(std::io::Error::other(e))),
        };
        drop(self.stop);
        tracing::info!("stopped");
        r
    }
}

/// The start-up log: what is served where, and what is on.
fn announce<P: DecisioningPlatform>(server: &Server<P>, addr: SocketAddr) {
    let config = server.config();
    let base = config.public_url.clone().map_or_else(
        || format!("http://{addr}"),
        |u| u.trim_end_matches('/').to_owned(),
    );
    let tools = server.tools();
    tracing::info!(
        agent = %config.name,
        version = %config.version,
        adcp_runtime = env!("CARGO_PKG_VERSION"),
        platform = P::descriptor().name,
        listen = %addr,
        stores = server.stores(),
        tools = tools.len(),
        "serving AdCP"
    );
    for (specialism, left) in server.optional_tasks_left_out() {
        tracing::info!(
            specialism,
            tasks = ?left,
            "optional tasks of the specialism not served: its storyboards skip their steps"
        );
    }
    tracing::info!(url = %format!("{base}/mcp"), "MCP (streamable HTTP)");
    tracing::info!(url = %format!("{base}/a2a"), card = %format!("{base}/.well-known/agent-card.json"), "A2A 0.3");
    tracing::info!(url = %format!("{base}/adcp/<task>"), "per-operation binding");
    match &config.auth {
        Some(auth) => {
            tracing::info!(
                "authentication on: API keys{}",
                if auth.authorization_servers().is_empty() {
                    ""
                } else {
                    " and OAuth"
                }
            );
            if !auth.authorization_servers().is_empty() {
                tracing::info!(url = %format!("{base}/.well-known/oauth-protected-resource/mcp"), "OAuth protected-resource metadata");
            }
        }
        None => tracing::warn!("authentication off: every task is served to anyone"),
    }
    match &config.request_signing {
        Some(_) => tracing::info!("RFC 9421 request signing verified"),
        None => tracing::info!("RFC 9421 request signing off"),
    }
    if config.webhook_signing_key.is_some() {
        tracing::info!(url = %format!("{base}/.well-known/jwks.json"), "webhooks signed; public key");
    }
    if server.serves_controller() {
        tracing::warn!(
            "compliance testing on: comply_test_controller is served to sandbox accounts; \
             never in production"
        );
    }
    if config.allow_private_webhooks {
        tracing::warn!("webhooks may reach loopback and private addresses (testing only)");
    }
    tracing::debug!(tools = ?tools.iter().map(|t| t.name).collect::<Vec<_>>(), "tools");
}

pub(crate) async fn shutdown_signal() {
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
