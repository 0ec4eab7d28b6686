//! Adopter state in SQL: versioned JSON documents per scope and collection.

use serde_json::Value;

use super::{Arg, Row, SqlStore, args, json_column};
use crate::store::state::{ScopedChange, StatusChange};
use crate::store::{BoxFuture, StateStore, StoreError, Versioned};

/// A row of `adcp_status_changes`.
fn status_change(row: &Row) -> Result<StatusChange, StoreError> {
    Ok(StatusChange {
        resource: row.get("collection")?,
        id: row.get("id")?,
        version: row.get("version")?,
        seq: row.get("seq")?,
        from: row.get("from_status")?,
        to: row.get("to_status")?,
        cause: row.get("cause")?,
        at: row.get("at")?,
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
            let versioned = |row: &Row| {
                Ok(Versioned {
                    value: json_column(row, "value")?,
                    version: row.get("version")?,
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
            let (sql, args) = self.cas(scope, collection, id, expected, value);
            Ok(self.execute(sql, args).await? == 1)
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
            let mut tx = self.begin().await?;
            // Dropped without commit on the way out: rolled back.
            let (sql, args) = self.cas(scope, collection, id, expected, value);
            if tx.execute(sql, args).await? != 1 {
                return Ok(None);
            }
            // The document's row is locked by the write above: the next `seq` is this one's.
            let seq: i64 = tx
                .fetch(
                    "SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM adcp_status_changes \
                     WHERE tenant = $1 AND scope = $2 AND collection = $3 AND id = $4",
                    args![self.tenant(), scope, collection, id],
                )
                .await?
                .first()
                .map_or(Ok(1), |row| row.get("seq"))?;
            tx.execute(
                "INSERT INTO adcp_status_changes (change_id, tenant, scope, collection, id, \
                 version, from_status, to_status, cause, at, seq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                args![
                    // In the order made: the primary key's index grows at its right edge.
                    crate::store::accounts::ordered_id("sc"),
                    self.tenant(),
                    scope,
                    collection,
                    id,
                    expected.unwrap_or(0) + 1,
                    &change.from,
                    &change.to,
                    &change.cause,
                    change.at,
                    seq,
                ],
            )
            .await?;
            tx.commit().await?;
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
            let rows = self
                .fetch(
                    "SELECT scope, collection, id, version, seq, from_status, to_status, cause, \
                     at FROM adcp_status_changes WHERE tenant = $1 AND at >= $2 AND at < $3 \
                     ORDER BY at, seq LIMIT $4",
                    args![self.tenant(), from, until, i64::from(limit)],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.get("scope")?, status_change(row)?)))
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
            let entry = |row: &Row| {
                let id: String = row.get("id")?;
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
            self.execute(
                "DELETE FROM adcp_state \
                 WHERE scope = $1 AND collection = $2 AND id = $3 AND tenant = $4",
                args![scope, collection, id, self.tenant()],
            )
            .await?;
            Ok(())
        })
    }
}

impl SqlStore {
    /// The compare-and-set's statement: it changes one row when it succeeds.
    fn cas(
        &self,
        scope: &str,
        collection: &str,
        id: &str,
        expected: Option<i64>,
        value: &Value,
    ) -> (&'static str, Vec<Arg>) {
        match expected {
            None => (
                "INSERT INTO adcp_state (scope, collection, id, value, version, tenant) \
                 VALUES ($1, $2, $3, $4, 1, $5) \
                 ON CONFLICT (tenant, scope, collection, id) DO NOTHING",
                args![scope, collection, id, value.to_string(), self.tenant()],
            ),
            Some(v) => (
                "UPDATE adcp_state SET value = $1, version = version + 1 \
                 WHERE scope = $2 AND collection = $3 AND id = $4 AND version = $5 \
                 AND tenant = $6",
                args![value.to_string(), scope, collection, id, v, self.tenant()],
            ),
        }
    }
}
