//! Tasks, the outbox, idempotency records and adopter state in SQL: SQLite (one file, WAL) or
//! PostgreSQL (shared by replicas). One portable dialect through sqlx's `Any` driver: `$n`
//! parameters, `ON CONFLICT`, `RETURNING`, JSON as text and times as unix milliseconds.

mod accounts;

use std::time::Duration;

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use time::OffsetDateTime;

use crate::store::idempotency::MAX_WAIT;
use crate::store::{
    BoxFuture, ClaimState, Delivery, DeliveryState, IdemKey, IdempotencyStore, NonceStore, Outbox,
    Owner, Recorded, StateStore, StoreError, TaskRecord, TaskStatus, TaskStore, Versioned,
};
use crate::time::{from_millis, millis, now_ms};

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

/// How long a running idempotent request holds its key if its replica dies.
const RUNNING_LEASE: Duration = Duration::from_secs(120);

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The SQL store.
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    ids: crate::store::IdKey,
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

// SQL is assembled from literals only (`concat!`), never from values.
macro_rules! open_statuses {
    () => {
        "('submitted', 'working', 'input-required')"
    };
}

macro_rules! task_columns {
    () => {
        "task_id, scope, task_type, protocol, status, message, created_at, updated_at, result, \
         error, push, a2a_push, context, job, owner, revision, principal"
    };
}

macro_rules! outbox_columns {
    () => {
        "id, task_id, url, body, auth, idempotency_key, state, attempts, next_attempt_at, \
         last_error, created_at, scope"
    };
}

fn task_from_row(r: &AnyRow) -> Result<TaskRecord, StoreError> {
    let status: String = r.try_get("status").map_err(backend)?;
    // A job this build cannot read (stored by an older one) is dropped: the task then fails
    // as in-process work lost with its replica does, rather than blocking the orphan sweep.
    let job = parse_json(r.try_get("job").map_err(backend)?)?.and_then(|v| {
        serde_json::from_value::<crate::store::JobSpec>(v)
            .map_err(|e| tracing::warn!(error = %e, "a stored job this build cannot read"))
            .ok()
    });
    Ok(TaskRecord {
        task_id: r.try_get("task_id").map_err(backend)?,
        task_type: r.try_get("task_type").map_err(backend)?,
        protocol: r.try_get("protocol").map_err(backend)?,
        scope: r.try_get("scope").map_err(backend)?,
        status: TaskStatus::parse(&status).ok_or_else(|| unreadable("task status", &status))?,
        message: r.try_get("message").map_err(backend)?,
        created_at: from_millis(r.try_get("created_at").map_err(backend)?),
        updated_at: from_millis(r.try_get("updated_at").map_err(backend)?),
        result: parse_json(r.try_get("result").map_err(backend)?)?,
        error: parse_json(r.try_get("error").map_err(backend)?)?,
        push: parse_json(r.try_get("push").map_err(backend)?)?,
        a2a_push: parse_json(r.try_get("a2a_push").map_err(backend)?)?,
        context: parse_json(r.try_get("context").map_err(backend)?)?,
        job,
        owner: r.try_get("owner").map_err(backend)?,
        revision: r.try_get("revision").map_err(backend)?,
        principal: r.try_get("principal").map_err(backend)?,
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<Delivery, StoreError> {
    let state: String = r.try_get("state").map_err(backend)?;
    let auth = parse_json(r.try_get("auth").map_err(backend)?)?
        .map(serde_json::from_value)
        .transpose()
        .map_err(corrupt("delivery authentication"))?;
    let attempts: i64 = r.try_get("attempts").map_err(backend)?;
    Ok(Delivery {
        id: r.try_get("id").map_err(backend)?,
        task_id: r.try_get("task_id").map_err(backend)?,
        scope: r
            .try_get::<Option<String>, _>("scope")
            .map_err(backend)?
            .unwrap_or_default(),
        url: r.try_get("url").map_err(backend)?,
        body: r.try_get("body").map_err(backend)?,
        auth,
        idempotency_key: r.try_get("idempotency_key").map_err(backend)?,
        state: DeliveryState::parse(&state).ok_or_else(|| unreadable("delivery state", &state))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: from_millis(r.try_get("next_attempt_at").map_err(backend)?),
        last_error: r.try_get("last_error").map_err(backend)?,
        created_at: from_millis(r.try_get("created_at").map_err(backend)?),
    })
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
        };
        store.migrate().await?;
        store.ids = store.id_key().await?;
        Ok(store)
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

    async fn insert_deliveries(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        for d in deliveries {
            let auth = d
                .auth
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(corrupt("record"))?;
            sqlx::query(
                "INSERT INTO adcp_outbox (id, task_id, url, body, auth, idempotency_key, state, \
                 attempts, next_attempt_at, last_error, created_at, scope) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(d.id.clone())
            .bind(d.task_id.clone())
            .bind(d.url.clone())
            .bind(d.body.clone())
            .bind(auth)
            .bind(d.idempotency_key.clone())
            .bind(d.state.as_str())
            .bind(i64::from(d.attempts))
            .bind(millis(d.next_attempt_at))
            .bind(d.last_error.clone())
            .bind(millis(d.created_at))
            .bind(d.scope.clone())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        }
        Ok(())
    }

    /// Deletes finished deliveries and idempotency records older than `before`.
    pub(crate) async fn vacuum_outbox(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM adcp_outbox WHERE state <> 'pending' AND created_at < $1")
            .bind(millis(before))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(r.rows_affected())
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

impl TaskStore for SqlStore {
    fn insert<'a>(
        &'a self,
        task: &'a TaskRecord,
        lease_until: Option<OffsetDateTime>,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let job = task
                .job
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(corrupt("record"))?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let r = sqlx::query(concat!(
                "INSERT INTO adcp_tasks (",
                task_columns!(),
                ", lease_until) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18) ON CONFLICT (task_id) DO NOTHING"
            ))
            .bind(task.task_id.clone())
            .bind(task.scope.clone())
            .bind(task.task_type.clone())
            .bind(task.protocol.clone())
            .bind(task.status.as_str())
            .bind(task.message.clone())
            .bind(millis(task.created_at))
            .bind(millis(task.updated_at))
            .bind(json_text(task.result.as_ref()))
            .bind(json_text(task.error.as_ref()))
            .bind(json_text(task.push.as_ref()))
            .bind(json_text(task.a2a_push.as_ref()))
            .bind(json_text(task.context.as_ref()))
            .bind(job)
            .bind(task.owner.clone())
            .bind(task.revision)
            .bind(task.principal.clone())
            .bind(lease_until.map(millis))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::Exists(task.task_id.clone()));
            }
            Self::insert_deliveries(&mut tx, deliveries).await?;
            tx.commit().await.map_err(backend)
        })
    }

    fn update<'a>(
        &'a self,
        task: &'a TaskRecord,
        expected: i64,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let job = task
                .job
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(corrupt("record"))?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let r = sqlx::query(
                "UPDATE adcp_tasks SET status = $1, message = $2, updated_at = $3, result = $4, \
                 error = $5, push = $6, a2a_push = $7, context = $8, job = $9, owner = $10, \
                 lease_until = CASE WHEN $10 IS NULL THEN NULL ELSE lease_until END, revision = $11 \
                 WHERE task_id = $12 AND revision = $13",
            )
            .bind(task.status.as_str())
            .bind(task.message.clone())
            .bind(millis(task.updated_at))
            .bind(json_text(task.result.as_ref()))
            .bind(json_text(task.error.as_ref()))
            .bind(json_text(task.push.as_ref()))
            .bind(json_text(task.a2a_push.as_ref()))
            .bind(json_text(task.context.as_ref()))
            .bind(job)
            .bind(task.owner.clone())
            .bind(task.revision)
            .bind(task.task_id.clone())
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                let exists = sqlx::query("SELECT revision FROM adcp_tasks WHERE task_id = $1")
                    .bind(task.task_id.clone())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .is_some();
                return if exists {
                    Ok(false)
                } else {
                    Err(StoreError::NotFound(task.task_id.clone()))
                };
            }
            Self::insert_deliveries(&mut tx, deliveries).await?;
            tx.commit().await.map_err(backend)?;
            Ok(true)
        })
    }

    fn get<'a>(
        &'a self,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<TaskRecord>, StoreError>> {
        Box::pin(async move {
            let sql = concat!(
                "SELECT ",
                task_columns!(),
                " FROM adcp_tasks WHERE task_id = $1"
            );
            Ok(self.select(sql, &[task_id], task_from_row).await?.pop())
        })
    }

    fn list<'a>(&'a self, by: Owner<'a>) -> BoxFuture<'a, Result<Vec<TaskRecord>, StoreError>> {
        Box::pin(async move {
            match by {
                Owner::Scope(scope) => {
                    let sql = concat!(
                        "SELECT ",
                        task_columns!(),
                        " FROM adcp_tasks WHERE scope = $1 ORDER BY created_at DESC, task_id DESC"
                    );
                    self.select(sql, &[scope], task_from_row).await
                }
                Owner::Principal(principal) => {
                    let sql = concat!(
                        "SELECT ",
                        task_columns!(),
                        " FROM adcp_tasks WHERE principal = $1 \
                         ORDER BY created_at DESC, task_id DESC"
                    );
                    self.select(sql, &[principal], task_from_row).await
                }
            }
        })
    }

    fn renew<'a>(
        &'a self,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let r = sqlx::query(concat!(
                "UPDATE adcp_tasks SET lease_until = $1 WHERE owner = $2 AND status IN ",
                open_statuses!()
            ))
            .bind(millis(until))
            .bind(owner.to_owned())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(r.rows_affected())
        })
    }

    fn orphans(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
        Box::pin(async move {
            sqlx::query(concat!(
                "SELECT ",
                task_columns!(),
                " FROM adcp_tasks WHERE owner IS NOT NULL AND status IN ",
                open_statuses!(),
                " \
                 AND (lease_until IS NULL OR lease_until < $1) ORDER BY created_at LIMIT $2"
            ))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(task_from_row)
            .collect()
        })
    }

    fn adopt<'a>(
        &'a self,
        task_id: &'a str,
        expected: i64,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let r = sqlx::query(
                "UPDATE adcp_tasks SET owner = $1, lease_until = $2, revision = revision + 1 \
                 WHERE task_id = $3 AND revision = $4",
            )
            .bind(owner.to_owned())
            .bind(millis(until))
            .bind(task_id.to_owned())
            .bind(expected)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(r.rows_affected() == 1)
        })
    }
}

impl Outbox for SqlStore {
    fn enqueue<'a>(&'a self, deliveries: &'a [Delivery]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(backend)?;
            Self::insert_deliveries(&mut tx, deliveries).await?;
            tx.commit().await.map_err(backend)
        })
    }

    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, StoreError>> {
        Box::pin(async move {
            // The outer condition repeats the inner one: under concurrent claims PostgreSQL
            // re-checks it on the locked row, so each delivery goes to one replica.
            sqlx::query(concat!(
                "UPDATE adcp_outbox SET owner = $1, lease_until = $2 WHERE id IN \
                 (SELECT id FROM adcp_outbox WHERE state = 'pending' AND next_attempt_at <= $3 \
                  AND (owner IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4) \
                 AND state = 'pending' AND (owner IS NULL OR lease_until < $3) \
                 RETURNING ",
                outbox_columns!()
            ))
            .bind(owner.to_owned())
            .bind(millis(until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(delivery_from_row)
            .collect()
        })
    }

    fn record<'a>(
        &'a self,
        d: &'a Delivery,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE adcp_outbox SET state = $1, attempts = $2, next_attempt_at = $3, \
                 last_error = $4, owner = NULL, lease_until = NULL WHERE id = $5 AND owner = $6",
            )
            .bind(d.state.as_str())
            .bind(i64::from(d.attempts))
            .bind(millis(d.next_attempt_at))
            .bind(d.last_error.clone())
            .bind(d.id.clone())
            .bind(owner.to_owned())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn for_task<'a>(
        &'a self,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, StoreError>> {
        Box::pin(async move {
            let sql = concat!(
                "SELECT ",
                outbox_columns!(),
                " FROM adcp_outbox WHERE task_id = $1 ORDER BY created_at, id"
            );
            self.select(sql, &[task_id], delivery_from_row).await
        })
    }
}

impl IdempotencyStore for SqlStore {
    fn claim<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        stale_before: OffsetDateTime,
    ) -> BoxFuture<'a, Result<ClaimState, StoreError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + MAX_WAIT;
            let mut pause = Duration::from_millis(10);
            loop {
                let now = now_ms();
                let inserted = sqlx::query(
                    "INSERT INTO adcp_idempotency (scope, task, key, hash, state, created_at, lease_until) \
                     VALUES ($1, $2, $3, $4, 'running', $5, $6) ON CONFLICT (scope, task, key) DO NOTHING",
                )
                .bind(key.scope.clone())
                .bind(key.task.clone())
                .bind(key.key.clone())
                .bind(hash.to_owned())
                .bind(millis(now))
                .bind(millis(now + RUNNING_LEASE))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                if inserted.rows_affected() == 1 {
                    return Ok(ClaimState::Claimed);
                }
                let row = sqlx::query(
                    "SELECT hash, state, response, created_at, lease_until FROM adcp_idempotency \
                     WHERE scope = $1 AND task = $2 AND key = $3",
                )
                .bind(key.scope.clone())
                .bind(key.task.clone())
                .bind(key.key.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                let Some(row) = row else {
                    continue; // released meanwhile
                };
                let stored_hash: String = row.try_get("hash").map_err(backend)?;
                if stored_hash != hash {
                    return Ok(ClaimState::Conflict);
                }
                let state: String = row.try_get("state").map_err(backend)?;
                if state == "stored" {
                    let created: i64 = row.try_get("created_at").map_err(backend)?;
                    let response = parse_json(row.try_get("response").map_err(backend)?)?;
                    return Ok(match response {
                        Some(r) if created >= millis(stale_before) => ClaimState::Stored(r),
                        _ => ClaimState::Expired,
                    });
                }
                let lease: Option<i64> = row.try_get("lease_until").map_err(backend)?;
                if lease.is_none_or(|l| l < millis(now)) {
                    // Its replica died mid-request: take the key over.
                    let taken = sqlx::query(
                        "UPDATE adcp_idempotency SET created_at = $1, lease_until = $2 \
                         WHERE scope = $3 AND task = $4 AND key = $5 AND state = 'running' \
                         AND (lease_until IS NULL OR lease_until < $1)",
                    )
                    .bind(millis(now))
                    .bind(millis(now + RUNNING_LEASE))
                    .bind(key.scope.clone())
                    .bind(key.task.clone())
                    .bind(key.key.clone())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                    if taken.rows_affected() == 1 {
                        return Ok(ClaimState::Claimed);
                    }
                    continue;
                }
                if tokio::time::Instant::now() + pause > deadline {
                    return Ok(ClaimState::Busy);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        response: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE adcp_idempotency SET state = 'stored', response = $1, created_at = $2, \
                 lease_until = NULL WHERE scope = $3 AND task = $4 AND key = $5 AND hash = $6",
            )
            .bind(json_text(response))
            .bind(millis(now_ms()))
            .bind(key.scope.clone())
            .bind(key.task.clone())
            .bind(key.key.clone())
            .bind(hash.to_owned())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn release<'a>(&'a self, key: &'a IdemKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "DELETE FROM adcp_idempotency WHERE scope = $1 AND task = $2 AND key = $3 \
                 AND state = 'running'",
            )
            .bind(key.scope.clone())
            .bind(key.task.clone())
            .bind(key.key.clone())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn vacuum(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let r = sqlx::query(
                "DELETE FROM adcp_idempotency WHERE state = 'stored' AND created_at < $1",
            )
            .bind(millis(before))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            let outbox = self.vacuum_outbox(before).await?;
            Ok(r.rows_affected() + outbox)
        })
    }
}

impl StateStore for SqlStore {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT value, version FROM adcp_state \
                       WHERE scope = $1 AND collection = $2 AND id = $3";
            let versioned = |row: &AnyRow| {
                Ok(Versioned {
                    value: json_column(row, "value")?,
                    version: row.try_get("version").map_err(backend)?,
                })
            };
            Ok(self
                .select(sql, &[scope, collection, id], versioned)
                .await?
                .pop())
        })
    }

    fn compare_and_set<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
        expected: Option<i64>,
        value: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let r = match expected {
                None => {
                    sqlx::query(
                        "INSERT INTO adcp_state (scope, collection, id, value, version) \
                     VALUES ($1, $2, $3, $4, 1) ON CONFLICT (scope, collection, id) DO NOTHING",
                    )
                    .bind(scope.to_owned())
                    .bind(collection.to_owned())
                    .bind(id.to_owned())
                    .bind(value.to_string())
                    .execute(&self.pool)
                    .await
                }
                Some(v) => {
                    sqlx::query(
                        "UPDATE adcp_state SET value = $1, version = version + 1 \
                     WHERE scope = $2 AND collection = $3 AND id = $4 AND version = $5",
                    )
                    .bind(value.to_string())
                    .bind(scope.to_owned())
                    .bind(collection.to_owned())
                    .bind(id.to_owned())
                    .bind(v)
                    .execute(&self.pool)
                    .await
                }
            }
            .map_err(backend)?;
            Ok(r.rows_affected() == 1)
        })
    }

    fn list<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Value)>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT id, value FROM adcp_state \
                       WHERE scope = $1 AND collection = $2 ORDER BY id";
            let entry = |row: &AnyRow| {
                let id: String = row.try_get("id").map_err(backend)?;
                Ok((id, json_column(row, "value")?))
            };
            self.select(sql, &[scope, collection], entry).await
        })
    }

    fn delete<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM adcp_state WHERE scope = $1 AND collection = $2 AND id = $3")
                .bind(scope.to_owned())
                .bind(collection.to_owned())
                .bind(id.to_owned())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }
}

impl NonceStore for SqlStore {
    fn full<'a>(
        &'a self,
        keyid: &'a str,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM adcp_nonces WHERE keyid = $1 AND expires_at > $2",
            )
            .bind(keyid)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
            Ok(u64::try_from(live).unwrap_or(0) >= cap)
        })
    }

    fn record<'a>(
        &'a self,
        keyid: &'a str,
        nonce: &'a str,
        until: i64,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        Box::pin(async move {
            // The primary key decides between concurrent replicas: an expired row may be
            // taken over, a live one not.
            let done = sqlx::query(
                "INSERT INTO adcp_nonces (keyid, nonce, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (keyid, nonce) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE adcp_nonces.expires_at <= $4",
            )
            .bind(keyid)
            .bind(nonce)
            .bind(until)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Ok(Recorded::Seen);
            }
            // The cap, checked after the insert so that replicas racing at the edge cannot
            // together exceed it: whoever finds more than `cap` live rows gives its row back.
            if self.full(keyid, now, cap.saturating_add(1)).await? {
                sqlx::query("DELETE FROM adcp_nonces WHERE keyid = $1 AND nonce = $2")
                    .bind(keyid)
                    .bind(nonce)
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                return Ok(Recorded::Full);
            }
            sqlx::query("DELETE FROM adcp_nonces WHERE expires_at <= $1 AND keyid = $2")
                .bind(now)
                .bind(keyid)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            Ok(Recorded::Fresh)
        })
    }
}
