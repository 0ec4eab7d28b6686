//! The desk (the template's proposal manager) against the official mock ad server, started by
//! the test: a brief planned from the upstream's products and forecasts, refined, finalized and
//! accepted, with the recipes' overlap enforced and never shown to the buyer.

use adcp_conformance::harness::runner;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use adcp_runtime::test_util::{McpClient, TestServer};
use sales_proposal_mode::{Desk, agent, config};

fn account() -> Value {
    json!({"brand": {"domain": "acmeoutdoor.com"}, "operator": "pinnacle-agency.com"})
}

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("desk-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brief_refine_finalize_accept_against_the_mock_ad_server() {
    let upstream = runner()
        .mock_server("sales-non-guaranteed")
        .expect("the mock upstream starts");
    let client = upstream.upstream();
    let server = TestServer::spawn(move || async move {
        Ok(agent(config(false), Stores::memory(), Desk::new(client)))
    })
    .expect("serves");
    let mcp = McpClient::new(server.mcp_url());
    // The account's networks are found by its domains: acmeoutdoor.com and pinnacle-agency.com
    // are not the mock's; the .example ones are.
    let acct = json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example", "sandbox": false});
    let (_, none) = mcp
        .call(
            "get_products",
            json!({"buying_mode": "brief", "brief": "video", "account": account()}),
        )
        .await;
    assert_eq!(none["products"], json!([]), "{none}");

    let brief = json!({"buying_mode": "brief", "account": acct,
        "brief": "Outdoor video and display, $40K budget"});
    let (err, resp) = mcp.call("get_products", brief).await;
    assert!(!err, "{resp}");
    let products = resp["products"].as_array().expect("products");
    assert!(products.len() >= 2, "{resp}");
    assert!(
        products
            .iter()
            .all(|p| p.get("implementation_config").is_none()),
        "recipes are never on the wire: {resp}"
    );
    let proposal = &resp["proposals"][0];
    let id = proposal["proposal_id"]
        .as_str()
        .expect("a proposal")
        .to_owned();
    assert_eq!(proposal["proposal_status"], "draft");
    assert_eq!(proposal["total_budget_guidance"]["recommended"], 40000.0);
    let sum: f64 = proposal["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .map(|a| a["allocation_percentage"].as_f64().unwrap_or_default())
        .sum();
    assert!((sum - 100.0).abs() < 1e-9, "{proposal}");
    assert!(
        proposal["allocations"][0]["forecast"]["points"].is_array(),
        "{proposal}"
    );

    // Refine: the draft is re-planned under its id; an unknown product is `unable`.
    let refine = json!({"buying_mode": "refine", "account": acct, "refine": [
        {"scope": "proposal", "proposal_id": id, "ask": "more video"},
        {"scope": "product", "product_id": "nope", "action": "omit"}]});
    let (err, resp) = mcp.call("get_products", refine).await;
    assert!(!err, "{resp}");
    assert_eq!(resp["proposals"][0]["proposal_id"], id.as_str(), "{resp}");
    assert_eq!(resp["refinement_applied"][0]["status"], "applied", "{resp}");
    assert_eq!(resp["refinement_applied"][1]["status"], "unable", "{resp}");

    // Finalize: committed with a hold; a second finalize changes nothing.
    let finalize = json!({"buying_mode": "refine", "account": acct, "refine": [
        {"scope": "proposal", "proposal_id": id, "action": "finalize"}]});
    let (err, resp) = mcp.call("get_products", finalize.clone()).await;
    assert!(!err, "{resp}");
    let committed = &resp["proposals"][0];
    assert_eq!(committed["proposal_status"], "committed", "{resp}");
    assert!(committed["expires_at"].is_string(), "{resp}");
    assert!(
        committed["allocations"][0]["rationale"]
            .as_str()
            .is_some_and(|r| r.starts_with("firm"))
    );
    let (_, again) = mcp.call("get_products", finalize).await;
    assert_eq!(
        again["refinement_applied"][0]["status"], "unable",
        "{again}"
    );

    // Accepted: packages derived from the allocations and the total budget, booked once.
    let create = |key: String| {
        json!({"account": acct, "brand": {"domain": "acmeoutdoor.example"}, "idempotency_key": key,
               "proposal_id": id, "total_budget": {"amount": 40000, "currency": "USD"},
               "start_time": "2027-04-01T00:00:00Z", "end_time": "2027-06-30T23:59:59Z"})
    };
    let (err, buy) = mcp.call("create_media_buy", create(key())).await;
    assert!(!err, "{buy}");
    let budgets: f64 = buy["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["budget"].as_f64().unwrap_or_default())
        .sum();
    assert!((budgets - 40000.0).abs() < 0.01, "{buy}");
    let (err, twice) = mcp.call("create_media_buy", create(key())).await;
    assert!(err, "{twice}");
    assert_eq!(twice["adcp_error"]["code"], "CONFLICT", "{twice}");

    // A package outside its product's recipe: refused before the platform, naming the field.
    let product = products[0]["product_id"].as_str().expect("an id");
    let manual = json!({"account": acct, "brand": {"domain": "acmeoutdoor.example"},
        "idempotency_key": key(), "start_time": "2027-04-01T00:00:00Z", "end_time": "2027-06-30T23:59:59Z",
        "packages": [{"product_id": product, "pricing_option_id": "cpm", "budget": 5000, "bid_price": 20,
                      "targeting_overlay": {"audience_include": ["seg_1"]}}]});
    let (err, refused) = mcp.call("create_media_buy", manual).await;
    assert!(err, "{refused}");
    assert_eq!(
        refused["adcp_error"]["code"], "INVALID_REQUEST",
        "{refused}"
    );
    assert_eq!(
        refused["adcp_error"]["field"],
        "packages[0].targeting_overlay.audience_include"
    );

    // The upstream was asked: products listed per network, networks looked up once each.
    let traffic: Value = upstream
        .upstream()
        .get("/_debug/traffic")
        .send()
        .await
        .expect("traffic");
    assert!(
        traffic["traffic"]["GET /v1/products"].as_u64() > Some(2),
        "{traffic}"
    );
    assert_eq!(traffic["traffic"]["GET /_lookup/network"], 4, "{traffic}");
}
