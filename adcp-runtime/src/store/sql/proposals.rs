//! The proposal ledger in SQL: each transition one `UPDATE` guarded by the state it leaves,
//! so that of concurrent writers (replicas included) exactly one wins it.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::{Row, SqlStore, args, corrupt, json_column, unreadable};
use crate::store::proposals::{
    Commit, Consume, DRAFTS_KEPT, ProposalRecord, ProposalState, ProposalStore, refusal,
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

fn record(row: &Row) -> Result<ProposalRecord, StoreError> {
    let state: String = row.get("state")?;
    Ok(ProposalRecord {
        proposal_id: row.get("proposal_id")?,
        scope: row.get("scope")?,
        state: ProposalState::parse(&state).ok_or_else(|| unreadable("proposal state", &state))?,
        proposal: json_column(row, "body")?,
        recipe_version: row.get("recipe_version")?,
        expires_at: row.get("expires_at")?,
        consumed_by: row.get("consumed_by")?,
        media_buy_id: row.get("media_buy_id")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// A save of a draft prunes its scope once in this many (per process): a scope holds at most
/// [`DRAFTS_KEPT`] drafts and this many more between prunes, per replica, and a save pays for
/// a prune's index walk only that rarely.
pub(super) const PRUNE_EVERY: u64 = 32;

impl SqlStore {
    /// Drops the drafts of `scope` older than its newest [`DRAFTS_KEPT`] (drafts made in the
    /// same millisecond as the last one kept stay with it).
    async fn prune_drafts(&self, scope: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM adcp_proposals WHERE tenant = $1 AND scope = $2 AND state = 'draft' \
             AND created_at < (SELECT created_at FROM adcp_proposals WHERE tenant = $1 \
             AND scope = $2 AND state = 'draft' ORDER BY created_at DESC LIMIT 1 OFFSET $3)",
            args![self.tenant(), scope, DRAFTS_KEPT as i64 - 1],
        )
        .await?;
        Ok(())
    }

    async fn proposal(&self, scope: &str, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
        let sql = select!("WHERE tenant = $1 AND scope = $2 AND proposal_id = $3");
        let row = self.fetch(sql, args![self.tenant(), scope, id]).await?;
        row.first().map(record).transpose()
    }
}

impl ProposalStore for SqlStore {
    fn save_draft<'a>(
        &'a self,
        draft: &'a ProposalRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let body = serde_json::to_string(&draft.proposal).map_err(corrupt("proposal"))?;
            let done = self.execute(
                "INSERT INTO adcp_proposals (tenant, scope, proposal_id, state, body, \
                 recipe_version, created_at, updated_at) VALUES ($1, $2, $3, 'draft', $4, $5, $6, $6) \
                 ON CONFLICT (tenant, scope, proposal_id) DO UPDATE SET body = excluded.body, \
                 recipe_version = excluded.recipe_version, updated_at = excluded.updated_at \
                 WHERE adcp_proposals.state = 'draft'",
                args![self.tenant(), &draft.scope, &draft.proposal_id, body, draft.recipe_version.as_deref(), draft.updated_at],
            )
            .await?;
            if done == 0 {
                return Err(StoreError::Exists(draft.proposal_id.clone()));
            }
            if self.drafts_saved.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
                self.prune_drafts(&draft.scope).await?;
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
            let done = self
                .execute(
                    "UPDATE adcp_proposals SET state = 'committed', body = $1, expires_at = $2, \
                 updated_at = $3 WHERE tenant = $4 AND scope = $5 AND proposal_id = $6 \
                 AND state = 'draft'",
                    args![body, expires_at, now, self.tenant(), scope, proposal_id],
                )
                .await?;
            let after = self.proposal(scope, proposal_id).await?;
            Ok(match (done, after) {
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
            let done = self.execute(
                "UPDATE adcp_proposals SET state = 'consumed', consumed_by = $1, updated_at = $2 \
                 WHERE tenant = $3 AND scope = $4 AND proposal_id = $5 AND state = 'committed' \
                 AND (expires_at IS NULL OR expires_at > $2)",
                args![claim, now, self.tenant(), scope, proposal_id],
            )
            .await?;
            let after = self.proposal(scope, proposal_id).await?;
            if done == 1
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
            let done = self
                .execute(
                    "UPDATE adcp_proposals SET state = 'committed', consumed_by = NULL \
                 WHERE tenant = $1 AND scope = $2 AND proposal_id = $3 AND state = 'consumed' \
                 AND consumed_by = $4 AND media_buy_id IS NULL",
                    args![self.tenant(), scope, proposal_id, claim],
                )
                .await?;
            Ok(done == 1)
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
            let done = self
                .execute(
                    "UPDATE adcp_proposals SET media_buy_id = $1 WHERE tenant = $2 AND scope = $3 \
                 AND proposal_id = $4 AND state = 'consumed' AND consumed_by = $5",
                    args![media_buy_id, self.tenant(), scope, proposal_id, claim],
                )
                .await?;
            Ok(done == 1)
        })
    }

    fn by_media_buy<'a>(
        &'a self,
        scope: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>> {
        Box::pin(async move {
            let sql = select!("WHERE tenant = $1 AND scope = $2 AND media_buy_id = $3");
            let row = self
                .fetch(sql, args![self.tenant(), scope, media_buy_id])
                .await?;
            row.first().map(record).transpose()
        })
    }
}
