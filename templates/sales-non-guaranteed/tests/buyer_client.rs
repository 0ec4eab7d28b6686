//! The reference seller as the official buyer client (`@adcp/sdk` 6.11.0) uses it: a
//! handed-off `create_media_buy` followed with `submitted.track()` and `waitForCompletion()`
//! (which poll the task as `tasks/get`) over MCP and over A2A; and the A2A tasks of a
//! handed-off call read natively (`tasks/get`) by the AdCP task id and by the call's own id.

use std::path::Path;
use std::time::Duration;

use adcp_conformance::harness::{
    Process, a2a, a2a_send, a2a_task_until, buyer_client_track, temp_dir,
};
use serde_json::{Value, json};

const SELLER: &str = env!("CARGO_BIN_EXE_reference-seller");

/// A buy above the seller's auto-approval limit: reviewed as a durable job (2 s).
fn reviewed_buy() -> Value {
    json!({
        "idempotency_key": format!("client-{}", uuid::Uuid::new_v4()),
        "account": {"brand": {"domain": "acme.example"}, "operator": "acme.example", "sandbox": true},
        "brand": {"domain": "acme.example"},
        "start_time": "2026-06-01T00:00:00Z",
        "end_time": "2026-07-01T00:00:00Z",
        "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": 2_000_000.0}]
    })
}

fn seller() -> Process {
    let dir = temp_dir("buyer-client");
    let data = dir.to_string_lossy().into_owned();
    Process::spawn(Path::new(SELLER), &["--data-dir", data.as_str()])
}

fn assert_tracked_to_completion(seen: &Value) {
    assert_eq!(seen["status"], "submitted", "{seen}");
    let task_id = seen["task_id"].as_str().expect("the seller's task id");
    assert!(task_id.starts_with("task_"), "{seen}");
    assert_eq!(seen["final"]["status"], "completed", "{seen}");
    assert_eq!(seen["final"]["taskId"], task_id, "{seen}");
    assert_eq!(seen["final"]["taskType"], "create_media_buy", "{seen}");
    let tracked: Vec<&str> = seen["tracked"]
        .as_array()
        .expect("polls")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tracked.last(), Some(&"completed"), "{seen}");
    assert!(
        tracked[..tracked.len() - 1]
            .iter()
            .all(|s| *s == "submitted" || *s == "working"),
        "{seen}"
    );
    assert_eq!(seen["completion"]["status"], "completed", "{seen}");
    assert_eq!(seen["completion"]["success"], true, "{seen}");
    let booked = seen["completion"]["data"]["media_buy_id"]
        .as_str()
        .unwrap_or_default();
    assert!(booked.starts_with("mb_"), "{seen}");
    assert_eq!(seen["final"]["result"]["media_buy_id"], booked, "{seen}");
}

#[test]
fn the_official_client_tracks_a_handed_off_buy_to_completion_over_mcp() {
    let seller = seller();
    let seen = buyer_client_track(&seller.mcp, "mcp", &reviewed_buy());
    assert_tracked_to_completion(&seen);
}

#[test]
fn the_official_client_tracks_a_handed_off_buy_to_completion_over_a2a() {
    let seller = seller();
    let base = seller.mcp.trim_end_matches("/mcp").to_owned();
    let seen = buyer_client_track(&base, "a2a", &reviewed_buy());
    assert_tracked_to_completion(&seen);
}

#[tokio::test]
async fn a2a_tasks_of_a_handed_off_call_follow_the_work_to_its_end() {
    let seller = seller();
    let base = seller.mcp.trim_end_matches("/mcp").to_owned();
    let sent = a2a_send(&base, "create_media_buy", &reviewed_buy(), "ctx-follow").await;
    let call = &sent["result"];
    assert_eq!(call["status"]["state"], "completed", "{sent}");
    let submitted = &call["artifacts"][0];
    assert_eq!(submitted["name"], "submitted", "{sent}");
    let task_id = submitted["parts"][0]["data"]["task_id"]
        .as_str()
        .expect("the AdCP task id")
        .to_owned();
    let call_id = call["id"].as_str().expect("the call's task id").to_owned();
    assert_ne!(
        call_id, task_id,
        "the transport task and the AdCP task are told apart"
    );

    // The AdCP task by its id (the `Task.id` of its push notifications): not final yet.
    let work = a2a(&base, "tasks/get", json!({"id": task_id})).await;
    assert_eq!(work["result"]["id"], task_id.as_str(), "{work}");
    assert_eq!(work["result"]["contextId"], "ctx-follow", "{work}");
    assert_eq!(work["result"]["status"]["state"], "submitted", "{work}");

    // Its review runs and cannot be stopped: a cancel is refused rather than half-done.
    let cancel = a2a(&base, "tasks/cancel", json!({"id": task_id})).await;
    assert_eq!(cancel["error"]["code"], -32002, "{cancel}");

    // Polled as an AdCP task over message/send (as the official client does), the poll's own
    // task is a plain answer, not another hand-off.
    let poll = a2a_send(
        &base,
        "tasks/get",
        &json!({"task_id": task_id}),
        "ctx-follow",
    )
    .await;
    let poll_id = poll["result"]["id"].as_str().unwrap_or_default();
    assert!(!poll_id.starts_with("call_"), "{poll}");
    assert_eq!(poll["result"]["artifacts"][0]["name"], "result", "{poll}");
    assert_eq!(
        poll["result"]["artifacts"][0]["parts"][0]["data"]["task_id"],
        task_id.as_str()
    );

    // Once the review is done, it is completed with the result artifact ...
    let done = a2a_task_until(&base, &task_id, "completed", Duration::from_secs(20)).await;
    let result = &done["result"]["artifacts"][0];
    assert_eq!(result["name"], "result", "{done}");
    let booked = result["parts"][0]["data"]["media_buy_id"]
        .as_str()
        .expect("the booked buy");
    assert!(booked.starts_with("mb_"), "{done}");

    // ... and the call's own task, completed from the start, carries it next to `submitted`.
    let own = a2a(&base, "tasks/get", json!({"id": call_id})).await;
    assert_eq!(own["result"]["status"]["state"], "completed", "{own}");
    let names: Vec<&str> = own["result"]["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["submitted", "result"], "{own}");
    assert_eq!(
        own["result"]["artifacts"][1]["parts"][0]["data"]["media_buy_id"],
        booked
    );

    // A finished task cannot be canceled; an unknown one is not found.
    let cancel = a2a(&base, "tasks/cancel", json!({"id": task_id})).await;
    assert_eq!(cancel["error"]["code"], -32002, "{cancel}");
    let unknown = a2a(&base, "tasks/get", json!({"id": "task_nope"})).await;
    assert_eq!(unknown["error"]["code"], -32001, "{unknown}");
}
