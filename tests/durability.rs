//! Idempotency and webhooks end to end: the reference seller on its embedded SQLite store,
//! driven over MCP, with a loopback webhook receiver.

use std::time::Duration;

use adcp_conformance::harness::{Receiver, Seller, Store, mcp, temp_dir};
use adcp_runtime::Retry;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

const SECRET: &str = "a-shared-secret-of-at-least-32-chars";

fn create(key: &str, budget: f64) -> Value {
    json!({
        "idempotency_key": key,
        "account": {"brand": {"domain": "acme.example"}, "operator": "acme.example", "sandbox": true},
        "brand": {"domain": "acme.example"},
        "start_time": "2026-06-01T00:00:00Z",
        "end_time": "2026-07-01T00:00:00Z",
        "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": budget}],
        "context": {"correlation_id": format!("corr-{key}")}
    })
}

fn fast_retries(config: &mut adcp_runtime::Config) {
    config.webhook_retry = Retry {
        max_attempts: 5,
        base: Duration::from_millis(50),
        cap: Duration::from_millis(200),
    };
}

fn key(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::new_v4())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_identical_creates_book_one_buy() {
    let seller = Seller::start();
    let url = seller.mcp_url();
    let k = key("burst");
    let calls = (0..32).map(|_| {
        let (url, body) = (url.clone(), create(&k, 5000.0));
        tokio::spawn(async move { mcp(&url, "create_media_buy", &body).await })
    });
    let mut ids = Vec::new();
    let mut fresh = 0;
    for c in calls.collect::<Vec<_>>() {
        let (is_error, body) = c.await.unwrap();
        assert!(!is_error, "{body}");
        ids.push(body["media_buy_id"].as_str().unwrap().to_owned());
        if body.get("replayed").is_none_or(|r| r == false) {
            fresh += 1;
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller got the same buy: {ids:?}");
    assert_eq!(fresh, 1, "one response is the original, 31 are replays");
    let (_, buys) = mcp(
        &url,
        "get_media_buys",
        &json!({"account": create(&k, 0.0)["account"], "media_buy_ids": [ids[0]]}),
    )
    .await;
    assert_eq!(
        buys["media_buys"].as_array().map(Vec::len),
        Some(1),
        "{buys}"
    );
}

#[tokio::test]
async fn a_reused_key_with_another_body_conflicts_and_leaks_nothing() {
    let seller = Seller::start();
    let url = seller.mcp_url();
    let k = key("conflict");
    let (is_error, first) = mcp(&url, "create_media_buy", &create(&k, 5000.0)).await;
    assert!(!is_error, "{first}");
    let buy_id = first["media_buy_id"].as_str().unwrap().to_owned();

    let (is_error, conflict) = mcp(&url, "create_media_buy", &create(&k, 7500.0)).await;
    assert!(is_error);
    assert_eq!(
        conflict["adcp_error"]["code"], "IDEMPOTENCY_CONFLICT",
        "{conflict}"
    );
    let keys: Vec<&String> = conflict["adcp_error"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["code", "message"],
        "nothing beyond the code and a fixed message"
    );
    assert_eq!(conflict["context"]["correlation_id"], format!("corr-{k}"));
    let text = conflict.to_string();
    assert!(
        !text.contains(&buy_id) && !text.contains("packages") && !text.contains("5000"),
        "the conflict says nothing of the stored response: {text}"
    );

    // The context is not part of the request's identity: a retry with a new one replays.
    let mut retry = create(&k, 5000.0);
    retry["context"] = json!({"correlation_id": "another"});
    let (is_error, replay) = mcp(&url, "create_media_buy", &retry).await;
    assert!(!is_error);
    assert_eq!(replay["media_buy_id"], buy_id.as_str());
    assert_eq!(replay["replayed"], true);
}

#[tokio::test]
async fn errors_are_not_kept() {
    let seller = Seller::start();
    let url = seller.mcp_url();
    let k = key("retry");
    let mut wrong = create(&k, 5000.0);
    wrong["packages"][0]["product_id"] = json!("no-such-product");
    let (is_error, err) = mcp(&url, "create_media_buy", &wrong).await;
    assert!(is_error);
    assert_eq!(err["adcp_error"]["code"], "PRODUCT_NOT_FOUND", "{err}");
    // The corrected request with the same key runs: the error was not stored.
    let (is_error, ok) = mcp(&url, "create_media_buy", &create(&k, 5000.0)).await;
    assert!(!is_error, "{ok}");
    assert!(ok.get("replayed").is_none_or(|r| r == false), "{ok}");
}

#[tokio::test]
async fn a_missing_key_on_a_mutating_task_is_named() {
    let seller = Seller::start();
    let mut body = create("x", 5000.0);
    body.as_object_mut().unwrap().remove("idempotency_key");
    let (is_error, err) = mcp(&seller.mcp_url(), "create_media_buy", &body).await;
    assert!(is_error);
    assert_eq!(err["adcp_error"]["code"], "INVALID_REQUEST", "{err}");
    assert_eq!(err["adcp_error"]["field"], "idempotency_key");
}

fn hmac_hex(secret: &str, ts: &str, body: &str) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_webhook_is_retried_with_one_key_signed_and_not_resent_on_replay() {
    let receiver = Receiver::start(vec![503, 429]).await.expect("a receiver");
    let seller = Seller::start_with(Store::Sqlite, fast_retries);
    let url = seller.mcp_url();
    let k = key("hook");
    let mut body = create(&k, 5000.0);
    body["push_notification_config"] = json!({
        "url": receiver.url("/hook"),
        "authentication": {"schemes": ["HMAC-SHA256"], "credentials": SECRET}
    });
    let (is_error, created) = mcp(&url, "create_media_buy", &body).await;
    assert!(!is_error, "{created}");

    let hits = receiver
        .wait_delivered("/hook", 1, Duration::from_secs(20))
        .await;
    let statuses: Vec<u16> = hits.iter().map(|h| h.status).collect();
    assert_eq!(statuses, [503, 429, 200], "retried on 5xx and 429");
    let first = hits[0].json();
    for h in &hits {
        assert_eq!(h.body, hits[0].body, "every attempt sends the same bytes");
        let ts = h.header("x-adcp-timestamp").expect("a timestamp");
        assert_eq!(
            h.header("x-adcp-signature"),
            Some(format!("sha256={}", hmac_hex(SECRET, ts, &h.body)).as_str()),
            "HMAC-SHA256 over `timestamp.body`"
        );
    }
    assert!(
        first["idempotency_key"]
            .as_str()
            .is_some_and(|k| k.len() >= 16)
    );
    assert_eq!(first["task_type"], "create_media_buy");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["result"]["media_buy_id"], created["media_buy_id"]);
    assert_eq!(first["context"]["correlation_id"], format!("corr-{k}"));

    // A replay answers from the store and owes no new webhook.
    let (_, replay) = mcp(&url, "create_media_buy", &body).await;
    assert_eq!(replay["replayed"], true);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.hits().len(), 3, "no webhook for a replay");
}

#[tokio::test]
async fn webhooks_to_private_addresses_are_refused_unless_allowed() {
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    let seller = Seller::start_with(Store::Sqlite, |c| c.allow_private_webhooks = false);
    let url = seller.mcp_url();
    for (hook, why) in [
        (receiver.url("/hook"), "scheme `http`"),
        ("https://127.0.0.1/hook".to_owned(), "127.0.0.1"),
        (
            "https://[::ffff:169.254.169.254]/hook".to_owned(),
            "169.254.169.254",
        ),
        (
            "https://user:pw@buyer.example/hook".to_owned(),
            "credentials",
        ),
    ] {
        let mut body = create(&key("ssrf"), 5000.0);
        body["push_notification_config"] = json!({"url": hook});
        let (is_error, err) = mcp(&url, "create_media_buy", &body).await;
        assert!(is_error, "{hook} is refused");
        assert_eq!(err["adcp_error"]["code"], "INVALID_REQUEST");
        assert_eq!(err["adcp_error"]["field"], "push_notification_config.url");
        let message = err["adcp_error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(why), "{hook}: {message}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.hits().is_empty());
}

#[tokio::test]
async fn a_pending_webhook_is_sent_after_a_restart() {
    let dir = temp_dir("restart");
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    receiver.answer(503);
    let k = key("resume");
    let body = {
        let mut b = create(&k, 5000.0);
        b["push_notification_config"] = json!({"url": receiver.url("/hook")});
        b
    };
    let created = {
        let seller = Seller::start_with(Store::SqliteAt(dir.clone()), |c| {
            c.webhook_retry = Retry {
                max_attempts: 10,
                base: Duration::from_millis(300),
                cap: Duration::from_millis(300),
            };
        });
        let (is_error, created) = mcp(&seller.mcp_url(), "create_media_buy", &body).await;
        assert!(!is_error, "{created}");
        let failing = receiver
            .wait_delivered("/hook", 1, Duration::from_millis(700))
            .await;
        assert!(!failing.is_empty() && failing.iter().all(|h| h.status == 503));
        created
    }; // the seller stops with the delivery still pending
    let attempts_before = receiver.hits().len();
    receiver.answer(200);
    let seller = Seller::start_with(Store::SqliteAt(dir.clone()), fast_retries);
    let hits = receiver
        .wait_delivered("/hook", 1, Duration::from_secs(10))
        .await;
    assert!(hits.len() > attempts_before, "the restarted seller resumed");
    let delivered = hits
        .iter()
        .find(|h| h.status == 200)
        .expect("delivered after restart");
    assert_eq!(
        delivered.json()["result"]["media_buy_id"],
        created["media_buy_id"]
    );
    assert_eq!(
        delivered.json()["idempotency_key"],
        hits[0].json()["idempotency_key"],
        "the same webhook, not a new one"
    );
    // The acknowledged buy survived the restart.
    let (_, replay) = mcp(&seller.mcp_url(), "create_media_buy", &body).await;
    assert_eq!(replay["replayed"], true, "{replay}");
    assert_eq!(replay["media_buy_id"], created["media_buy_id"]);
    drop(seller);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn webhooks_without_buyer_authentication_are_signed_afresh_on_every_attempt() {
    use adcp_runtime::signing::{
        Failure, Incoming, KeySet, MemoryNonceStore, SigningKey, verify_webhook,
    };
    let receiver = Receiver::start(vec![503]).await.expect("a receiver");
    let signing = std::sync::Arc::new(SigningKey::generate_ed25519("seller-webhooks").unwrap());
    let seller = Seller::start_with(Store::Sqlite, move |c| {
        fast_retries(c);
        c.webhook_signing_key = Some(signing);
    });
    let jwks: Value = serde_json::from_slice(
        &adcp_conformance::harness::client()
            .get(format!("{}/.well-known/jwks.json", seller.base_url()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let mut keys = KeySet::default();
    let seller_principal = adcp_runtime::Principal {
        id: "seller".into(),
    };
    keys.add_jwks(&seller_principal, &jwks, 1000).unwrap();

    let mut body = create(&key("signed"), 5000.0);
    body["push_notification_config"] = json!({"url": receiver.url("/hook")});
    let (is_error, created) = mcp(&seller.mcp_url(), "create_media_buy", &body).await;
    assert!(!is_error, "{created}");
    let hits = receiver
        .wait_delivered("/hook", 1, Duration::from_secs(20))
        .await;
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [503, 200]
    );

    let nonces = MemoryNonceStore::default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let url = receiver.url("/hook");
    let mut inputs = Vec::new();
    for h in &hits {
        let mut headers = axum::http::HeaderMap::new();
        for (n, v) in &h.headers {
            headers.append(
                axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let req = Incoming {
            method: "POST",
            url: &url,
            headers: &headers,
            body: h.body.as_bytes(),
        };
        let signer = verify_webhook(req, &keys, &nonces, now).await;
        assert_eq!(signer.map(|s| s.keyid), Ok("seller-webhooks".to_owned()));
        // The same frame again is a replay.
        let again = verify_webhook(req, &keys, &nonces, now).await;
        assert_eq!(again.map_err(|r| r.failure), Err(Failure::Replayed));
        inputs.push(h.header("signature-input").unwrap().to_owned());
    }
    assert_ne!(inputs[0], inputs[1], "each attempt has its own nonce");
    assert!(inputs[0].contains("tag=\"adcp/webhook-signing/v1\""));
    assert!(
        hits[0].header("x-adcp-signature").is_none(),
        "one scheme only"
    );
}
