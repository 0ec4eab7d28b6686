//! The reference seller as separate processes: killed with SIGKILL in the middle of a review
//! on SQLite and restarted; and two replicas sharing one PostgreSQL.

use std::path::Path;
use std::time::{Duration, Instant};

use adcp_conformance::harness::{Process, Receiver, mcp, postgres_url, temp_dir};
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
