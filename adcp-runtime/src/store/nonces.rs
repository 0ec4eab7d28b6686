//! The replay cache of request-signature nonces, as stored.

use super::{BoxFuture, StoreError};

/// What recording a nonce came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// First sighting; now recorded.
    Fresh,
    /// Already recorded and not expired: a replay.
    Seen,
    /// The key already holds its cap of live nonces.
    Full,
}

/// Where `(keyid, nonce)` pairs are kept. Times are unix seconds.
pub trait NonceStore: Send + Sync + 'static {
    /// Whether `keyid` holds at least `cap` live nonces.
    fn full<'a>(
        &'a self,
        keyid: &'a str,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Records `nonce` for `keyid` until `until`, unless it is live already or the key is full.
    fn record<'a>(
        &'a self,
        keyid: &'a str,
        nonce: &'a str,
        until: i64,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>>;
}
