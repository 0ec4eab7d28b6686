//! The webhook outbox in SQL: deliveries written in the same transaction as the task change
//! that caused them.

use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::{SqlStore, backend, corrupt, parse_json, unreadable};
use crate::store::{BoxFuture, Delivery, DeliveryState, Outbox, StoreError};
use crate::time::{from_millis, millis};

// SQL is assembled from literals only (`concat!`), never from values.
macro_rules! outbox_columns {
    () => {
        "id, task_id, url, body, auth, idempotency_key, state, attempts, next_attempt_at, \
         last_error, created_at, scope"
    };
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
    /// Writes `deliveries` as this view's tenant's, in `tx`.
    pub(super) async fn insert_deliveries(
        &self,
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
                 attempts, next_attempt_at, last_error, created_at, scope, tenant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (id) DO NOTHING",
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
            .bind(self.tenant().to_owned())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        }
        Ok(())
    }

    /// Deletes this tenant's finished deliveries older than `before`.
    pub(crate) async fn vacuum_outbox(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM adcp_outbox WHERE tenant = $1 AND state <> 'pending' AND created_at < $2",
        )
        .bind(self.tenant().to_owned())
        .bind(millis(before))
        .execute(&*self.writing())
        .await
        .map_err(backend)?;
        Ok(r.rows_affected())
    }
}

impl Outbox for SqlStore {
    fn pending_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM adcp_outbox WHERE tenant = $1 AND state = 'pending'",
            )
            .bind(self.tenant().to_owned())
            .fetch_one(&self.reads)
            .await
            .map_err(backend)?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        })
    }

    fn enqueue<'a>(&'a self, deliveries: &'a [Delivery]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let writing = self.writing();
            let mut tx = writing.begin().await.map_err(backend)?;
            self.insert_deliveries(&mut tx, deliveries).await?;
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
            let due = sqlx::query(concat!(
                "UPDATE adcp_outbox SET owner = $1, lease_until = $2 WHERE id IN \
                 (SELECT id FROM adcp_outbox WHERE tenant = $5 AND state = 'pending' \
                  AND next_attempt_at <= $3 AND (owner IS NULL OR lease_until < $3) \
                  ORDER BY next_attempt_at LIMIT $4) \
                 AND tenant = $5 AND state = 'pending' AND (owner IS NULL OR lease_until < $3) \
                 RETURNING ",
                outbox_columns!()
            ))
            .bind(owner.to_owned())
            .bind(millis(until))
            .bind(millis(now))
            .bind(i64::from(limit))
            .bind(self.tenant().to_owned())
            .fetch_all(&*self.writing())
            .await
            .map_err(backend)?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
            if !due.is_empty() {
                // Nothing is sent before what it reports is on disk.
                self.durable().await?;
            }
            Ok(due)
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
                 last_error = $4, owner = NULL, lease_until = NULL \
                 WHERE id = $5 AND owner = $6 AND tenant = $7",
            )
            .bind(d.state.as_str())
            .bind(i64::from(d.attempts))
            .bind(millis(d.next_attempt_at))
            .bind(d.last_error.clone())
            .bind(d.id.clone())
            .bind(owner.to_owned())
            .bind(self.tenant().to_owned())
            .execute(&*self.writing())
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
                " FROM adcp_outbox WHERE tenant = $1 AND task_id = $2 ORDER BY created_at, id"
            );
            self.select(sql, &[self.tenant(), task_id], delivery_from_row)
                .await
        })
    }
}
