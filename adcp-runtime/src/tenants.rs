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

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower::ServiceExt;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::{AdcpError, codes};
use crate::events::Event;
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::signing::{KeySet, RequestSigning, SigningKey};
use crate::ssrf;
use crate::store::tenants::{
    Health, JwksSource, TenantRecord, TenantSpec, TenantStore, Verification,
};
use crate::store::{BoxFuture, Principal, StoreError, Stores};

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
                mounts: tokio::sync::Mutex::new(HashMap::new()),
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
    mounts: tokio::sync::Mutex<HashMap<String, Slot>>,
}

/// The routing table and the records it was made from.
#[derive(Default)]
struct View {
    records: HashMap<String, TenantRecord>,
    hosts: HashMap<String, String>,
    /// Longest first.
    prefixes: Vec<(String, String)>,
}

impl View {
    fn of(records: Vec<TenantRecord>) -> Self {
        let mut view = View::default();
        for r in records {
            for h in &r.spec.hosts {
                view.hosts.insert(h.to_ascii_lowercase(), r.spec.id.clone());
            }
            if let Some(p) = &r.spec.path_prefix {
                view.prefixes.push((p.clone(), r.spec.id.clone()));
            }
            view.records.insert(r.spec.id.clone(), r);
        }
        view.prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        view
    }

    /// The tenant a request is for, and the path prefix to strip: by host first, then by the
    /// longest path prefix that ends at a segment boundary.
    fn route(&self, host: Option<&str>, path: &str) -> Option<(&TenantRecord, Option<&str>)> {
        if let Some(id) = host.and_then(|h| self.hosts.get(&h.to_ascii_lowercase())) {
            return self.records.get(id).map(|r| (r, None));
        }
        self.prefixes.iter().find_map(|(prefix, id)| {
            let rest = path.strip_prefix(prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/'))
                .then(|| self.records.get(id).map(|r| (r, Some(prefix.as_str()))))
                .flatten()
        })
    }
}

/// A built tenant: its server, and what it was built from (a change rebuilds it).
struct Slot {
    spec: TenantSpec,
    signers: Vec<Value>,
    server: TenantServer,
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
        let outcome = self.validate(&spec).await;
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
        let stale = {
            let mounts = self.inner.mounts.lock().await;
            match mounts.get(id) {
                Some(slot) => {
                    let fresh = self.fetch_signers(&spec).await.ok();
                    fresh.is_some_and(|f| f != slot.signers)
                }
                None => false,
            }
        };
        if stale {
            self.inner.mounts.lock().await.remove(id);
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
        let record = self.view().records.get(id).cloned()?;
        self.mount(&record).await.ok()
    }

    /// Re-reads the store: tenants registered, changed or removed by any replica.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let records = self.inner.store.list().await?;
        let view = Arc::new(View::of(records));
        {
            let mut mounts = self.inner.mounts.lock().await;
            mounts.retain(|id, slot| view.records.get(id).is_some_and(|r| r.spec == slot.spec));
        }
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
            if let Err(e) = self.mount(r).await {
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

    /// The spec's own rules, and its routes against the other tenants'.
    fn check_spec(&self, spec: &TenantSpec) -> Result<(), TenantError> {
        let invalid = |field, message: String| TenantError::Invalid { field, message };
        let id_ok = !spec.id.is_empty()
            && spec.id.len() <= 63
            && spec
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(invalid(
                "id",
                format!("`{}` is not 1 to 63 of a-z, 0-9 and `-`", spec.id),
            ));
        }
        if !self.inner.builders.contains_key(&spec.platform) {
            let mut known: Vec<&str> = self.inner.builders.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(invalid(
                "platform",
                format!(
                    "no platform builder `{}` (known: {})",
                    spec.platform,
                    known.join(", ")
                ),
            ));
        }
        match url::Url::parse(&spec.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(invalid(
                    "public_url",
                    format!("`{}` is not an http(s) URL", spec.public_url),
                ));
            }
        }
        if spec.hosts.is_empty() && spec.path_prefix.is_none() {
            return Err(invalid(
                "hosts",
                "a tenant needs a host or a path_prefix to be reached at".into(),
            ));
        }
        for h in &spec.hosts {
            let ok = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(invalid(
                    "hosts",
                    format!("`{h}` is not a host name (no scheme, port or path)"),
                ));
            }
        }
        if let Some(p) = &spec.path_prefix {
            let reserved = ["/mcp", "/a2a", "/adcp", "/.well-known", "/health", "/_adcp"];
            let ok = p.len() > 1
                && p.starts_with('/')
                && !p.ends_with('/')
                && p[1..].split('/').all(|s| {
                    !s.is_empty()
                        && s.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        })
                })
                && !reserved
                    .iter()
                    .any(|r| p == r || p.starts_with(&format!("{r}/")));
            if !ok {
                return Err(invalid(
                    "path_prefix",
                    format!(
                        "`{p}` is not a path prefix: `/` then segments of a-z, 0-9, `-`, `_`, \
                         not one of the agent's own paths ({})",
                        reserved.join(", ")
                    ),
                ));
            }
        }
        if let Some(JwksSource::Inline(jwks)) = &spec.jwks {
            parse_jwks("jwks", jwks)?;
        }
        for s in &spec.request_signers {
            if let JwksSource::Inline(jwks) = &s.jwks {
                parse_jwks("request_signers", jwks)?;
            }
        }
        for k in &spec.api_keys {
            Auth::new()
                .key_sha256(k.principal.clone(), &k.sha256)
                .map_err(|e| invalid("api_keys", format!("{}: {e}", k.principal)))?;
        }
        let view = self.view();
        for (id, other) in view.records.iter().filter(|(id, _)| **id != spec.id) {
            if let Some(h) = spec
                .hosts
                .iter()
                .find(|h| other.spec.hosts.iter().any(|o| o.eq_ignore_ascii_case(h)))
            {
                return Err(TenantError::Conflict {
                    field: "hosts",
                    message: format!("`{h}` already routes to tenant `{id}`"),
                });
            }
            if spec.path_prefix.is_some() && spec.path_prefix == other.spec.path_prefix {
                return Err(TenantError::Conflict {
                    field: "path_prefix",
                    message: format!(
                        "`{}` already routes to tenant `{id}`",
                        spec.path_prefix.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }

    /// A JWKS, fetched (through the SSRF guard) or inline.
    async fn jwks(&self, field: &'static str, source: &JwksSource) -> Result<Value, TenantError> {
        let url = match source {
            JwksSource::Inline(v) => return Ok(v.clone()),
            JwksSource::Url(u) => u,
        };
        let fail = |message: String| TenantError::Invalid { field, message };
        let checked = self
            .inner
            .policy
            .check_url(url)
            .map_err(|e| fail(format!("`{url}`: {e}")))?;
        let response = self
            .inner
            .client
            .get(checked)
            .send()
            .await
            .map_err(|e| fail(format!("`{url}` cannot be fetched: {e}")))?;
        if !response.status().is_success() {
            return Err(fail(format!("`{url}` answered {}", response.status())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| fail(format!("`{url}`: {e}")))?;
        let jwks: Value = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("`{url}` is not JSON: {e}")))?;
        parse_jwks(field, &jwks)?;
        Ok(jwks)
    }

    /// The buyers' JWKS, in spec order.
    async fn fetch_signers(&self, spec: &TenantSpec) -> Result<Vec<Value>, TenantError> {
        let mut out = Vec::with_capacity(spec.request_signers.len());
        for s in &spec.request_signers {
            out.push(self.jwks("request_signers", &s.jwks).await?);
        }
        Ok(out)
    }

    /// The tenant's check: its published keys hold the public half of its webhook key, and
    /// its buyers' keys can be read.
    async fn validate(&self, spec: &TenantSpec) -> Result<(), TenantError> {
        self.fetch_signers(spec).await?;
        let key = webhook_key(spec)?;
        let published = match &spec.jwks {
            Some(source) => Some(self.jwks("jwks", source).await?),
            None => None,
        };
        match (key, published) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(TenantError::Invalid {
                field: "jwks",
                message: "the tenant signs webhooks but publishes no keys".into(),
            }),
            (Some(key), Some(jwks)) => {
                let mine = key.public_jwk();
                let found = jwks
                    .get("keys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|k| same_public_key(k, mine));
                if found {
                    Ok(())
                } else {
                    Err(TenantError::Invalid {
                        field: "jwks",
                        message: format!(
                            "the published keys do not hold the webhook signing key `{}`",
                            key.kid()
                        ),
                    })
                }
            }
        }
    }

    /// The tenant's server, built if it is not (or was built from another spec).
    async fn mount(&self, record: &TenantRecord) -> Result<TenantServer, TenantError> {
        let mut mounts = self.inner.mounts.lock().await;
        if let Some(slot) = mounts.get(&record.spec.id)
            && slot.spec == record.spec
        {
            return Ok(slot.server.clone());
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
        mounts.insert(
            spec.id.clone(),
            Slot {
                spec,
                signers,
                server: server.clone(),
            },
        );
        Ok(server)
    }

    /// What the registry sets of a tenant's settings.
    fn config(&self, spec: &TenantSpec, signers: &[Value]) -> Result<Config, TenantError> {
        let mut config = Config {
            public_url: Some(spec.public_url.clone()),
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

    /// Serves every tenant on `listener` until `shutdown` resolves (SIGINT or SIGTERM when
    /// `None`), finishing the requests in flight.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: Option<BoxFuture<'static, ()>>,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        let tenants = self.list();
        tracing::info!(listen = %addr, tenants = tenants.len(), stores = self.inner.stores.description(), "serving AdCP tenants");
        for t in &tenants {
            tracing::info!(
                tenant = %t.id,
                url = %t.spec.public_url,
                hosts = ?t.spec.hosts,
                path_prefix = t.spec.path_prefix.as_deref().unwrap_or("-"),
                verification = ?t.health.verification,
                enabled = t.health.enabled,
                "tenant"
            );
        }
        if self.inner.admin.is_some() {
            tracing::info!(url = %format!("http://{addr}/_adcp/tenants"), "tenant admin API (bearer token)");
        }
        let signal = shutdown.unwrap_or_else(|| Box::pin(crate::serve::shutdown_signal()));
        axum::serve(listener, self.router())
            .with_graceful_shutdown(signal)
            .await
    }

    /// The HTTP front of every tenant: routes by host and path prefix, gates on health, and
    /// serves the admin API when an admin token is set.
    pub fn router(&self) -> Router {
        Router::new().fallback(front).with_state(self.clone())
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

fn parse_jwks(field: &'static str, jwks: &Value) -> Result<(), TenantError> {
    KeySet::default()
        .add_jwks(&Principal { id: String::new() }, jwks, 1)
        .map_err(|e| TenantError::Invalid {
            field,
            message: format!("not a JWKS of public signing keys: {e}"),
        })
}

/// The tenant's webhook signing key, read from its file.
fn webhook_key(spec: &TenantSpec) -> Result<Option<Arc<SigningKey>>, TenantError> {
    let Some(path) = &spec.webhook_signing_key_file else {
        return Ok(None);
    };
    let fail = |message: String| TenantError::Invalid {
        field: "webhook_signing_key_file",
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("`{path}`: {e}")))?;
    let jwk: Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("`{path}` is not JSON: {e}")))?;
    SigningKey::from_jwk(&jwk)
        .map(|k| Some(Arc::new(k)))
        .map_err(|e| fail(format!("`{path}`: {e}")))
}

/// Whether two JWKs are the same public key (the members that make the key, not its labels).
fn same_public_key(a: &Value, b: &Value) -> bool {
    ["kid", "kty", "crv", "x", "y"]
        .iter()
        .all(|m| a.get(m) == b.get(m))
}

/// An AdCP error answered by the front, before any tenant's server.
fn refuse(status: StatusCode, e: &AdcpError) -> Response {
    (status, Json(crate::envelope::error(e))).into_response()
}

async fn front(State(registry): State<TenantRegistry>, mut req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if registry.inner.admin.is_some() && (path == "/_adcp/tenants" || path.starts_with("/_adcp/")) {
        return admin(&registry, req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned());
    let view = registry.view();
    let Some((record, prefix)) = view.route(host.as_deref(), &path) else {
        let e = AdcpError::new(
            codes::REFERENCE_NOT_FOUND,
            "no tenant is served at this host or path",
        )
        .with_field("tenant");
        return refuse(StatusCode::NOT_FOUND, &e);
    };
    if !record.health.serves() {
        let (why, retry) = if record.health.enabled {
            ("its keys have not been validated yet", 10)
        } else {
            ("it is disabled by its operator", 60)
        };
        let e = AdcpError::internal(format!("this tenant is not served: {why}"))
            .with_field("tenant")
            .with_retry_after(retry);
        let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, &e);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return r;
    }
    let record = record.clone();
    let prefix = prefix.map(str::to_owned);
    drop(view);
    let server = match registry.mount(&record).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(tenant = %record.spec.id, error = %e, "building the tenant's platform");
            let e = AdcpError::internal("this tenant cannot be served right now")
                .with_field("tenant")
                .with_retry_after(10);
            let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, &e);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(10));
            return r;
        }
    };
    if let Some(prefix) = prefix {
        let rest = &path[prefix.len()..];
        let rest = if rest.is_empty() { "/" } else { rest };
        let target = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        match target.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                let e = AdcpError::invalid_request("path", "not a valid request target");
                return refuse(StatusCode::BAD_REQUEST, &e);
            }
        }
        req.extensions_mut().insert(crate::http::PathPrefix(prefix));
    }
    match server.0.router().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// The admin API: `GET /_adcp/tenants`, `GET|PUT|DELETE /_adcp/tenants/{id}`,
/// `POST /_adcp/tenants/{id}/recheck|enable|disable`, bearer-authenticated.
async fn admin(registry: &TenantRegistry, req: Request) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
    let authorised = match (token, registry.inner.admin) {
        (Some(t), Some(expected)) => bool::from(t.ct_eq(&expected)),
        _ => false,
    };
    if !authorised {
        let e = AdcpError::new(codes::AUTH_REQUIRED, "the admin API needs its bearer token")
            .with_field("Authorization");
        let mut r = refuse(StatusCode::UNAUTHORIZED, &e);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"adcp-admin\""),
        );
        return r;
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path
        .strip_prefix("/_adcp/tenants")
        .unwrap_or("-")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = parts.method.as_str();
    let outcome = match (method, segments.as_slice()) {
        ("GET", []) if path == "/_adcp/tenants" => {
            return Json(json!({"tenants": registry.list()})).into_response();
        }
        ("GET", [id]) => registry
            .status(id)
            .ok_or_else(|| TenantError::NotFound((*id).to_owned())),
        ("PUT", [id]) => {
            let spec = match read_spec(body, id).await {
                Ok(s) => s,
                Err(e) => return admin_error(&e),
            };
            if registry.status(id).is_some() {
                registry.update(spec).await
            } else {
                registry.register(spec).await
            }
        }
        ("DELETE", [id]) => match registry.unregister(id).await {
            Ok(()) => return StatusCode::NO_CONTENT.into_response(),
            Err(e) => Err(e),
        },
        ("POST", [id, "recheck"]) => registry.recheck(id).await,
        ("POST", [id, "enable"]) => registry.set_enabled(id, true).await,
        ("POST", [id, "disable"]) => registry.set_enabled(id, false).await,
        _ => {
            let e = AdcpError::new(codes::REFERENCE_NOT_FOUND, "no such admin operation")
                .with_field("path");
            return refuse(StatusCode::NOT_FOUND, &e);
        }
    };
    match outcome {
        Ok(status) => Json(status).into_response(),
        Err(e) => admin_error(&e),
    }
}

async fn read_spec(body: Body, id: &str) -> Result<TenantSpec, TenantError> {
    let bytes = axum::body::to_bytes(body, crate::http::BODY_LIMIT)
        .await
        .map_err(|e| TenantError::Invalid {
            field: "body",
            message: e.to_string(),
        })?;
    let spec: TenantSpec = serde_json::from_slice(&bytes).map_err(|e| TenantError::Invalid {
        field: "body",
        message: format!("not a tenant spec: {e}"),
    })?;
    if spec.id != id {
        return Err(TenantError::Invalid {
            field: "id",
            message: format!("the body's id `{}` is not the path's `{id}`", spec.id),
        });
    }
    Ok(spec)
}

fn admin_error(e: &TenantError) -> Response {
    let (status, code, field) = match e {
        TenantError::Invalid { field, .. } => {
            (StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, *field)
        }
        TenantError::Conflict { field, .. } => (StatusCode::CONFLICT, codes::CONFLICT, *field),
        TenantError::NotFound(_) => (StatusCode::NOT_FOUND, codes::REFERENCE_NOT_FOUND, "id"),
        TenantError::ForeignEvent(_) => (StatusCode::FORBIDDEN, codes::PERMISSION_DENIED, "scope"),
        TenantError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            codes::SERVICE_UNAVAILABLE,
            "store",
        ),
    };
    refuse(
        status,
        &AdcpError::new(code, e.to_string()).with_field(field),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, hosts: &[&str], prefix: Option<&str>) -> TenantRecord {
        TenantRecord {
            spec: TenantSpec {
                id: id.into(),
                platform: "p".into(),
                public_url: format!("https://{id}.example"),
                hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
                path_prefix: prefix.map(str::to_owned),
                jwks: None,
                webhook_signing_key_file: None,
                api_keys: Vec::new(),
                request_signers: Vec::new(),
                signing_required_for: Vec::new(),
                settings: Value::Null,
            },
            health: Health::pending(),
            revision: 1,
        }
    }

    #[test]
    fn host_first_then_the_longest_prefix_at_a_segment_boundary() {
        let view = View::of(vec![
            record("a", &["a.example"], Some("/a")),
            record("ab", &[], Some("/a/b")),
            record("abc", &[], Some("/abc")),
        ]);
        let id = |host: Option<&str>, path: &str| {
            view.route(host, path)
                .map(|(r, p)| (r.spec.id.clone(), p.map(str::to_owned)))
        };
        assert_eq!(id(Some("A.example"), "/a/b/mcp"), Some(("a".into(), None)));
        assert_eq!(
            id(None, "/a/b/mcp"),
            Some(("ab".into(), Some("/a/b".into())))
        );
        assert_eq!(id(None, "/a/mcp"), Some(("a".into(), Some("/a".into()))));
        assert_eq!(id(None, "/a"), Some(("a".into(), Some("/a".into()))));
        assert_eq!(
            id(None, "/abc/mcp"),
            Some(("abc".into(), Some("/abc".into())))
        );
        assert_eq!(id(None, "/abcd/mcp"), None);
        assert_eq!(id(Some("other.example"), "/mcp"), None);
    }
}
