//! Idempotency records in memory: lost on restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::store::idempotency::{ClaimState, IdemKey, IdempotencyStore, MAX_WAIT};
use crate::store::{BoxFuture, StoreError};

enum Slot {
    Running {
        hash: String,
        done: Arc<Notify>,
    },
    Stored {
        hash: String,
        /// The response's JSON text (a fraction of the parsed tree's size).
        response: Option<Box<str>>,
        at: OffsetDateTime,
    },
}

/// Responses in memory: lost on restart.
#[derive(Default)]
pub struct MemoryIdempotencyStore {
    slots: Mutex<HashMap<IdemKey, Slot>>,
}

impl MemoryIdempotencyStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IdemKey, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl IdempotencyStore for MemoryIdempotencyStore {
    fn claim<'a>(
        &'a self,
        key: &'a IdemKey,
        hash: &'a str,
        stale_before: OffsetDateTime,
    ) -> BoxFuture<'a, Result<ClaimState, StoreError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + MAX_WAIT;
            loop {
                let wait = {
                    let mut slots = self.lock();
                    match slots.get(key) {
                        None => {
                            slots.insert(
                                key.clone(),
                                Slot::Running {
                                    hash: hash.to_owned(),
                                    done: Arc::new(Notify::new()),
                                },
                            );
                            return Ok(ClaimState::Claimed);
                        }
                        Some(Slot::Stored { hash: h, .. }) if h != hash => {
                            return Ok(ClaimState::Conflict);
                        }
                        Some(Slot::Stored { response, at, .. }) => {
                            return match response {
                                Some(r) if *at >= stale_before => serde_json::from_str(r)
                                    .map(ClaimState::Stored)
                                    .map_err(crate::store::corrupt("idempotent response")),
                                _ => Ok(ClaimState::Expired),
                            };
                        }
                        Some(Slot::Running { hash: h, .. }) if h != hash => {
                            return Ok(ClaimState::Conflict);
                        }
                        Some(Slot::Running { done, .. }) => done.clone(),
                    }
                };
                // Wait for the running request, then look again.
                let notified = wait.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let still_running = matches!(self.lock().get(key), Some(Slot::Running { .. }));
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
        let prev = self.lock().insert(
            key.clone(),
            Slot::Stored {
                hash: hash.to_owned(),
                response: response.map(|r| r.to_string().into_boxed_str()),
                at: OffsetDateTime::now_utc(),
            },
        );
        if let Some(Slot::Running { done, .. }) = prev {
            done.notify_waiters();
        }
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, key: &'a IdemKey) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut slots = self.lock();
        if let Some(Slot::Running { done, .. }) = slots.get(key) {
            let done = done.clone();
            slots.remove(key);
            done.notify_waiters();
        }
        Box::pin(async { Ok(()) })
    }

    fn vacuum(&self, before: OffsetDateTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        let mut slots = self.lock();
        let n = slots.len();
        slots.retain(|_, s| !matches!(s, Slot::Stored { at, .. } if *at < before));
        let removed = (n - slots.len()) as u64;
        Box::pin(async move { Ok(removed) })
    }
}
