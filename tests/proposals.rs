//! A proposal manager composed with a decisioning platform, in process: proposals answered by
//! the manager are the caller's drafts; refine and finalize of unknown, foreign or committed
//! proposals are answered per entry; a create from a draft, an expired or another account's
//! proposal is refused before the platform runs; a create from a committed proposal books
//! its allocations once, however many creates race for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use adcp_runtime::wire::{
    CreateMediaBuyRequest, CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse, Package,
    ProductAllocation, Proposal,
};
use adcp_runtime::{
    AdcpError, AdcpResult, BoxFuture, Call, Config, Ctx, Hybrid, Principal, ProposalCapabilities,
    ProposalManager, Server, Stores, TaskHandoff, codes, decisioning_platform,
};
use serde_json::{Value, json};

/// The platform: books what it is given, counting the calls that reach it.
#[derive(Default)]
struct Books {
    creates: AtomicUsize,
    from_proposals: AtomicUsize,
}

#[decisioning_platform]
impl Books {
    async fn get_products(
        &self,
        _ctx: &Ctx,
        _req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        Err(AdcpError::internal(
            "the proposal manager answers get_products",
        ))
    }

    async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        let packages = req.packages.unwrap_or_default();
        if packages.iter().map(|p| p.budget).sum::<f64>() < 100.0 {
            return Err(
                AdcpError::new(codes::BUDGET_TOO_LOW, "too small").with_field("total_budget")
            );
        }
        if ctx.proposal().is_some() {
            self.from_proposals.fetch_add(1, Ordering::SeqCst);
        }
        let booked = packages
            .iter()
            .map(|p| {
                let mut w = Package::new(ctx.new_id("pkg"));
                w.product_id = Some(p.product_id.clone());
                w.budget = Some(p.budget);
                w.pricing_option_id = Some(p.pricing_option_id.clone());
                w
            })
            .collect::<Vec<_>>();
        Ok(Hybrid::Now(CreateMediaBuySuccess::new(
            ctx.new_id("mb"),
            booked,
        )))
    }
}

/// The manager: one proposal per brief, 60/40 over two products; refine renames it.
struct Planner {
    hold: Duration,
    grace: Duration,
    /// Finalize after a review of this long, handed off.
    review: Option<Duration>,
}

fn allocation(product: &str, pct: f64) -> ProductAllocation {
    let mut a = ProductAllocation::new(pct, product);
    a.pricing_option_id = Some("cpm".into());
    a
}

impl ProposalManager for Planner {
    fn capabilities(&self) -> ProposalCapabilities {
        ProposalCapabilities {
            refine: true,
            finalize: true,
            hold: self.hold,
            grace: self.grace,
        }
    }

    fn get_products<'a>(
        &'a self,
        ctx: &'a Ctx,
        _req: &'a GetProductsRequest,
        drafts: &'a [adcp_runtime::store::ProposalRecord],
    ) -> BoxFuture<'a, AdcpResult<GetProductsResponse>> {
        Box::pin(async move {
            let proposals = if drafts.is_empty() {
                vec![Proposal::new(
                    vec![allocation("ctv", 60.0), allocation("video", 40.0)],
                    "balanced reach",
                    ctx.new_id("prop"),
                )]
            } else {
                drafts
                    .iter()
                    .map(|d| {
                        let mut p: Proposal =
                            serde_json::from_value(d.proposal.clone()).expect("a proposal");
                        p.name = format!("{} (refined)", p.name);
                        p
                    })
                    .collect()
            };
            let mut resp = GetProductsResponse::new(Vec::new());
            resp.proposals = Some(proposals);
            Ok(resp)
        })
    }

    fn finalize<'a>(
        &'a self,
        _ctx: &'a Ctx,
        draft: &'a adcp_runtime::store::ProposalRecord,
    ) -> BoxFuture<'a, AdcpResult<Hybrid<Proposal>>> {
        Box::pin(async move {
            let mut p: Proposal =
                serde_json::from_value(draft.proposal.clone()).expect("a proposal");
            p.description = Some("firm pricing".into());
            Ok(match self.review {
                None => Hybrid::Now(p),
                // A human signs the terms off later: the call hands off.
                Some(d) => Hybrid::Later(
                    TaskHandoff::spawn(async move {
                        tokio::time::sleep(d).await;
                        Ok(p)
                    })
                    .message("the terms are with our yield team"),
                ),
            })
        })
    }
}

struct Fixture {
    server: Server<Books>,
}

impl Fixture {
    fn new(hold: Duration) -> Self {
        Fixture::with_grace(hold, Duration::ZERO)
    }

    fn with_grace(hold: Duration, grace: Duration) -> Self {
        Fixture::with(Planner {
            hold,
            grace,
            review: None,
        })
    }

    fn with(planner: Planner) -> Self {
        let server = Server::with_stores(Books::default(), Config::default(), Stores::memory());
        assert!(server.with_proposals(planner));
        Fixture { server }
    }

    async fn call(&self, who: &str, tool: &str, args: Value) -> (bool, Value) {
        let mut c = Call::new(tool, args);
        c.principal = Some(Principal { id: who.into() });
        let r = self.server.call(c).await;
        (r.is_error, r.body)
    }

    fn creates(&self) -> usize {
        self.server.platform().creates.load(Ordering::SeqCst)
    }
}

fn key() -> String {
    format!("key-{}", uuid::Uuid::new_v4())
}

const ACCOUNT: &str = r#"{"brand": {"domain": "acme.com"}, "operator": "acme.com"}"#;

fn brief() -> Value {
    json!({"buying_mode": "brief", "brief": "balanced video", "account": account()})
}

fn account() -> Value {
    serde_json::from_str(ACCOUNT).expect("JSON")
}

fn refine(entries: Value) -> Value {
    let mut req = json!({"buying_mode": "refine", "account": account()});
    req["refine"] = entries;
    req
}

fn create(proposal: &str, amount: f64) -> Value {
    json!({"idempotency_key": key(), "account": account(), "brand": {"domain": "acme.com"},
           "start_time": "2031-06-01T00:00:00Z", "end_time": "2031-07-01T00:00:00Z",
           "proposal_id": proposal, "total_budget": {"amount": amount, "currency": "USD"}})
}

fn code(body: &Value) -> &str {
    body["adcp_error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn draft_refine_finalize_create() {
    let f = Fixture::new(Duration::from_secs(3600));
    let (e, b) = f.call("buyer", "get_products", brief()).await;
    assert!(!e, "{b}");
    let pid = b["proposals"][0]["proposal_id"]
        .as_str()
        .expect("a proposal")
        .to_owned();
    assert_eq!(b["proposals"][0]["proposal_status"], "draft", "{b}");

    // A draft is not bought: refused before the platform runs.
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 50_000.0))
        .await;
    assert!(e && code(&b) == "PROPOSAL_NOT_COMMITTED", "{b}");
    assert_eq!(b["adcp_error"]["field"], "proposal_id");
    assert_eq!(f.creates(), 0);

    // Refine: the draft is revised; an unknown proposal is `unable`, not an error.
    let (e, b) = f
        .call(
            "buyer",
            "get_products",
            refine(json!([
            {"scope": "proposal", "proposal_id": pid, "ask": "more CTV"},
            {"scope": "proposal", "proposal_id": "balanced_reach_q2", "ask": "?"},
            {"scope": "request", "ask": "frequency cap 3/day"}])),
        )
        .await;
    assert!(!e, "{b}");
    assert_eq!(b["proposals"][0]["name"], "balanced reach (refined)", "{b}");
    let applied = &b["refinement_applied"];
    assert_eq!(applied.as_array().map(Vec::len), Some(3), "{b}");
    assert_eq!(applied[1]["status"], "unable", "{b}");
    assert_eq!(applied[1]["proposal_id"], "balanced_reach_q2");
    assert_eq!(applied[2]["scope"], "request");

    // Another buyer cannot refine, finalize or buy it: the same answer as for no proposal.
    let finalize = refine(json!([{"scope": "proposal", "proposal_id": pid, "action": "finalize"}]));
    let (e, b) = f.call("other", "get_products", finalize.clone()).await;
    assert!(
        !e && b["refinement_applied"][0]["status"] == "unable",
        "{b}"
    );
    let (e, b) = f
        .call("other", "create_media_buy", create(&pid, 50_000.0))
        .await;
    assert!(e && code(&b) == "REFERENCE_NOT_FOUND", "{b}");

    // Finalize: committed, held; a second finalize is `unable` and keeps the terms.
    let (e, b) = f.call("buyer", "get_products", finalize.clone()).await;
    assert!(!e, "{b}");
    let p = &b["proposals"][0];
    assert_eq!(
        (p["proposal_status"].as_str(), p["description"].as_str()),
        (Some("committed"), Some("firm pricing")),
        "{b}"
    );
    assert!(p["expires_at"].is_string(), "{b}");
    assert_eq!(b["refinement_applied"][0]["status"], "applied");
    let (_, again) = f.call("buyer", "get_products", finalize).await;
    assert_eq!(
        again["refinement_applied"][0]["status"], "unable",
        "{again}"
    );
    assert_eq!(
        again["proposals"][0]["expires_at"], p["expires_at"],
        "{again}"
    );

    // A create the platform refuses gives the proposal back; the next one books it, its
    // packages derived from the allocations.
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 10.0))
        .await;
    assert!(e && code(&b) == "BUDGET_TOO_LOW", "{b}");
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 50_000.0))
        .await;
    assert!(!e, "{b}");
    let budgets: Vec<f64> = b["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["budget"].as_f64())
        .collect();
    assert_eq!(budgets, [30_000.0, 20_000.0], "{b}");
    assert_eq!(f.server.platform().from_proposals.load(Ordering::SeqCst), 1);
    assert!(b["media_buy_id"].is_string(), "{b}");
    // Bought once: a second create is refused.
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 50_000.0))
        .await;
    assert!(e && code(&b) == "CONFLICT", "{b}");
    assert_eq!(f.creates(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_creates_of_one_committed_proposal_book_one_buy() {
    let f = Arc::new(Fixture::new(Duration::from_secs(3600)));
    let (_, b) = f.call("buyer", "get_products", brief()).await;
    let pid = b["proposals"][0]["proposal_id"]
        .as_str()
        .expect("a proposal")
        .to_owned();
    let finalize = refine(json!([{"scope": "proposal", "proposal_id": pid, "action": "finalize"}]));
    f.call("buyer", "get_products", finalize).await;
    let racers: Vec<_> = (0..32)
        .map(|_| {
            let (f, pid) = (f.clone(), pid.clone());
            tokio::spawn(async move {
                f.call("buyer", "create_media_buy", create(&pid, 50_000.0))
                    .await
            })
        })
        .collect();
    let mut booked = 0;
    for r in racers {
        let (e, b) = r.await.expect("joined");
        if e {
            assert_eq!(code(&b), "CONFLICT", "{b}");
        } else {
            booked += 1;
        }
    }
    assert_eq!(booked, 1);
    assert_eq!(f.creates(), 1, "the platform ran once");
}

#[tokio::test]
async fn an_expired_proposal_is_refused_before_the_platform() {
    let f = Fixture::new(Duration::from_millis(300));
    let (_, b) = f.call("buyer", "get_products", brief()).await;
    let pid = b["proposals"][0]["proposal_id"]
        .as_str()
        .expect("a proposal")
        .to_owned();
    let finalize = refine(json!([{"scope": "proposal", "proposal_id": pid, "action": "finalize"}]));
    f.call("buyer", "get_products", finalize).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 50_000.0))
        .await;
    assert!(e && code(&b) == "PROPOSAL_EXPIRED", "{b}");
    assert_eq!(f.creates(), 0);
}

/// A finalize that needs a human: the call is answered `submitted`; its task completes with
/// the committed proposal, which is then bought.
#[tokio::test]
async fn a_finalize_handed_off_to_review_completes_its_task_committed() {
    let f = Fixture::with(Planner {
        hold: Duration::from_secs(3600),
        grace: Duration::ZERO,
        review: Some(Duration::from_millis(200)),
    });
    let (_, b) = f.call("buyer", "get_products", brief()).await;
    let pid = b["proposals"][0]["proposal_id"]
        .as_str()
        .expect("a proposal")
        .to_owned();
    let finalize = refine(json!([{"scope": "proposal", "proposal_id": pid, "action": "finalize"}]));
    let (e, handed) = f.call("buyer", "get_products", finalize).await;
    assert!(!e, "{handed}");
    assert_eq!(handed["status"], "submitted", "{handed}");
    let task_id = handed["task_id"].as_str().expect("a task").to_owned();
    // Not bought while in review: still a draft.
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 10_000.0))
        .await;
    assert!(e && code(&b) == "PROPOSAL_NOT_COMMITTED", "{b}");
    let mut task = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let args = json!({"task_id": task_id, "include_result": true, "account": account()});
        task = f.call("buyer", "tasks_get", args).await.1;
        if task["status"] == "completed" {
            break;
        }
    }
    assert_eq!(task["status"], "completed", "{task}");
    let result = &task["result"];
    assert_eq!(
        result["proposals"][0]["proposal_status"], "committed",
        "{task}"
    );
    assert_eq!(
        result["refinement_applied"][0]["status"], "applied",
        "{task}"
    );
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&pid, 10_000.0))
        .await;
    assert!(!e, "{b}");
    assert_eq!(f.creates(), 1);
}

/// The hold's end with a clock-skew grace: an acceptance past `expires_at` but within the
/// grace is taken; past both it is `PROPOSAL_EXPIRED`. (The ledger's own boundary, expired at
/// `expires_at` exactly and live a millisecond before, is `tests/proposal_ledger.rs`.)
#[tokio::test]
async fn an_acceptance_within_the_grace_is_taken_and_after_it_refused() {
    let f = Fixture::with_grace(Duration::from_millis(200), Duration::from_secs(3));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, b) = f.call("buyer", "get_products", brief()).await;
        let pid = b["proposals"][0]["proposal_id"]
            .as_str()
            .expect("a proposal")
            .to_owned();
        let finalize =
            refine(json!([{"scope": "proposal", "proposal_id": pid, "action": "finalize"}]));
        let (_, c) = f.call("buyer", "get_products", finalize).await;
        assert_eq!(c["proposals"][0]["proposal_status"], "committed", "{c}");
        ids.push(pid);
    }
    // Past `expires_at` (200 ms), well within the grace (3 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&ids[0], 50_000.0))
        .await;
    assert!(!e, "within the grace: {b}");
    // Past both.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (e, b) = f
        .call("buyer", "create_media_buy", create(&ids[1], 50_000.0))
        .await;
    assert!(e && code(&b) == "PROPOSAL_EXPIRED", "{b}");
    assert_eq!(b["adcp_error"]["field"], "proposal_id");
    assert_eq!(f.creates(), 1);
}

// --- the capability overlap, before adopter code --------------------------------------------

#[derive(
    Clone,
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    adcp_runtime::schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
struct Geo {
    line_item: String,
}

impl adcp_runtime::Recipe for Geo {
    fn capability_overlap(&self) -> Option<adcp_runtime::CapabilityOverlap> {
        Some(adcp_runtime::CapabilityOverlap {
            pricing_models: Some(vec!["cpm".into()]),
            targeting_dimensions: Some(vec!["geo_countries".into()]),
            delivery_types: None,
        })
    }
}

/// A platform whose products carry a recipe that allows CPM and country targeting only.
#[derive(Default)]
struct Gated {
    creates: AtomicUsize,
    recipes_seen: std::sync::Mutex<Vec<Option<String>>>,
}

#[decisioning_platform(recipes(geo = Geo))]
impl Gated {
    async fn get_products(
        &self,
        _ctx: &Ctx,
        _req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        let seen = ctx
            .recipes::<GatedRecipe>()
            .into_iter()
            .map(|r| r.map(|GatedRecipe::Geo(g)| g.line_item))
            .collect();
        *self.recipes_seen.lock().expect("not poisoned") = seen;
        let n = req.packages.map_or(0, |p| p.len());
        let packages = (0..n)
            .map(|_| Package::new(ctx.new_id("pkg")))
            .collect::<Vec<_>>();
        Ok(Hybrid::Now(CreateMediaBuySuccess::new(
            ctx.new_id("mb"),
            packages,
        )))
    }
}

/// Holds the products (with recipes) the gate reads.
struct Shelf;

impl ProposalManager for Shelf {
    fn capabilities(&self) -> ProposalCapabilities {
        ProposalCapabilities::default()
    }

    fn get_products<'a>(
        &'a self,
        _ctx: &'a Ctx,
        _req: &'a GetProductsRequest,
        _drafts: &'a [adcp_runtime::store::ProposalRecord],
    ) -> BoxFuture<'a, AdcpResult<GetProductsResponse>> {
        Box::pin(async { Ok(GetProductsResponse::new(Vec::new())) })
    }

    fn finalize<'a>(
        &'a self,
        _ctx: &'a Ctx,
        draft: &'a adcp_runtime::store::ProposalRecord,
    ) -> BoxFuture<'a, AdcpResult<Hybrid<Proposal>>> {
        Box::pin(async move {
            let p: Proposal = serde_json::from_value(draft.proposal.clone()).expect("a proposal");
            Ok(p.into())
        })
    }

    fn product<'a>(
        &'a self,
        _ctx: &'a Ctx,
        product_id: &'a str,
    ) -> BoxFuture<'a, AdcpResult<Option<adcp_runtime::wire::Product>>> {
        Box::pin(async move {
            if product_id != "geo_display" {
                return Ok(None);
            }
            Ok(Some(adcp_runtime::wire::decode(json!({
                "product_id": product_id, "name": "geo display", "description": "display by country",
                "publisher_properties": [{"publisher_domain": "p.example", "selection_type": "all"}],
                "format_ids": [{"agent_url": "https://p.example/mcp", "id": "display_300x250"}],
                "delivery_type": "non_guaranteed",
                "pricing_options": [
                    {"pricing_option_id": "cpm", "pricing_model": "cpm", "currency": "USD", "floor_price": 1.0},
                    {"pricing_option_id": "cpc", "pricing_model": "cpc", "currency": "USD", "floor_price": 0.5}],
                "reporting_capabilities": {"available_reporting_frequencies": ["daily"], "expected_delay_minutes": 60,
                    "timezone": "UTC", "supports_webhooks": false, "available_metrics": ["impressions"],
                    "date_range_support": "date_range"},
                "implementation_config": {"recipe_kind": "geo", "line_item": "li-7"},
            }))
            .expect("a product")))
        })
    }
}

fn manual(option: &str, targeting: Value) -> Value {
    let mut package =
        json!({"product_id": "geo_display", "pricing_option_id": option, "budget": 1000.0});
    package["targeting_overlay"] = targeting;
    json!({"idempotency_key": key(), "account": account(), "brand": {"domain": "acme.com"},
           "start_time": "2031-06-01T00:00:00Z", "end_time": "2031-07-01T00:00:00Z",
           "packages": [package]})
}

#[tokio::test]
async fn packages_outside_the_recipes_overlap_never_reach_the_platform() {
    let server = Server::with_stores(Gated::default(), Config::default(), Stores::memory());
    assert!(server.with_proposals(Shelf));
    let call = |args: Value| {
        let mut c = Call::new("create_media_buy", args);
        c.principal = Some(Principal { id: "buyer".into() });
        server.call(c)
    };
    let r = call(manual("cpm", json!({"device_type": ["mobile"]}))).await;
    assert!(r.is_error, "{}", r.body);
    assert_eq!(code(&r.body), "INVALID_REQUEST");
    assert_eq!(
        r.body["adcp_error"]["field"], "packages[0].targeting_overlay.device_type",
        "{}",
        r.body
    );
    let r = call(manual("cpc", json!({"geo_countries": ["US"]}))).await;
    assert_eq!(
        r.body["adcp_error"]["field"], "packages[0].pricing_option_id",
        "{}",
        r.body
    );
    assert_eq!(
        server.platform().creates.load(Ordering::SeqCst),
        0,
        "adcp code never ran"
    );

    // Inside the overlap: booked, the platform handed the package's typed recipe.
    let r = call(manual("cpm", json!({"geo_countries": ["US"]}))).await;
    assert!(!r.is_error, "{}", r.body);
    assert_eq!(server.platform().creates.load(Ordering::SeqCst), 1);
    let seen = server
        .platform()
        .recipes_seen
        .lock()
        .expect("not poisoned")
        .clone();
    assert_eq!(seen, [Some("li-7".to_owned())]);
}
