//! The proposal ledger in SQL: each transition one `UPDATE` guarded by the state it leaves,
//! so that of concurrent writers (replicas included) exactly one wins it.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, backend, corrupt, json_column, unreadable};
use crate::store::proposals::{
    Commit, Consume, ProposalRecord, ProposalState, ProposalStore, refusal,
};
use crate::store::{BoxFuture, StoreError};

macro_rules! select {
    ($filter:literal) => {
        concat!(
            "SELECT proposal_id, scope, state, body, recipe_version, expires_at, consumed_by, ",
            "media_buy_id, created_at, updated_at FROM adcp_proposals ",
            $filter
        )
    };
}

fn record(row: &AnyRow) -> Result<ProposalRecord, StoreError> {
    let state: String = row.try_get("state").map_err(backend)?;
    Ok(ProposalRecord {
        proposal_id: row.try_get("proposal_id").map_err(backend)?,
        scope: row.try_get("scope").map_err(backend)?,
        state: ProposalState::parse(&state).ok_or_else(|| unreadable("proposal state", &state))?,
        proposal: json_column(row, "body")?,
        recipe_version: row.try_get("recipe_version").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        consumed_by: row.try_get("consumed_by").map_err(backend)?,
        media_buy_id: row.try_get("media_buy_id").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        updated_at: row.try_get("updated_at").map_err(backend)?,
    })
}

impl SqlStore {
    async fn proposal(&self, scope: &str, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let sql = select!("WHERE tenant = $1 AND scope = $2 AND proposal_id = $3");
        let row = sqlx::query(sql)
            .bind(self.tenant())
            .bind(scope)
            .bind(id)
            .fetch_optional(&self.reads)
            .await
            .map_err(backend)?;
        row.as_ref().map(record).transpose()
    }
}

impl ProposalStore for SqlStore {
    fn save_draft<'a>(
        &'a self,
        draft: &'a ProposalRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(&draft.proposal).map_err(corrupt("proposal"))?;
            let done = sqlx::query(
                "INSERT INTO adcp_proposals (tenant, scope, proposal_id, state, body, \
                 recipe_version, created_at, updated_at) VALUES ($1, $2, $3, 'draft', $4, $5, $6, $6) \
                 ON CONFLICT (tenant, scope, proposal_id) DO UPDATE SET body = excluded.body, \
                 recipe_version = excluded.recipe_version, updated_at = excluded.updated_at \
                 WHERE adcp_proposals.state = 'draft'",
            )
            .bind(self.tenant())
            .bind(&draft.scope)
            .bind(&draft.proposal_id)
            .bind(body)
            .bind(draft.recipe_version.as_deref())
            .bind(draft.updated_at)
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Exists(draft.proposal_id.clone()));
            }
            Ok(())
        })
    }

    fn get<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>> {
        Box::pin(self.proposal(scope, proposal_id))
    }

    fn commit<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        proposal: &'a Value,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Commit, StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(proposal).map_err(corrupt("proposal"))?;
            let done = sqlx::query(
                "UPDATE adcp_proposals SET state = 'committed', body = $1, expires_at = $2, \
                 updated_at = $3 WHERE tenant = $4 AND scope = $5 AND proposal_id = $6 \
                 AND state = 'draft'",
            )
            .bind(body)
            .bind(expires_at)
            .bind(now)
            .bind(self.tenant())
            .bind(scope)
            .bind(proposal_id)
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            let after = self.proposal(scope, proposal_id).await?;
            Ok(match (done.rows_affected(), after) {
                (_, None) => Commit::NotFound,
                (0, Some(r)) => Commit::Already(r),
                (_, Some(r)) => Commit::Committed(r),
            })
        })
    }

    fn consume<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Consume, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE adcp_proposals SET state = 'consumed', consumed_by = $1, updated_at = $2 \
                 WHERE tenant = $3 AND scope = $4 AND proposal_id = $5 AND state = 'committed' \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(claim)
            .bind(now)
            .bind(self.tenant())
            .bind(scope)
            .bind(proposal_id)
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            let after = self.proposal(scope, proposal_id).await?;
            if done.rows_affected() == 1
                && let Some(r) = after
            {
                return Ok(Consume::Consumed(r));
            }
            Ok(refusal(after, claim, now))
        })
    }

    fn release<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE adcp_proposals SET state = 'committed', consumed_by = NULL \
                 WHERE tenant = $1 AND scope = $2 AND proposal_id = $3 AND state = 'consumed' \
                 AND consumed_by = $4 AND media_buy_id IS NULL",
            )
            .bind(self.tenant())
            .bind(scope)
            .bind(proposal_id)
            .bind(claim)
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn attach<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE adcp_proposals SET media_buy_id = $1 WHERE tenant = $2 AND scope = $3 \
                 AND proposal_id = $4 AND state = 'consumed' AND consumed_by = $5",
            )
            .bind(media_buy_id)
            .bind(self.tenant())
            .bind(scope)
            .bind(proposal_id)
            .bind(claim)
            .execute(&*self.writing())
            .await
            .map_err(backend)?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn by_media_buy<'a>(
        &'a self,
        scope: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>> {
        Box::pin(async move {
            let sql = select!("WHERE tenant = $1 AND scope = $2 AND media_buy_id = $3");
            let row = sqlx::query(sql)
                .bind(self.tenant())
                .bind(scope)
                .bind(media_buy_id)
                .fetch_optional(&self.reads)
                .await
                .map_err(backend)?;
            row.as_ref().map(record).transpose()
        })
    }
}
