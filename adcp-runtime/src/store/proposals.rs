//! The proposal ledger: every proposal a seller made, from draft to consumed, in one place.
//!
//! A proposal is a `draft` while the buyer refines it (each turn overwrites it; an abandoned
//! draft is never committed), `committed` once finalized (its pricing locked, held until
//! `expires_at`), and `consumed` by the one `create_media_buy` that accepted it. Every
//! transition is guarded in the store itself, so two replicas (or 32 concurrent creates) cannot
//! both win one: consuming names its claimant (the create's idempotency claim), and the same
//! claimant consuming again (a retry after a crash) is told so rather than refused.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BoxFuture, StoreError};

/// Where a proposal is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    /// Made or revised by `get_products`; not yet finalized.
    Draft,
    /// Finalized: its terms locked until `expires_at`.
    Committed,
    /// Accepted by a `create_media_buy`.
    Consumed,
}

impl ProposalState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Draft => "draft",
            ProposalState::Committed => "committed",
            ProposalState::Consumed => "consumed",
        }
    }

    /// The state of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => ProposalState::Draft,
            "committed" => ProposalState::Committed,
            "consumed" => ProposalState::Consumed,
            _ => return None,
        })
    }
}

/// One proposal as the ledger keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalRecord {
    /// Its id (the wire `proposal_id`).
    pub proposal_id: String,
    /// The account scope it was made for: no other account sees it.
    pub scope: String,
    /// Where it is in its life.
    pub state: ProposalState,
    /// The proposal as last answered on the wire.
    pub proposal: Value,
    /// The version of the recipe schema its products were made with, when they carry one.
    pub recipe_version: Option<String>,
    /// When its committed terms lapse (unix milliseconds); `None` while a draft.
    pub expires_at: Option<i64>,
    /// The claim (a create's idempotency claim) that consumed it.
    pub consumed_by: Option<String>,
    /// The media buy booked from it.
    pub media_buy_id: Option<String>,
    /// When it was first made (unix milliseconds).
    pub created_at: i64,
    /// When it last changed (unix milliseconds).
    pub updated_at: i64,
}

impl ProposalRecord {
    /// A new draft of `proposal` for `scope`, made at `now`.
    pub fn draft(
        proposal_id: impl Into<String>,
        scope: impl Into<String>,
        proposal: Value,
        now: i64,
    ) -> Self {
        ProposalRecord {
            proposal_id: proposal_id.into(),
            scope: scope.into(),
            state: ProposalState::Draft,
            proposal,
            recipe_version: None,
            expires_at: None,
            consumed_by: None,
            media_buy_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The proposal as last answered (or committed), as the wire type.
    pub fn decode(&self) -> crate::error::AdcpResult<adcp_wire::Proposal> {
        serde_json::from_value(self.proposal.clone()).map_err(|e| {
            tracing::error!(proposal = %self.proposal_id, error = %e, "a stored proposal does not decode");
            crate::error::AdcpError::internal("the stored proposal cannot be read")
        })
    }

    /// Whether its committed terms have lapsed at `now`: at `expires_at` and after.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// What committing a draft did.
#[derive(Clone, Debug, PartialEq)]
pub enum Commit {
    /// The draft is committed now.
    Committed(ProposalRecord),
    /// It was committed (or consumed) before: a second finalize.
    Already(ProposalRecord),
    /// No such proposal in the scope.
    NotFound,
}

/// What consuming a committed proposal did.
#[derive(Clone, Debug, PartialEq)]
pub enum Consume {
    /// Consumed now, by this claim.
    Consumed(ProposalRecord),
    /// This claim consumed it before (a retried create): go on with it.
    Again(ProposalRecord),
    /// Another claim consumed it.
    Taken,
    /// Its terms lapsed.
    Expired(ProposalRecord),
    /// It is still a draft.
    NotCommitted(ProposalRecord),
    /// No such proposal in the scope.
    NotFound,
}

/// How many drafts an account scope keeps: saving more drops the oldest made (a draft abandoned
/// that many discoveries ago is gone, and refining it answers as for an unknown proposal).
/// Every brief's `get_products` makes drafts, so without a bound a buyer's discovery would grow
/// the ledger forever. Committed and consumed proposals are never dropped this way. The memory
/// store holds exactly this bound; the SQL store prunes every few saves (see its
/// `PRUNE_EVERY`), so a scope may briefly hold a few more.
pub const DRAFTS_KEPT: usize = 1_000;

/// Where proposals are kept (memory, SQLite, PostgreSQL; per tenant like every store).
pub trait ProposalStore: Send + Sync + 'static {
    /// Stores a draft, overwriting the draft of the same id; a proposal that is committed or
    /// consumed is never overwritten (`StoreError::Exists`). A scope keeps its newest
    /// [`DRAFTS_KEPT`] drafts.
    fn save_draft<'a>(&'a self, draft: &'a ProposalRecord)
    -> BoxFuture<'a, Result<(), StoreError>>;
    /// A proposal of `scope`.
    fn get<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>>;
    /// Draft to committed, with the finalized `proposal` and its hold until `expires_at`.
    fn commit<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        proposal: &'a Value,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Commit, StoreError>>;
    /// Committed (and not expired at `now`) to consumed by `claim`.
    fn consume<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Consume, StoreError>>;
    /// Gives back a proposal `claim` consumed and booked nothing from (its create failed):
    /// consumed to committed. Whether it was given back.
    fn release<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Records the media buy booked from a proposal `claim` consumed.
    fn attach<'a>(
        &'a self,
        scope: &'a str,
        proposal_id: &'a str,
        claim: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// The proposal a media buy was booked from.
    fn by_media_buy<'a>(
        &'a self,
        scope: &'a str,
        media_buy_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ProposalRecord>, StoreError>>;
}

/// How a proposal that did not consume is classified, from its stored state.
pub(crate) fn refusal(record: Option<ProposalRecord>, claim: &str, now: i64) -> Consume {
    match record {
        None => Consume::NotFound,
        Some(r) => match r.state {
            ProposalState::Consumed if r.consumed_by.as_deref() == Some(claim) => Consume::Again(r),
            ProposalState::Consumed => Consume::Taken,
            ProposalState::Draft => Consume::NotCommitted(r),
            ProposalState::Committed if r.expired(now) => Consume::Expired(r),
            // Committed and live, yet not consumed: another writer changed it between the
            // two reads; the caller may try again.
            ProposalState::Committed => Consume::Taken,
        },
    }
}
