//! The tenant registry in SQL: one row per tenant, its record as JSON, written only over the
//! revision the writer read. The table is the store's, not a tenant's: every view shares it.

use super::{SqlStore, args, corrupt};
use crate::store::tenants::{TenantRecord, TenantStore};
use crate::store::{BoxFuture, StoreError};

impl TenantStore for SqlStore {
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, StoreError>> {
        Box::pin(async move {
            let rows = self
                .fetch(
                    "SELECT body, revision FROM adcp_tenants ORDER BY tenant_id",
                    Vec::new(),
                )
                .await?;
            rows.iter()
                .map(|row| {
                    let body: String = row.get("body")?;
                    let revision: i64 = row.get("revision")?;
                    let mut record: TenantRecord =
                        serde_json::from_str(&body).map_err(corrupt("tenant record"))?;
                    record.revision = revision;
                    Ok(record)
                })
                .collect()
        })
    }

    fn put<'a>(&'a self, record: &'a TenantRecord) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(record).map_err(corrupt("tenant record"))?;
            let next = record.revision + 1;
            let now = crate::time::millis(crate::time::now_ms());
            let done = if record.revision == 0 {
                self.execute(
                    "INSERT INTO adcp_tenants (tenant_id, body, revision, updated_at) \
                     VALUES ($1, $2, 1, $3) ON CONFLICT (tenant_id) DO NOTHING",
                    args![&record.spec.id, body, now],
                )
                .await
            } else {
                self.execute(
                    "UPDATE adcp_tenants SET body = $1, revision = $2, updated_at = $3 \
                     WHERE tenant_id = $4 AND revision = $5",
                    args![body, next, now, &record.spec.id, record.revision],
                )
                .await
            }?;
            if done == 0 {
                return Err(StoreError::Exists(record.spec.id.clone()));
            }
            // The admin API answers from here, not through a call's pipeline.
            self.durable().await?;
            Ok(next)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = self
                .execute("DELETE FROM adcp_tenants WHERE tenant_id = $1", args![id])
                .await?;
            self.durable().await?;
            Ok(done > 0)
        })
    }
}
