//! The webhook outbox in SQL: deliveries written in the same transaction as the task change
//! that caused them.

use time::OffsetDateTime;

use super::{Row, SqlStore, Transaction, args, corrupt, parse_json, unreadable};
use crate::store::{BoxFuture, Delivery, DeliveryState, Outbox, StoreError};
use crate::time::{from_millis, millis};

// SQL is assembled from literals only (`concat!`), never from values.
macro_rules! outbox_columns {
    () => {
        "id, task_id, url, body, auth, idempotency_key, state, attempts, next_attempt_at, \
         last_error, created_at, scope"
    };
}

fn delivery_from_row(r: &Row) -> Result<Delivery, StoreError> {
    let state: String = r.get("state")?;
    let auth = parse_json(r.get("auth")?)?
        .map(serde_json::from_value)
        .transpose()
        .map_err(corrupt("delivery authentication"))?;
    let attempts: i64 = r.get("attempts")?;
    Ok(Delivery {
        id: r.get("id")?,
        task_id: r.get("task_id")?,
        scope: r.get::<Option<String>>("scope")?.unwrap_or_default(),
        url: r.get("url")?,
        body: r.get("body")?,
        auth,
        idempotency_key: r.get("idempotency_key")?,
        state: DeliveryState::parse(&state).ok_or_else(|| unreadable("delivery state", &state))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: from_millis(r.get("next_attempt_at")?),
        last_error: r.get("last_error")?,
        created_at: from_millis(r.get("created_at")?),
    })
}

impl SqlStore {
    /// Writes `deliveries` as this view's tenant's, in `tx`.
    pub(super) async fn insert_deliveries(
        &self,
        tx: &mut Transaction<'_>,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        for d in deliveries {
            let auth = d
                .auth
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(corrupt("record"))?;
            tx.execute(
                "INSERT INTO adcp_outbox (id, task_id, url, body, auth, idempotency_key, state, \
                 attempts, next_attempt_at, last_error, created_at, scope, tenant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (id) DO NOTHING",
                args![
                    &d.id,
                    &d.task_id,
                    &d.url,
                    &d.body,
                    auth,
                    &d.idempotency_key,
                    d.state.as_str(),
                    i64::from(d.attempts),
                    millis(d.next_attempt_at),
                    &d.last_error,
                    millis(d.created_at),
                    &d.scope,
                    self.tenant(),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes this tenant's finished deliveries older than `before`.
    pub(crate) async fn vacuum_outbox(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM adcp_outbox WHERE tenant = $1 AND state <> 'pending' AND created_at < $2",
            args![self.tenant(), millis(before)],
        )
        .await
    }
}

impl Outbox for SqlStore {
    fn pending_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let n = self
                .count(
                    "SELECT COUNT(*) AS n FROM adcp_outbox WHERE tenant = $1 AND state = 'pending'",
                    args![self.tenant()],
                )
                .await?;
            Ok(Some(u64::try_from(n).unwrap_or(0)))
        })
    }

    fn enqueue<'a>(&'a self, deliveries: &'a [Delivery]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            self.insert_deliveries(&mut tx, deliveries).await?;
            tx.commit().await
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
            let due = self
                .returning(
                    concat!(
                        "UPDATE adcp_outbox SET owner = $1, lease_until = $2 WHERE id IN \
                         (SELECT id FROM adcp_outbox WHERE tenant = $5 AND state = 'pending' \
                          AND next_attempt_at <= $3 AND (owner IS NULL OR lease_until < $3) \
                          ORDER BY next_attempt_at LIMIT $4) \
                         AND tenant = $5 AND state = 'pending' \
                         AND (owner IS NULL OR lease_until < $3) RETURNING ",
                        outbox_columns!()
                    ),
                    args![
                        owner,
                        millis(until),
                        millis(now),
                        i64::from(limit),
                        self.tenant(),
                    ],
                )
                .await?
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
            self.execute(
                "UPDATE adcp_outbox SET state = $1, attempts = $2, next_attempt_at = $3, \
                 last_error = $4, owner = NULL, lease_until = NULL \
                 WHERE id = $5 AND owner = $6 AND tenant = $7",
                args![
                    d.state.as_str(),
                    i64::from(d.attempts),
                    millis(d.next_attempt_at),
                    &d.last_error,
                    &d.id,
                    owner,
                    self.tenant(),
                ],
            )
            .await?;
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
