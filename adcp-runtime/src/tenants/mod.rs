//! Tenants: many agents in one process, each its own platform, keys, stores and URL.
//!
//! A [`TenantRegistry`] holds the tenants ([`TenantSpec`]s, kept in the store so replicas
//! share them), routes each request to one by host or by path prefix (the longest prefix
//! wins), and gates it on the tenant's [`Health`]: a tenant is served only when enabled and
//! validated at least once, otherwise the answer is `503` with `Retry-After` and an AdCP error,
//! never another tenant's answer.
//!
//! Each tenant's platform is built by a builder registered under a name
//! ([`TenantRegistryBuilder::platform`]) and erased ([`TenantServer`]), so one process may serve
//! tenants of different platform types. A builder gets the tenant's view of the stores (every
//! row keyed by the tenant: see [`Stores::for_tenant`]) and a [`Config`] already holding what
//! the registry owns: the public URL, the API keys, the request-signing keys (`jwks_uri`s
//! fetched through the SSRF guard) and the webhook signing key.
//!
//! Validation: a tenant's published keys (its `jwks`) must hold the public half of the key its
//! webhooks are signed with. `pending` until that first succeeds; a later failed recheck of a
//! validated tenant makes it `unverified` (still served, and reported); the operator's gate
//! (enabled / disabled) is independent of both.

mod http;
mod keys;
mod routes;
mod spec;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use axum::Router;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Auth;
use crate::config::Config;
use crate::events::Event;
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::signing::{KeySet, RequestSigning};
use crate::ssrf;
use crate::store::tenants::{Health, TenantRecord, TenantSpec, TenantStore, Verification};
use crate::store::{BoxFuture, Principal, StoreError, Stores};

use keys::webhook_key;
use routes::View;

/// Live nonces each request-signing key of a tenant's buyers may hold.
const NONCE_CAP: u64 = 100_000;

/// What a platform builder is given for one tenant.
#[derive(Debug)]
pub struct TenantContext {
    /// The tenant.
    pub spec: TenantSpec,
    /// The tenant's view of the stores: nothing of another tenant is reachable through it.
    pub stores: Stores,
    /// Settings with what the registry owns already set (`public_url`, `auth`,
    /// `request_signing`, `webhook_signing_key`); the builder adds the rest (name,
    /// capabilities, ...) and must not change `public_url`.
    pub config: Config,
}

/// One tenant's server, its platform type erased.
#[derive(Clone)]
pub struct TenantServer(Arc<dyn Mounted>);

impl std::fmt::Debug for TenantServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantServer")
            .field("platform", &self.0.platform_name())
            .finish_non_exhaustive()
    }
}

impl<P: DecisioningPlatform> From<Server<P>> for TenantServer {
    fn from(server: Server<P>) -> Self {
        let router = crate::http::router(server.clone());
        TenantServer(Arc::new(Erased { server, router }))
    }
}

/// What the registry needs of a tenant's server, whatever its platform.
trait Mounted: Send + Sync + 'static {
    fn router(&self) -> Router;
    fn config(&self) -> &Config;
    fn platform_name(&self) -> &'static str;
    fn start(&self);
    fn publish(&self, event: Event);
    fn tenant(&self) -> &str;
    fn knows_scope<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

struct Erased<P> {
    server: Server<P>,
    router: Router,
}

impl<P: DecisioningPlatform> Mounted for Erased<P> {
    fn router(&self) -> Router {
        self.router.clone()
    }
    fn config(&self) -> &Config {
        self.server.config()
    }
    fn platform_name(&self) -> &'static str {
        P::descriptor().name
    }
    fn start(&self) {
        self.server.start();
    }
    fn publish(&self, event: Event) {
        self.server.events().publish(event);
    }
    fn tenant(&self) -> &str {
        self.server.tenant()
    }
    fn knows_scope<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.server.knows_scope(scope)
    }
}

type Build =
    Arc<dyn Fn(TenantContext) -> BoxFuture<'static, Result<TenantServer, String>> + Send + Sync>;

/// Why a registry operation was refused. Each names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// A field of the spec is malformed (or names something unknown).
    #[error("`{field}`: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A host or path prefix already routes to another tenant, or the id is taken.
    #[error("`{field}`: {message}")]
    Conflict {
        /// The field.
        field: &'static str,
        /// Which tenant has it.
        message: String,
    },
    /// No such tenant.
    #[error("no tenant `{0}`")]
    NotFound(String),
    /// An event for an account the tenant does not have.
    #[error("the event's account scope `{0}` is not this tenant's")]
    ForeignEvent(String),
    /// The registry's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A tenant as the registry reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TenantStatus {
    /// The tenant's id.
    pub id: String,
    /// Whether requests are served.
    pub served: bool,
    /// Its health.
    #[serde(flatten)]
    pub health: Health,
    /// The tenant.
    pub spec: TenantSpec,
}

impl TenantStatus {
    fn of(record: &TenantRecord) -> Self {
        TenantStatus {
            id: record.spec.id.clone(),
            served: record.health.serves(),
            health: record.health.clone(),
            spec: record.spec.clone(),
        }
    }
}

/// Configures a [`TenantRegistry`].
#[must_use = "a builder does nothing until `.build()`"]
pub struct TenantRegistryBuilder {
    stores: Stores,
    registry: Option<Arc<dyn TenantStore>>,
    builders: HashMap<String, Build>,
    lazy: bool,
    allow_private: bool,
    refresh: Duration,
    recheck: Duration,
    admin: Option<[u8; 32]>,
}

impl TenantRegistryBuilder {
    /// Registers a platform builder under `name` (a spec's `platform`).
    pub fn platform<F, Fut>(mut self, name: impl Into<String>, build: F) -> Self
    where
        F: Fn(TenantContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TenantServer, String>> + Send + 'static,
    {
        let build = Arc::new(build);
        self.builders.insert(
            name.into(),
            Arc::new(move |cx| Box::pin(build(cx)) as BoxFuture<'static, _>),
        );
        self
    }

    /// Builds a tenant's platform at its first request rather than when it is registered.
    pub fn lazy(mut self) -> Self {
        self.lazy = true;
        self
    }

    /// Lets JWKS be fetched from loopback and private addresses over plain HTTP: for tests
    /// only (the SSRF guard refuses them otherwise).
    pub fn allow_private_jwks(mut self) -> Self {
        self.allow_private = true;
        self
    }

    /// How often the registry re-reads the store (other replicas' changes): 2 s otherwise.
    pub fn refresh_every(mut self, period: Duration) -> Self {
        self.refresh = period;
        self
    }

    /// How often a validated tenant's keys are checked again (and its buyers' JWKS
    /// refetched): 5 minutes otherwise. A pending tenant is retried at the refresh period.
    pub fn recheck_every(mut self, period: Duration) -> Self {
        self.recheck = period;
        self
    }

    /// Serves the admin API at `/_adcp/tenants` to callers presenting `token` as a bearer
    /// token. Without one there is no admin API.
    pub fn admin_token(mut self, token: &str) -> Self {
        self.admin = Some(Sha256::digest(token.as_bytes()).into());
        self
    }

    /// Keeps the registry in `store` rather than in the stores given to
    /// [`TenantRegistry::builder`].
    pub fn registry_store(mut self, store: Arc<dyn TenantStore>) -> Self {
        self.registry = Some(store);
        self
    }

    /// Loads the stored tenants, builds the eager ones and starts following the store.
    pub async fn build(self) -> Result<TenantRegistry, StoreError> {
        let store = match self.registry {
            Some(s) => s,
            None => self.stores.tenants(),
        };
        let policy = ssrf::Policy {
            allow_private: self.allow_private,
        };
        let registry = TenantRegistry {
            inner: Arc::new(Inner {
                store,
                stores: self.stores,
                builders: self.builders,
                lazy: self.lazy,
                policy,
                client: ssrf::client(policy),
                recheck: self.recheck,
                admin: self.admin,
                view: RwLock::new(Arc::new(View::default())),
                mounts: RwLock::new(HashMap::new()),
                building: tokio::sync::Mutex::new(()),
            }),
        };
        registry.refresh().await?;
        let weak = Arc::downgrade(&registry.inner);
        tokio::spawn(follow(weak, self.refresh));
        Ok(registry)
    }
}

/// The tenants of a process, shared with the other replicas through the store. Cheap to
/// clone.
#[derive(Clone)]
pub struct TenantRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn TenantStore>,
    stores: Stores,
    builders: HashMap<String, Build>,
    lazy: bool,
    policy: ssrf::Policy,
    client: reqwest::Client,
    recheck: Duration,
    admin: Option<[u8; 32]>,
    view: RwLock<Arc<View>>,
    /// The built tenants, read on every request.
    mounts: RwLock<HashMap<String, Slot>>,
    /// Held while a tenant is built, so that it is built once.
    building: tokio::sync::Mutex<()>,
}

/// A built tenant: its server, and what it was built from (a change rebuilds it).
#[derive(Clone)]
struct Slot {
    fingerprint: u64,
    signers: Arc<Vec<Value>>,
    server: TenantServer,
}

/// A spec's fingerprint (in this process).
fn fingerprint(spec: &TenantSpec) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(spec).unwrap_or_default().hash(&mut h);
    h.finish()
}

impl TenantRegistry {
    /// A registry over `stores` (its tenants are kept there; each tenant's data lives in the
    /// tenant's view of them).
    pub fn builder(stores: Stores) -> TenantRegistryBuilder {
        TenantRegistryBuilder {
            stores,
            registry: None,
            builders: HashMap::new(),
            lazy: false,
            allow_private: false,
            refresh: Duration::from_secs(2),
            recheck: Duration::from_secs(300),
            admin: None,
        }
    }

    fn view(&self) -> Arc<View> {
        self.inner
            .view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every tenant, by id.
    pub fn list(&self) -> Vec<TenantStatus> {
        let view = self.view();
        let mut all: Vec<TenantStatus> = view.records.values().map(TenantStatus::of).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// One tenant.
    pub fn status(&self, id: &str) -> Option<TenantStatus> {
        self.view().records.get(id).map(TenantStatus::of)
    }

    /// Registers a tenant: `pending` until its keys validate (tried at once, then at every
    /// refresh). A malformed spec, an unknown platform, a taken id, host or prefix is refused;
    /// keys that cannot be fetched yet leave it pending with the reason in `last_error`.
    pub async fn register(&self, spec: TenantSpec) -> Result<TenantStatus, TenantError> {
        self.refresh().await?;
        self.check_spec(&spec)?;
        if self.view().records.contains_key(&spec.id) {
            return Err(TenantError::Conflict {
                field: "id",
                message: format!("a tenant `{}` is registered", spec.id),
            });
        }
        let record = TenantRecord {
            spec,
            health: Health::pending(),
            revision: 0,
        };
        let id = record.spec.id.clone();
        match self.inner.store.put(&record).await {
            Err(StoreError::Exists(_)) => {
                return Err(TenantError::Conflict {
                    field: "id",
                    message: format!("a tenant `{id}` is registered"),
                });
            }
            r => r?,
        };
        self.refresh().await?;
        self.recheck(&id).await
    }

    /// Replaces a tenant's spec (same id), keeping its health; its platform is rebuilt.
    pub async fn update(&self, spec: TenantSpec) -> Result<TenantStatus, TenantError> {
        self.refresh().await?;
        self.check_spec(&spec)?;
        let id = spec.id.clone();
        self.modify(&id, |r| r.spec = spec.clone()).await?;
        self.recheck(&id).await
    }

    /// Removes a tenant: not served from the next request on, on every replica at its next
    /// refresh. Its data stays in the store.
    pub async fn unregister(&self, id: &str) -> Result<(), TenantError> {
        if !self.inner.store.delete(id).await? {
            return Err(TenantError::NotFound(id.to_owned()));
        }
        self.refresh().await?;
        Ok(())
    }

    /// The operator's gate: a disabled tenant answers 503 on every replica.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<TenantStatus, TenantError> {
        self.modify(id, |r| r.health.enabled = enabled).await?;
        self.status(id)
            .ok_or_else(|| TenantError::NotFound(id.to_owned()))
    }

    /// Validates a tenant's keys again (and refetches its buyers' JWKS): `pending` or
    /// `unverified` to `healthy` on success; `healthy` to `unverified` on failure, `pending`
    /// staying `pending`.
    pub async fn recheck(&self, id: &str) -> Result<TenantStatus, TenantError> {
        let spec = self
            .view()
            .records
            .get(id)
            .map(|r| r.spec.clone())
            .ok_or_else(|| TenantError::NotFound(id.to_owned()))?;
        // The buyers' keys are fetched once: validated here, compared with the built ones below.
        let (outcome, fresh) = match self.fetch_signers(&spec).await {
            Ok(signers) => (self.validate(&spec).await, Some(signers)),
            Err(e) => (Err(e), None),
        };
        if let Err(e) = &outcome {
            tracing::warn!(tenant = %id, error = %e, "tenant validation failed");
        }
        let now = crate::time::millis(crate::time::now_ms());
        self.modify(id, |r| {
            r.health.checked_at = Some(now);
            match &outcome {
                Ok(()) => {
                    r.health.verification = Verification::Healthy;
                    r.health.last_error = None;
                }
                Err(e) => {
                    if r.health.verification == Verification::Healthy {
                        r.health.verification = Verification::Unverified;
                    }
                    r.health.last_error = Some(e.to_string());
                }
            }
        })
        .await?;
        // Keys the buyers rotated or revoked are taken up by a rebuild.
        if let (Some(slot), Some(fresh)) = (self.slot(id), fresh)
            && fresh != *slot.signers
        {
            self.mounts_mut().remove(id);
        }
        if !self.inner.lazy {
            self.mount_all().await;
        }
        self.status(id)
            .ok_or_else(|| TenantError::NotFound(id.to_owned()))
    }

    /// Publishes a status change for one of `tenant`'s accounts: refused when the event was
    /// made by another tenant, or names an account scope the tenant has no record of.
    pub async fn publish_status_change(
        &self,
        tenant: &str,
        mut event: Event,
    ) -> Result<(), TenantError> {
        let server = self
            .server(tenant)
            .await
            .ok_or_else(|| TenantError::NotFound(tenant.to_owned()))?;
        if !event.tenant.is_empty() && event.tenant != tenant {
            return Err(TenantError::ForeignEvent(event.scope));
        }
        if !server.0.knows_scope(&event.scope).await? {
            return Err(TenantError::ForeignEvent(event.scope));
        }
        event.tenant = tenant.to_owned();
        server.0.publish(event);
        Ok(())
    }

    /// A tenant's server (built now if the registry is lazy), when it is registered.
    pub async fn server(&self, id: &str) -> Option<TenantServer> {
        let view = self.view();
        let record = view.records.get(id)?;
        self.mount(record, view.fingerprint(id)).await.ok()
    }

    fn slot(&self, id: &str) -> Option<Slot> {
        self.inner
            .mounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn mounts_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Slot>> {
        self.inner
            .mounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-reads the store: tenants registered, changed or removed by any replica.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let records = self.inner.store.list().await?;
        let view = Arc::new(View::of(records));
        self.mounts_mut()
            .retain(|id, slot| view.fingerprints.get(id) == Some(&slot.fingerprint));
        *self
            .inner
            .view
            .write()
            .unwrap_or_else(PoisonError::into_inner) = view;
        if !self.inner.lazy {
            self.mount_all().await;
        }
        Ok(())
    }

    /// Builds every served tenant not built yet.
    async fn mount_all(&self) {
        let view = self.view();
        for r in view.records.values().filter(|r| r.health.serves()) {
            if let Err(e) = self.mount(r, view.fingerprint(&r.spec.id)).await {
                tracing::warn!(tenant = %r.spec.id, error = %e, "building the tenant's platform");
            }
        }
    }

    /// A read-modify-write of one record over its revision, retried when another writer won.
    async fn modify(
        &self,
        id: &str,
        change: impl Fn(&mut TenantRecord),
    ) -> Result<(), TenantError> {
        for _ in 0..8 {
            let mut record = self
                .inner
                .store
                .list()
                .await?
                .into_iter()
                .find(|r| r.spec.id == id)
                .ok_or_else(|| TenantError::NotFound(id.to_owned()))?;
            change(&mut record);
            match self.inner.store.put(&record).await {
                Ok(_) => {
                    self.refresh().await?;
                    return Ok(());
                }
                Err(StoreError::Exists(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TenantError::Conflict {
            field: "revision",
            message: format!("tenant `{id}` is being changed concurrently; try again"),
        })
    }

    /// The tenant's server, built if it is not (or was built from another spec).
    async fn mount(
        &self,
        record: &TenantRecord,
        fingerprint: u64,
    ) -> Result<TenantServer, TenantError> {
        let built = |registry: &Self| {
            registry
                .slot(&record.spec.id)
                .filter(|s| s.fingerprint == fingerprint)
                .map(|s| s.server)
        };
        if let Some(server) = built(self) {
            return Ok(server);
        }
        let _building = self.inner.building.lock().await;
        if let Some(server) = built(self) {
            return Ok(server);
        }
        let spec = record.spec.clone();
        let signers = self.fetch_signers(&spec).await?;
        let config = self.config(&spec, &signers)?;
        let build = self
            .inner
            .builders
            .get(&spec.platform)
            .cloned()
            .ok_or_else(|| TenantError::Invalid {
                field: "platform",
                message: format!("no platform builder `{}`", spec.platform),
            })?;
        let stores = self.inner.stores.for_tenant(&spec.id);
        let server = build(TenantContext {
            spec: spec.clone(),
            stores,
            config,
        })
        .await
        .map_err(|message| TenantError::Invalid {
            field: "platform",
            message,
        })?;
        if server.0.config().public_url.as_deref() != Some(spec.public_url.as_str()) {
            return Err(TenantError::Invalid {
                field: "public_url",
                message: "the platform builder changed the tenant's public_url".into(),
            });
        }
        if server.0.tenant() != spec.id {
            return Err(TenantError::Invalid {
                field: "platform",
                message: "the platform builder did not serve the tenant's stores".into(),
            });
        }
        server.0.start();
        tracing::info!(tenant = %spec.id, platform = server.0.platform_name(), url = %spec.public_url, "tenant built");
        self.mounts_mut().insert(
            spec.id.clone(),
            Slot {
                fingerprint,
                signers: Arc::new(signers),
                server: server.clone(),
            },
        );
        Ok(server)
    }

    /// What the registry sets of a tenant's settings.
    fn config(&self, spec: &TenantSpec, signers: &[Value]) -> Result<Config, TenantError> {
        let mut config = Config {
            public_url: Some(spec.public_url.clone()),
            allowed_hosts: spec.hosts.clone(),
            webhook_signing_key: webhook_key(spec)?,
            ..Config::default()
        };
        if !spec.api_keys.is_empty() {
            let mut auth = Auth::new();
            for k in &spec.api_keys {
                auth = auth
                    .key_sha256(k.principal.clone(), &k.sha256)
                    .map_err(|e| TenantError::Invalid {
                        field: "api_keys",
                        message: format!("{}: {e}", k.principal),
                    })?;
            }
            config.auth = Some(auth);
        }
        if !spec.request_signers.is_empty() {
            let mut keys = KeySet::default();
            for (s, jwks) in spec.request_signers.iter().zip(signers) {
                let principal = Principal {
                    id: s.principal.clone(),
                };
                keys.add_jwks(&principal, jwks, NONCE_CAP)
                    .map_err(|e| TenantError::Invalid {
                        field: "request_signers",
                        message: format!("{}: {e}", s.principal),
                    })?;
            }
            let mut signing = RequestSigning::new(keys);
            for op in &spec.signing_required_for {
                signing = signing.require_for(op.clone());
            }
            config.request_signing = Some(signing);
        }
        Ok(config)
    }
}

/// Follows the store: every `period`, re-reads it, retries pending tenants and rechecks
/// validated ones that are due, until the registry is dropped.
async fn follow(weak: Weak<Inner>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = weak.upgrade() else { return };
        let registry = TenantRegistry { inner };
        if let Err(e) = registry.refresh().await {
            tracing::warn!(error = %e, "reading the tenant registry");
            continue;
        }
        let now = crate::time::millis(crate::time::now_ms());
        let recheck = i64::try_from(registry.inner.recheck.as_millis()).unwrap_or(i64::MAX);
        let due: Vec<String> = registry
            .view()
            .records
            .values()
            .filter(|r| match r.health.verification {
                Verification::Pending => true,
                _ => r.health.checked_at.is_none_or(|t| now - t >= recheck),
            })
            .map(|r| r.spec.id.clone())
            .collect();
        for id in due {
            if let Err(e) = registry.recheck(&id).await {
                tracing::warn!(tenant = %id, error = %e, "rechecking a tenant");
            }
        }
    }
}
