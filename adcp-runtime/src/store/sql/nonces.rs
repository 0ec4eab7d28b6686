//! Request-signing nonces in SQL: one row per key id and nonce until it expires.

use super::{SqlStore, backend};
use crate::store::{BoxFuture, NonceStore, Recorded, StoreError};

impl NonceStore for SqlStore {
    fn full<'a>(
        &'a self,
        keyid: &'a str,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let live: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM adcp_nonces \
                 WHERE tenant = $1 AND keyid = $2 AND expires_at > $3",
            )
            .bind(self.tenant())
            .bind(keyid)
            .bind(now)
            .fetch_one(&self.reads)
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
                "INSERT INTO adcp_nonces (tenant, keyid, nonce, expires_at) VALUES ($5, $1, $2, $3)
                 ON CONFLICT (tenant, keyid, nonce) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE adcp_nonces.expires_at <= $4",
            )
            .bind(keyid)
            .bind(nonce)
            .bind(until)
            .bind(now)
            .bind(self.tenant())
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Ok(Recorded::Seen);
            }
            // The cap, checked after the insert so that replicas racing at the edge cannot
            // together exceed it: whoever finds more than `cap` live rows gives its row back.
            if self.full(keyid, now, cap.saturating_add(1)).await? {
                sqlx::query(
                    "DELETE FROM adcp_nonces WHERE tenant = $1 AND keyid = $2 AND nonce = $3",
                )
                .bind(self.tenant())
                .bind(keyid)
                .bind(nonce)
                .execute(&*self.writing())
                .await
                .map_err(backend)?;
                return Ok(Recorded::Full);
            }
            sqlx::query(
                "DELETE FROM adcp_nonces WHERE tenant = $1 AND keyid = $2 AND expires_at <= $3",
            )
            .bind(self.tenant())
            .bind(keyid)
            .bind(now)
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(Recorded::Fresh)
        })
    }
}
