//! Request-signing nonces in SQL: one row per key id and nonce until it expires.

use super::{SqlStore, args};
use crate::store::{BoxFuture, NonceStore, Recorded, StoreError};

impl NonceStore for SqlStore {
    fn full<'a>(
        &'a self,
        keyid: &'a str,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let live: i64 = self
                .count(
                    "SELECT COUNT(*) AS n FROM adcp_nonces \
                     WHERE tenant = $1 AND keyid = $2 AND expires_at > $3",
                    args![self.tenant(), keyid, now],
                )
                .await?;
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
            let done = self
                .execute(
                    "INSERT INTO adcp_nonces (tenant, keyid, nonce, expires_at) \
                     VALUES ($5, $1, $2, $3) ON CONFLICT (tenant, keyid, nonce) \
                     DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE adcp_nonces.expires_at <= $4",
                    args![keyid, nonce, until, now, self.tenant()],
                )
                .await?;
            if done == 0 {
                return Ok(Recorded::Seen);
            }
            // The cap, checked after the insert so that replicas racing at the edge cannot
            // together exceed it: whoever finds more than `cap` live rows gives its row back.
            if self.full(keyid, now, cap.saturating_add(1)).await? {
                self.execute(
                    "DELETE FROM adcp_nonces WHERE tenant = $1 AND keyid = $2 AND nonce = $3",
                    args![self.tenant(), keyid, nonce],
                )
                .await?;
                return Ok(Recorded::Full);
            }
            self.execute(
                "DELETE FROM adcp_nonces WHERE tenant = $1 AND keyid = $2 AND expires_at <= $3",
                args![self.tenant(), keyid, now],
            )
            .await?;
            Ok(Recorded::Fresh)
        })
    }
}
