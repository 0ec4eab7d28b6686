//! Where a server keeps what must outlive a request: tasks, the webhook outbox, idempotency
//! records and the adopter's state. Three backends behind the same traits: memory (tests),
//! SQLite (the embedded default: one file, survives restarts) and PostgreSQL (replicas behind
//! one load balancer share it, and hear each other's events through `LISTEN`/`NOTIFY`).

mod memory;
mod sql;

use std::path::Path;
use std::sync::Arc;

pub use memory::MemoryStore;
pub use sql::SqlStore;

use crate::accounts::{AccountStore, IdKey, MemoryAccountStore};
use crate::idempotency::{IdempotencyStore, MemoryIdempotencyStore};
use crate::signing::{MemoryNonceStore, NonceStore};
use crate::state::{MemoryStateStore, StateStore};
use crate::tasks::{StoreError, TaskStore};
use crate::webhooks::Outbox;

/// A server's stores.
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
    pub async fn sqlite(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("adcp.db");
        Stores::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// A database by URL: `sqlite://<path>?mode=rwc` or `postgres://user@host:port/db`.
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
