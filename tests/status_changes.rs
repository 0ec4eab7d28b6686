//! Status changes of adopter state: recorded in the same write as the change, kept as each
//! resource's audit trail in order, scoped by tenant and account, and published once
//! committed; on memory, SQLite and (with `DATABASE_URL`) PostgreSQL.

use adcp_conformance::harness::{postgres_url, temp_dir};
use adcp_runtime::wire::{GetSignalsRequest, GetSignalsResponse};
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, Ctx, Server, State, Stores, decisioning_platform,
};
use serde::{Deserialize, Serialize};

struct Signals;

#[decisioning_platform]
impl Signals {
    async fn get_signals(
        &self,
        _ctx: &Ctx,
        _req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        Ok(GetSignalsResponse::new(Vec::new()))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Buy {
    status: String,
    budget: f64,
}

const BUYS: Collection<Buy> = Collection::new("media_buys");

fn status(b: &Buy) -> String {
    b.status.clone()
}

/// A buy made on `server` in `scope` with status `initial` and `budget`, its creation recorded;
/// its id and the scope's state.
async fn made<'a>(
    server: &'a Server<Signals>,
    scope: &'a str,
    initial: &str,
    budget: f64,
) -> (String, State<'a>) {
    let id = format!("mb_{}", uuid::Uuid::new_v4().simple());
    let state = server.state(scope);
    let buy = Buy {
        status: initial.into(),
        budget,
    };
    state
        .put_recorded(BUYS, &id, status, "create_media_buy", &buy)
        .await
        .expect("made");
    (id, state)
}

/// A buy made on `server` in `scope` as `s0`, then moved to `s1`, `s2`, ... before `s{until}`,
/// each change recorded; its id.
async fn moved_buy(server: &Server<Signals>, scope: &str, until: usize) -> String {
    let (id, state) = made(server, scope, "s0", 1.0).await;
    for i in 1..until {
        let to = format!("s{i}");
        state
            .modify_recorded(BUYS, &id, status, "update_media_buy", gone, |b| {
                b.status.clone_from(&to);
                Ok(())
            })
            .await
            .expect("moved");
    }
    id
}

fn gone() -> AdcpError {
    AdcpError::new("MEDIA_BUY_NOT_FOUND", "no such media buy")
}

async fn audit(stores: Stores) {
    let server = Server::with_stores(Signals, Config::default(), stores.clone());
    let mut events = server.events().subscribe();
    let scope = format!("acct:{}", uuid::Uuid::new_v4().simple());
    let (id, state) = made(&server, &scope, "pending_creatives", 1000.0).await;
    let set = |to: &'static str, budget: f64| {
        move |b: &mut Buy| {
            b.status = to.into();
            b.budget = budget;
            Ok(())
        }
    };
    state
        .modify_recorded(
            BUYS,
            &id,
            status,
            "sync_creatives",
            gone,
            set("active", 1000.0),
        )
        .await
        .expect("active");
    // A write that leaves the status alone records nothing.
    state
        .modify_recorded(
            BUYS,
            &id,
            status,
            "update_media_buy",
            gone,
            set("active", 2000.0),
        )
        .await
        .expect("budget");
    state
        .modify_recorded(
            BUYS,
            &id,
            status,
            "update_media_buy",
            gone,
            set("paused", 2000.0),
        )
        .await
        .expect("paused");

    let trail = state.history(BUYS, &id).await.expect("history");
    let seen: Vec<(Option<&str>, &str, &str, i64)> = trail
        .iter()
        .map(|c| {
            (
                c.from.as_deref(),
                c.to.as_str(),
                c.cause.as_str(),
                c.version,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (None, "pending_creatives", "create_media_buy", 1),
            (Some("pending_creatives"), "active", "sync_creatives", 2),
            (Some("active"), "paused", "update_media_buy", 4),
        ]
    );
    assert!(
        trail
            .iter()
            .all(|c| c.resource == "media_buys" && c.id == id)
    );
    // The document is the last write's.
    let now = state.get(BUYS, &id).await.expect("read").expect("stored");
    assert_eq!((now.status.as_str(), now.budget), ("paused", 2000.0));

    // Published once committed, in order, with the change's reference.
    for (to, version) in [("pending_creatives", 1), ("active", 2), ("paused", 4)] {
        let e = events.recv().await.expect("an event");
        assert_eq!(
            (e.resource.as_str(), e.id.as_str(), e.scope.as_str()),
            ("media_buys", id.as_str(), scope.as_str())
        );
        assert_eq!(
            (e.status.as_str(), e.data["version"].as_i64()),
            (to, Some(version))
        );
    }
    assert!(
        events.try_recv().is_err(),
        "a write without a status change publishes nothing"
    );

    // A stale write records no change: the write and its change are one.
    let stale = stores
        .state
        .compare_and_set_recorded(
            &scope,
            "media_buys",
            &id,
            Some(1),
            &serde_json::json!({}),
            &trail[0],
        )
        .await
        .expect("answered");
    assert_eq!(stale, None);
    assert_eq!(state.history(BUYS, &id).await.expect("history").len(), 3);

    // Another account, another tenant: nothing.
    assert!(
        server
            .state("acct:other")
            .history(BUYS, &id)
            .await
            .expect("read")
            .is_empty()
    );
    let other = stores.for_tenant(&format!("t{}", uuid::Uuid::new_v4().simple()));
    assert!(
        other
            .state
            .status_history(&scope, "media_buys", &id)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn on_memory() {
    audit(Stores::memory()).await;
}

#[tokio::test]
async fn on_sqlite() {
    let dir = temp_dir("status-changes");
    audit(Stores::sqlite(&dir).await.expect("SQLite opens")).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn on_postgres() {
    if let Some(url) = postgres_url() {
        audit(Stores::open(&url).await.expect("PostgreSQL opens")).await;
    }
}

/// Two replicas on one PostgreSQL: the changes made on one reach a subscriber on the other
/// once each and in order, and an event too large for a notification arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_hears_the_others_changes_once_in_order() {
    let Some(url) = postgres_url() else { return };
    let a = Server::with_stores(
        Signals,
        Config::default(),
        Stores::open(&url).await.expect("opens"),
    );
    let b = Server::with_stores(
        Signals,
        Config::default(),
        Stores::open(&url).await.expect("opens"),
    );
    b.start();
    let mut heard = b.events().subscribe();
    // The listener's LISTEN is in place once a probe published on `a` reaches `b`.
    let probe = format!("probe-{}", uuid::Uuid::new_v4().simple());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    'probe: loop {
        a.events()
            .publish(adcp_runtime::Event::new("probe", &probe, "probe", "up"));
        let wait = tokio::time::sleep(std::time::Duration::from_millis(200));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                e = heard.recv() => if e.is_ok_and(|e| e.id == probe) { break 'probe },
                () = &mut wait => break,
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other replica never listened"
        );
    }
    let scope = format!("acct:{}", uuid::Uuid::new_v4().simple());
    let id = moved_buy(&a, &scope, 20).await;
    let mut big = adcp_runtime::Event::new("report", &id, &scope, "ready");
    big.data = serde_json::json!({"rows": "x".repeat(20_000)});
    a.events().publish(big);

    let mut versions = Vec::new();
    let mut whole = false;
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !whole && tokio::time::Instant::now() < until {
        let Ok(Ok(e)) = tokio::time::timeout_at(until, heard.recv()).await else {
            break;
        };
        if e.scope != scope {
            continue;
        }
        match e.resource.as_str() {
            "media_buys" => versions.push(e.data["version"].as_i64().unwrap_or_default()),
            "report" => whole = e.data["rows"].as_str().is_some_and(|r| r.len() == 20_000),
            _ => {}
        }
    }
    assert_eq!(
        versions,
        (1..=20).collect::<Vec<i64>>(),
        "once each, in order"
    );
    assert!(whole, "the large event arrived whole");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while let Ok(e) = heard.try_recv() {
        assert!(e.scope != scope, "heard twice: {e:?}");
    }
}

/// Emits a webhook of its own from a handler.
struct Notifier {
    url: String,
}

#[decisioning_platform]
impl Notifier {
    async fn get_signals(
        &self,
        ctx: &Ctx,
        _req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        let report = serde_json::json!({"notification_type": "scheduled", "sequence_number": 1});
        let bearer = serde_json::json!({"schemes": ["Bearer"], "credentials": "a-token-of-thirty-two-characters!!"});
        ctx.emit_webhook(&self.url, report.clone(), None).await?;
        ctx.emit_webhook(&format!("{}-bearer", self.url), report, Some(&bearer))
            .await?;
        // Not a URL: the caller is told, nothing is queued.
        let refused = ctx
            .emit_webhook("ftp://x", serde_json::json!({}), None)
            .await;
        let field = |r: AdcpResult<String>| r.err().and_then(|e| e.field().map(str::to_owned));
        assert_eq!(field(refused).as_deref(), Some("url"));
        let odd = serde_json::json!({"schemes": ["Basic"], "credentials": "x"});
        let refused = ctx
            .emit_webhook(&self.url, serde_json::json!({}), Some(&odd))
            .await;
        assert_eq!(field(refused).as_deref(), Some("authentication"));
        let refused = ctx
            .emit_webhook(&self.url, serde_json::json!([1]), None)
            .await;
        assert_eq!(field(refused).as_deref(), Some("payload"));
        Ok(GetSignalsResponse::new(Vec::new()))
    }
}

/// An adopter's own webhooks go through the outbox like the runtime's: an idempotency key,
/// the server's signature, or the buyer's bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopters_webhook_goes_through_the_outbox_signed() {
    let receiver = adcp_conformance::harness::Receiver::start(vec![503])
        .await
        .expect("a receiver");
    let (key, _jwks) = adcp_runtime::test_util::signing_key("webhook-1");
    let config = Config {
        allow_private_webhooks: true,
        webhook_signing_key: Some(key),
        webhook_retry: adcp_runtime::Retry {
            max_attempts: 3,
            base: std::time::Duration::from_millis(50),
            cap: std::time::Duration::from_millis(50),
        },
        ..Config::default()
    };
    let server = Server::with_stores(
        Notifier {
            url: receiver.url("/report"),
        },
        config,
        Stores::memory(),
    );
    server.start();
    let reply = server
        .call(adcp_runtime::Call::new(
            "get_signals",
            serde_json::json!({"signal_spec": "sports fans"}),
        ))
        .await;
    assert!(!reply.is_error, "{}", reply.body);
    let signed = receiver
        .wait_delivered("/report", 1, std::time::Duration::from_secs(10))
        .await;
    let bearer = receiver
        .wait_delivered("/report-bearer", 1, std::time::Duration::from_secs(10))
        .await;
    // Whichever arrived first was answered 503 and retried, with the same key.
    let retried = if signed[0].status == 503 {
        &signed
    } else {
        &bearer
    };
    assert!(
        retried.len() >= 2 && retried[0].status == 503,
        "{}",
        retried.len()
    );
    let key = retried[0].json()["idempotency_key"]
        .as_str()
        .expect("a key")
        .to_owned();
    assert!(
        retried
            .iter()
            .all(|h| h.json()["idempotency_key"] == key.as_str())
    );
    let last = signed.last().expect("delivered");
    assert_eq!(last.json()["notification_type"], "scheduled");
    assert!(last.header("signature").is_some() && last.header("signature-input").is_some());
    let auth = bearer
        .last()
        .and_then(|h| h.header("authorization"))
        .unwrap_or_default();
    assert_eq!(auth, "Bearer a-token-of-thirty-two-characters!!");
}

/// Records what it is asked to post; answers 503 (come back in 0 s) once, then 200.
#[derive(Clone, Default)]
struct Egress {
    posted: std::sync::Arc<std::sync::Mutex<Vec<adcp_runtime::WebhookRequest>>>,
}

impl adcp_runtime::WebhookTransport for Egress {
    fn post<'a>(
        &'a self,
        request: &'a adcp_runtime::WebhookRequest,
    ) -> adcp_runtime::store::BoxFuture<
        'a,
        Result<adcp_runtime::WebhookResponse, adcp_runtime::WebhookSendError>,
    > {
        let mut posted = self
            .posted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        posted.push(request.clone());
        let status = if posted.len() == 1 { 503 } else { 200 };
        Box::pin(async move {
            Ok(adcp_runtime::WebhookResponse {
                status,
                retry_after: Some("0".into()),
            })
        })
    }
}

/// An operator's own transport carries every webhook (here to a name that does not
/// resolve, which the built-in client could not reach), signed and retried by the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_leave_through_the_operators_transport() {
    let egress = Egress::default();
    let (key, _jwks) = adcp_runtime::test_util::signing_key("webhook-1");
    let config = Config {
        webhook_signing_key: Some(key),
        webhook_transport: Some(adcp_runtime::Transport::new(egress.clone())),
        webhook_retry: adcp_runtime::Retry {
            max_attempts: 3,
            base: std::time::Duration::from_millis(20),
            cap: std::time::Duration::from_millis(20),
        },
        ..Config::default()
    };
    let url = "https://buyer.invalid/report".to_owned();
    let server = Server::with_stores(Notifier { url: url.clone() }, config, Stores::memory());
    server.start();
    let reply = server
        .call(adcp_runtime::Call::new(
            "get_signals",
            serde_json::json!({"signal_spec": "sports fans"}),
        ))
        .await;
    assert!(!reply.is_error, "{}", reply.body);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let posted = loop {
        let posted = egress.posted.lock().map(|p| p.clone()).unwrap_or_default();
        if posted.len() >= 3 || tokio::time::Instant::now() > deadline {
            break posted;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    // Two webhooks, the first post refused with 503 and retried: three posts.
    assert_eq!(posted.len(), 3, "{posted:?}");
    let signed: Vec<_> = posted.iter().filter(|p| p.url == url).collect();
    assert!(!signed.is_empty());
    for p in &signed {
        let header = |n: &str| p.headers.iter().any(|(k, _)| k == n);
        assert!(header("signature") && header("signature-input") && header("content-digest"));
        let body: serde_json::Value = serde_json::from_str(&p.body).expect("json");
        assert!(body["idempotency_key"].is_string());
    }
    let bearer = posted
        .iter()
        .find(|p| p.url.ends_with("-bearer"))
        .expect("the bearer one");
    assert!(
        bearer
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v.starts_with("Bearer "))
    );
}

/// Two servers on one SQLite database, with no relay between them: the change poller brings
/// each of one's status changes to the other's subscribers once and in order, and a server's
/// own changes are not delivered to it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_no_relay_carried_is_polled_from_the_store_once() {
    let dir = temp_dir("polled-changes");
    let a = Server::with_stores(
        Signals,
        Config::default(),
        Stores::sqlite(&dir).await.expect("opens"),
    );
    let b = Server::with_stores(
        Signals,
        Config::default(),
        Stores::sqlite(&dir).await.expect("opens"),
    );
    a.start();
    b.start();
    let (mut on_a, mut on_b) = (a.events().subscribe(), b.events().subscribe());
    let scope = format!("acct:{}", uuid::Uuid::new_v4().simple());
    moved_buy(&a, &scope, 5).await;
    let heard = |rx: &mut tokio::sync::broadcast::Receiver<adcp_runtime::Event>| {
        let mut seqs = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if e.scope == scope && e.resource == "media_buys" {
                seqs.push((e.data["seq"].as_i64().unwrap_or_default(), e.status.clone()));
            }
        }
        seqs
    };
    let expected: Vec<(i64, String)> = (0..5).map(|i| (i + 1, format!("s{i}"))).collect();
    // The poller looks 2 s after a change; give it time, then some more for a duplicate.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut on_b_seen = Vec::new();
    while on_b_seen.len() < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        on_b_seen.extend(heard(&mut on_b));
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    on_b_seen.extend(heard(&mut on_b));
    assert_eq!(
        on_b_seen, expected,
        "once each, in order, on the other server"
    );
    assert_eq!(heard(&mut on_a), expected, "once each on the writer");
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}
