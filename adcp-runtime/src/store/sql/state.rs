//! Adopter state in SQL: versioned JSON documents per scope and collection.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, backend, json_column};
use crate::store::state::{ScopedChange, StatusChange};
use crate::store::{BoxFuture, StateStore, StoreError, Versioned};

/// A row of `adcp_status_changes`.
fn status_change(row: &AnyRow) -> Result<StatusChange, StoreError> {
    Ok(StatusChange {
        resource: row.try_get("collection").map_err(backend)?,
        id: row.try_get("id").map_err(backend)?,
        version: row.try_get("version").map_err(backend)?,
        seq: row.try_get("seq").map_err(backend)?,
        from: row.try_get("from_status").map_err(backend)?,
        to: row.try_get("to_status").map_err(backend)?,
        cause: row.try_get("cause").map_err(backend)?,
        at: row.try_get("at").map_err(backend)?,
    })
}

impl StateStore for SqlStore {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT value, version FROM adcp_state \
                       WHERE tenant = $1 AND scope = $2 AND collection = $3 AND id = $4";
            let versioned = |row: &AnyRow| {
                Ok(Versioned {
                    value: json_column(row, "value")?,
                    version: row.try_get("version").map_err(backend)?,
                })
            };
            Ok(self
                .select(sql, &[self.tenant(), scope, collection, id], versioned)
                .await?
                .pop())
        })
    }

    fn compare_and_set<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
        expected: Option<i64>,
        value: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            self.cas(&*self.writing(), scope, collection, id, expected, value)
                .await
        })
    }

    fn compare_and_set_recorded<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
        expected: Option<i64>,
        value: &'a Value,
        change: &'a StatusChange,
    ) -> BoxFuture<'a, Result<Option<i64>, StoreError>> {
        Box::pin(async move {
            let writing = self.writing();
            let mut tx = writing.begin().await.map_err(backend)?;
            // Dropped without commit on the way out: rolled back.
            if !self
                .cas(&mut *tx, scope, collection, id, expected, value)
                .await?
            {
                return Ok(None);
            }
            // The document's row is locked by the write above: the next `seq` is this one's.
            let (seq,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM adcp_status_changes \
                 WHERE tenant = $1 AND scope = $2 AND collection = $3 AND id = $4",
            )
            .bind(self.tenant().to_owned())
            .bind(scope.to_owned())
            .bind(collection.to_owned())
            .bind(id.to_owned())
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query(
                "INSERT INTO adcp_status_changes (change_id, tenant, scope, collection, id, \
                 version, from_status, to_status, cause, at, seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .bind(self.tenant().to_owned())
            .bind(scope.to_owned())
            .bind(collection.to_owned())
            .bind(id.to_owned())
            .bind(expected.unwrap_or(0) + 1)
            .bind(change.from.clone())
            .bind(change.to.clone())
            .bind(change.cause.clone())
            .bind(change.at)
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(Some(seq))
        })
    }

    fn status_history<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<StatusChange>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT collection, id, version, seq, from_status, to_status, cause, at \
                       FROM adcp_status_changes \
                       WHERE tenant = $1 AND scope = $2 AND collection = $3 AND id = $4 \
                       ORDER BY seq";
            self.select(sql, &[self.tenant(), scope, collection, id], status_change)
                .await
        })
    }

    fn changes_between<'a>(
        &'a self,
        from: i64,
        until: i64,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<Vec<ScopedChange>>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT scope, collection, id, version, seq, from_status, to_status, cause, at \
                 FROM adcp_status_changes WHERE tenant = $1 AND at >= $2 AND at < $3 \
                 ORDER BY at, seq LIMIT $4",
            )
            .bind(self.tenant().to_owned())
            .bind(from)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(&self.reads)
            .await
            .map_err(backend)?;
            rows.iter()
                .map(|row| Ok((row.try_get("scope").map_err(backend)?, status_change(row)?)))
                .collect::<Result<_, StoreError>>()
                .map(Some)
        })
    }

    fn list<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, Value)>, StoreError>> {
        Box::pin(async move {
            let sql = "SELECT id, value FROM adcp_state \
                       WHERE tenant = $1 AND scope = $2 AND collection = $3 ORDER BY id";
            let entry = |row: &AnyRow| {
                let id: String = row.try_get("id").map_err(backend)?;
                Ok((id, json_column(row, "value")?))
            };
            self.select(sql, &[self.tenant(), scope, collection], entry)
                .await
        })
    }

    fn delete<'a>(
        &'a self,
        scope: &'a str,
        collection: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "DELETE FROM adcp_state \
                 WHERE scope = $1 AND collection = $2 AND id = $3 AND tenant = $4",
            )
            .bind(scope.to_owned())
            .bind(collection.to_owned())
            .bind(id.to_owned())
            .bind(self.tenant().to_owned())
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(())
        })
    }
}

impl SqlStore {
    /// The compare-and-set, on the pool or inside a transaction.
    async fn cas<'c>(
        &self,
        ex: impl sqlx::Executor<'c, Database = sqlx::Any>,
        scope: &str,
        collection: &str,
        id: &str,
        expected: Option<i64>,
        value: &Value,
    ) -> Result<bool, StoreError> {
        let r = match expected {
            None => {
                sqlx::query(
                    "INSERT INTO adcp_state (scope, collection, id, value, version, tenant) \
                 VALUES ($1, $2, $3, $4, 1, $5) \
                 ON CONFLICT (tenant, scope, collection, id) DO NOTHING",
                )
                .bind(scope.to_owned())
                .bind(collection.to_owned())
                .bind(id.to_owned())
                .bind(value.to_string())
                .bind(self.tenant().to_owned())
                .execute(ex)
                .await
            }
            Some(v) => {
                sqlx::query(
                    "UPDATE adcp_state SET value = $1, version = version + 1 \
                 WHERE scope = $2 AND collection = $3 AND id = $4 AND version = $5 \
                 AND tenant = $6",
                )
                .bind(value.to_string())
                .bind(scope.to_owned())
                .bind(collection.to_owned())
                .bind(id.to_owned())
                .bind(v)
                .bind(self.tenant().to_owned())
                .execute(ex)
                .await
            }
        }
        .map_err(backend)?;
        Ok(r.rows_affected() == 1)
    }
}
