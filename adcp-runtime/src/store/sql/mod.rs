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

use crate::store::StoreError;

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
    pool: AnyPool,
    dialect: Dialect,
    ids: crate::store::IdKey,
    tenant: Arc<str>,
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Database(Box::new(e))
}

/// A stored value (`what`) that does not decode, or a record that does not encode.
fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        source: Box::new(e),
    }
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
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
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
        let mut options = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(10));
        if dialect == Dialect::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await.map_err(backend)?;
        let mut store = SqlStore {
            pool,
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
            pool: self.pool.clone(),
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
        if self.dialect == Dialect::Sqlite {
            // WAL lets readers run beside the writer; the mode is kept in the file.
            self.pool
                .execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(backend)?;
        }
        migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(Box::new(e)))
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        let hex: String = sqlx::query("SELECT value FROM adcp_meta WHERE name = 'account_id_key'")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?
            .try_get("value")
            .map_err(backend)?;
        crate::store::IdKey::from_hex(&hex)
            .ok_or_else(|| unreadable("account id key", "(not 64 hex digits)"))
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
