//! Governance-aware selling end to end: the reference seller (claiming `governance_aware_seller`)
//! and a stand-in buyer-side governance agent (an MCP server with a spend-authority plan), over
//! MCP. The buyer registers the agent with `sync_governance`; a buy naming the plan is booked
//! only once the agent approves; a denial is `GOVERNANCE_DENIED` with the agent's findings and
//! books nothing; conditions are passed to the buyer; an update of a governed buy is checked
//! again with the buy's governance context; an agent that cannot be reached is
//! `GOVERNANCE_UNAVAILABLE` and books nothing; a caller cannot register agents on an account
//! that is not its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use adcp_conformance::harness::{Seller, Store};
use adcp_runtime::Auth;
use adcp_runtime::test_util::McpClient;
use serde_json::{Value, json};

const BUYER: &str = "governed-buyer-key-0123456789abcdef";
const OTHER: &str = "other-buyer-key-0123456789abcdef00";
const GOV_TOKEN: &str = "gov-token-0123456789abcdef0123456789abcdef";

/// A plan of the stand-in agent: its budget, and whether it approves with conditions.
struct Plan {
    budget: f64,
    committed: f64,
    conditions: bool,
}

#[derive(Default)]
struct Agent {
    plans: HashMap<String, Plan>,
    /// Each `check_governance` call: its `Authorization` header and arguments.
    calls: Vec<(String, Value)>,
    issued: u32,
}

/// The stand-in's answer to one `check_governance`.
fn decide(agent: &mut Agent, args: &Value) -> Value {
    let plan_id = args["plan_id"].as_str().unwrap_or_default().to_owned();
    let total = args
        .pointer("/planned_delivery/total_budget")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    agent.issued += 1;
    let context = format!("gc-{plan_id}-{}", agent.issued);
    let Some(plan) = agent.plans.get_mut(&plan_id) else {
        return json!({"adcp_error": {"code": "PLAN_NOT_FOUND", "message": "no such plan"}});
    };
    let modification = args["phase"] == "modification";
    let needed = if modification {
        total
    } else {
        plan.committed + total
    };
    if needed > plan.budget {
        return json!({
            "check_id": format!("chk-{}", agent.issued), "status": "denied", "plan_id": plan_id,
            "explanation": format!("{needed} exceeds the plan's budget of {}", plan.budget),
            "findings": [{"category_id": "budget_authority", "severity": "critical",
                          "explanation": "spending authority exceeded"}],
        });
    }
    if !modification {
        plan.committed += total;
    }
    let mut answer = json!({
        "check_id": format!("chk-{}", agent.issued), "plan_id": plan_id,
        "status": if plan.conditions { "conditions" } else { "approved" },
        "explanation": "within the plan", "governance_context": context,
    });
    if plan.conditions {
        answer["conditions"] = json!([{"field": "reporting_webhook.reporting_frequency",
                                       "required_value": "weekly",
                                       "reason": "CTV buys require weekly delivery reporting"}]);
    }
    answer
}

/// Serves the stand-in on a loopback port: its MCP URL and its state.
async fn governance_agent(plans: Vec<(&str, f64, bool)>) -> (String, Arc<Mutex<Agent>>) {
    stand_in(plans, false).await
}

/// The stand-in; with `sessions`, it answers only calls in an MCP session it opened on
/// `initialize` (400 otherwise), as session-keeping MCP servers do.
async fn stand_in(plans: Vec<(&str, f64, bool)>, sessions: bool) -> (String, Arc<Mutex<Agent>>) {
    let agent = Arc::new(Mutex::new(Agent {
        plans: plans
            .into_iter()
            .map(|(id, budget, conditions)| {
                let plan = Plan {
                    budget,
                    committed: 0.0,
                    conditions,
                };
                (id.to_owned(), plan)
            })
            .collect(),
        ..Agent::default()
    }));
    let state = agent.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(rpc): axum::Json<Value>| {
                let state = state.clone();
                async move {
                    use axum::response::IntoResponse;
                    const SESSION: &str = "session-of-the-stand-in";
                    if sessions && rpc["method"] == "initialize" {
                        let result = json!({"jsonrpc": "2.0", "id": rpc["id"], "result": {
                            "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                            "serverInfo": {"name": "stand-in", "version": "1"}}});
                        return ([("mcp-session-id", SESSION)], axum::Json(result)).into_response();
                    }
                    let in_session = headers
                        .get("mcp-session-id")
                        .is_some_and(|v| v.as_bytes() == SESSION.as_bytes());
                    if sessions && !in_session {
                        return (
                            axum::http::StatusCode::BAD_REQUEST,
                            "Bad Request: Server not initialized",
                        )
                            .into_response();
                    }
                    if rpc["method"] != "tools/call" {
                        return axum::http::StatusCode::ACCEPTED.into_response();
                    }
                    let args = rpc["params"]["arguments"].clone();
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut a = state.lock().unwrap_or_else(PoisonError::into_inner);
                    a.calls.push((auth, args.clone()));
                    let answer = decide(&mut a, &args);
                    let is_error = answer.get("adcp_error").is_some();
                    axum::Json(json!({
                        "jsonrpc": "2.0", "id": rpc["id"],
                        "result": {"structuredContent": answer, "isError": is_error,
                                   "content": [{"type": "text", "text": answer.to_string()}]},
                    }))
                    .into_response()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/mcp", listener.local_addr().expect("bound"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, agent)
}

/// The reference seller with two buyers' keys, compliance testing off (an unknown account
/// id is then unknown, not a fixture sandbox).
fn seller() -> Seller {
    Seller::start_with(Store::Sqlite, |c| {
        c.compliance_testing = false;
        let auth = Auth::new()
            .key("buyer", BUYER)
            .and_then(|a| a.key("other", OTHER))
            .expect("long enough keys");
        c.auth = Some(auth);
    })
}

const ACCOUNT: fn() -> Value =
    || json!({"brand": {"domain": "acme.com"}, "operator": "agency.com"});

fn key() -> String {
    format!("gov-test-{}", uuid::Uuid::new_v4())
}

fn create(plan: Option<&str>, budget: f64) -> Value {
    let mut req = json!({
        "idempotency_key": key(), "account": ACCOUNT(), "brand": {"domain": "acme.com"},
        "start_time": "2031-06-01T00:00:00Z", "end_time": "2031-07-01T00:00:00Z",
        "packages": [{"product_id": "outdoor_display_ron", "pricing_option_id": "cpm_auction",
                      "budget": budget, "bid_price": 5.0}],
        "context": {"correlation_id": "governed"},
    });
    if let Some(p) = plan {
        req["plan_id"] = json!(p);
    }
    req
}

fn register(url: &str) -> Value {
    json!({
        "idempotency_key": key(),
        "accounts": [{"account": ACCOUNT(), "governance_agents": [{
            "url": url, "categories": ["budget_authority"],
            "authentication": {"schemes": ["Bearer"], "credentials": GOV_TOKEN}}]}],
    })
}

async fn buys(buyer: &McpClient) -> usize {
    let (err, got) = buyer
        .call("get_media_buys", json!({"account": ACCOUNT()}))
        .await;
    assert!(!err, "{got}");
    got["media_buys"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buy_is_booked_only_as_the_buyers_governance_agent_decides() {
    let (url, agent) = governance_agent(vec![
        ("plan-small", 10_000.0, false),
        ("plan-ctv", 100_000.0, true),
    ])
    .await;
    let seller = seller();
    let buyer = McpClient::new(seller.mcp_url()).bearer(BUYER);

    // Capabilities claim the specialism; sync_governance keeps the agent, shows no credential.
    let (_, caps) = buyer.call("get_adcp_capabilities", json!({})).await;
    let claimed = caps["specialisms"].as_array().cloned().unwrap_or_default();
    assert!(
        claimed.contains(&json!("governance-aware-seller")),
        "{caps}"
    );
    let (err, synced) = buyer.call("sync_governance", register(&url)).await;
    assert!(!err, "{synced}");
    assert_eq!(synced["accounts"][0]["status"], "synced", "{synced}");
    assert_eq!(
        synced["accounts"][0]["governance_agents"][0]["url"],
        url.as_str()
    );
    assert!(
        !synced.to_string().contains(GOV_TOKEN),
        "credentials echoed: {synced}"
    );

    // Over the plan: denied with the agent's findings, context echoed, nothing booked.
    let (err, denied) = buyer
        .call("create_media_buy", create(Some("plan-small"), 50_000.0))
        .await;
    assert!(err, "{denied}");
    assert_eq!(
        denied["adcp_error"]["code"], "GOVERNANCE_DENIED",
        "{denied}"
    );
    assert_eq!(denied["adcp_error"]["recovery"], "correctable");
    assert_eq!(
        denied["adcp_error"]["details"]["findings"][0]["category_id"],
        "budget_authority"
    );
    assert_eq!(denied["context"]["correlation_id"], "governed");
    assert_eq!(buys(&buyer).await, 0);
    {
        let a = agent.lock().unwrap_or_else(PoisonError::into_inner);
        let (auth, args) = a.calls.last().expect("the agent was asked");
        assert_eq!(auth, &format!("Bearer {GOV_TOKEN}"));
        assert_eq!(args["plan_id"], "plan-small");
        assert_eq!(args["caller"], seller.mcp_url().as_str());
        assert_eq!(args["phase"], "purchase");
        assert_eq!(args["planned_delivery"]["total_budget"], 50_000.0);
        assert_eq!(
            args["planned_delivery"]["start_time"],
            "2031-06-01T00:00:00Z"
        );
    }

    // Within it: booked, the agent's governance context and decision in the answer.
    let (err, booked) = buyer
        .call("create_media_buy", create(Some("plan-small"), 8_000.0))
        .await;
    assert!(!err, "{booked}");
    let buy = booked["media_buy_id"].as_str().expect("a buy").to_owned();
    let context = booked["governance_context"]
        .as_str()
        .expect("a governance context");
    assert!(context.starts_with("gc-plan-small-"), "{booked}");
    assert_eq!(booked["ext"]["governance"]["status"], "approved");
    assert_eq!(buys(&buyer).await, 1);

    // An update that adds spend is checked again, with the buy's governance context; over
    // the plan it is refused and the buy keeps its budget.
    let update = |budget: f64| {
        json!({"idempotency_key": key(), "account": ACCOUNT(), "media_buy_id": buy,
               "packages": [{"package_id": booked["packages"][0]["package_id"], "budget": budget}]})
    };
    let (err, refused) = buyer.call("update_media_buy", update(60_000.0)).await;
    assert!(err, "{refused}");
    assert_eq!(
        refused["adcp_error"]["code"], "GOVERNANCE_DENIED",
        "{refused}"
    );
    {
        let a = agent.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, args) = a.calls.last().expect("asked again");
        assert_eq!(args["phase"], "modification");
        assert_eq!(args["governance_context"], context);
        assert_eq!(args["plan_id"], "plan-small");
    }
    let (_, got) = buyer
        .call(
            "get_media_buys",
            json!({"account": ACCOUNT(), "media_buy_ids": [buy]}),
        )
        .await;
    assert_eq!(
        got["media_buys"][0]["packages"][0]["budget"], 8_000.0,
        "{got}"
    );
    // Pausing changes no spend: not checked.
    let asked = agent
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .calls
        .len();
    let (err, paused) = buyer
        .call(
            "update_media_buy",
            json!({"idempotency_key": key(), "account": ACCOUNT(), "media_buy_id": buy, "paused": true}),
        )
        .await;
    assert!(!err, "{paused}");
    assert_eq!(
        agent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
            .len(),
        asked
    );

    // Approved with conditions: booked, the conditions passed to the buyer.
    let (err, conditional) = buyer
        .call("create_media_buy", create(Some("plan-ctv"), 25_000.0))
        .await;
    assert!(!err, "{conditional}");
    assert_eq!(conditional["ext"]["governance"]["status"], "conditions");
    assert_eq!(
        conditional["ext"]["governance"]["conditions"][0]["required_value"],
        "weekly"
    );

    // A plan the agent does not know: PLAN_NOT_FOUND on plan_id; nothing booked.
    let before = buys(&buyer).await;
    let (err, unknown) = buyer
        .call("create_media_buy", create(Some("plan-nowhere"), 1_000.0))
        .await;
    assert!(err);
    assert_eq!(unknown["adcp_error"]["code"], "PLAN_NOT_FOUND", "{unknown}");
    assert_eq!(unknown["adcp_error"]["field"], "plan_id");
    assert_eq!(buys(&buyer).await, before);

    // Another caller cannot register agents on this buyer's account (by its id).
    let declare = json!({"idempotency_key": key(), "accounts": [{
        "brand": {"domain": "acme.com"}, "operator": "agency.com", "billing": "operator"}]});
    let (err, declared) = buyer.call("sync_accounts", declare).await;
    assert!(!err, "{declared}");
    let id = declared["accounts"][0]["account_id"]
        .as_str()
        .expect("the buyer's account")
        .to_owned();
    let other = McpClient::new(seller.mcp_url()).bearer(OTHER);
    let mut theirs = register("http://127.0.0.1:9/mcp");
    theirs["accounts"][0]["account"] = json!({"account_id": id});
    let (err, refused) = other.call("sync_governance", theirs).await;
    assert!(!err, "{refused}");
    assert_eq!(refused["accounts"][0]["status"], "failed", "{refused}");
    assert_eq!(
        refused["accounts"][0]["errors"][0]["code"],
        "ACCOUNT_NOT_FOUND"
    );
    // ... so the buyer's agent is still the one asked.
    let (err, again) = buyer
        .call("create_media_buy", create(Some("plan-ctv"), 1_000.0))
        .await;
    assert!(!err, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_governance_agent_books_nothing() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let seller = seller();
    let buyer = McpClient::new(seller.mcp_url()).bearer(BUYER);
    let url = format!("http://127.0.0.1:{closed}/mcp");
    let (err, synced) = buyer.call("sync_governance", register(&url)).await;
    assert!(!err, "{synced}");
    let (err, answer) = buyer
        .call("create_media_buy", create(Some("plan-small"), 1_000.0))
        .await;
    assert!(err, "{answer}");
    assert_eq!(
        answer["adcp_error"]["code"], "GOVERNANCE_UNAVAILABLE",
        "{answer}"
    );
    assert_eq!(answer["adcp_error"]["recovery"], "transient");
    assert_eq!(answer["context"]["correlation_id"], "governed");
    assert_eq!(buys(&buyer).await, 0);
    // A buy naming no plan cannot be checked: refused, the plan asked for (not in a sandbox
    // under compliance testing, where the runner books such buys).
    let (err, refused) = buyer.call("create_media_buy", create(None, 1_000.0)).await;
    assert!(err, "{refused}");
    assert_eq!(
        refused["adcp_error"]["code"], "INVALID_REQUEST",
        "{refused}"
    );
    assert_eq!(refused["adcp_error"]["field"], "plan_id");
    assert_eq!(buys(&buyer).await, 0);
    // The failure says nothing of how the agent's name resolved.
    assert!(
        answer["adcp_error"]["details"].get("reason").is_none(),
        "{answer}"
    );
}

/// The update check sees the buy's whole budget after the change (other packages, new ones);
/// pausing (with a revision, or a package) asks nobody; a buy booked by a hand-off's work
/// (the review of a large buy) is checked on its updates as one booked at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_checked_against_the_buys_whole_budget() {
    let (url, agent) = governance_agent(vec![
        ("plan-two", 10_000.0, false),
        ("plan-large", 3_000_000.0, false),
    ])
    .await;
    let seller = seller();
    let buyer = McpClient::new(seller.mcp_url()).bearer(BUYER);
    let (err, synced) = buyer.call("sync_governance", register(&url)).await;
    assert!(!err, "{synced}");
    let mut two = create(Some("plan-two"), 4_000.0);
    let second = two["packages"][0].clone();
    two["packages"]
        .as_array_mut()
        .expect("packages")
        .push(second);
    let (err, booked) = buyer.call("create_media_buy", two).await;
    assert!(!err, "{booked}");
    let buy = booked["media_buy_id"].as_str().expect("a buy").to_owned();
    let p0 = booked["packages"][0]["package_id"].clone();
    let last_total = || {
        let a = agent.lock().unwrap_or_else(PoisonError::into_inner);
        a.calls.last().expect("asked").1["planned_delivery"]["total_budget"].as_f64()
    };
    assert_eq!(last_total(), Some(8_000.0));

    // One package raised: the other still counts (9,000 + 4,000 > 10,000).
    let (err, refused) = buyer
        .call(
            "update_media_buy",
            json!({"idempotency_key": key(), "account": ACCOUNT(), "media_buy_id": buy,
                   "packages": [{"package_id": p0, "budget": 9_000.0}]}),
        )
        .await;
    assert!(err, "{refused}");
    assert_eq!(refused["adcp_error"]["code"], "GOVERNANCE_DENIED");
    assert_eq!(last_total(), Some(13_000.0));
    // A new package adds to the buy.
    let new_package = json!({"product_id": "outdoor_display_ron", "pricing_option_id": "cpm_auction",
                             "budget": 100_000.0, "bid_price": 5.0});
    let (err, refused) = buyer
        .call(
            "update_media_buy",
            json!({"idempotency_key": key(), "account": ACCOUNT(), "media_buy_id": buy,
                   "new_packages": [new_package]}),
        )
        .await;
    assert!(err, "{refused}");
    assert_eq!(last_total(), Some(108_000.0));

    // Pauses ask nobody, with a revision or on a package.
    let asked = agent
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .calls
        .len();
    for pause in [
        json!({"paused": true, "revision": 1}),
        json!({"packages": [{"package_id": p0, "paused": true}]}),
    ] {
        let mut req = json!({"idempotency_key": key(), "account": ACCOUNT(), "media_buy_id": buy});
        for (k, v) in pause.as_object().expect("fields") {
            req[k] = v.clone();
        }
        let (err, paused) = buyer.call("update_media_buy", req).await;
        assert!(!err, "{paused}");
    }
    assert_eq!(
        agent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
            .len(),
        asked
    );

    // A large buy goes to review (a hand-off): checked before, and governed after.
    let (err, submitted) = buyer
        .call("create_media_buy", create(Some("plan-large"), 2_000_000.0))
        .await;
    assert!(!err, "{submitted}");
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    assert!(submitted["governance_context"].is_string(), "{submitted}");
    let task = submitted["task_id"].as_str().expect("a task").to_owned();
    let mut reviewed = Value::Null;
    for _ in 0..100 {
        let (_, t) = buyer
            .call("tasks_get", json!({"account": ACCOUNT(), "task_id": task}))
            .await;
        if t["status"] == "completed" {
            reviewed = t;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let large = reviewed["result"]["media_buy_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the review booked the buy: {reviewed}"))
        .to_owned();
    let package = reviewed["result"]["packages"][0]["package_id"].clone();
    let (err, refused) = buyer
        .call(
            "update_media_buy",
            json!({"idempotency_key": key(), "account": ACCOUNT(), "media_buy_id": large,
                   "packages": [{"package_id": package, "budget": 50_000_000.0}]}),
        )
        .await;
    assert!(err, "{refused}");
    assert_eq!(
        refused["adcp_error"]["code"], "GOVERNANCE_DENIED",
        "{refused}"
    );
    assert_eq!(last_total(), Some(50_000_000.0));
}

/// Outside test mode a governance agent must be https, as the schema says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_agent_is_refused_outside_test_mode() {
    let seller = Seller::start_with(Store::Memory, |c| {
        c.allow_private_webhooks = false;
        c.auth = Some(Auth::new().key("buyer", BUYER).expect("a long key"));
    });
    let buyer = McpClient::new(seller.mcp_url()).bearer(BUYER);
    let (err, refused) = buyer
        .call("sync_governance", register("http://127.0.0.1:9/mcp"))
        .await;
    assert!(err, "{refused}");
    assert_eq!(refused["adcp_error"]["code"], "INVALID_REQUEST");
    assert_eq!(
        refused["adcp_error"]["field"],
        "accounts[0].governance_agents[0].url"
    );
}

/// A governance agent that keeps MCP sessions is initialized first, then asked in its session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_keeping_mcp_sessions_is_initialized_first() {
    let (url, agent) = stand_in(vec![("plan-s", 10_000.0, false)], true).await;
    let seller = seller();
    let buyer = McpClient::new(seller.mcp_url()).bearer(BUYER);
    let (err, synced) = buyer.call("sync_governance", register(&url)).await;
    assert!(!err, "{synced}");
    let (err, denied) = buyer
        .call("create_media_buy", create(Some("plan-s"), 50_000.0))
        .await;
    assert!(err, "{denied}");
    assert_eq!(
        denied["adcp_error"]["code"], "GOVERNANCE_DENIED",
        "{denied}"
    );
    let (err, booked) = buyer
        .call("create_media_buy", create(Some("plan-s"), 5_000.0))
        .await;
    assert!(!err, "{booked}");
    assert_eq!(
        agent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .calls
            .len(),
        2
    );
}
