//! The proposal ledger in memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::store::proposals::{
    Commit, Consume, ProposalRecord, ProposalState, ProposalStore, refusal,
};
use crate::store::{BoxFuture, StoreError};

/// Proposals in memory, by account scope and id.
#[derive(Debug, Default)]
pub struct MemoryProposalStore {
    records: Mutex<HashMap<(String, String), ProposalRecord>>,
}

impl MemoryProposalStore {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, String), ProposalRecord>) -> T) -> T {
        f(&mut self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn key(scope: &str, id: &str) -> (String, String) {
    (scope.to_owned(), id.to_owned())
}

impl ProposalStore for MemoryProposalStore {
    fn save_draft<'a>(
        &'a self,
        draft: &'a ProposalRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let r = self.with(|all| {
            let k = key(&draft.scope, &draft.proposal_id);
            match all.get(&k) {
                Some(old) if old.state != ProposalState::Draft => {
                    Err(StoreError::Exists(draft.proposal_id.clone()))
                }
                old => {
                    let mut next = draft.clone();
                    next.state = ProposalState::Draft;
                    if let Some(old) = old {
                        next.created_at = old.created_at;
                    }
                    all.insert(k, next);
                    Ok(())
                }
            }
        });
        Box::pin(async move { r })
    }

    fn get<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>> {
        let r = self.with(|all| all.get(&key(scope, proposal_id)).cloned());
        Box::pin(async move { Ok(r) })
    }

    fn commit<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        proposal: &'a Value,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Commit, StoreError>> {
        let r = self.with(|all| match all.get_mut(&key(scope, proposal_id)) {
            None => Commit::NotFound,
            Some(r) if r.state != ProposalState::Draft => Commit::Already(r.clone()),
            Some(r) => {
                r.state = ProposalState::Committed;
                r.proposal = proposal.clone();
                r.expires_at = Some(expires_at);
                r.updated_at = now;
                Commit::Committed(r.clone())
            }
        });
        Box::pin(async move { Ok(r) })
    }

    fn consume<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Consume, StoreError>> {
        let r = self.with(|all| match all.get_mut(&key(scope, proposal_id)) {
            Some(r) if r.state == ProposalState::Committed && !r.expired(now) => {
                r.state = ProposalState::Consumed;
                r.consumed_by = Some(claim.to_owned());
                r.updated_at = now;
                Consume::Consumed(r.clone())
            }
            other => refusal(other.cloned(), claim, now),
        });
        Box::pin(async move { Ok(r) })
    }

    fn release<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let r = self.with(|all| match all.get_mut(&key(scope, proposal_id)) {
            Some(r)
                if r.state == ProposalState::Consumed
                    && r.consumed_by.as_deref() == Some(claim)
                    && r.media_buy_id.is_none() =>
            {
                r.state = ProposalState::Committed;
                r.consumed_by = None;
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(r) })
    }

    fn attach<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let r = self.with(|all| match all.get_mut(&key(scope, proposal_id)) {
            Some(r)
                if r.state == ProposalState::Consumed
                    && r.consumed_by.as_deref() == Some(claim) =>
            {
                r.media_buy_id = Some(media_buy_id.to_owned());
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(r) })
    }

    fn by_media_buy<'a>(
        &'a self,
        scope: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>> {
        let r = self.with(|all| {
            all.values()
                .find(|r| r.scope == scope && r.media_buy_id.as_deref() == Some(media_buy_id))
                .cloned()
        });
        Box::pin(async move { Ok(r) })
    }
}
