//! Tasks, the outbox, idempotency records, adopter state, nonces and accounts in SQL: SQLite (one file, WAL) or
//! PostgreSQL (shared by replicas). One portable dialect through sqlx's `Any` driver: `$n`
//! parameters, `ON CONFLICT`, `RETURNING`, JSON as text and times as unix milliseconds.

mod accounts;
mod db;
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
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use crate::store::commit::GroupCommit;
use crate::store::{StoreError, corrupt};
use db::{Arg, Db, Row, Sql, Tx, args};

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
    (
        10,
        "draft order",
        include_str!("../../../migrations/0010_draft_order.sql"),
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
    /// Where statements run. On SQLite one writer connection, in process: writers queue for it
    /// in order rather than contend for the database's write lock (SQLite would make them
    /// sleep and retry, milliseconds at a time), and it stays open so that the WAL file does
    /// too; reads go to a few reader connections beside it.
    db: Db,
    /// SQLite's group commit (see [`GroupCommit`]); none for PostgreSQL, whose commits are
    /// durable when they return, and none for a database in memory.
    commits: Option<Arc<GroupCommit>>,
    dialect: Dialect,
    ids: crate::store::IdKey,
    tenant: Arc<str>,
    /// Drafts saved through this store (every tenant's view): every
    /// [`PRUNE_EVERY`](proposals::PRUNE_EVERY)th prunes its scope's oldest drafts.
    drafts_saved: Arc<std::sync::atomic::AtomicU64>,
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
fn json_column(row: &Row, column: &str) -> Result<Value, StoreError> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(corrupt("JSON column"))
}

impl SqlStore {
    /// Runs a `SELECT` whose parameters are all text, mapping every row.
    async fn select<T>(
        &self,
        sql: &'static str,
        params: &[&str],
        map: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let args = params.iter().map(|p| Arg::from(*p)).collect();
        self.db.fetch(sql, args).await?.iter().map(map).collect()
    }

    /// A read.
    async fn fetch(&self, sql: impl Into<Sql>, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        self.db.fetch(sql, args).await
    }

    /// A `SELECT COUNT(*) AS n ..`.
    async fn count(&self, sql: impl Into<Sql>, args: Vec<Arg>) -> Result<i64, StoreError> {
        match self.db.fetch(sql, args).await?.first() {
            Some(row) => row.get("n"),
            None => Ok(0),
        }
    }

    /// A write in a transaction of its own; how many rows it changed.
    async fn execute(&self, sql: impl Into<Sql>, args: Vec<Arg>) -> Result<u64, StoreError> {
        let _writing = self.writing();
        self.db.execute(sql, args).await
    }

    /// A write that returns rows, in a transaction of its own.
    async fn returning(&self, sql: impl Into<Sql>, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        let _writing = self.writing();
        self.db.returning(sql, args).await
    }

    /// A write transaction, rolled back unless committed.
    async fn begin(&self) -> Result<Transaction<'_>, StoreError> {
        let writing = self.writing();
        Ok(Transaction {
            tx: self.db.begin().await?,
            _writing: writing,
        })
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
        let (db, commits) = match dialect {
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(backend)?;
                migrator()
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Migration(Box::new(e)))?;
                (Db::Any(pool), None)
            }
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => sqlite(url).await?,
            #[cfg(not(feature = "sqlite"))]
            Dialect::Sqlite => return Err(StoreError::Unsupported(redact(url))),
        };
        let mut store = SqlStore {
            db,
            commits,
            dialect,
            ids: crate::store::IdKey::random(),
            tenant: Arc::from(""),
            drafts_saved: Arc::default(),
        };
        store.ids = store.id_key().await?;
        Ok(store)
    }

    /// The view of the same database that reads and writes the rows of `tenant` only: cheap
    /// (it shares the connection pool).
    pub fn for_tenant(&self, tenant: &str) -> SqlStore {
        SqlStore {
            db: self.db.clone(),
            commits: self.commits.clone(),
            dialect: self.dialect,
            ids: self.ids.clone(),
            tenant: Arc::from(tenant),
            drafts_saved: self.drafts_saved.clone(),
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

    /// Counts a write (one statement or one transaction, while the guard lives) for the group
    /// commit, from before it is sent to the writer until it ends.
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
        self.execute(
            "INSERT INTO adcp_meta (name, value) VALUES ('account_id_key', $1) \
             ON CONFLICT (name) DO NOTHING",
            args![fresh.to_hex()],
        )
        .await?;
        self.durable().await?;
        let hex: String = self
            .fetch(
                "SELECT value FROM adcp_meta WHERE name = 'account_id_key'",
                Vec::new(),
            )
            .await?
            .first()
            .ok_or_else(|| unreadable("account id key", "(missing)"))?
            .get("value")?;
        crate::store::IdKey::from_hex(&hex)
            .ok_or_else(|| unreadable("account id key", "(not 64 hex digits)"))
    }
}

/// Opens the SQLite database at `url`: its schema made through sqlx's migrator (which keeps
/// the record of what was applied), then its connections in process.
#[cfg(feature = "sqlite")]
async fn sqlite(url: &str) -> Result<(Db, Option<Arc<GroupCommit>>), StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .map_err(backend)?;
    // WAL lets readers run beside the writer; the mode is kept in the file.
    pool.execute("PRAGMA journal_mode = WAL")
        .await
        .map_err(backend)?;
    // The file as SQLite opened it (the URL's path normalised and decoded), so that the fsync
    // is of the WAL the writer appends to; empty for a database in memory.
    let (file,): (String,) =
        sqlx::query_as("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&pool)
            .await
            .map_err(backend)?;
    if file.is_empty() {
        pool.close().await;
        let schema: Vec<&str> = MIGRATIONS.iter().map(|(_, _, sql)| *sql).collect();
        return Ok((
            Db::Lite(Arc::new(db::lite::Lite::in_memory(&schema)?)),
            None,
        ));
    }
    migrator()
        .run(&pool)
        .await
        .map_err(|e| StoreError::Migration(Box::new(e)))?;
    // Opened before the migrating connection closes, so that the WAL stays.
    let lite = Arc::new(db::lite::Lite::open(std::path::Path::new(&file), 4)?);
    pool.close().await;
    let checkpointing = lite.clone();
    let commits =
        GroupCommit::new(file).with_checkpoint(Arc::new(move || checkpointing.checkpoint()));
    // The WAL file's entry in its directory; the migrations were committed with fsyncs
    // (sqlx's default), the account id key is made durable next (`connect`).
    commits.sync_directory()?;
    Ok((Db::Lite(lite), Some(Arc::new(commits))))
}

/// A transaction with its write counted for the group commit until it ends.
struct Transaction<'a> {
    tx: Tx,
    _writing: Writing<'a>,
}

impl Transaction<'_> {
    async fn execute(&mut self, sql: impl Into<Sql>, args: Vec<Arg>) -> Result<u64, StoreError> {
        self.tx.execute(sql, args).await
    }

    async fn fetch(&mut self, sql: impl Into<Sql>, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        self.tx.fetch(sql, args).await
    }

    async fn commit(self) -> Result<(), StoreError> {
        let Transaction { tx, _writing } = self;
        tx.commit().await
    }
}

/// A write, counted for the group commit while it lives (so a write is counted however it
/// ends).
struct Writing<'a>(&'a SqlStore);

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
