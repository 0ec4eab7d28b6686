//! Idempotency records in memory: lost on restart.
//!
//! Kept small, since every mutating request leaves one for the replay window: nested by scope,
//! then task, then key, so a record's key costs one string and a lookup borrows the caller's;
//! the request hash is kept as its 32 bytes; the response as its JSON text, packed against the
//! first of its task (see [`Packer`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::made;
use super::packed::{Packed, Packer};
use crate::store::accounts::bytes_of_hex;
use crate::store::idempotency::{ClaimState, IdemKey, IdempotencyStore, MAX_WAIT};
use crate::store::{BoxFuture, StoreError};

enum Slot {
    Running {
        hash: Hash,
        done: Arc<Notify>,
    },
    Stored {
        hash: Hash,
        /// The response's JSON text (a fraction of the parsed tree's size).
        response: Option<Packed>,
        at: OffsetDateTime,
    },
}

/// A request hash: the runtime's are SHA-256 in hex, kept as their bytes; any other text as is.
#[derive(PartialEq)]
enum Hash {
    Sha256([u8; 32]),
    Text(Box<str>),
}

impl Hash {
    /// Lower case only, so that two hashes are equal exactly when their texts are.
    fn of(text: &str) -> Hash {
        let lower = text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        match lower.then(|| bytes_of_hex(text)).flatten() {
            Some(bytes) => Hash::Sha256(bytes),
            None => Hash::Text(text.into()),
        }
    }
}

/// Scope, then task.
type Slots = HashMap<Box<str>, HashMap<Box<str>, Keys>>;

/// The keys of one task of a scope, and the dictionary of their responses.
#[derive(Default)]
struct Keys {
    packer: Packer,
    slots: HashMap<Box<str>, Slot>,
}

/// Responses in memory: lost on restart.
#[derive(Default)]
pub struct MemoryIdempotencyStore {
    slots: Mutex<Slots>,
}

impl MemoryIdempotencyStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A key's slot, with the packer of its task's responses.
fn slot<'s>(slots: &'s Slots, key: &IdemKey) -> Option<(&'s Packer, &'s Slot)> {
    let keys = slots.get(key.scope.as_str())?.get(key.task.as_str())?;
    Some((&keys.packer, keys.slots.get(key.key.as_str())?))
}

/// The keys of a task of a scope (see [`made`]).
fn keys<'s>(slots: &'s mut Slots, key: &IdemKey) -> &'s mut Keys {
    made(made(slots, &key.scope), &key.task)
}

/// Puts a slot.
fn put(keys: &mut Keys, key: &IdemKey, slot: Slot) -> Option<Slot> {
    match keys.slots.get_mut(key.key.as_str()) {
        Some(s) => Some(std::mem::replace(s, slot)),
        None => keys.slots.insert(key.key.as_str().into(), slot),
    }
}

/// Removes a slot, and the maps it leaves empty.
fn remove(slots: &mut Slots, key: &IdemKey) -> Option<Slot> {
    let tasks = slots.get_mut(key.scope.as_str())?;
    let keys = tasks.get_mut(key.task.as_str())?;
    let slot = keys.slots.remove(key.key.as_str());
    if keys.slots.is_empty() {
        tasks.remove(key.task.as_str());
    }
    if tasks.is_empty() {
        slots.remove(key.scope.as_str());
    }
    slot
}

impl IdempotencyStore for MemoryIdempotencyStore {
    fn claim<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        stale_before: OffsetDateTime,
    ) -> BoxFuture<'a, Result<ClaimState, StoreError>> {
        Box::pin(async move {
            let hash = Hash::of(hash);
            let deadline = tokio::time::Instant::now() + MAX_WAIT;
            loop {
                let wait = {
                    let mut slots = self.lock();
                    match slot(&slots, key) {
                        None => {
                            let done = Arc::new(Notify::new());
                            let running = Slot::Running { hash, done };
                            put(keys(&mut slots, key), key, running);
                            return Ok(ClaimState::Claimed);
                        }
                        Some((_, Slot::Stored { hash: h, .. })) if *h != hash => {
                            return Ok(ClaimState::Conflict);
                        }
                        Some((packer, Slot::Stored { response, at, .. })) => {
                            return match response {
                                Some(r) if *at >= stale_before => {
                                    serde_json::from_str(&packer.unpack(r)?)
                                        .map(ClaimState::Stored)
                                        .map_err(crate::store::corrupt("idempotent response"))
                                }
                                _ => Ok(ClaimState::Expired),
                            };
                        }
                        Some((_, Slot::Running { hash: h, .. })) if *h != hash => {
                            return Ok(ClaimState::Conflict);
                        }
                        Some((_, Slot::Running { done, .. })) => done.clone(),
                    }
                };
                // Wait for the running request, then look again.
                let notified = wait.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let still_running =
                    matches!(slot(&self.lock(), key), Some((_, Slot::Running { .. })));
                if still_running && tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Ok(ClaimState::Busy);
                }
            }
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        response: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut slots = self.lock();
        let keys = keys(&mut slots, key);
        let stored = Slot::Stored {
            hash: Hash::of(hash),
            response: response.map(|r| keys.packer.pack(r.to_string())),
            at: OffsetDateTime::now_utc(),
        };
        let prev = put(keys, key, stored);
        drop(slots);
        if let Some(Slot::Running { done, .. }) = prev {
            done.notify_waiters();
        }
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, key: &'a IdemKey) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut slots = self.lock();
        if let Some((_, Slot::Running { done, .. })) = slot(&slots, key) {
            let done = done.clone();
            remove(&mut slots, key);
            done.notify_waiters();
        }
        Box::pin(async { Ok(()) })
    }

    fn vacuum(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut slots = self.lock();
        let mut removed = 0u64;
        slots.retain(|_, tasks| {
            tasks.retain(|_, keys| {
                let n = keys.slots.len();
                let slots = &mut keys.slots;
                slots.retain(|_, s| !matches!(s, Slot::Stored { at, .. } if *at < before));
                removed += (n - slots.len()) as u64;
                !slots.is_empty()
            });
            !tasks.is_empty()
        });
        Box::pin(async move { Ok(removed) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hex_digest_is_kept_as_bytes_and_compares_as_its_text() {
        let hex = "00ff".repeat(16);
        assert!(matches!(Hash::of(&hex), Hash::Sha256(b) if b[0] == 0 && b[1] == 0xff));
        assert!(Hash::of(&hex) == Hash::of(&hex));
        assert!(Hash::of(&hex) != Hash::of(&"00fe".repeat(16)));
        // Upper case, short or not hex: kept as text, never equal to a digest.
        assert!(matches!(Hash::of(&hex.to_uppercase()), Hash::Text(_)));
        assert!(matches!(Hash::of("abc"), Hash::Text(_)));
        assert!(matches!(Hash::of(&"zz".repeat(32)), Hash::Text(_)));
    }

    const ACTIONS: [&str; 5] = [
        "pause",
        "cancel",
        "update_budget",
        "update_dates",
        "sync_creatives",
    ];

    #[tokio::test]
    async fn keys_are_per_scope_and_task_and_vacuum_empties_the_maps() {
        let store = MemoryIdempotencyStore::default();
        let key = |scope: &str, task: &str| IdemKey {
            key: "k-0000000000000001".into(),
            scope: scope.into(),
            task: task.into(),
        };
        let hash = "ab".repeat(32);
        let old = OffsetDateTime::UNIX_EPOCH;
        for (scope, task) in [
            ("a", "create_media_buy"),
            ("b", "create_media_buy"),
            ("a", "sync_creatives"),
        ] {
            let k = key(scope, task);
            assert!(matches!(
                store.claim(&k, &hash, old).await.unwrap(),
                ClaimState::Claimed
            ));
            store
                .complete(
                    &k,
                    &hash,
                    Some(&serde_json::json!({"ok": scope, "valid_actions": ACTIONS})),
                )
                .await
                .unwrap();
        }
        let k = key("b", "create_media_buy");
        match store.claim(&k, &hash, old).await.unwrap() {
            ClaimState::Stored(v) => assert_eq!(v["ok"], "b"),
            _ => panic!("the stored response"),
        }
        assert!(matches!(
            store.claim(&k, &"cd".repeat(32), old).await.unwrap(),
            ClaimState::Conflict
        ));
        // A second response of a task is packed against the first, and replays whole.
        let second = IdemKey {
            key: "k-0000000000000002".into(),
            ..key("b", "create_media_buy")
        };
        let response =
            serde_json::json!({"ok": "b", "media_buy_id": "mb_2", "valid_actions": ACTIONS});
        assert!(matches!(
            store.claim(&second, &hash, old).await.unwrap(),
            ClaimState::Claimed
        ));
        store
            .complete(&second, &hash, Some(&response))
            .await
            .unwrap();
        assert!(matches!(
            slot(&store.lock(), &second),
            Some((
                _,
                Slot::Stored {
                    response: Some(Packed::Lz4(_)),
                    ..
                }
            ))
        ));
        match store.claim(&second, &hash, old).await.unwrap() {
            ClaimState::Stored(v) => assert_eq!(v, response),
            _ => panic!("the stored response"),
        }

        let future = OffsetDateTime::now_utc() + time::Duration::hours(1);
        assert_eq!(store.vacuum(future).await.unwrap(), 4);
        assert!(store.lock().is_empty());
    }
}
