//! Idempotency records in SQL: a claim per key, held by a lease while the request runs.

use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;

use super::{SqlStore, args, json_text, parse_json};
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
                let inserted = self
                    .execute(
                        "INSERT INTO adcp_idempotency \
                         (scope, task, key, hash, state, created_at, lease_until, tenant) \
                         VALUES ($1, $2, $3, $4, 'running', $5, $6, $7) \
                         ON CONFLICT (tenant, scope, task, key) DO NOTHING",
                        args![
                            &key.scope,
                            &key.task,
                            &key.key,
                            hash,
                            millis(now),
                            millis(now + RUNNING_LEASE),
                            self.tenant(),
                        ],
                    )
                    .await?;
                if inserted == 1 {
                    return Ok(ClaimState::Claimed);
                }
                let row = self
                    .fetch(
                        "SELECT hash, state, response, created_at, lease_until \
                         FROM adcp_idempotency \
                         WHERE scope = $1 AND task = $2 AND key = $3 AND tenant = $4",
                        args![&key.scope, &key.task, &key.key, self.tenant()],
                    )
                    .await?
                    .pop();
                let Some(row) = row else {
                    continue; // released meanwhile
                };
                let stored_hash: String = row.get("hash")?;
                if stored_hash != hash {
                    return Ok(ClaimState::Conflict);
                }
                let state: String = row.get("state")?;
                if state == "stored" {
                    let created: i64 = row.get("created_at")?;
                    let response = parse_json(row.get("response")?)?;
                    return Ok(match response {
                        Some(r) if created >= millis(stale_before) => ClaimState::Stored(r),
                        _ => ClaimState::Expired,
                    });
                }
                let lease: Option<i64> = row.get("lease_until")?;
                if lease.is_none_or(|l| l < millis(now)) {
                    // Its replica died mid-request: take the key over.
                    let taken = self
                        .execute(
                            "UPDATE adcp_idempotency SET created_at = $1, lease_until = $2 \
                             WHERE scope = $3 AND task = $4 AND key = $5 AND tenant = $6 \
                             AND state = 'running' \
                             AND (lease_until IS NULL OR lease_until < $1)",
                            args![
                                millis(now),
                                millis(now + RUNNING_LEASE),
                                &key.scope,
                                &key.task,
                                &key.key,
                                self.tenant(),
                            ],
                        )
                        .await?;
                    if taken == 1 {
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
            self.execute(
                "UPDATE adcp_idempotency SET state = 'stored', response = $1, created_at = $2, \
                 lease_until = NULL WHERE scope = $3 AND task = $4 AND key = $5 AND hash = $6 \
                 AND tenant = $7",
                args![
                    json_text(response),
                    millis(now_ms()),
                    &key.scope,
                    &key.task,
                    &key.key,
                    hash,
                    self.tenant(),
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn release<'a>(&'a self, key: &'a IdemKey) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.execute(
                "DELETE FROM adcp_idempotency WHERE scope = $1 AND task = $2 AND key = $3 \
                 AND tenant = $4 AND state = 'running'",
                args![&key.scope, &key.task, &key.key, self.tenant()],
            )
            .await?;
            Ok(())
        })
    }

    fn vacuum(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let deleted = self
                .execute(
                    "DELETE FROM adcp_idempotency WHERE tenant = $1 AND state = 'stored' \
                     AND created_at < $2",
                    args![self.tenant(), millis(before)],
                )
                .await?;
            let outbox = self.vacuum_outbox(before).await?;
            Ok(deleted + outbox)
        })
    }
}
