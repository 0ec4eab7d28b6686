//! Accounts end to end: two buyers with their own API keys against the reference seller, over
//! MCP and A2A, on memory, SQLite and PostgreSQL. The second buyer learns nothing of the first's
//! media buys, creatives, tasks, accounts or idempotent replays: what it gets for the first's ids
//! is the same, byte for byte, as what it gets for ids that exist nowhere. In `singleton` mode,
//! two callers share no replay and no task.

use adcp_conformance::harness::{Seller, Store, client, postgres_url};
use adcp_runtime::Auth;
use serde_json::{Value, json};

const KEY1: &str = "buyer-one-key-0123456789abcdef";
const KEY2: &str = "buyer-two-key-0123456789abcdef";

#[derive(Clone, Copy)]
enum Transport {
    Mcp,
    A2a,
}

struct Buyer {
    base: String,
    key: &'static str,
    transport: Transport,
}

/// One answer: whether the call failed, the AdCP response, and the bytes that identify the
/// answer (MCP: the whole HTTP body; A2A: the task state and the artifact's data, since the
/// A2A task, context and artifact ids are fresh on every call).
struct Answer {
    is_error: bool,
    body: Value,
    bytes: String,
}

impl Buyer {
    async fn call(&self, tool: &str, args: Value) -> Answer {
        let (path, message) = match self.transport {
            Transport::Mcp => (
                "/mcp",
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": tool, "arguments": args}}),
            ),
            Transport::A2a => (
                "/a2a",
                json!({"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {
                    "kind": "message", "role": "user", "messageId": "m-1",
                    "parts": [{"kind": "data", "data": {"skill": tool, "input": args}}]}}}),
            ),
        };
        let text = client()
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key))
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(message.to_string())
            .send()
            .await
            .expect("the seller answers")
            .text()
            .await
            .expect("a body");
        let resp: Value = serde_json::from_str(&text).expect("JSON-RPC");
        match self.transport {
            Transport::Mcp => {
                let r = &resp["result"];
                Answer {
                    is_error: r["isError"].as_bool().unwrap_or(false),
                    body: r["structuredContent"].clone(),
                    bytes: text,
                }
            }
            Transport::A2a => {
                let r = &resp["result"];
                let state = r["status"]["state"].clone();
                let data = r["artifacts"][0]["parts"][0]["data"].clone();
                // An AdCP error completes the A2A task with an `error` artifact.
                Answer {
                    is_error: state == "failed" || r["artifacts"][0]["name"] == "error",
                    bytes: json!({"state": state, "data": data}).to_string(),
                    body: data,
                }
            }
        }
    }

    async fn ok(&self, tool: &str, args: Value) -> Value {
        let a = self.call(tool, args).await;
        assert!(!a.is_error, "{tool} failed: {}", a.body);
        a.body
    }
}

fn key() -> String {
    format!("key-{}", uuid::Uuid::new_v4())
}

fn create(account: &Value, key: &str, budget: f64) -> Value {
    json!({
        "idempotency_key": key,
        "account": account,
        "brand": {"domain": "acme.com"},
        "start_time": "2031-06-01T00:00:00Z",
        "end_time": "2031-07-01T00:00:00Z",
        "packages": [{"product_id": "outdoor_display_ron", "pricing_option_id": "cpm_auction",
                      "budget": budget, "bid_price": 5.0}],
        "context": {"probe": "create"}
    })
}

fn creatives(account: &Value, key: &str, name: &str) -> Value {
    json!({
        "idempotency_key": key,
        "account": account,
        "creatives": [{
            "creative_id": "cr-shared-name",
            "name": name,
            "format_id": {"agent_url": "https://seller.example", "id": "display_300x250"},
            "assets": {"image": {"asset_type": "image", "url": "https://cdn.acme.com/a.png",
                                  "width": 300, "height": 250, "mime_type": "image/png"}}
        }],
        "context": {"probe": "sync"}
    })
}

/// The same call with two values of one field: the answers must be identical.
async fn same_answer(buyer: &Buyer, tool: &str, theirs: Value, nowhere: Value, what: &str) {
    let a = buyer.call(tool, theirs).await;
    let b = buyer.call(tool, nowhere).await;
    assert_eq!(
        a.bytes, b.bytes,
        "{what}: another buyer's id and an id that exists nowhere answer differently"
    );
}

/// A seller with two buyers' keys. The principals are fresh per run, so runs sharing one
/// PostgreSQL database never meet.
fn seller(store: Store) -> Seller {
    let run = uuid::Uuid::new_v4().simple().to_string();
    Seller::start_with(store, move |c| {
        c.compliance_testing = false;
        c.auth = Some(
            Auth::new()
                .key(format!("buyer1-{run}"), KEY1)
                .and_then(|a| a.key(format!("buyer2-{run}"), KEY2))
                .expect("long enough keys"),
        );
    })
}

async fn two_buyers(store: Store, transport: Transport) {
    let seller = seller(store);
    let b1 = Buyer {
        base: seller.base_url(),
        key: KEY1,
        transport,
    };
    let b2 = Buyer {
        base: seller.base_url(),
        key: KEY2,
        transport,
    };
    let natural = json!({"brand": {"domain": "acme.com"}, "operator": "agency.com"});

    // Buyer 1 declares its account, books a buy, queues a large one for review, syncs a creative.
    let synced = b1
        .ok(
            "sync_accounts",
            json!({"idempotency_key": key(), "accounts": [
                {"brand": {"domain": "acme.com"}, "operator": "agency.com", "billing": "operator"}]}),
        )
        .await;
    let a1 = synced["accounts"][0]["account_id"]
        .as_str()
        .expect("an account id")
        .to_owned();
    assert!(
        a1.starts_with("acc_") && a1.len() == 30,
        "not a counter: {a1}"
    );
    let acct1 = json!({"account_id": a1});
    let k1 = key();
    let buy = b1.ok("create_media_buy", create(&acct1, &k1, 5000.0)).await;
    let m1 = buy["media_buy_id"].as_str().expect("a buy").to_owned();
    let reviewed = b1
        .ok("create_media_buy", create(&acct1, &key(), 2_000_000.0))
        .await;
    let t1 = reviewed["task_id"].as_str().expect("a task").to_owned();
    b1.ok("sync_creatives", creatives(&acct1, &key(), "buyer one's"))
        .await;
    // The natural key names the same account for buyer 1.
    let by_key = b1
        .ok(
            "get_media_buys",
            json!({"account": natural, "media_buy_ids": [m1]}),
        )
        .await;
    assert_eq!(by_key["media_buys"][0]["media_buy_id"], m1.as_str());

    let nowhere = json!({"account_id": "acc_doesnotexistanywhere0000"});
    let own = natural.clone(); // buyer 2's own account under the same natural key

    // Accounts: buyer 1's id is as unknown to buyer 2 as an id that exists nowhere.
    for (tool, args) in [
        (
            "get_media_buys",
            json!({"media_buy_ids": [m1], "context": {"p": 1}}),
        ),
        (
            "get_media_buy_delivery",
            json!({"media_buy_ids": [m1], "context": {"p": 2}}),
        ),
        ("list_creatives", json!({"context": {"p": 3}})),
        (
            "update_media_buy",
            json!({"idempotency_key": key(), "media_buy_id": m1, "paused": true, "context": {"p": 4}}),
        ),
        (
            "sync_creatives",
            creatives(&Value::Null, &key(), "buyer two's"),
        ),
        ("create_media_buy", create(&Value::Null, &k1, 5000.0)),
    ] {
        let with = |account: &Value| {
            let mut a = args.clone();
            a["account"] = account.clone();
            a
        };
        let theirs = b2.call(tool, with(&acct1)).await;
        assert!(theirs.is_error, "{tool} with another buyer's account");
        assert_eq!(
            theirs.body["adcp_error"]["code"], "ACCOUNT_NOT_FOUND",
            "{tool}: {}",
            theirs.body
        );
        same_answer(&b2, tool, with(&acct1), with(&nowhere), tool).await;
    }

    // Resources: under buyer 2's own account (the same natural key), buyer 1's ids are unknown.
    let mut g = json!({"account": own, "media_buy_ids": [m1]});
    let got = b2.ok("get_media_buys", g.clone()).await;
    assert_eq!(got["media_buys"], json!([]), "{got}");
    let mut nothing = g.clone();
    nothing["media_buy_ids"] = json!(["mb_doesnotexistanywhere000000"]);
    same_answer(&b2, "get_media_buys", g.clone(), nothing, "get_media_buys").await;
    g = json!({"account": own, "media_buy_ids": [m1], "context": {"p": 5}});
    let mut nothing = g.clone();
    nothing["media_buy_ids"] = json!(["mb_doesnotexistanywhere000000"]);
    same_answer(
        &b2,
        "get_media_buy_delivery",
        g,
        nothing,
        "get_media_buy_delivery",
    )
    .await;
    let update = |id: &str| json!({"idempotency_key": "upd-key-0000000000000001", "account": own, "media_buy_id": id, "paused": true});
    let refused = b2.call("update_media_buy", update(&m1)).await;
    assert_eq!(refused.body["adcp_error"]["code"], "MEDIA_BUY_NOT_FOUND");
    same_answer(
        &b2,
        "update_media_buy",
        update(&m1),
        update("mb_doesnotexistanywhere000000"),
        "update_media_buy",
    )
    .await;
    let listed = b2.ok("list_creatives", json!({"account": own})).await;
    assert_eq!(listed["creatives"], json!([]), "{listed}");
    // The same creative id is buyer 2's own creative: buyer 1's is untouched.
    let synced2 = b2
        .ok("sync_creatives", creatives(&own, &key(), "buyer two's"))
        .await;
    assert_eq!(synced2["creatives"][0]["action"], "created", "{synced2}");

    // Tasks: buyer 1's task is unknown to buyer 2, named or listed.
    let get = |id: &str| json!({"task_id": id, "context": {"p": 6}});
    same_answer(
        &b2,
        "tasks_get",
        get(&t1),
        get("task_doesnotexistanywhere0000"),
        "tasks_get",
    )
    .await;
    let tasks = b2.ok("tasks_list", json!({})).await;
    assert!(!tasks.to_string().contains(&t1), "{tasks}");

    // Replays: buyer 1's key with buyer 1's body, under buyer 2's own account, books buyer
    // 2's own buy; it never returns buyer 1's.
    let replay = b2.ok("create_media_buy", create(&own, &k1, 5000.0)).await;
    assert_ne!(replay["media_buy_id"], m1.as_str(), "{replay}");
    assert!(replay.get("replayed").is_none_or(|r| r == false));

    // Accounts listed: each buyer its own.
    let l2 = b2.ok("list_accounts", json!({})).await;
    assert!(!l2.to_string().contains(&a1), "{l2}");

    // A malformed reference is the buyer's mistake, named as such.
    let bad = b2
        .call(
            "get_media_buys",
            json!({"account": {"account_id": a1, "operator": "agency.com"}}),
        )
        .await;
    assert_eq!(
        bad.body["adcp_error"]["code"], "INVALID_REQUEST",
        "{}",
        bad.body
    );
    assert!(
        bad.body["adcp_error"]["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("account")),
        "{}",
        bad.body
    );

    // Buyer 1 still has everything as it left it.
    let mine = b1
        .ok(
            "get_media_buys",
            json!({"account": acct1, "media_buy_ids": [m1]}),
        )
        .await;
    assert_ne!(mine["media_buys"][0]["status"], "paused", "{mine}");
    let c1 = b1.ok("list_creatives", json!({"account": acct1})).await;
    assert_eq!(c1["creatives"][0]["name"], "buyer one's", "{c1}");
    let t = b1.ok("tasks_get", json!({"task_id": t1})).await;
    assert_eq!(t["task_id"], t1.as_str());
    let l1 = b1.ok("list_accounts", json!({})).await;
    assert_eq!(l1["accounts"][0]["account_id"], a1.as_str(), "{l1}");
    let again = b1.ok("create_media_buy", create(&acct1, &k1, 5000.0)).await;
    assert_eq!(again["media_buy_id"], m1.as_str());
    assert_eq!(again["replayed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_on_memory_over_mcp() {
    two_buyers(Store::Memory, Transport::Mcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_on_memory_over_a2a() {
    two_buyers(Store::Memory, Transport::A2a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_on_sqlite_over_mcp() {
    two_buyers(Store::Sqlite, Transport::Mcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_on_sqlite_over_a2a() {
    two_buyers(Store::Sqlite, Transport::A2a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_on_postgres_over_mcp() {
    if let Some(url) = postgres_url() {
        two_buyers(Store::Postgres(url), Transport::Mcp).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_buyers_on_postgres_over_a2a() {
    if let Some(url) = postgres_url() {
        two_buyers(Store::Postgres(url), Transport::A2a).await;
    }
}

mod singleton {
    use adcp_runtime::wire::{
        CreateMediaBuyRequest, CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse,
    };
    use adcp_runtime::{
        AdcpResult, Call, Config, Ctx, Hybrid, Principal, Server, TaskHandoff, decisioning_platform,
    };
    use serde_json::{Value, json};

    /// One platform account: every caller acts for `platform:<principal>`.
    struct OneAccount;

    #[decisioning_platform(accounts = singleton)]
    impl OneAccount {
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
            let mut buy = CreateMediaBuySuccess::new(ctx.new_id("mb"), Vec::new());
            buy.extra
                .insert("account".into(), json!(ctx.account().id.clone()));
            if req
                .packages
                .iter()
                .flatten()
                .any(|p| p.budget > 1_000_000.0)
            {
                return Ok(Hybrid::Later(TaskHandoff::external()));
            }
            Ok(Hybrid::Now(buy))
        }
    }

    fn call(who: &str, tool: &str, args: Value) -> Call {
        let mut c = Call::new(tool, args);
        c.principal = Some(Principal { id: who.into() });
        c
    }

    fn create(key: &str, budget: f64) -> Value {
        json!({"idempotency_key": key, "account": {"account_id": "platform"},
               "brand": {"domain": "acme.com"},
               "start_time": "2031-06-01T00:00:00Z", "end_time": "2031-07-01T00:00:00Z",
               "packages": [{"product_id": "p", "pricing_option_id": "cpm", "budget": budget}]})
    }

    #[tokio::test]
    async fn two_callers_share_no_replay_and_no_task() {
        let config = Config {
            singleton_account: "platform".into(),
            ..Config::default()
        };
        let server = Server::new(OneAccount, config);
        let k = "shared-key-0000000000000001";
        let first = server
            .call(call("b1", "create_media_buy", create(k, 10.0)))
            .await;
        assert!(!first.is_error, "{}", first.body);
        assert_eq!(first.body["account"], "platform:b1");
        let other = server
            .call(call("b2", "create_media_buy", create(k, 10.0)))
            .await;
        assert!(!other.is_error, "{}", other.body);
        assert_eq!(other.body["account"], "platform:b2");
        assert_ne!(other.body["media_buy_id"], first.body["media_buy_id"]);
        assert!(other.body.get("replayed").is_none());
        let replay = server
            .call(call("b1", "create_media_buy", create(k, 10.0)))
            .await;
        assert_eq!(replay.body["media_buy_id"], first.body["media_buy_id"]);
        assert_eq!(replay.body["replayed"], true);

        let queued = server
            .call(call(
                "b1",
                "create_media_buy",
                create("another-key-0000000001", 2e6),
            ))
            .await;
        let task = queued.body["task_id"].as_str().expect("a task").to_owned();
        let theirs = server
            .call(call("b2", "tasks_get", json!({"task_id": task})))
            .await;
        let nowhere = server
            .call(call("b2", "tasks_get", json!({"task_id": "task_nowhere"})))
            .await;
        assert!(theirs.is_error);
        assert_eq!(theirs, nowhere);
        let listed = server.call(call("b2", "tasks_list", json!({}))).await;
        assert_eq!(listed.body["tasks"], json!([]), "{}", listed.body);
        let mine = server
            .call(call("b1", "tasks_get", json!({"task_id": task})))
            .await;
        assert_eq!(mine.body["task_id"], task.as_str());
        // Naming another caller's account is refused like a name that exists nowhere.
        let mut named = create("third-key-00000000000001", 10.0);
        named["account"] = json!({"account_id": "platform:b1"});
        let refused = server.call(call("b2", "create_media_buy", named)).await;
        assert_eq!(refused.body["adcp_error"]["code"], "ACCOUNT_NOT_FOUND");
    }
}
