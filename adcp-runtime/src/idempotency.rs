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

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{AdcpError, codes};
use crate::store::{ClaimState, IdemKey, IdempotencyStore, StoreError};

/// Default retention of stored responses: 7 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Largest response the store keeps for replay: 4 MB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The request hash: sha256 (hex) of the RFC 8785 canonical form of the request without the
/// fields that do not change what is asked. The request is read where it is (no copy without
/// those fields is made) and its canonical form is written straight into the hash.
pub fn request_hash(request: &Value) -> Result<String, serde_json::Error> {
    let mut hasher = Hashing(Sha256::new());
    serde_json_canonicalizer::to_writer(&Hashed(request), &mut hasher)?;
    Ok(hasher
        .0
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Top-level fields that do not change what a request asks.
const UNHASHED: [&str; 3] = ["idempotency_key", "context", "governance_context"];

/// A request as hashed: borrowed, without [`UNHASHED`] and the push-notification credentials.
struct Hashed<'a>(&'a Value);

impl serde::Serialize for Hashed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let Value::Object(m) = self.0 else {
            return self.0.serialize(s);
        };
        let mut map = s.serialize_map(None)?;
        for (k, v) in m.iter().filter(|(k, _)| !UNHASHED.contains(&k.as_str())) {
            match v {
                Value::Object(push) if k == "push_notification_config" => {
                    map.serialize_entry(k, &WithoutAuthentication(push))?;
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

/// A push-notification config without its `authentication`.
struct WithoutAuthentication<'a>(&'a serde_json::Map<String, Value>);

impl serde::Serialize for WithoutAuthentication<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().filter(|(k, _)| *k != "authentication"))
    }
}

/// Canonical JSON written into the hash as it is produced.
struct Hashing(Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a request's key admits it to: run (holding the key), or the stored response. The
/// other outcomes of a claim are errors the buyer gets ([`admit`]).
pub(crate) enum Admission {
    /// First use: run the request, then [`InFlight::complete`] (or drop to release).
    Run(InFlight),
    /// Seen with the same body: the stored response, marked `replayed: true`.
    Replay(Value),
}

/// A claimed key. Dropping it without [`complete`](InFlight::complete) releases the key, so a
/// failed or abandoned request can be retried.
pub(crate) struct InFlight {
    store: Arc<dyn IdempotencyStore>,
    key: Option<IdemKey>,
    hash: String,
}

impl InFlight {
    /// Stores the response (or, above [`MAX_RESPONSE_BYTES`], that there was one).
    pub(crate) async fn complete(mut self, response: &Value) -> Result<(), StoreError> {
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

/// Claims the key of a mutating request (`idempotency_key` in `scope`, for `task`) on `store`,
/// with the request's hash: run it, or replay the stored response; another body with the key
/// is `IDEMPOTENCY_CONFLICT` (saying nothing of the first), a key whose response is no longer
/// kept `IDEMPOTENCY_EXPIRED`, one still running after [`MAX_WAIT`] a transient `CONFLICT`.
pub(crate) async fn admit(
    store: &Arc<dyn IdempotencyStore>,
    key: IdemKey,
    request: &Value,
    ttl: Duration,
) -> Result<Admission, AdcpError> {
    let hash = request_hash(request)
        .map_err(|_| AdcpError::invalid_request("", "the request cannot be canonicalised"))?;
    let stale_before = OffsetDateTime::now_utc() - ttl;
    let refused = |code: &'static str, message: &'static str| {
        AdcpError::new(code, message).with_field("idempotency_key")
    };
    match store.claim(&key, &hash, stale_before).await {
        Err(e) => {
            tracing::error!(error = %e, "idempotency store");
            Err(AdcpError::internal("the idempotency store is unavailable"))
        }
        Ok(ClaimState::Claimed) => Ok(Admission::Run(InFlight {
            store: store.clone(),
            key: Some(key),
            hash,
        })),
        Ok(ClaimState::Stored(mut body)) => {
            if let Value::Object(m) = &mut body {
                m.insert("replayed".into(), Value::Bool(true));
            }
            Ok(Admission::Replay(body))
        }
        Ok(ClaimState::Conflict) => Err(refused(
            codes::IDEMPOTENCY_CONFLICT,
            "this idempotency_key was already used with a different request",
        )),
        Ok(ClaimState::Expired) => Err(refused(
            codes::IDEMPOTENCY_EXPIRED,
            "this idempotency_key was used, but its response is no longer kept; check whether \
             the original request took effect before retrying with a new key",
        )),
        Ok(ClaimState::Busy) => Err(refused(
            codes::CONFLICT,
            "a request with this idempotency_key is still being processed",
        )
        .with_recovery(crate::Recovery::Transient)
        .with_retry_after(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryIdempotencyStore;
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

    fn key(task: &str) -> IdemKey {
        IdemKey {
            key: "k".into(),
            scope: "s".into(),
            task: task.into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_duplicates_run_once() {
        let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let request = json!({"packages": [{"budget": 1.0}]});
        let mut joins = Vec::new();
        for _ in 0..32 {
            let (store, runs, request) = (store.clone(), runs.clone(), request.clone());
            joins.push(tokio::spawn(async move {
                match admit(&store, key("create_media_buy"), &request, DEFAULT_RETENTION)
                    .await
                    .unwrap()
                {
                    Admission::Run(f) => {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        f.complete(&json!({"media_buy_id": "mb"})).await.unwrap();
                        json!({"media_buy_id": "mb"})
                    }
                    Admission::Replay(v) => json!({"media_buy_id": v["media_buy_id"]}),
                }
            }));
        }
        for j in joins {
            assert_eq!(j.await.unwrap(), json!({"media_buy_id": "mb"}));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let other = json!({"packages": [{"budget": 2.0}]});
        let conflict = admit(&store, key("create_media_buy"), &other, DEFAULT_RETENTION).await;
        let e = conflict.err().expect("a conflict");
        assert_eq!(e.code(), codes::IDEMPOTENCY_CONFLICT);
        assert_eq!(
            e.to_json(),
            json!({"code": e.code(), "message": e.message()})
        );
    }

    #[tokio::test]
    async fn a_released_key_runs_again() {
        let store: Arc<dyn IdempotencyStore> = Arc::new(MemoryIdempotencyStore::default());
        let request = json!({});
        match admit(&store, key("t"), &request, DEFAULT_RETENTION).await {
            Ok(Admission::Run(f)) => drop(f),
            _ => panic!("expected to run"),
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(matches!(
            admit(&store, key("t"), &request, DEFAULT_RETENTION).await,
            Ok(Admission::Run(_))
        ));
    }
}
