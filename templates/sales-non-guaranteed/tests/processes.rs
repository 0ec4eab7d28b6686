//! The reference seller as separate processes: killed with SIGKILL in the middle of a review
//! on SQLite and restarted; and two replicas sharing one PostgreSQL.

use std::path::Path;
use std::time::{Duration, Instant};

use adcp_conformance::harness::{
    McpClient, Process, Receiver, a2a, a2a_send, a2a_task_until, mcp, postgres_url, temp_dir,
};
use serde_json::{Value, json};

const SELLER: &str = env!("CARGO_BIN_EXE_reference-seller");

/// A buy above the seller's auto-approval limit: it is reviewed as a durable job (2 s).
const REVIEWED_BUDGET: f64 = 2_000_000.0;

fn create(key: &str, budget: f64, hook: Option<&str>) -> Value {
    let mut body = json!({
        "idempotency_key": key,
        "account": {"brand": {"domain": "acme.example"}, "operator": "acme.example", "sandbox": true},
        "brand": {"domain": "acme.example"},
        "start_time": "2026-06-01T00:00:00Z",
        "end_time": "2026-07-01T00:00:00Z",
        "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": budget}]
    });
    if let Some(url) = hook {
        body["push_notification_config"] = json!({"url": url});
    }
    body
}

fn key(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::new_v4())
}

/// Polls `tasks_get` on `url` until the task is final or `within` passes.
async fn final_task(url: &str, task_id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (is_error, task) = mcp(url, "tasks_get", &json!({"task_id": task_id})).await;
        let status = task["status"].as_str().unwrap_or_default().to_owned();
        if !is_error && ["completed", "failed", "canceled", "rejected"].contains(&status.as_str())
            || Instant::now() >= deadline
        {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn buy_exists(url: &str, media_buy_id: &str) -> bool {
    let (_, buys) = mcp(
        url,
        "get_media_buys",
        &json!({"account": create("", 0.0, None)["account"], "media_buy_ids": [media_buy_id]}),
    )
    .await;
    buys["media_buys"].as_array().is_some_and(|b| b.len() == 1)
}

#[tokio::test]
async fn a_review_killed_mid_flight_completes_after_restart() {
    let dir = temp_dir("crash");
    let data = dir.to_string_lossy().into_owned();
    let args = ["--data-dir", data.as_str(), "--allow-private-webhooks"];
    let receiver = Receiver::start(vec![]).await.expect("a receiver");

    let seller = Process::spawn(Path::new(SELLER), &args);
    // Acknowledged before the crash: a booked buy and a buy under review.
    let small_key = key("small");
    let (is_error, small) = mcp(
        &seller.mcp,
        "create_media_buy",
        &create(&small_key, 5000.0, None),
    )
    .await;
    assert!(!is_error, "{small}");
    let big_key = key("big");
    let big_request = create(&big_key, REVIEWED_BUDGET, Some(&receiver.url("/hook")));
    let (is_error, submitted) = mcp(&seller.mcp, "create_media_buy", &big_request).await;
    assert!(!is_error, "{submitted}");
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    let task_id = submitted["task_id"].as_str().expect("a task id").to_owned();

    // Mid-review (it takes 2 s): SIGKILL.
    tokio::time::sleep(Duration::from_millis(500)).await;
    seller.kill9();
    assert!(
        receiver.hits().is_empty(),
        "killed before the review finished"
    );

    let seller = Process::spawn(Path::new(SELLER), &args);
    // The dead process's lease (10 s) runs out, the restarted one adopts the job and reruns it.
    let task = final_task(&seller.mcp, &task_id, Duration::from_secs(45)).await;
    assert_eq!(task["status"], "completed", "{task}\n{}", seller.log());
    let booked = task["result"]["media_buy_id"]
        .as_str()
        .expect("the reviewed buy")
        .to_owned();
    assert!(
        buy_exists(&seller.mcp, &booked).await,
        "the reviewed buy is booked"
    );

    // Nothing acknowledged was lost.
    let small_id = small["media_buy_id"].as_str().unwrap();
    assert!(
        buy_exists(&seller.mcp, small_id).await,
        "the earlier buy survived"
    );
    let (_, replay) = mcp(
        &seller.mcp,
        "create_media_buy",
        &create(&small_key, 5000.0, None),
    )
    .await;
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["media_buy_id"], small_id);
    let (_, replay) = mcp(&seller.mcp, "create_media_buy", &big_request).await;
    assert_eq!(replay["replayed"], true, "the submitted answer replays");
    assert_eq!(replay["task_id"], task_id.as_str());

    // The buyer hears of the completion once.
    receiver
        .wait_delivered("/hook", 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits: Vec<_> = receiver
        .hits()
        .into_iter()
        .filter(|h| h.path == "/hook")
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].json()["task_id"], task_id.as_str());
    assert_eq!(hits[0].json()["status"], "completed");
    drop(seller);
    let _ = std::fs::remove_dir_all(dir);
}

/// Sixteen buyers booking as fast as the seller answers, on its SQLite store, until it is
/// killed with SIGKILL in the middle of their calls: every buy it acknowledged is there after a
/// restart, and its key replays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_create_survives_a_kill_under_load() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let dir = temp_dir("kill-load");
    let data = dir.to_string_lossy().into_owned();
    let args = ["--data-dir", data.as_str()];
    let seller = Process::spawn(Path::new(SELLER), &args);
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let buyers = (0..16)
        .map(|_| {
            let (client, acknowledged, stop) = (
                McpClient::new(seller.mcp.clone()),
                acknowledged.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let k = key("load");
                    let (is_error, body) = client
                        .call("create_media_buy", create(&k, 5000.0, None))
                        .await;
                    match body["media_buy_id"].as_str() {
                        Some(id) if !is_error => {
                            acknowledged.lock().unwrap().push((k, id.to_owned()));
                        }
                        // The seller is gone (no answer) or going: this call was not acknowledged.
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect::<Vec<_>>();
    // Load until a few hundred buys are acknowledged, then kill with calls in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seller.kill9();
    let at_kill = acknowledged.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for b in buyers {
        b.await.expect("a buyer ends");
    }
    // Answers read after the kill count too: the seller sent them before it died.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        at_kill >= 300,
        "only {at_kill} creates acknowledged in 60 s"
    );

    let seller = Process::spawn(Path::new(SELLER), &args);
    let account = create("", 0.0, None)["account"].clone();
    for chunk in acknowledged.chunks(50) {
        let ids: Vec<&str> = chunk.iter().map(|(_, id)| id.as_str()).collect();
        let (is_error, buys) = mcp(
            &seller.mcp,
            "get_media_buys",
            &json!({"account": account, "media_buy_ids": ids, "pagination": {"max_results": 100}}),
        )
        .await;
        assert!(!is_error, "{buys}");
        let found: Vec<&str> = buys["media_buys"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|b| b["media_buy_id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        for id in &ids {
            assert!(found.contains(id), "acknowledged buy {id} was lost");
        }
    }
    for (k, id) in acknowledged.iter().step_by(7) {
        let (is_error, replay) =
            mcp(&seller.mcp, "create_media_buy", &create(k, 5000.0, None)).await;
        assert!(!is_error, "{replay}");
        assert_eq!(
            replay["media_buy_id"],
            id.as_str(),
            "the key {k} replays its buy"
        );
        assert_eq!(replay["replayed"], true, "{replay}");
    }
    drop(seller);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn two_replicas_share_one_postgresql() {
    let Some(url) = postgres_url() else {
        return;
    };
    let args = ["--database-url", url.as_str(), "--allow-private-webhooks"];
    let a = Process::spawn(Path::new(SELLER), &args);
    let b = Process::spawn(Path::new(SELLER), &args);
    let receiver = Receiver::start(vec![]).await.expect("a receiver");

    // A task created on A is read on B, and completes there too.
    let k = key("replica");
    let request = create(&k, REVIEWED_BUDGET, Some(&receiver.url("/replica-hook")));
    let (is_error, submitted) = mcp(&a.mcp, "create_media_buy", &request).await;
    assert!(!is_error, "{submitted}");
    let task_id = submitted["task_id"].as_str().expect("a task id").to_owned();
    let (is_error, seen) = mcp(&b.mcp, "tasks_get", &json!({"task_id": task_id})).await;
    assert!(!is_error, "{seen}");
    assert_eq!(seen["task_id"], task_id.as_str());
    let done = final_task(&b.mcp, &task_id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done}");

    // A replay sent to B answers A's response.
    let (is_error, replay) = mcp(&b.mcp, "create_media_buy", &request).await;
    assert!(!is_error, "{replay}");
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["task_id"], task_id.as_str());

    // Both replicas run a dispatcher over the one outbox: the webhook arrives once.
    receiver
        .wait_delivered("/replica-hook", 1, Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hits: Vec<_> = receiver
        .hits()
        .into_iter()
        .filter(|h| h.path == "/replica-hook")
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");

    // An A2A call handed off on A: its tasks are read on B, and follow the work there.
    let base = |p: &Process| p.mcp.trim_end_matches("/mcp").to_owned();
    let sent = a2a_send(
        &base(&a),
        "create_media_buy",
        &create(&key("a2a"), REVIEWED_BUDGET, None),
        "ctx-replicas",
    )
    .await;
    let call_id = sent["result"]["id"]
        .as_str()
        .expect("a call task")
        .to_owned();
    let work_id = sent["result"]["artifacts"][0]["parts"][0]["data"]["task_id"]
        .as_str()
        .expect("an AdCP task")
        .to_owned();
    let work = a2a_task_until(&base(&b), &work_id, "completed", Duration::from_secs(30)).await;
    assert_eq!(work["result"]["status"]["state"], "completed", "{work}");
    assert_eq!(work["result"]["contextId"], "ctx-replicas", "{work}");
    let own = a2a(&base(&b), "tasks/get", json!({"id": call_id})).await;
    assert_eq!(own["result"]["artifacts"][1]["name"], "result", "{own}");

    // A synchronous buy on B is visible on A.
    let (_, booked) = mcp(
        &b.mcp,
        "create_media_buy",
        &create(&key("sync"), 5000.0, None),
    )
    .await;
    let id = booked["media_buy_id"].as_str().expect("booked");
    assert!(buy_exists(&a.mcp, id).await);
}

/// A proposal finalized, the seller killed with SIGKILL, then accepted on the restarted seller:
/// the committed proposal and its hold survived; once booked, it is booked once, across
/// another SIGKILL.
#[tokio::test]
async fn a_finalized_proposal_survives_sigkill_and_is_booked_once() {
    let dir = temp_dir("proposal-kill");
    let data = dir.to_string_lossy().into_owned();
    let args = ["--data-dir", data.as_str()];
    // A live (not sandbox) account: its ledger is its own.
    let account = json!({"brand": {"domain": "acme-outdoor.com"}, "operator": "acme-outdoor.com"});
    let seller = Process::spawn(Path::new(SELLER), &args);
    let brief = json!({"buying_mode": "brief", "brief": "video and display", "account": account});
    let (is_error, found) = mcp(&seller.mcp, "get_products", &brief).await;
    assert!(!is_error, "{found}");
    let id = found["proposals"][0]["proposal_id"]
        .as_str()
        .expect("a proposal")
        .to_owned();
    let finalize = json!({"buying_mode": "refine", "account": account,
        "refine": [{"scope": "proposal", "proposal_id": id, "action": "finalize"}]});
    let (is_error, committed) = mcp(&seller.mcp, "get_products", &finalize).await;
    assert!(!is_error, "{committed}");
    assert_eq!(
        committed["proposals"][0]["proposal_status"], "committed",
        "{committed}"
    );
    seller.kill9();

    let seller = Process::spawn(Path::new(SELLER), &args);
    let accept = |key: &str| {
        json!({"idempotency_key": key, "account": account, "brand": {"domain": "acme-outdoor.com"},
               "proposal_id": id, "total_budget": {"amount": 30000, "currency": "USD"},
               "start_time": "2031-06-01T00:00:00Z", "end_time": "2031-06-30T23:59:59Z"})
    };
    let first = key("accept");
    let (is_error, buy) = mcp(&seller.mcp, "create_media_buy", &accept(&first)).await;
    assert!(!is_error, "{buy}\n{}", seller.log());
    let media_buy_id = buy["media_buy_id"].as_str().expect("booked").to_owned();
    let budgets: f64 = buy["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["budget"].as_f64().unwrap_or_default())
        .sum();
    assert!((budgets - 30_000.0).abs() < 0.01, "{buy}");
    seller.kill9();

    let seller = Process::spawn(Path::new(SELLER), &args);
    let (_, replay) = mcp(&seller.mcp, "create_media_buy", &accept(&first)).await;
    assert_eq!(replay["media_buy_id"], media_buy_id.as_str(), "{replay}");
    let (is_error, again) = mcp(&seller.mcp, "create_media_buy", &accept(&key("again"))).await;
    assert!(is_error, "{again}");
    assert_eq!(again["adcp_error"]["code"], "CONFLICT", "{again}");
    let ask = json!({"account": account, "media_buy_ids": [media_buy_id]});
    let (_, buys) = mcp(&seller.mcp, "get_media_buys", &ask).await;
    assert_eq!(
        buys["media_buys"].as_array().map(Vec::len),
        Some(1),
        "{buys}"
    );
    drop(seller);
    let _ = std::fs::remove_dir_all(dir);
}

/// A delivery report made due by a state change (simulated delivery) and not yet delivered
/// when the seller is killed: delivered once after the restart, under the same idempotency
/// key; the buyer's subscription survives too (the next report is number 2).
#[tokio::test]
async fn a_delivery_report_killed_before_delivery_is_delivered_once_after_restart() {
    let dir = temp_dir("report-kill");
    let data = dir.to_string_lossy().into_owned();
    let args = ["--data-dir", data.as_str(), "--allow-private-webhooks"];
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    receiver.answer(503);
    let seller = Process::spawn(Path::new(SELLER), &args);
    let mut request = create(&key("reported"), 5000.0, None);
    request["start_time"] = json!("asap");
    request["end_time"] = json!("2099-01-01T00:00:00Z");
    request["reporting_webhook"] = json!({
        "url": receiver.url("/reports"),
        "authentication": {"schemes": ["Bearer"], "credentials": "a-bearer-token-of-32-characters!!"},
        "reporting_frequency": "daily"
    });
    let (is_error, buy) = mcp(&seller.mcp, "create_media_buy", &request).await;
    assert!(!is_error, "{buy}");
    let media_buy_id = buy["media_buy_id"].as_str().expect("a buy").to_owned();
    let simulate = json!({"account": request["account"], "scenario": "simulate_delivery",
        "params": {"media_buy_id": media_buy_id, "impressions": 1000}});
    let (is_error, simulated) = mcp(&seller.mcp, "comply_test_controller", &simulate).await;
    assert!(!is_error, "{simulated}");
    // The first attempt is refused (503); the seller dies before it retries.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.hits().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seller.kill9();
    let refused = receiver.hits();
    assert_eq!(refused.len(), 1, "one refused attempt before the kill");
    let key_of = |h: &adcp_conformance::harness::Hit| h.json()["idempotency_key"].clone();

    receiver.answer(200);
    let seller = Process::spawn(Path::new(SELLER), &args);
    // When the kill landed after the receiver took the attempt but before the seller recorded
    // it, the delivery is still claimed by the dead process: the restarted one may send it
    // only once that claim (30 s) has lapsed. Wait past it.
    receiver
        .wait_delivered("/reports", 1, Duration::from_secs(45))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hits: Vec<_> = receiver
        .hits()
        .into_iter()
        .filter(|h| h.status < 300)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "delivered once\n{:?}\n{}",
        receiver.hits(),
        seller.log()
    );
    let report = hits[0].json();
    assert_eq!(
        key_of(&hits[0]),
        key_of(&refused[0]),
        "the same notification"
    );
    assert_eq!(report["result"]["sequence_number"], 1);
    assert_eq!(
        hits[0].header("authorization"),
        Some("Bearer a-bearer-token-of-32-characters!!")
    );

    let (is_error, _) = mcp(&seller.mcp, "comply_test_controller", &simulate).await;
    assert!(!is_error);
    let hits = receiver
        .wait_delivered("/reports", 2, Duration::from_secs(10))
        .await;
    let last = hits.last().expect("a second report").json();
    assert_eq!(last["result"]["sequence_number"], 2, "{last}");
    drop(seller);
    let _ = std::fs::remove_dir_all(dir);
}
