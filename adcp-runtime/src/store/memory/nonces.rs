//! Signature nonces in memory, for one process.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::store::nonces::{NonceStore, Recorded};
use crate::store::{BoxFuture, StoreError};

/// Nonces in memory, for one process.
#[derive(Default)]
pub struct MemoryNonceStore {
    keys: Mutex<HashMap<String, HashMap<String, i64>>>,
}

fn live_count(nonces: &mut HashMap<String, i64>, now: i64, cap: u64) -> u64 {
    let len = |n: &HashMap<String, i64>| u64::try_from(n.len()).unwrap_or(u64::MAX);
    if len(nonces) >= cap {
        nonces.retain(|_, until| *until > now);
    }
    len(nonces)
}

impl NonceStore for MemoryNonceStore {
    fn full<'a>(
        &'a self,
        keyid: &'a str,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let full = keys
            .get_mut(keyid)
            .is_some_and(|n| live_count(n, now, cap) >= cap);
        Box::pin(async move { Ok(full) })
    }

    fn record<'a>(
        &'a self,
        keyid: &'a str,
        nonce: &'a str,
        until: i64,
        now: i64,
        cap: u64,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let nonces = keys.entry(keyid.to_owned()).or_default();
        let seen = nonces.get(nonce).is_some_and(|t| *t > now);
        let out = match seen {
            true => Recorded::Seen,
            false if live_count(nonces, now, cap) >= cap => Recorded::Full,
            false => {
                nonces.insert(nonce.to_owned(), until);
                Recorded::Fresh
            }
        };
        Box::pin(async move { Ok(out) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replays_are_seen_and_a_full_key_is_refused_until_nonces_expire() {
        let s = MemoryNonceStore::default();
        assert_eq!(
            s.record("k", "a", 100, 0, 2).await.unwrap(),
            Recorded::Fresh
        );
        assert_eq!(
            s.record("k", "a", 100, 50, 2).await.unwrap(),
            Recorded::Seen
        );
        assert_eq!(
            s.record("k", "b", 200, 50, 2).await.unwrap(),
            Recorded::Fresh
        );
        assert!(s.full("k", 50, 2).await.unwrap());
        assert_eq!(
            s.record("k", "c", 200, 50, 2).await.unwrap(),
            Recorded::Full
        );
        assert!(!s.full("other", 50, 2).await.unwrap());
        // At 150 "a" has expired: room for one more, and "a" may be used again.
        assert_eq!(
            s.record("k", "a", 300, 150, 2).await.unwrap(),
            Recorded::Fresh
        );
    }
}
