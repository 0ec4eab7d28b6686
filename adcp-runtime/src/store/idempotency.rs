//! Idempotency records as stored: the key of one logical request, and what a claim on it
//! finds.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::{BoxFuture, StoreError};

/// How long a duplicate waits for the request it duplicates before giving up (transient error).
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Identifies one logical request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdemKey {
    /// The buyer's `idempotency_key`.
    pub key: String,
    /// The account scope (keys are per account).
    pub scope: String,
    /// The task.
    pub task: String,
}

/// Where responses are kept.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims a key: stored response, conflict, or the right to run (waiting while another
    /// request with the key runs, up to [`MAX_WAIT`]). Responses stored before `stale_before`
    /// are expired.
    fn claim<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        stale_before: OffsetDateTime,
    ) -> BoxFuture<'a, Result<ClaimState, StoreError>>;
    /// Stores the response of a claimed key (`None`: too large to keep).
    fn complete<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        response: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Gives up a claimed key without storing (the request failed).
    fn release<'a>(&'a self, key: &'a IdemKey) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Forgets keys stored before `before`; returns how many.
    fn vacuum(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// What a store answers to a claim.
pub enum ClaimState {
    /// The caller now holds the key.
    Claimed,
    /// Stored with the same hash.
    Stored(Value),
    /// Stored (or running) with another hash.
    Conflict,
    /// Stored with the same hash, but no longer replayable.
    Expired,
    /// Still running after waiting.
    Busy,
}
