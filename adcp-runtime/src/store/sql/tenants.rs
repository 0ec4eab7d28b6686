//! The tenant registry in SQL: one row per tenant, its record as JSON, written only over the
//! revision the writer read. The table is the store's, not a tenant's: every view shares it.

use sqlx::Row;

use super::{SqlStore, backend, corrupt};
use crate::store::tenants::{TenantRecord, TenantStore};
use crate::store::{BoxFuture, StoreError};

impl TenantStore for SqlStore {
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query("SELECT body, revision FROM adcp_tenants ORDER BY tenant_id")
                .fetch_all(&self.reads)
                .await
                .map_err(backend)?;
            rows.iter()
                .map(|row| {
                    let body: String = row.try_get("body").map_err(backend)?;
                    let revision: i64 = row.try_get("revision").map_err(backend)?;
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
                sqlx::query(
                    "INSERT INTO adcp_tenants (tenant_id, body, revision, updated_at) \
                     VALUES ($1, $2, 1, $3) ON CONFLICT (tenant_id) DO NOTHING",
                )
                .bind(&record.spec.id)
                .bind(body)
                .bind(now)
                .execute(&*self.writing())
                .await
            } else {
                sqlx::query(
                    "UPDATE adcp_tenants SET body = $1, revision = $2, updated_at = $3 \
                     WHERE tenant_id = $4 AND revision = $5",
                )
                .bind(body)
                .bind(next)
                .bind(now)
                .bind(&record.spec.id)
                .bind(record.revision)
                .execute(&*self.writing())
                .await
            }
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Exists(record.spec.id.clone()));
            }
            // The admin API answers from here, not through a call's pipeline.
            self.durable().await?;
            Ok(next)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM adcp_tenants WHERE tenant_id = $1")
                .bind(id)
                .execute(&*self.writing())
                .await
                .map_err(backend)?;
            self.durable().await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
