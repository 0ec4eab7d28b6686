//! Tasks in SQL: one row per task, its job and push configuration as JSON, leases by owner
//! and revision.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{SqlStore, backend, corrupt, json_text, parse_json, unreadable};
use crate::store::tasks::TaskQuery;
use crate::store::{BoxFuture, Delivery, Owner, StoreError, TaskRecord, TaskStatus, TaskStore};
use crate::time::{from_millis, millis};

// SQL is assembled from literals only (`concat!`, and for a page's filters placeholders
// numbered by `Params`), never from values.
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

impl TaskStore for SqlStore {
    fn open_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar(concat!(
                "SELECT COUNT(*) FROM adcp_tasks WHERE tenant = $1 AND status IN ",
                open_statuses!()
            ))
            .bind(self.tenant().to_owned())
            .fetch_one(&self.reads)
            .await
            .map_err(backend)?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        })
    }

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
            let writing = self.writing();
            let mut tx = writing.begin().await.map_err(backend)?;
            let r = sqlx::query(concat!(
                "INSERT INTO adcp_tasks (",
                task_columns!(),
                ", lease_until, tenant) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19) ON CONFLICT (task_id) DO NOTHING"
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
            .bind(self.tenant().to_owned())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::Exists(task.task_id.clone()));
            }
            self.insert_deliveries(&mut tx, deliveries).await?;
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
            let writing = self.writing();
            let mut tx = writing.begin().await.map_err(backend)?;
            let r = sqlx::query(
                "UPDATE adcp_tasks SET status = $1, message = $2, updated_at = $3, result = $4, \
                 error = $5, push = $6, a2a_push = $7, context = $8, job = $9, owner = $10, \
                 lease_until = CASE WHEN $10 IS NULL THEN NULL ELSE lease_until END, revision = $11 \
                 WHERE task_id = $12 AND revision = $13 AND tenant = $14",
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
            .bind(self.tenant().to_owned())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                let exists = sqlx::query(
                    "SELECT revision FROM adcp_tasks WHERE task_id = $1 AND tenant = $2",
                )
                .bind(task.task_id.clone())
                .bind(self.tenant().to_owned())
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
            self.insert_deliveries(&mut tx, deliveries).await?;
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
                " FROM adcp_tasks WHERE tenant = $1 AND task_id = $2"
            );
            Ok(self
                .select(sql, &[self.tenant(), task_id], task_from_row)
                .await?
                .pop())
        })
    }

    fn list<'a>(&'a self, by: Owner<'a>) -> BoxFuture<'a, Result<Vec<TaskRecord>, StoreError>> {
        Box::pin(async move {
            match by {
                Owner::Scope(scope) => {
                    let sql = concat!(
                        "SELECT ",
                        task_columns!(),
                        " FROM adcp_tasks WHERE tenant = $1 AND scope = $2 \
                         ORDER BY created_at DESC, task_id DESC"
                    );
                    self.select(sql, &[self.tenant(), scope], task_from_row)
                        .await
                }
                Owner::Principal(principal) => {
                    let sql = concat!(
                        "SELECT ",
                        task_columns!(),
                        " FROM adcp_tasks WHERE tenant = $1 AND principal = $2 \
                         ORDER BY created_at DESC, task_id DESC"
                    );
                    self.select(sql, &[self.tenant(), principal], task_from_row)
                        .await
                }
            }
        })
    }

    fn page<'a>(
        &'a self,
        q: &'a TaskQuery<'a>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TaskRecord>, StoreError>> {
        Box::pin(async move {
            let mut sql = String::from(concat!("SELECT ", task_columns!(), " FROM adcp_tasks"));
            let mut params = Params::default();
            filtered(&mut sql, &mut params, self.tenant(), q);
            if let Some(after) = &q.after {
                let (ms, id) = (
                    params.push_int(after.created_ms),
                    params.push(&after.task_id),
                );
                sql.push_str(&format!(
                    " AND (created_at < {ms} OR (created_at = {ms} AND task_id < {id}))"
                ));
            }
            let limit = params.push_int(i64::from(limit));
            sql.push_str(&format!(
                " ORDER BY created_at DESC, task_id DESC LIMIT {limit}"
            ));
            params
                .bound(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_all(&self.reads)
                .await
                .map_err(backend)?
                .iter()
                .map(task_from_row)
                .collect()
        })
    }

    fn count<'a>(
        &'a self,
        q: &'a TaskQuery<'a>,
        cap: u32,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut inner = String::from("SELECT 1 FROM adcp_tasks");
            let mut params = Params::default();
            filtered(&mut inner, &mut params, self.tenant(), q);
            let cap = params.push_int(i64::from(cap));
            let sql = format!("SELECT COUNT(*) FROM ({inner} LIMIT {cap}) AS matching");
            let n: i64 = params
                .bound(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_one(&self.reads)
                .await
                .map_err(backend)?
                .try_get(0)
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn renew<'a>(
        &'a self,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let r = sqlx::query(concat!(
                "UPDATE adcp_tasks SET lease_until = $1 WHERE tenant = $2 AND owner = $3 \
                 AND status IN ",
                open_statuses!()
            ))
            .bind(millis(until))
            .bind(self.tenant().to_owned())
            .bind(owner.to_owned())
            .execute(&*self.writing())
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
                " FROM adcp_tasks WHERE tenant = $1 AND owner IS NOT NULL AND status IN ",
                open_statuses!(),
                " \
                 AND (lease_until IS NULL OR lease_until < $2) ORDER BY created_at LIMIT $3"
            ))
            .bind(self.tenant().to_owned())
            .bind(millis(now))
            .bind(i64::from(limit))
            .fetch_all(&self.reads)
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
                 WHERE task_id = $3 AND revision = $4 AND tenant = $5",
            )
            .bind(owner.to_owned())
            .bind(millis(until))
            .bind(task_id.to_owned())
            .bind(expected)
            .bind(self.tenant().to_owned())
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(r.rows_affected() == 1)
        })
    }
}

/// The parameters of a statement built at run time, numbered as they are pushed.
#[derive(Default)]
struct Params {
    values: Vec<Param>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl Params {
    /// Adds a text parameter; returns its placeholder.
    fn push(&mut self, v: &str) -> String {
        self.values.push(Param::Text(v.to_owned()));
        format!("${}", self.values.len())
    }

    /// Adds an integer parameter; returns its placeholder.
    fn push_int(&mut self, v: i64) -> String {
        self.values.push(Param::Int(v));
        format!("${}", self.values.len())
    }

    /// `column IN (..)` of `values`, nothing when there are none.
    fn any_of(&mut self, sql: &mut String, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let placeholders: Vec<String> = values.iter().map(|v| self.push(v)).collect();
        sql.push_str(&format!(" AND {column} IN ({})", placeholders.join(", ")));
    }

    fn bound(
        self,
        mut query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        for v in self.values {
            query = match v {
                Param::Text(s) => query.bind(s),
                Param::Int(i) => query.bind(i),
            };
        }
        query
    }
}

/// The `WHERE` of a task query (its filters, not its page): every value a parameter.
fn filtered(sql: &mut String, params: &mut Params, tenant: &str, q: &TaskQuery<'_>) {
    let tenant = params.push(tenant);
    let (column, who) = match q.by {
        Owner::Scope(scope) => ("scope", params.push(scope)),
        Owner::Principal(principal) => ("principal", params.push(principal)),
    };
    sql.push_str(&format!(" WHERE tenant = {tenant} AND {column} = {who}"));
    params.any_of(sql, "status", q.statuses);
    params.any_of(sql, "task_type", q.task_types);
    params.any_of(sql, "task_id", q.task_ids);
}
