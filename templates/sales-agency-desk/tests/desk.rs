//! A client's plan on the desk, over MCP: a buy within it is booked and commits against it, the
//! next beyond what is left is denied with the plan's findings before anything is booked, and
//! another buyer's buys for the same brand are not governed by a plan it never synced.

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use sales_agency_desk::{agent, config};

fn key(what: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("{what}-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn account() -> Value {
    json!({"brand": {"domain": "acme.example"}, "operator": "agency.example", "sandbox": false})
}

fn buy(budget: f64) -> Value {
    json!({"idempotency_key": key("buy"), "account": account(), "brand": {"domain": "acme.example"},
           "start_time": "2031-02-01T00:00:00Z", "end_time": "2031-02-28T00:00:00Z",
           "packages": [{"product_id": "outdoor_display_ron", "pricing_option_id": "cpm_auction",
                         "budget": budget, "bid_price": 6.0}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buys_are_checked_against_the_plan_the_client_synced_here() {
    let (_server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));

    let (err, synced) = alice
        .call(
            "sync_plans",
            json!({"idempotency_key": key("plan"), "plans": [{
                "plan_id": "acme_q1", "brand": {"domain": "acme.example"}, "objectives": "Q1",
                "budget": {"total": 10000, "currency": "USD", "reallocation_threshold": 2000},
                "flight": {"start": "2031-01-01T00:00:00Z", "end": "2031-03-31T23:59:59Z"}}]}),
        )
        .await;
    assert!(!err, "{synced}");

    // Within the plan: booked, with the approval's context.
    let (err, booked) = alice.call("create_media_buy", buy(8000.0)).await;
    assert!(!err, "{booked}");
    assert!(booked["media_buy_id"].is_string(), "{booked}");
    assert!(booked["governance_context"].is_string(), "{booked}");

    // The plan has 2,000 left: denied before anything is booked, with the findings.
    let (_, before) = alice
        .call("get_media_buys", json!({"account": account()}))
        .await;
    let (err, denied) = alice.call("create_media_buy", buy(5000.0)).await;
    assert!(err, "{denied}");
    assert_eq!(denied["errors"][0]["code"], "GOVERNANCE_DENIED", "{denied}");
    assert_eq!(
        denied["errors"][0]["details"]["findings"][0]["category_id"], "budget_authority",
        "{denied}"
    );
    let (_, after) = alice
        .call("get_media_buys", json!({"account": account()}))
        .await;
    assert_eq!(after["media_buys"], before["media_buys"], "nothing booked");

    // The plan's audit log counts the booked buy.
    let (_, log) = alice
        .call("get_plan_audit_logs", json!({"plan_ids": ["acme_q1"]}))
        .await;
    let p = &log["plans"][0];
    assert_eq!(p["budget"]["committed"], 8000.0, "{log}");
    assert_eq!(
        p["governed_actions"][0]["seller_reference"], booked["media_buy_id"],
        "{log}"
    );

    // A plan the desk does not keep for the caller: not found, not booked unchecked.
    let mut named = buy(1000.0);
    named["plan_id"] = json!("no_such_plan");
    let (err, resp) = alice.call("create_media_buy", named).await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "PLAN_NOT_FOUND", "{resp}");

    // Bob synced no plan for the brand: his buys are his own.
    let (err, his) = bob.call("create_media_buy", buy(9000.0)).await;
    assert!(!err, "{his}");
    assert!(his.get("governance_context").is_none(), "{his}");
}
