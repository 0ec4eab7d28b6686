//! The proposal ledger in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::store::proposals::{
    Commit, Consume, DRAFTS_KEPT, ProposalRecord, ProposalState, ProposalStore, refusal,
};
use crate::store::{BoxFuture, StoreError};

/// Proposals in memory, by account scope and id.
#[derive(Debug, Default)]
pub struct MemoryProposalStore {
    inner: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    records: HashMap<(String, String), Kept>,
    /// Per scope, the ids of its drafts in the order they were made (some since committed):
    /// at most [`DRAFTS_KEPT`], the oldest dropped first.
    made: HashMap<String, VecDeque<String>>,
}

/// A record as kept: the proposal as its JSON text (a fraction of a `Value`'s memory: a
/// scope's thousand drafts would otherwise hold megabytes), the rest as it is.
#[derive(Debug)]
struct Kept {
    /// The record with `proposal` null.
    record: ProposalRecord,
    text: Box<str>,
}

impl Kept {
    fn new(r: &ProposalRecord) -> Kept {
        Kept {
            record: ProposalRecord {
                proposal: Value::Null,
                ..r.clone()
            },
            text: r.proposal.to_string().into_boxed_str(),
        }
    }

    /// The record with its proposal (written from a `Value` by this process, so it parses).
    fn record(&self) -> ProposalRecord {
        ProposalRecord {
            proposal: serde_json::from_str(&self.text).unwrap_or_default(),
            ..self.record.clone()
        }
    }

    fn set(&mut self, proposal: &Value) {
        self.text = proposal.to_string().into_boxed_str();
    }
}

impl std::ops::Deref for Kept {
    type Target = ProposalRecord;
    fn deref(&self) -> &ProposalRecord {
        &self.record
    }
}

impl std::ops::DerefMut for Kept {
    fn deref_mut(&mut self) -> &mut ProposalRecord {
        &mut self.record
    }
}

impl MemoryProposalStore {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, String), Kept>) -> T) -> T {
        f(&mut self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .records)
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
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Ledger { records, made } = &mut *g;
        let k = key(&draft.scope, &draft.proposal_id);
        let r = match records.get(&k) {
            Some(old) if old.state != ProposalState::Draft => {
                Err(StoreError::Exists(draft.proposal_id.clone()))
            }
            old => {
                let mut next = Kept::new(draft);
                next.state = ProposalState::Draft;
                match old {
                    Some(old) => next.created_at = old.created_at,
                    None => {
                        let order = made.entry(draft.scope.clone()).or_default();
                        order.push_back(draft.proposal_id.clone());
                        while order.len() > DRAFTS_KEPT {
                            let Some(id) = order.pop_front() else { break };
                            let gone = key(&draft.scope, &id);
                            if records
                                .get(&gone)
                                .is_some_and(|r| r.state == ProposalState::Draft)
                            {
                                records.remove(&gone);
                            }
                        }
                    }
                }
                records.insert(k, next);
                Ok(())
            }
        };
        drop(g);
        Box::pin(async move { r })
    }

    fn get<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>> {
        let r = self.with(|all| all.get(&key(scope, proposal_id)).map(Kept::record));
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
            Some(r) if r.state != ProposalState::Draft => Commit::Already(r.record()),
            Some(r) => {
                r.state = ProposalState::Committed;
                r.set(proposal);
                r.expires_at = Some(expires_at);
                r.updated_at = now;
                Commit::Committed(r.record())
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
                Consume::Consumed(r.record())
            }
            other => refusal(other.map(|r| r.record()), claim, now),
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
                .map(Kept::record)
        });
        Box::pin(async move { Ok(r) })
    }
}
