//! Tasks, the outbox, idempotency records, adopter state, nonces and accounts in SQL: SQLite (one file, WAL) or
//! PostgreSQL (shared by replicas). One portable dialect through sqlx's `Any` driver: `$n`
//! parameters, `ON CONFLICT`, `RETURNING`, JSON as text and times as unix milliseconds.

mod accounts;
mod idempotency;
mod nonces;
mod outbox;
mod proposals;
mod state;
mod tasks;
mod tenants;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::store::commit::GroupCommit;
use crate::store::{StoreError, corrupt};

/// The store's schema, one file per version under `adcp-runtime/migrations/`: applied in order
/// by sqlx's migrator, which records each (with its checksum) in `_sqlx_migrations` and, on
/// PostgreSQL, holds an advisory lock while it runs so replicas starting together migrate once.
/// A released file never changes; the next schema change is one new file.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "accounts",
        include_str!("../../../migrations/0002_accounts.sql"),
    ),
    (
        3,
        "tenants",
        include_str!("../../../migrations/0003_tenants.sql"),
    ),
    (
        4,
        "proposals",
        include_str!("../../../migrations/0004_proposals.sql"),
    ),
    (
        5,
        "status changes",
        include_str!("../../../migrations/0005_status_changes.sql"),
    ),
    (
        6,
        "event payloads",
        include_str!("../../../migrations/0006_event_payloads.sql"),
    ),
    (
        7,
        "status change order",
        include_str!("../../../migrations/0007_status_change_order.sql"),
    ),
    (
        8,
        "depth counts",
        include_str!("../../../migrations/0008_depth_counts.sql"),
    ),
    (
        9,
        "task pages",
        include_str!("../../../migrations/0009_task_pages.sql"),
    ),
];

fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                std::borrow::Cow::Borrowed(*description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: std::borrow::Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The SQL store: one tenant's view of the database (the tenant `''` from
/// [`connect`](SqlStore::connect); another's from [`for_tenant`](SqlStore::for_tenant)). Every
/// row it writes carries its tenant and every statement it runs is limited to its tenant's rows,
/// background sweeps included.
#[derive(Clone)]
pub struct SqlStore {
    /// Reads. On PostgreSQL the same pool as `writes`.
    reads: AnyPool,
    /// Writes. On SQLite one connection: writers queue here in order rather than contend for
    /// the database's write lock (SQLite would make them sleep and retry, milliseconds at a
    /// time), and it stays open so that the WAL file does too.
    writes: AnyPool,
    /// SQLite's group commit (see [`GroupCommit`]); none for PostgreSQL, whose commits are
    /// durable when they return, and none for a database in memory.
    commits: Option<Arc<GroupCommit>>,
    dialect: Dialect,
    ids: crate::store::IdKey,
    tenant: Arc<str>,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Database(Box::new(e))
}

fn unreadable(what: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        source: format!("`{value}`").into(),
    }
}

fn json_text(v: Option<&Value>) -> Option<String> {
    v.map(Value::to_string)
}

fn parse_json(s: Option<String>) -> Result<Option<Value>, StoreError> {
    s.map(|s| serde_json::from_str(&s).map_err(corrupt("JSON column")))
        .transpose()
}

/// A non-null JSON text column.
fn json_column(row: &AnyRow, column: &str) -> Result<Value, StoreError> {
    let text: String = row.try_get(column).map_err(backend)?;
    serde_json::from_str(&text).map_err(corrupt("JSON column"))
}

impl SqlStore {
    /// Runs a `SELECT` whose parameters are all text, mapping every row.
    async fn select<T>(
        &self,
        sql: &'static str,
        params: &[&str],
        map: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut query = sqlx::query(sql);
        for p in params {
            query = query.bind((*p).to_owned());
        }
        let rows = query.fetch_all(&self.reads).await.map_err(backend)?;
        rows.iter().map(map).collect()
    }

    /// Connects to `url` (`sqlite://<path>?mode=rwc` or `postgres://..`) and creates or checks
    /// the schema.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Unsupported(redact(url)));
        };
        let sqlite = dialect == Dialect::Sqlite;
        let options = |connections: u32| {
            let options = AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10));
            if !sqlite {
                return options;
            }
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // The WAL is synced by the group commit, before anyone is answered.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            })
        };
        let (reads, writes, commits) = if sqlite {
            let writes = options(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect(url)
                .await
                .map_err(backend)?;
            // WAL lets readers run beside the writer; the mode is kept in the file. Set before
            // the readers connect, so that none of them holds the old journal open.
            writes
                .execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(backend)?;
            // The file as SQLite opened it (the URL's path normalised and decoded), so that the
            // fsync is of the WAL the writer appends to; empty for a database in memory.
            let (db,): (String,) =
                sqlx::query_as("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(&writes)
                    .await
                    .map_err(backend)?;
            if db.is_empty() {
                // In memory every connection is its own database: one for everything.
                (writes.clone(), writes, None)
            } else {
                let reads = options(4).connect(url).await.map_err(backend)?;
                (reads, writes, Some(Arc::new(GroupCommit::new(db))))
            }
        } else {
            let pool = options(16).connect(url).await.map_err(backend)?;
            (pool.clone(), pool, None)
        };
        let mut store = SqlStore {
            reads,
            writes,
            commits,
            dialect,
            ids: crate::store::IdKey::random(),
            tenant: Arc::from(""),
        };
        store.migrate().await?;
        store.ids = store.id_key().await?;
        Ok(store)
    }

    /// The view of the same database that reads and writes the rows of `tenant` only: cheap
    /// (it shares the connection pool).
    pub fn for_tenant(&self, tenant: &str) -> SqlStore {
        SqlStore {
            reads: self.reads.clone(),
            writes: self.writes.clone(),
            commits: self.commits.clone(),
            dialect: self.dialect,
            ids: self.ids.clone(),
            tenant: Arc::from(tenant),
        }
    }

    /// The tenant whose rows this view reads and writes.
    pub(crate) fn tenant(&self) -> &str {
        &self.tenant
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(crate) fn ids(&self) -> crate::store::IdKey {
        self.ids.clone()
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let writing = self.writing();
        migrator()
            .run(&*writing)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))?;
        drop(writing);
        if let Some(commits) = &self.commits {
            commits.sync_directory()?;
        }
        // Made durable with the account id key, written next (`connect`).
        Ok(())
    }

    /// The pool to write with, for one statement (`.execute(&*self.writing())`) or one
    /// transaction (held until it ends). The group commit counts the write from now until the
    /// guard is dropped.
    fn writing(&self) -> Writing<'_> {
        if let Some(commits) = &self.commits {
            commits.starting();
        }
        Writing(self)
    }

    /// Returns once every write made before the call is on disk (see [`GroupCommit`]).
    pub(crate) async fn durable(&self) -> Result<(), StoreError> {
        Ok(crate::store::commit::durable(self.commits.as_deref()).await?)
    }

    /// The group commit, for [`Stores`](crate::Stores) to wait on.
    pub(crate) fn commits(&self) -> Option<Arc<GroupCommit>> {
        self.commits.clone()
    }

    /// The key account ids are derived with: made once per store, so that every replica
    /// derives the same ids.
    async fn id_key(&self) -> Result<crate::store::IdKey, StoreError> {
        let fresh = crate::store::IdKey::random();
        sqlx::query(
            "INSERT INTO adcp_meta (name, value) VALUES ('account_id_key', $1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(fresh.to_hex())
        .execute(&*self.writing())
        .await
        .map_err(backend)?;
        self.durable().await?;
        let hex: String = sqlx::query("SELECT value FROM adcp_meta WHERE name = 'account_id_key'")
            .fetch_one(&self.reads)
            .await
            .map_err(backend)?
            .try_get("value")
            .map_err(backend)?;
        crate::store::IdKey::from_hex(&hex)
            .ok_or_else(|| unreadable("account id key", "(not 64 hex digits)"))
    }
}

/// The write pool, lent for one statement or transaction; dropped after it, it counts the
/// write for the group commit (so a statement's write is counted however it ends).
struct Writing<'a>(&'a SqlStore);

impl std::ops::Deref for Writing<'_> {
    type Target = AnyPool;

    fn deref(&self) -> &AnyPool {
        &self.0.writes
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Some(commits) = &self.0.commits {
            commits.wrote();
        }
    }
}

/// A database URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
