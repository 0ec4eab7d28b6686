//! A platform with its runtime state: the stores, the registries, the settings. Serving a call
//! is the pipeline's (`pipeline.rs`), running work after the answer the hand-off's
//! (`handoff.rs`), and what runs off the request path the background's (`background.rs`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use adcp_wire::TaskSpec;
use serde_json::Value;

use crate::accounts::{self, Resolver};
use crate::config::Config;
use crate::ctx::Services;
use crate::events::Bus;
use crate::platform::DecisioningPlatform;
use crate::state::State;
use crate::store::{IdempotencyStore, NonceStore, Outbox, Stores};
use crate::tasks::TaskRegistry;
use crate::{capabilities, ssrf};

pub(crate) struct Inner<P> {
    pub(crate) platform: P,
    pub(crate) config: Config,
    pub(crate) services: Services,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) nonces: Arc<dyn NonceStore>,
    pub(crate) outbox: Arc<dyn Outbox>,
    /// The proposal ledger.
    pub(crate) ledger: Arc<dyn crate::store::ProposalStore>,
    /// The proposal manager composed with the platform, if any.
    pub(crate) proposals: std::sync::OnceLock<Arc<dyn crate::proposals::ProposalManager>>,
    stores: String,
    /// SQLite's group commit: every answer waits for its writes to be on disk.
    pub(crate) commits: Option<Arc<crate::store::commit::GroupCommit>>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) postgres_url: Option<String>,
    pub(crate) started: AtomicBool,
    pub(crate) limiter: crate::limits::Limiter,
    pub(crate) metrics: crate::metrics::Metrics,
    /// Background loops hold a weak reference and stop when the server is dropped.
    pub(crate) alive: Arc<()>,
}

/// A platform with its runtime state. Cheap to clone; transports share one.
pub struct Server<P> {
    pub(crate) inner: Arc<Inner<P>>,
}

impl<P> Clone for Server<P> {
    fn clone(&self) -> Self {
        Server {
            inner: self.inner.clone(),
        }
    }
}

impl<P: DecisioningPlatform> Server<P> {
    /// A server with in-memory stores.
    pub fn new(platform: P, config: Config) -> Self {
        Server::with_stores(platform, config, Stores::memory())
    }

    /// A server over the given stores. On PostgreSQL the status-change bus is relayed to the
    /// other replicas (this needs a Tokio runtime).
    pub fn with_stores(platform: P, config: Config, stores: Stores) -> Self {
        let tenant: Arc<str> = stores.tenant().into();
        let Stores {
            tasks,
            outbox,
            idempotency,
            state,
            nonces,
            accounts,
            proposals,
            ids,
            postgres_url,
            description,
            commits,
            ..
        } = stores;
        #[cfg(feature = "postgres")]
        let relay = postgres_url.as_deref().and_then(crate::events::pg::relay);
        #[cfg(not(feature = "postgres"))]
        let relay = None;
        let tasks = TaskRegistry::new(tasks, Bus::of_tenant(relay, &tenant), config.task_lease);
        let services = Services {
            tasks,
            state,
            accounts: Resolver {
                store: accounts,
                ids: ids.for_tenant(&tenant),
                mode: P::descriptor().accounts,
                compliance_testing: config.compliance_testing,
                singleton_base: config.singleton_account.clone(),
            },
            supported_billing: supported_billing(&config.capabilities).into(),
            tenant,
            outbox: Some(outbox.clone()),
            webhook_policy: ssrf::Policy {
                allow_private: config.allow_private_webhooks,
            },
            clock: config.clock.clone(),
            governance_key: config.governance_signing_key.clone(),
            governor: Arc::default(),
        };
        let limiter = crate::limits::Limiter::new(config.rate_limit, config.server_rate_limit);
        let governor = services.governor.clone();
        let server = Server {
            inner: Arc::new(Inner {
                platform,
                config,
                services,
                idempotency,
                nonces,
                outbox,
                ledger: proposals,
                proposals: std::sync::OnceLock::new(),
                stores: description,
                commits,
                postgres_url,
                started: AtomicBool::new(false),
                limiter,
                metrics: crate::metrics::Metrics::default(),
                alive: Arc::new(()),
            }),
        };
        // Handlers reach the platform's own governance through their contexts.
        let own: Arc<dyn crate::ctx::Governor> =
            Arc::new(ServerGovernor(Arc::downgrade(&server.inner)));
        let _ = governor.set(own);
        server
    }

    /// The Prometheus text exposition of this server's metrics (served at `/metrics`).
    pub async fn metrics(&self) -> String {
        let depths = crate::metrics::Depths {
            open_tasks: self
                .inner
                .services
                .tasks
                .store()
                .open_count()
                .await
                .ok()
                .flatten(),
            pending_deliveries: self.inner.outbox.pending_count().await.ok().flatten(),
        };
        self.inner.metrics.render(self.tenant(), &depths)
    }

    /// Whether the stores answer: the readiness `/ready` reports.
    pub async fn ready(&self) -> Result<(), crate::StoreError> {
        self.inner
            .services
            .tasks
            .store()
            .get("adcp-readiness-probe")
            .await
            .map(|_| ())
    }

    /// The tenant whose stores this server serves (empty when it is not one of a
    /// [`TenantRegistry`](crate::TenantRegistry)'s).
    pub fn tenant(&self) -> &str {
        &self.inner.services.tenant
    }

    /// Whether an account scope has anything of this server's: a task recorded under it.
    pub(crate) fn knows_scope<'a>(
        &'a self,
        scope: &'a str,
    ) -> crate::store::BoxFuture<'a, Result<bool, crate::store::StoreError>> {
        Box::pin(async move {
            let tasks = self
                .inner
                .services
                .tasks
                .store()
                .list(crate::store::Owner::Scope(scope))
                .await?;
            Ok(!tasks.is_empty())
        })
    }

    /// Composes `manager` with the platform: it answers `get_products` and finalizes
    /// proposals, the runtime keeps the ledger, and a `create_media_buy` naming a proposal
    /// consumes it before the platform books it. Once per server: a second manager is refused
    /// (`false`).
    pub fn with_proposals(&self, manager: impl crate::proposals::ProposalManager) -> bool {
        self.compose(Arc::new(manager))
    }

    pub(crate) fn compose(&self, manager: Arc<dyn crate::proposals::ProposalManager>) -> bool {
        self.inner.proposals.set(manager).is_ok()
    }

    pub(crate) fn proposal_manager(&self) -> Option<&Arc<dyn crate::proposals::ProposalManager>> {
        self.inner.proposals.get()
    }

    /// The proposal ledger (server-side code: an operator's tools, tests).
    pub fn proposals(&self) -> &Arc<dyn crate::store::ProposalStore> {
        &self.inner.ledger
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.inner.platform
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The task registry.
    pub fn tasks(&self) -> &TaskRegistry {
        &self.inner.services.tasks
    }

    /// The status-change bus.
    pub fn events(&self) -> &Bus {
        self.inner.services.tasks.bus()
    }

    /// Adopter state of one scope, in the server's store (a handler's is [`Ctx::state`]).
    ///
    /// [`Ctx::state`]: crate::Ctx::state
    pub fn state<'a>(&'a self, scope: &'a str) -> State<'a> {
        State::new(self.inner.services.state.as_ref(), scope).publishing(self.events())
    }

    /// The webhook outbox.
    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.inner.outbox
    }

    /// What the stores are (for logs).
    pub fn stores(&self) -> &str {
        &self.inner.stores
    }

    /// Whether `comply_test_controller` is served.
    pub fn serves_controller(&self) -> bool {
        self.inner.config.compliance_testing
    }

    /// Every tool this server answers, in catalogue order.
    pub fn tools(&self) -> Vec<&'static TaskSpec> {
        let d = P::descriptor();
        adcp_wire::catalog::TASKS
            .iter()
            .filter(|t| self.serves(d, t.name))
            .collect()
    }

    /// Whether this server answers `task`: the platform implements it, or the runtime serves it
    /// (the generated `RUNTIME_TASKS`; an overridable one only when the platform does not).
    pub(crate) fn serves(&self, d: &crate::platform::Descriptor<P>, task: &str) -> bool {
        if task == "comply_test_controller" {
            return self.serves_controller();
        }
        match adcp_wire::catalog::RUNTIME_TASKS
            .iter()
            .find(|t| t.name == task)
        {
            Some(t) if !t.overridable => true,
            _ => d.implements(task) || self.serves_account_task(task),
        }
    }

    /// The tasks the claimed specialisms' storyboards exercise that this server does not
    /// answer, by specialism: what a claimant may leave out (the required ones it cannot; the
    /// macro refuses those), reported at boot.
    pub fn optional_tasks_left_out(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let d = P::descriptor();
        d.specialisms
            .iter()
            .filter_map(|s| adcp_wire::catalog::SPECIALISMS.iter().find(|x| x.id == *s))
            .map(|s| {
                let left: Vec<&'static str> = s
                    .optional_tools
                    .iter()
                    .copied()
                    .filter(|t| !self.serves(d, t))
                    .collect();
                (s.id, left)
            })
            .filter(|(_, left)| !left.is_empty())
            .collect()
    }

    /// Whether the runtime serves an account task the platform does not implement:
    /// `list_accounts` always, `sync_accounts` in `explicit` account mode, `sync_governance` for
    /// a governance-aware seller and a platform governing its buyers' purchases itself.
    pub(crate) fn serves_account_task(&self, task: &str) -> bool {
        let d = P::descriptor();
        match task {
            "list_accounts" => !d.implements(task),
            "sync_accounts" => !d.implements(task) && d.accounts == crate::AccountMode::Explicit,
            "sync_governance" => {
                !d.implements(task)
                    && (d.specialisms.contains(&"governance_aware_seller") || self.governs_itself())
            }
            _ => false,
        }
    }

    /// The account store's view for server-side code (an operator's tools, tests): the
    /// accounts of `principal`.
    pub fn accounts_of<'a>(&'a self, principal: &'a str) -> accounts::Accounts<'a> {
        accounts::Accounts {
            resolver: &self.inner.services.accounts,
            principal,
            supported_billing: &self.inner.services.supported_billing,
        }
    }

    /// The `get_adcp_capabilities` response body.
    pub fn capabilities(&self) -> Value {
        capabilities::derive::<P>(&self.inner.config, &self.tools())
    }

    /// The SSRF policy webhooks are sent under.
    pub(crate) fn webhook_policy(&self) -> ssrf::Policy {
        ssrf::Policy {
            allow_private: self.inner.config.allow_private_webhooks,
        }
    }
}

/// The billing parties the capabilities' `account.supported_billing` lists.
fn supported_billing(capabilities: &Value) -> Vec<adcp_wire::BillingParty> {
    capabilities
        .pointer("/account/supported_billing")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str()?.parse().ok())
        .collect()
}

/// The server's governor, holding it weakly (the server owns the services holding this).
struct ServerGovernor<P>(std::sync::Weak<Inner<P>>);

impl<P: DecisioningPlatform> crate::ctx::Governor for ServerGovernor<P> {
    fn govern<'a>(
        &'a self,
        ctx: &'a crate::ctx::Ctx,
        purchase: &'a crate::governance::Purchase,
    ) -> crate::store::BoxFuture<'a, crate::error::AdcpResult<Option<crate::governance::Decision>>>
    {
        Box::pin(async move {
            let Some(inner) = self.0.upgrade() else {
                return Ok(None);
            };
            Server { inner }.govern_purchase(ctx, purchase).await
        })
    }

    fn purchased<'a>(
        &'a self,
        ctx: &'a crate::ctx::Ctx,
        decision: &'a crate::governance::Decision,
        purchase: &'a crate::governance::Purchase,
        reference: &'a str,
    ) -> crate::store::BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(inner) = self.0.upgrade() {
                Server { inner }
                    .commit_purchase(ctx, decision, purchase, reference)
                    .await;
            }
        })
    }
}
