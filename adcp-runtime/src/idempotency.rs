//! Idempotency for mutating tasks.
//!
//! A request is identified by (idempotency_key, account scope, task) and its body by the
//! sha256 of its RFC 8785 canonical JSON without `idempotency_key`, `context`,
//! `governance_context` and the push-notification credentials. The first request with a key
//! runs; a concurrent duplicate waits for it; a later one with the same body gets the stored
//! response with `replayed: true`; one with a different body gets `IDEMPOTENCY_CONFLICT`, which
//! says nothing of the stored response. Errors are not stored, so a retry runs again.
//!
//! A stored response is replayed for the replay window (`replay_ttl`, 7 days by default); the
//! key is remembered for a second window after that, in which a retry gets
//! `IDEMPOTENCY_EXPIRED` rather than running again. A response larger than 4 MB is not kept:
//! its key answers `IDEMPOTENCY_EXPIRED` too, so the request never runs twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::platform::BoxFuture;
use crate::tasks::StoreError;

/// Default retention of stored responses: 7 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Largest response the store keeps for replay: 4 MB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

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

/// The request hash: sha256 (hex) of the RFC 8785 canonical form of the request without the
/// fields that do not change what is asked.
pub fn request_hash(request: &Value) -> Result<String, serde_json::Error> {
    let mut r = request.clone();
    if let Value::Object(m) = &mut r {
        m.remove("idempotency_key");
        m.remove("context");
        m.remove("governance_context");
        if let Some(Value::Object(push)) = m.get_mut("push_notification_config") {
            push.remove("authentication");
        }
    }
    let canonical = serde_json_canonicalizer::to_vec(&r)?;
    Ok(Sha256::digest(&canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The outcome of claiming a key.
pub enum Claim {
    /// First use: run the request, then [`InFlight::complete`] (or drop to release).
    Fresh(InFlight),
    /// Seen with the same body: the stored response.
    Replay(Value),
    /// Seen with a different body.
    Conflict,
    /// Seen, but its response is no longer kept.
    Expired,
    /// Still running elsewhere after waiting [`MAX_WAIT`].
    Busy,
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

/// A claimed key. Dropping it without [`complete`](InFlight::complete) releases the key, so a
/// failed or abandoned request can be retried.
pub struct InFlight {
    store: Arc<dyn IdempotencyStore>,
    key: Option<IdemKey>,
    hash: String,
}

impl InFlight {
    /// Stores the response (or, above [`MAX_RESPONSE_BYTES`], that there was one).
    pub async fn complete(mut self, response: &Value) -> Result<(), StoreError> {
        let Some(k) = self.key.take() else {
            return Ok(());
        };
        let size = serde_json::to_vec(response).map_or(usize::MAX, |b| b.len());
        let kept = (size <= MAX_RESPONSE_BYTES).then_some(response);
        if kept.is_none() {
            tracing::warn!(size, "a response too large to keep for idempotent replay");
        }
        self.store.complete(&k, &self.hash, kept).await
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let store = self.store.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Err(e) = store.release(&key).await {
                        tracing::warn!(error = %e, "releasing an idempotency key");
                    }
                });
            }
        }
    }
}

/// Claims `key` on `store`; responses older than `ttl` are expired.
pub async fn claim(
    store: &Arc<dyn IdempotencyStore>,
    key: IdemKey,
    hash: String,
    ttl: Duration,
) -> Result<Claim, StoreError> {
    let stale_before = OffsetDateTime::now_utc() - ttl;
    Ok(match store.claim(&key, &hash, stale_before).await? {
        ClaimState::Claimed => Claim::Fresh(InFlight {
            store: store.clone(),
            key: Some(key),
            hash,
        }),
        ClaimState::Stored(v) => Claim::Replay(v),
        ClaimState::Conflict => Claim::Conflict,
        ClaimState::Expired => Claim::Expired,
        ClaimState::Busy => Claim::Busy,
    })
}

enum Slot {
    Running {
        hash: String,
        done: Arc<Notify>,
    },
    Stored {
        hash: String,
        response: Option<Value>,
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
                            return Ok(match response {
                                Some(r) if *at >= stale_before => ClaimState::Stored(r.clone()),
                                _ => ClaimState::Expired,
                            });
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
                response: response.cloned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn jcs(v: &Value) -> String {
        String::from_utf8(serde_json_canonicalizer::to_vec(v).unwrap()).unwrap()
    }

    /// RFC 8785's own examples: the sample of §3.2.2 (whitespace, number and string forms),
    /// the key order of §3.2.3 (by UTF-16 code units) and the number table of Appendix B.
    #[test]
    fn rfc_8785_vectors() {
        let sample: Value = serde_json::from_str(
            r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]}"#,
        )
        .unwrap();
        assert_eq!(
            jcs(&sample),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        let keys: Value = serde_json::from_str(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
                "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let text = jcs(&keys);
        let positions: Vec<usize> = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small",
            "Euro",
            "Emoji",
            "Hebrew",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        let numbers: &[(u64, &str)] = &[
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xc340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5554, "333333333.33333325"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0x41b3_de43_5555_5556, "333333333.3333334"),
            (0x41b3_de43_5555_5557, "333333333.33333343"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ];
        for (bits, want) in numbers {
            let v = json!([f64::from_bits(*bits)]);
            assert_eq!(jcs(&v), format!("[{want}]"), "{bits:#018x}");
        }
    }

    /// The idempotency hash of one request, pinned: a change of canonicaliser, of the fields
    /// left out, or of the hash changes what a stored key matches, and must be deliberate.
    #[test]
    fn the_request_hash_is_stable() {
        let request = json!({
            "idempotency_key": "k-0000000000000001",
            "context": {"correlation_id": "ignored"},
            "account": {"brand": {"domain": "acme.com"}, "operator": "acme.com"},
            "start_time": "asap", "end_time": "2031-07-01T00:00:00Z",
            "packages": [{"product_id": "p", "pricing_option_id": "cpm", "budget": 5000.0}],
            "push_notification_config": {"url": "https://b.example/h",
                "authentication": {"schemes": ["Bearer"], "credentials": "left-out-of-the-hash-0123456789"}}
        });
        let h = request_hash(&request).unwrap();
        let mut other = request;
        other["context"] = json!({"x": 1});
        other["push_notification_config"]["authentication"]["credentials"] =
            json!("another-credential-0123456789");
        other["idempotency_key"] = json!("k-0000000000000002");
        assert_eq!(request_hash(&other).unwrap(), h);
        assert_eq!(
            h,
            "2998854f8217cecf6bd01291bdaddca01af049474bde6b00e708b84920fc23c8"
        );
    }

    #[test]
    fn the_hash_ignores_key_context_and_credentials_only() {
        let a = json!({"idempotency_key": "k1", "context": {"x": 1}, "packages": [{"budget": 10}],
                       "push_notification_config": {"url": "https://b.example/h", "authentication": {"credentials": "s"}}});
        let b = json!({"packages": [{"budget": 10.0}], "idempotency_key": "k2",
                       "push_notification_config": {"url": "https://b.example/h"}});
        assert_eq!(request_hash(&a).unwrap(), request_hash(&b).unwrap());
        let c = json!({"packages": [{"budget": 11}]});
        assert_ne!(request_hash(&a).unwrap(), request_hash(&c).unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_duplicates_run_once() {
        let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = IdemKey {
            key: "k".into(),
            scope: "s".into(),
            task: "create_media_buy".into(),
        };
        let mut joins = Vec::new();
        for _ in 0..32 {
            let (store, runs, key) = (store.clone(), runs.clone(), key.clone());
            joins.push(tokio::spawn(async move {
                match claim(&store, key, "h".into(), DEFAULT_RETENTION)
                    .await
                    .unwrap()
                {
                    Claim::Fresh(f) => {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        f.complete(&json!({"media_buy_id": "mb"})).await.unwrap();
                        json!({"media_buy_id": "mb"})
                    }
                    Claim::Replay(v) => v,
                    _ => panic!("neither fresh nor a replay"),
                }
            }));
        }
        for j in joins {
            assert_eq!(j.await.unwrap(), json!({"media_buy_id": "mb"}));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let other = claim(
            &store,
            IdemKey {
                key: "k".into(),
                scope: "s".into(),
                task: "create_media_buy".into(),
            },
            "h2".into(),
            DEFAULT_RETENTION,
        );
        assert!(matches!(other.await.unwrap(), Claim::Conflict));
    }

    #[tokio::test]
    async fn a_released_key_runs_again() {
        let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::default());
        let key = IdemKey {
            key: "k".into(),
            scope: "s".into(),
            task: "t".into(),
        };
        match claim(&store, key.clone(), "h".into(), DEFAULT_RETENTION)
            .await
            .unwrap()
        {
            Claim::Fresh(f) => drop(f),
            _ => panic!("expected fresh"),
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(matches!(
            claim(&store, key, "h".into(), DEFAULT_RETENTION)
                .await
                .unwrap(),
            Claim::Fresh(_)
        ));
    }
}
