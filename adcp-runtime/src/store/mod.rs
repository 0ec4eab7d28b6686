//! Where a server keeps what must outlive a request: tasks, the webhook outbox, idempotency
//! records and the adopter's state. Three backends behind the same traits: memory (tests),
//! SQLite (the embedded default: one file, survives restarts) and PostgreSQL (replicas behind
//! one load balancer share it, and hear each other's events through `LISTEN`/`NOTIFY`).

//!
//! The traits and the records they keep live here, below everything that uses them; so do the
//! backends: `memory/` and `sql/`, one file per trait. An adopter may bring its own backend for
//! any trait (its own account database is the common case: [`Stores::with_accounts`]).

pub mod accounts;
pub mod idempotency;
mod memory;
pub mod nonces;
pub mod outbox;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
pub mod state;
pub mod tasks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use accounts::{Account, AccountStore, IdKey, NaturalKey, Principal, Reference};
pub use idempotency::{ClaimState, IdemKey, IdempotencyStore};
pub use memory::{
    MemoryAccountStore, MemoryIdempotencyStore, MemoryNonceStore, MemoryStateStore, MemoryStore,
};
pub use nonces::{NonceStore, Recorded};
pub use outbox::{Delivery, DeliveryState, Outbox, PushAuth};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::SqlStore;
pub use state::{StateStore, Versioned};
pub use tasks::{JobSpec, Owner, TaskRecord, TaskStatus, TaskStore};

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
    /// The key account ids are derived with (kept in the store, so replicas agree).
    pub(crate) ids: IdKey,
    /// PostgreSQL, for the cross-replica event relay.
    pub(crate) postgres_url: Option<String>,
    pub(crate) description: String,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.description)
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
        let tasks = Arc::new(MemoryStore::default());
        Stores {
            tasks: tasks.clone(),
            outbox: tasks,
            idempotency: Arc::new(MemoryIdempotencyStore::default()),
            state: Arc::new(MemoryStateStore::default()),
            nonces: Arc::new(MemoryNonceStore::default()),
            accounts: Arc::new(MemoryAccountStore::default()),
            ids: IdKey::random(),
            postgres_url: None,
            description: "memory".into(),
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
        Ok(Stores {
            tasks: store.clone(),
            outbox: store.clone(),
            idempotency: store.clone(),
            state: store.clone(),
            nonces: store.clone(),
            ids: store.ids(),
            accounts: store,
            postgres_url: postgres.then(|| url.to_owned()),
            description: sql::redact(url),
        })
    }

    /// The same stores with accounts kept in `accounts` (an adopter's own database) rather than
    /// the built-in roster.
    pub fn with_accounts(mut self, accounts: Arc<dyn AccountStore>) -> Self {
        self.accounts = accounts;
        self
    }

    /// What the stores are, for the start-up log (never a password).
    pub fn description(&self) -> &str {
        &self.description
    }
}
