//! Where a server keeps what must outlive a request: tasks, the webhook outbox, idempotency
//! records and the adopter's state. Three backends behind the same traits: memory (tests),
//! SQLite (the embedded default: one file, survives restarts) and PostgreSQL (replicas behind
//! one load balancer share it, and hear each other's events through `LISTEN`/`NOTIFY`).

//!
//! The traits and the records they keep live here, below everything that uses them; so do the
//! backends: `memory/` and `sql/`, one file per trait. An adopter may bring its own backend for
//! any trait (its own account database is the common case: [`Stores::with_accounts`]).

pub mod accounts;
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) mod commit;
pub mod idempotency;
mod memory;
pub mod nonces;
pub mod outbox;
pub mod proposals;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
pub mod state;
pub mod tasks;
pub mod tenants;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

pub use accounts::{Account, AccountStore, IdKey, NaturalKey, Principal, Reference};
pub use idempotency::{ClaimState, IdemKey, IdempotencyStore};
pub use memory::{
    MemoryAccountStore, MemoryIdempotencyStore, MemoryNonceStore, MemoryProposalStore,
    MemoryStateStore, MemoryStore,
};
pub use nonces::{NonceStore, Recorded};
pub use outbox::{Delivery, DeliveryState, Outbox, PushAuth};
pub use proposals::{ProposalRecord, ProposalState, ProposalStore};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStore;
pub use state::{ScopedChange, StateStore, StatusChange, Versioned};
pub use tasks::{JobSpec, Owner, TaskCursor, TaskQuery, TaskRecord, TaskStatus, TaskStore};

/// A boxed, sendable future: what the store traits (and handler tables) return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error of the storage layer, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record (a task, by id).
    #[error("no such record `{0}`")]
    NotFound(String),
    /// A record with this id exists (or belongs to another owner).
    #[error("`{0}` already exists")]
    Exists(String),
    /// The database could not be reached or refused the statement.
    #[error("database: {0}")]
    Database(#[source] BoxError),
    /// A stored value does not decode (written by another build, or damaged).
    #[error("a stored {what} does not decode: {source}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// Why it does not decode.
        #[source]
        source: BoxError,
    },
    /// The schema could not be brought to this build's version.
    #[error("migrating the store: {0}")]
    Migration(#[source] BoxError),
    /// The store's files could not be made.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A database URL this build does not serve.
    #[error("unsupported database URL `{0}` (sqlite: or postgres:, as the build's features allow)")]
    Unsupported(String),
}

/// A stored value (`what`) that does not decode, or a record that does not encode.
pub(crate) fn corrupt<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        source: Box::new(e),
    }
}

/// A server's stores.
///
/// ```no_run
/// use adcp_runtime::Stores;
///
/// # async fn open() -> Result<(), adcp_runtime::StoreError> {
/// let tests = Stores::memory();                                 // lost on exit
/// let embedded = Stores::sqlite("data").await?;                 // ./data/adcp.db
/// let shared = Stores::open("postgres://adcp@db/adcp").await?;  // replicas share it
/// # let _ = (tests, embedded, shared);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Stores {
    /// Tasks.
    pub tasks: Arc<dyn TaskStore>,
    /// Webhook deliveries (the same store as the tasks, so changes and deliveries are written
    /// together).
    pub outbox: Arc<dyn Outbox>,
    /// Idempotency records.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Adopter state.
    pub state: Arc<dyn StateStore>,
    /// The replay cache of signature nonces.
    pub nonces: Arc<dyn NonceStore>,
    /// Accounts: the built-in roster, or an adopter's own (see [`Stores::with_accounts`]).
    pub accounts: Arc<dyn AccountStore>,
    /// The proposal ledger.
    pub proposals: Arc<dyn ProposalStore>,
    /// The key account ids are derived with (kept in the store, so replicas agree).
    pub(crate) ids: IdKey,
    /// PostgreSQL, for the cross-replica event relay.
    pub(crate) postgres_url: Option<String>,
    pub(crate) description: String,
    /// Where the stores are kept, so that [`Stores::for_tenant`] can make another tenant's.
    backend: Backend,
    /// SQLite's group commit: what [`Stores::durable`] waits on.
    pub(crate) commits: Option<Arc<commit::GroupCommit>>,
}

/// What [`Stores::for_tenant`] needs to make another tenant's stores.
#[derive(Clone)]
struct Backend {
    /// The tenant these stores are of (`""`: the stores as opened).
    tenant: Arc<str>,
    kind: BackendKind,
    /// The accounts are an adopter's own ([`Stores::with_accounts`]): every tenant keeps them.
    adopter_accounts: bool,
    /// The description without the tenant.
    description: Arc<str>,
    /// The tenant registry's records: one for the whole backend, whichever tenant's view.
    registry: Arc<dyn tenants::TenantStore>,
}

#[derive(Clone)]
enum BackendKind {
    /// Every tenant's memory stores, made on first use (the tenant `""` at once).
    Memory(Arc<Mutex<HashMap<String, MemoryTenant>>>),
    /// One database; every tenant's stores are views of it.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    Sql(Arc<SqlStore>),
}

/// One tenant's stores in memory.
#[derive(Clone, Default)]
struct MemoryTenant {
    tasks: Arc<MemoryStore>,
    idempotency: Arc<MemoryIdempotencyStore>,
    state: Arc<MemoryStateStore>,
    nonces: Arc<MemoryNonceStore>,
    accounts: Arc<MemoryAccountStore>,
    proposals: Arc<MemoryProposalStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.description)
            .field("tenant", &self.tenant())
            .finish_non_exhaustive()
    }
}

impl Default for Stores {
    fn default() -> Self {
        Stores::memory()
    }
}

impl Stores {
    /// Everything in memory: lost on restart, not shared.
    pub fn memory() -> Self {
        let root = MemoryTenant::default();
        let tenants = HashMap::from([(String::new(), root.clone())]);
        let backend = Backend {
            tenant: Arc::from(""),
            kind: BackendKind::Memory(Arc::new(Mutex::new(tenants))),
            adopter_accounts: false,
            description: Arc::from("memory"),
            registry: Arc::new(tenants::MemoryTenantStore::default()),
        };
        Stores::of_memory(root, IdKey::random(), backend)
    }

    fn of_memory(m: MemoryTenant, ids: IdKey, backend: Backend) -> Self {
        Stores {
            tasks: m.tasks.clone(),
            outbox: m.tasks,
            idempotency: m.idempotency,
            state: m.state,
            nonces: m.nonces,
            accounts: m.accounts,
            proposals: m.proposals,
            ids,
            postgres_url: None,
            description: described(&backend.description, &backend.tenant),
            backend,
            commits: None,
        }
    }

    /// A SQLite database in `dir` (created if missing): `dir/adcp.db`.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(dir: impl AsRef<std::path::Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let path = dir.join("adcp.db");
        Stores::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// A database by URL: `sqlite://<path>?mode=rwc` or `postgres://user@host:port/db`.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let store = Arc::new(SqlStore::connect(url).await?);
        let postgres = store.dialect() == sql::Dialect::Postgres;
        let backend = Backend {
            tenant: Arc::from(""),
            kind: BackendKind::Sql(store.clone()),
            adopter_accounts: false,
            description: Arc::from(sql::redact(url)),
            registry: store.clone(),
        };
        Ok(Stores::of_sql(
            store,
            postgres.then(|| url.to_owned()),
            backend,
        ))
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fn of_sql(store: Arc<SqlStore>, postgres_url: Option<String>, backend: Backend) -> Self {
        Stores {
            tasks: store.clone(),
            outbox: store.clone(),
            idempotency: store.clone(),
            state: store.clone(),
            nonces: store.clone(),
            proposals: store.clone(),
            ids: store.ids(),
            commits: store.commits(),
            accounts: store,
            postgres_url,
            description: described(&backend.description, &backend.tenant),
            backend,
        }
    }

    /// The same stores with accounts kept in `accounts` (an adopter's own database) rather than
    /// the built-in roster.
    ///
    /// The adopter's store is kept as it is in every tenant's stores ([`Stores::for_tenant`]).
    pub fn with_accounts(mut self, accounts: Arc<dyn AccountStore>) -> Self {
        self.accounts = accounts;
        self.backend.adopter_accounts = true;
        self
    }

    /// Returns once every write made through these stores (or any other view of the same
    /// database) before the call is on disk.
    ///
    /// On SQLite writes are committed to the write-ahead log and synced in groups: the request
    /// pipeline waits here before it answers, and the webhook sender before it sends, so that
    /// nothing is acknowledged that a power cut could take back, while concurrent requests
    /// share one fsync. An adopter writing outside a task (its own endpoint, say) waits here
    /// before it answers too. Memory has nothing to wait for, and a PostgreSQL commit is
    /// durable when it returns.
    pub async fn durable(&self) -> Result<(), StoreError> {
        Ok(commit::durable(self.commits.as_deref()).await?)
    }

    /// What the stores are, for the start-up log (never a password); ` (tenant <id>)` after
    /// it for a tenant's stores.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Where the tenant registry is kept: the same database (or memory) for every tenant's
    /// stores, so replicas on one PostgreSQL share their tenants.
    pub fn tenants(&self) -> Arc<dyn tenants::TenantStore> {
        self.backend.registry.clone()
    }

    /// The tenant these stores are of: `""` for the stores as opened, the id given to
    /// [`Stores::for_tenant`] otherwise.
    pub fn tenant(&self) -> &str {
        &self.backend.tenant
    }

    /// The stores of `tenant`, which can neither read nor write another tenant's records.
    ///
    /// On SQLite and PostgreSQL they are views of the same database, every row keyed by its
    /// tenant (background sweeps — orphaned tasks, due deliveries, lease renewal, vacuum —
    /// included: each tenant's stores sweep that tenant's rows only). In memory each tenant has
    /// its own stores, made on first use and the same on every later call with the same id.
    /// The tenant `""` is the stores as opened; calling this on a tenant's stores gives another
    /// tenant's of the same backend.
    ///
    /// An adopter's account store ([`Stores::with_accounts`]) is not the runtime's to split:
    /// every tenant's stores keep it as it is, and keying the adopter's own account database by
    /// tenant is the adopter's to do. The key account ids are derived with, and the PostgreSQL
    /// URL of the event relay, are shared by every tenant.
    pub fn for_tenant(&self, tenant: &str) -> Stores {
        if tenant == self.tenant() {
            return self.clone();
        }
        let backend = Backend {
            tenant: Arc::from(tenant),
            ..self.backend.clone()
        };
        let mut stores = match &self.backend.kind {
            BackendKind::Memory(tenants) => {
                let m = tenants
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(tenant.to_owned())
                    .or_default()
                    .clone();
                Stores::of_memory(m, self.ids.clone(), backend)
            }
            #[cfg(any(feature = "sqlite", feature = "postgres"))]
            BackendKind::Sql(store) => {
                let view = Arc::new(store.for_tenant(tenant));
                Stores::of_sql(view, self.postgres_url.clone(), backend)
            }
        };
        stores.ids = self.ids.clone();
        if self.backend.adopter_accounts {
            stores.accounts = self.accounts.clone();
        }
        stores
    }
}

/// The description of a tenant's stores.
fn described(description: &str, tenant: &str) -> String {
    if tenant.is_empty() {
        description.to_owned()
    } else {
        format!("{description} (tenant {tenant})")
    }
}
