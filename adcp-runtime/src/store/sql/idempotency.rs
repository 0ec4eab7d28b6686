//! Idempotency records in SQL: a claim per key, held by a lease while the request runs.

use serde_json::Value;
use sqlx::Row;
use std::time::Duration;
use time::OffsetDateTime;

use super::{SqlStore, backend, json_text, parse_json};
use crate::store::idempotency::MAX_WAIT;
use crate::store::{BoxFuture, ClaimState, IdemKey, IdempotencyStore, StoreError};
use crate::time::{millis, now_ms};

/// How long a running idempotent request holds its key if its replica dies.
const RUNNING_LEASE: Duration = Duration::from_secs(120);

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
                    "INSERT INTO adcp_idempotency \
                     (scope, task, key, hash, state, created_at, lease_until, tenant) \
                     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7) \
                     ON CONFLICT (tenant, scope, task, key) DO NOTHING",
                )
                .bind(key.scope.clone())
                .bind(key.task.clone())
                .bind(key.key.clone())
                .bind(hash.to_owned())
                .bind(millis(now))
                .bind(millis(now + RUNNING_LEASE))
                .bind(self.tenant().to_owned())
                .execute(&*self.writing())
                .await
                .map_err(backend)?;
                if inserted.rows_affected() == 1 {
                    return Ok(ClaimState::Claimed);
                }
                let row = sqlx::query(
                    "SELECT hash, state, response, created_at, lease_until FROM adcp_idempotency \
                     WHERE scope = $1 AND task = $2 AND key = $3 AND tenant = $4",
                )
                .bind(key.scope.clone())
                .bind(key.task.clone())
                .bind(key.key.clone())
                .bind(self.tenant().to_owned())
                .fetch_optional(&self.reads)
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
                         WHERE scope = $3 AND task = $4 AND key = $5 AND tenant = $6 \
                         AND state = 'running' AND (lease_until IS NULL OR lease_until < $1)",
                    )
                    .bind(millis(now))
                    .bind(millis(now + RUNNING_LEASE))
                    .bind(key.scope.clone())
                    .bind(key.task.clone())
                    .bind(key.key.clone())
                    .bind(self.tenant().to_owned())
                    .execute(&*self.writing())
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
                 lease_until = NULL WHERE scope = $3 AND task = $4 AND key = $5 AND hash = $6 \
                 AND tenant = $7",
            )
            .bind(json_text(response))
            .bind(millis(now_ms()))
            .bind(key.scope.clone())
            .bind(key.task.clone())
            .bind(key.key.clone())
            .bind(hash.to_owned())
            .bind(self.tenant().to_owned())
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn release<'a>(&'a self, key: &'a IdemKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "DELETE FROM adcp_idempotency WHERE scope = $1 AND task = $2 AND key = $3 \
                 AND tenant = $4 AND state = 'running'",
            )
            .bind(key.scope.clone())
            .bind(key.task.clone())
            .bind(key.key.clone())
            .bind(self.tenant().to_owned())
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn vacuum(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let r = sqlx::query(
                "DELETE FROM adcp_idempotency WHERE tenant = $1 AND state = 'stored' \
                 AND created_at < $2",
            )
            .bind(self.tenant().to_owned())
            .bind(millis(before))
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            let outbox = self.vacuum_outbox(before).await?;
            Ok(r.rows_affected() + outbox)
        })
    }
}
