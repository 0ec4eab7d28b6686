//! Tasks in SQL: one row per task, its job and push configuration as JSON, leases by owner
//! and revision.

use time::OffsetDateTime;

use super::{Arg, Row, Sql, SqlStore, args, corrupt, json_text, parse_json, unreadable};
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

fn task_from_row(r: &Row) -> Result<TaskRecord, StoreError> {
    let status: String = r.get("status")?;
    // A job this build cannot read (stored by an older one) is dropped: the task then fails
    // as in-process work lost with its replica does, rather than blocking the orphan sweep.
    let job = parse_json(r.get("job")?)?.and_then(|v| {
        serde_json::from_value::<crate::store::JobSpec>(v)
            .map_err(|e| tracing::warn!(error = %e, "a stored job this build cannot read"))
            .ok()
    });
    Ok(TaskRecord {
        task_id: r.get("task_id")?,
        task_type: r.get("task_type")?,
        protocol: r.get("protocol")?,
        scope: r.get("scope")?,
        status: TaskStatus::parse(&status).ok_or_else(|| unreadable("task status", &status))?,
        message: r.get("message")?,
        created_at: from_millis(r.get("created_at")?),
        updated_at: from_millis(r.get("updated_at")?),
        result: parse_json(r.get("result")?)?,
        error: parse_json(r.get("error")?)?,
        push: parse_json(r.get("push")?)?,
        a2a_push: parse_json(r.get("a2a_push")?)?,
        context: parse_json(r.get("context")?)?,
        job,
        owner: r.get("owner")?,
        revision: r.get("revision")?,
        principal: r.get("principal")?,
    })
}

impl TaskStore for SqlStore {
    fn open_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let n = self
                .count(
                    concat!(
                        "SELECT COUNT(*) AS n FROM adcp_tasks WHERE tenant = $1 AND status IN ",
                        open_statuses!()
                    ),
                    args![self.tenant()],
                )
                .await?;
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
            let mut tx = self.begin().await?;
            let inserted = tx
                .execute(
                    concat!(
                        "INSERT INTO adcp_tasks (",
                        task_columns!(),
                        ", lease_until, tenant) VALUES \
                         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                         $16, $17, $18, $19) ON CONFLICT (task_id) DO NOTHING"
                    ),
                    args![
                        &task.task_id,
                        &task.scope,
                        &task.task_type,
                        &task.protocol,
                        task.status.as_str(),
                        &task.message,
                        millis(task.created_at),
                        millis(task.updated_at),
                        json_text(task.result.as_ref()),
                        json_text(task.error.as_ref()),
                        json_text(task.push.as_ref()),
                        json_text(task.a2a_push.as_ref()),
                        json_text(task.context.as_ref()),
                        job,
                        &task.owner,
                        task.revision,
                        &task.principal,
                        lease_until.map(millis),
                        self.tenant(),
                    ],
                )
                .await?;
            if inserted == 0 {
                return Err(StoreError::Exists(task.task_id.clone()));
            }
            self.insert_deliveries(&mut tx, deliveries).await?;
            tx.commit().await
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
            let mut tx = self.begin().await?;
            let updated = tx
                .execute(
                    "UPDATE adcp_tasks SET status = $1, message = $2, updated_at = $3, \
                     result = $4, error = $5, push = $6, a2a_push = $7, context = $8, job = $9, \
                     owner = $10, \
                     lease_until = CASE WHEN $10 IS NULL THEN NULL ELSE lease_until END, \
                     revision = $11 WHERE task_id = $12 AND revision = $13 AND tenant = $14",
                    args![
                        task.status.as_str(),
                        &task.message,
                        millis(task.updated_at),
                        json_text(task.result.as_ref()),
                        json_text(task.error.as_ref()),
                        json_text(task.push.as_ref()),
                        json_text(task.a2a_push.as_ref()),
                        json_text(task.context.as_ref()),
                        job,
                        &task.owner,
                        task.revision,
                        &task.task_id,
                        expected,
                        self.tenant(),
                    ],
                )
                .await?;
            if updated == 0 {
                let exists = !tx
                    .fetch(
                        "SELECT revision FROM adcp_tasks WHERE task_id = $1 AND tenant = $2",
                        args![&task.task_id, self.tenant()],
                    )
                    .await?
                    .is_empty();
                return if exists {
                    Ok(false)
                } else {
                    Err(StoreError::NotFound(task.task_id.clone()))
                };
            }
            self.insert_deliveries(&mut tx, deliveries).await?;
            tx.commit().await?;
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
            self.fetch(Sql::built(sql), params.values)
                .await?
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
            let sql = format!("SELECT COUNT(*) AS n FROM ({inner} LIMIT {cap}) AS matching");
            let n = self.count(Sql::built(sql), params.values).await?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn renew<'a>(
        &'a self,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            self.execute(
                concat!(
                    "UPDATE adcp_tasks SET lease_until = $1 WHERE tenant = $2 AND owner = $3 \
                     AND status IN ",
                    open_statuses!()
                ),
                args![millis(until), self.tenant(), owner],
            )
            .await
        })
    }

    fn orphans(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
        Box::pin(async move {
            self.fetch(
                concat!(
                    "SELECT ",
                    task_columns!(),
                    " FROM adcp_tasks WHERE tenant = $1 AND owner IS NOT NULL AND status IN ",
                    open_statuses!(),
                    " AND (lease_until IS NULL OR lease_until < $2) ORDER BY created_at LIMIT $3"
                ),
                args![self.tenant(), millis(now), i64::from(limit)],
            )
            .await?
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
            let adopted = self
                .execute(
                    "UPDATE adcp_tasks SET owner = $1, lease_until = $2, revision = revision + 1 \
                     WHERE task_id = $3 AND revision = $4 AND tenant = $5",
                    args![owner, millis(until), task_id, expected, self.tenant()],
                )
                .await?;
            Ok(adopted == 1)
        })
    }
}

/// The parameters of a statement built at run time, numbered as they are pushed.
#[derive(Default)]
struct Params {
    values: Vec<Arg>,
}

impl Params {
    /// Adds a text parameter; returns its placeholder.
    fn push(&mut self, v: &str) -> String {
        self.values.push(Arg::from(v));
        format!("${}", self.values.len())
    }

    /// Adds an integer parameter; returns its placeholder.
    fn push_int(&mut self, v: i64) -> String {
        self.values.push(Arg::from(v));
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
