//! A buyer's plan under the spend authority, over MCP against the binary on its embedded
//! store: approval on the plan's conditions, escalation above the reallocation threshold, a
//! flight outside the plan and a budget beyond what is left denied, outcomes committed only
//! under an approval this agent granted, delivery drift found, another caller shown nothing,
//! and the audit log complete after a restart.

use std::path::Path;

use adcp_conformance::harness::{Process, temp_dir};
use adcp_runtime::serde_json::{Value, json};
use adcp_runtime::signing::governance;
use adcp_runtime::test_util::McpClient;

const BIN: &str = env!("CARGO_BIN_EXE_governance");
const ALICE: &str = "alice-key-0123456789abcdef";
const BOB: &str = "bob-key-0123456789abcdef01";

fn key(what: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("{what}-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn check(amount: f64, start: &str) -> Value {
    json!({"plan_id": "acme_2031", "caller": "https://seller.example", "tool": "create_media_buy",
           "payload": {"account": {"brand": {"domain": "acme.example"}, "operator": "agency.example"},
                       "start_time": start, "end_time": "2031-03-31T00:00:00Z",
                       "packages": [{"product_id": "ctv", "budget": amount * 0.6}, {"product_id": "olv", "budget": amount * 0.4}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_decided_on_committed_against_and_audited_after_a_restart() {
    let data = temp_dir("governance");
    let data = data.to_string_lossy().into_owned();
    let alice_key = format!("alice={ALICE}");
    let bob_key = format!("bob={BOB}");
    let args = [
        "--data-dir",
        data.as_str(),
        "--api-key",
        alice_key.as_str(),
        "--api-key",
        bob_key.as_str(),
    ];
    let agent = Process::spawn(Path::new(BIN), &args);
    let alice = McpClient::new(agent.mcp.clone()).bearer(ALICE);
    let bob = McpClient::new(agent.mcp.clone()).bearer(BOB);

    let plan = json!({"idempotency_key": key("plans"), "plans": [{
        "plan_id": "acme_2031", "brand": {"domain": "acme.example"}, "objectives": "Spring launch",
        "budget": {"total": 100000, "currency": "USD", "reallocation_threshold": 20000},
        "flight": {"start": "2031-01-01T00:00:00Z", "end": "2031-06-30T23:59:59Z"},
        "custom_policies": [
            {"policy_id": "ctv_reporting", "enforcement": "must", "policy": "CTV buys report weekly."},
            {"policy_id": "ugc_review", "enforcement": "should", "policy": "UGC placements are reviewed."}]}]});
    let (err, synced) = alice.call("sync_plans", plan.clone()).await;
    assert!(!err, "{synced}");
    assert_eq!(synced["plans"][0]["version"], 1, "{synced}");

    // Within the plan: approved on its must policy, warned of its should one.
    let (err, ok) = alice
        .call("check_governance", check(25000.0, "2031-02-01T00:00:00Z"))
        .await;
    assert!(!err, "{ok}");
    assert_eq!(ok["status"], "conditions", "{ok}");
    assert_eq!(
        ok["conditions"][0]["field"], "policies.ctv_reporting",
        "{ok}"
    );
    assert_eq!(ok["findings"][0]["policy_id"], "ugc_review", "{ok}");
    assert!(ok["expires_at"].is_string(), "{ok}");
    let approval = ok["governance_context"]
        .as_str()
        .expect("a context")
        .to_owned();

    // The context attests the approval: a JWS the seller verifies offline against the key
    // the agent publishes, naming the plan, the seller it is for and the check.
    let jwks: Value = adcp_runtime::test_util::http_client()
        .get(agent.mcp.replace("/mcp", "/.well-known/jwks.json"))
        .send()
        .await
        .expect("the JWKS")
        .bytes()
        .await
        .ok()
        .and_then(|b| adcp_runtime::serde_json::from_slice(&b).ok())
        .expect("a JWKS");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let claims = governance::verify(&approval, &jwks, now).expect("a verified attestation");
    assert_eq!(
        (
            &claims["sub"],
            &claims["aud"],
            &claims["check_id"],
            &claims["phase"]
        ),
        (
            &json!("acme_2031"),
            &json!("https://seller.example"),
            &ok["check_id"],
            &json!("purchase")
        ),
        "{claims:?}"
    );
    assert_eq!(
        claims["plan_hash"].as_str().map(str::len),
        Some(43),
        "{claims:?}"
    );

    // Moving more than the reallocation threshold on the approved buy: escalated to a person
    // (the context names the escalation), nothing granted.
    let mut moved = check(50000.0, "2031-02-01T00:00:00Z");
    moved["phase"] = json!("modification");
    moved["governance_context"] = json!(approval);
    let (_, big) = alice.call("check_governance", moved).await;
    assert_eq!(big["status"], "denied", "{big}");
    assert!(
        big["governance_context"]
            .as_str()
            .is_some_and(|c| c.starts_with("esc_")),
        "the escalation, not an approval: {big}"
    );
    let cats: Vec<&str> = big["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["category_id"].as_str())
        .collect();
    assert!(cats.contains(&"human_review"), "{big}");
    // Outside the flight.
    let (_, early) = alice
        .call("check_governance", check(1000.0, "2030-12-01T00:00:00Z"))
        .await;
    assert_eq!(early["status"], "denied", "{early}");
    assert_eq!(early["findings"][0]["category_id"], "flight", "{early}");

    // The seller reports what it committed under the approval; an outcome under a context
    // this agent never issued commits nothing.
    let outcome = |ctx: &str| {
        json!({"idempotency_key": key("outcome"), "plan_id": "acme_2031", "governance_context": ctx,
               "outcome": "completed", "seller_response": {"seller_reference": "mb_1", "committed_budget": 25000}})
    };
    let (err, done) = alice.call("report_plan_outcome", outcome(&approval)).await;
    assert!(!err, "{done}");
    assert_eq!(
        (done["status"].clone(), done["committed_budget"].clone()),
        (json!("accepted"), json!(25000.0)),
        "{done}"
    );
    let (_, forged) = alice
        .call("report_plan_outcome", outcome("gov_made_up"))
        .await;
    assert_eq!(
        (forged["status"].clone(), forged["committed_budget"].clone()),
        (json!("findings"), json!(25000.0)),
        "{forged}"
    );

    // Reported again, the action commits its new amount in place of the old one.
    let mut again = outcome(&approval);
    again["seller_response"]["committed_budget"] = json!(25000);
    let (_, same) = alice.call("report_plan_outcome", again).await;
    assert_eq!(same["committed_budget"], 25000.0, "{same}");

    // A seller's check carries what it plans to deliver, not the buyer's payload.
    let (err, planned) = alice
        .call(
            "check_governance",
            json!({"plan_id": "acme_2031", "caller": "https://seller.example", "tool": "create_media_buy",
                   "planned_delivery": {"start_time": "2031-02-01T00:00:00Z", "end_time": "2031-02-28T00:00:00Z", "total_budget": 90000}}),
        )
        .await;
    assert!(!err, "{planned}");
    assert_eq!(planned["status"], "denied", "{planned}");
    assert_eq!(
        planned["findings"][0]["category_id"], "budget_authority",
        "{planned}"
    );

    // What is left: 75,000.
    let (_, over) = alice
        .call("check_governance", check(80000.0, "2031-02-01T00:00:00Z"))
        .await;
    assert_eq!(over["status"], "denied", "{over}");
    assert_eq!(
        over["findings"][0]["category_id"], "budget_authority",
        "{over}"
    );

    // Delivery drifting: pacing ahead, one channel taking most of it.
    let (_, drift) = alice
        .call(
            "check_governance",
            json!({"plan_id": "acme_2031", "caller": "https://seller.example", "phase": "delivery",
                   "delivery_metrics": {"reporting_period": {"start": "2031-02-01T00:00:00Z", "end": "2031-02-15T00:00:00Z"},
                                        "spend": 20000, "cumulative_spend": 20000, "pacing": "ahead",
                                        "channel_distribution": {"ctv": 70, "olv": 30}}}),
        )
        .await;
    let cats: Vec<&str> = drift["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["category_id"].as_str())
        .collect();
    assert!(
        cats.contains(&"pacing") && cats.contains(&"channel_concentration"),
        "{drift}"
    );
    // Drift brings the next check forward: the monitor re-evaluates sooner than daily.
    let next = drift["next_check"].as_str().expect("next_check");
    let soon =
        adcp_runtime::time::parse("next_check", next).expect("a time") - adcp_runtime::time::now();
    assert!(soon <= adcp_runtime::time::Duration::hours(6), "{drift}");

    // On the approved action (25,000 over February and March), spending all of it by 5
    // February is far ahead of an even pace: past the plan's threshold.
    let (_, ahead) = alice
        .call(
            "check_governance",
            json!({"plan_id": "acme_2031", "caller": "https://seller.example", "phase": "delivery",
                   "governance_context": approval,
                   "delivery_metrics": {"reporting_period": {"start": "2031-02-01T00:00:00Z", "end": "2031-02-05T00:00:00Z"},
                                        "spend": 25000, "cumulative_spend": 25000}}),
        )
        .await;
    let drift_finding = ahead["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["category_id"] == "budget_drift")
        .unwrap_or_else(|| panic!("budget drift: {ahead}"));
    assert!(
        drift_finding["details"]["drift"]
            .as_f64()
            .is_some_and(|d| d > 20000.0),
        "{ahead}"
    );
    assert_eq!(
        ahead["governance_context"],
        json!(approval),
        "the action's context: {ahead}"
    );

    // Another caller: no such plan, whether to check against or to audit.
    let (err, theirs) = bob
        .call("check_governance", check(1.0, "2031-02-01T00:00:00Z"))
        .await;
    assert!(err, "{theirs}");
    assert_eq!(theirs["errors"][0]["code"], "PLAN_NOT_FOUND", "{theirs}");
    let (err, theirs) = bob
        .call("get_plan_audit_logs", json!({"plan_ids": ["acme_2031"]}))
        .await;
    assert!(err, "{theirs}");

    // The controller, asked to force a creative of an agent that keeps none: no such creative.
    let (err, forced) = alice
        .call(
            "comply_test_controller",
            json!({"scenario": "force_creative_status", "params": {"creative_id": "nope", "status": "approved"}}),
        )
        .await;
    assert!(err, "{forced}");
    assert_eq!(forced["error"], "NOT_FOUND", "{forced}");

    // A restart: the audit log is all there.
    drop(agent);
    let agent = Process::spawn(Path::new(BIN), &args);
    let alice = McpClient::new(agent.mcp.clone()).bearer(ALICE);
    let (err, log) = alice
        .call(
            "get_plan_audit_logs",
            json!({"plan_ids": ["acme_2031"], "include_entries": true}),
        )
        .await;
    assert!(!err, "{log}");
    let p = &log["plans"][0];
    assert_eq!(p["summary"]["checks_performed"], 7, "{log}");
    assert_eq!(p["summary"]["outcomes_reported"], 3, "{log}");
    assert_eq!(p["summary"]["statuses"]["denied"], 4, "{log}");
    assert_eq!(
        (
            p["budget"]["committed"].clone(),
            p["budget"]["remaining"].clone()
        ),
        (json!(25000.0), json!(75000.0)),
        "{log}"
    );
    assert_eq!(
        p["governed_actions"][0]["seller_reference"], "mb_1",
        "{log}"
    );
    assert_eq!(p["entries"].as_array().map(Vec::len), Some(10), "{log}");
    assert_eq!(
        p["governed_actions"].as_array().map(Vec::len),
        Some(1),
        "reported twice, one action: {log}"
    );
    let kinds: Vec<&str> = p["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["check_type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"execution") && kinds.contains(&"intent"),
        "{log}"
    );

    // The same plan again is the same version; a changed one is the next.
    let mut same = plan.clone();
    same["idempotency_key"] = json!(key("plans"));
    let (_, again) = alice.call("sync_plans", same).await;
    assert_eq!(again["plans"][0]["version"], 1, "{again}");
    let mut changed = plan;
    changed["idempotency_key"] = json!(key("plans"));
    changed["plans"][0]["budget"]["total"] = json!(120000);
    let (_, next) = alice.call("sync_plans", changed).await;
    assert_eq!(next["plans"][0]["version"], 2, "{next}");
}

/// `governance --data-dir <dir> review <args>`: a reviewer's command against the agent's store.
fn review(data: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(["--data-dir", data, "review"])
        .args(args)
        .output()
        .expect("the review command runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_waits_for_a_person_who_decides_it_durably() {
    let data = temp_dir("governance-review");
    let data = data.to_string_lossy().into_owned();
    let (alice_key, bob_key) = (format!("alice={ALICE}"), format!("bob={BOB}"));
    let args = [
        "--data-dir",
        data.as_str(),
        "--api-key",
        alice_key.as_str(),
        "--api-key",
        bob_key.as_str(),
    ];
    let agent = Process::spawn(Path::new(BIN), &args);
    let alice = McpClient::new(agent.mcp.clone()).bearer(ALICE);
    let bob = McpClient::new(agent.mcp.clone()).bearer(BOB);
    let plan = json!({"idempotency_key": key("plans"), "plans": [{
        "plan_id": "acme_2031", "brand": {"domain": "acme.example"}, "objectives": "Launch",
        "budget": {"total": 100000, "currency": "USD", "reallocation_threshold": 100000},
        "human_review_required": true,
        "flight": {"start": "2031-01-01T00:00:00Z", "end": "2031-06-30T23:59:59Z"}}]});
    let (err, synced) = alice.call("sync_plans", plan).await;
    assert!(!err, "{synced}");

    // Escalated: denied, with the escalation to re-check with.
    let (_, first) = alice
        .call("check_governance", check(30000.0, "2031-02-01T00:00:00Z"))
        .await;
    assert_eq!(first["status"], "denied", "{first}");
    let esc = first["governance_context"]
        .as_str()
        .expect("the escalation")
        .to_owned();
    assert!(esc.starts_with("esc_"), "{first}");
    assert!(review(&data, &["list"]).contains(&esc));

    // Re-checked before anyone decided: still waiting, same escalation.
    let mut again = check(30000.0, "2031-02-01T00:00:00Z");
    again["governance_context"] = json!(esc);
    let (_, waiting) = alice.call("check_governance", again.clone()).await;
    assert_eq!(
        (
            waiting["status"].clone(),
            waiting["governance_context"].clone()
        ),
        (json!("denied"), json!(esc)),
        "{waiting}"
    );
    // Another caller naming it gets nothing of it: a fresh escalation of its own, were the
    // plan its own (it is not).
    let (err, theirs) = bob.call("check_governance", again.clone()).await;
    assert!(
        err && theirs["errors"][0]["code"] == "PLAN_NOT_FOUND",
        "{theirs}"
    );

    // A reviewer approves while the agent runs; the agent restarts; the re-check is approved
    // on the reviewer's condition, with an attested context.
    let approved = review(
        &data,
        &[
            "approve",
            &esc,
            "--reviewer",
            "dana@agency.example",
            "--condition",
            "reporting.frequency=weekly",
        ],
    );
    assert!(approved.contains("approved"), "{approved}");
    assert!(
        !review(&data, &["list"]).contains(&esc),
        "decided: off the queue"
    );
    drop(agent);
    let agent = Process::spawn(Path::new(BIN), &args);
    let alice = McpClient::new(agent.mcp.clone()).bearer(ALICE);
    let (err, ok) = alice.call("check_governance", again.clone()).await;
    assert!(!err, "{ok}");
    assert_eq!(ok["status"], "conditions", "{ok}");
    assert_eq!(ok["conditions"][0]["field"], "reporting.frequency", "{ok}");
    assert!(
        ok["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("dana@agency.example")),
        "{ok}"
    );
    assert_eq!(
        ok["governance_context"]
            .as_str()
            .map(|c| c.split('.').count()),
        Some(3),
        "a JWS: {ok}"
    );
    // The approval covers what was reviewed, not more.
    let mut more = check(45000.0, "2031-02-01T00:00:00Z");
    more["governance_context"] = json!(esc);
    let (_, grown) = alice.call("check_governance", more).await;
    assert_eq!(grown["status"], "denied", "{grown}");
    let grown_esc = grown["governance_context"]
        .as_str()
        .expect("a new escalation");
    assert_ne!(grown_esc, esc, "{grown}");

    // Rejected: denied with the reviewer's reason.
    review(
        &data,
        &[
            "reject",
            grown_esc,
            "--reviewer",
            "dana@agency.example",
            "--reason",
            "Q1 is capped at 30k",
        ],
    );
    let mut retry = check(45000.0, "2031-02-01T00:00:00Z");
    retry["governance_context"] = json!(grown_esc);
    let (_, no) = alice.call("check_governance", retry).await;
    assert_eq!(no["status"], "denied", "{no}");
    assert!(no.to_string().contains("Q1 is capped at 30k"), "{no}");
    assert!(no.get("governance_context").is_none(), "{no}");

    // The audit log counts the check a person approved.
    let (_, log) = alice
        .call("get_plan_audit_logs", json!({"plan_ids": ["acme_2031"]}))
        .await;
    assert_eq!(
        log["plans"][0]["summary"]["statuses"]["human_reviewed"], 1,
        "{log}"
    );
}
