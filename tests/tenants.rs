//! Tenants end to end: two sellers in one registry, routed by host and by path prefix, gated
//! on their health, each verifying only its own buyers' signatures and keeping its data apart
//! from the other's on memory, SQLite and PostgreSQL; a registry shared by two replicas on
//! PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use adcp_conformance::harness::{Store, client, postgres_url, temp_dir};
use adcp_runtime::signing::{Profile, SigningKey, sign};
use adcp_runtime::store::tenants::{JwksSource, SignerSpec, TenantSpec, Verification};
use adcp_runtime::{
    Config, Event, Stores, TenantContext, TenantError, TenantRegistry, TenantRegistryBuilder,
    TenantServer,
};
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The RFC 8037 (appendix A) Ed25519 key: the webhook signing key of the tenants that sign.
const WEBHOOK_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"tenant-webhooks",
    "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

fn webhook_public_jwks() -> Value {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "tenant-webhooks",
                     "use": "sig", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})
}

/// A unique suffix, so tenants of runs sharing one PostgreSQL never meet.
fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// The reference seller as a tenant platform, named after its tenant.
async fn seller(cx: TenantContext) -> Result<TenantServer, String> {
    let base = sales_non_guaranteed::config(true);
    let config = Config {
        name: format!("seller {}", cx.spec.id),
        description: base.description,
        capabilities: base.capabilities,
        compliance_testing: true,
        allow_private_webhooks: true,
        ..cx.config
    };
    let server = sales_non_guaranteed::agent(config, cx.stores)
        .into_server()
        .map_err(|e| e.to_string())?;
    Ok(server.into())
}

fn builder(stores: Stores) -> TenantRegistryBuilder {
    TenantRegistry::builder(stores)
        .platform("seller", seller)
        .allow_private_jwks()
        .refresh_every(Duration::from_millis(100))
}

fn spec(id: &str, base: &str) -> TenantSpec {
    TenantSpec {
        id: id.into(),
        platform: "seller".into(),
        public_url: format!("{base}/{id}"),
        hosts: vec![format!("{id}.localhost")],
        path_prefix: Some(format!("/{id}")),
        jwks: None,
        webhook_signing_key_file: None,
        api_keys: Vec::new(),
        request_signers: Vec::new(),
        signing_required_for: Vec::new(),
        settings: Value::Null,
    }
}

async fn stores(store: &Store) -> Stores {
    match store {
        Store::Memory => Stores::memory(),
        Store::Sqlite => Stores::sqlite(temp_dir("tenants")).await.expect("SQLite"),
        Store::SqliteAt(dir) => Stores::sqlite(dir).await.expect("SQLite"),
        Store::Postgres(url) => Stores::open(url).await.expect("PostgreSQL"),
    }
}

/// One request through the registry's router, as HTTP would bring it.
async fn request(
    registry: &TenantRegistry,
    method: &str,
    host: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Vec<(String, String)>, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if body.is_some() {
        req = req
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
    }
    let req = req
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("a request");
    let resp = registry.router().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn tool_call(tool: &str, args: &Value) -> Value {
    let params = json!({"name": tool, "arguments": args});
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
}

/// A `tools/call` through the router: whether it failed, and its structured content.
async fn call(
    registry: &TenantRegistry,
    host: &str,
    path: &str,
    tool: &str,
    args: Value,
) -> (bool, Value) {
    let (status, _, body) =
        request(registry, "POST", host, path, Some(tool_call(tool, &args))).await;
    assert_eq!(status, 200, "{tool} at {host}{path}: {body}");
    let r = &body["result"];
    (
        r["isError"].as_bool().unwrap_or(false),
        r["structuredContent"].clone(),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_path_prefix_route_to_their_tenant_and_its_configured_url() {
    let registry = builder(Stores::memory()).build().await.expect("a registry");
    for id in ["acme", "globex"] {
        let s = registry
            .register(spec(id, "https://sellers.example"))
            .await
            .expect("registered");
        assert!(s.served, "{s:?}");
        assert_eq!(s.health.verification, Verification::Healthy);
    }
    for (host, path, id) in [
        ("acme.localhost", "/.well-known/agent-card.json", "acme"),
        (
            "ACME.localhost:3000",
            "/.well-known/agent-card.json",
            "acme",
        ),
        ("globex.localhost", "/.well-known/agent-card.json", "globex"),
        (
            "127.0.0.1:3000",
            "/acme/.well-known/agent-card.json",
            "acme",
        ),
        (
            "127.0.0.1:3000",
            "/globex/.well-known/agent-card.json",
            "globex",
        ),
        // Host routing wins over the path.
        (
            "globex.localhost",
            "/acme/.well-known/agent-card.json",
            "none",
        ),
    ] {
        let (status, _, card) = request(&registry, "GET", host, path, None).await;
        if id == "none" {
            assert_eq!(status, 404, "{host}{path}: {card}");
            continue;
        }
        assert_eq!(status, 200, "{host}{path}: {card}");
        assert_eq!(card["name"], format!("seller {id}"), "{host}{path}");
        let url = card["url"].as_str().unwrap_or_default();
        assert!(
            url.starts_with(&format!("https://sellers.example/{id}")),
            "{host}{path}: the card names the configured URL, not the Host: {url}"
        );
    }
    // A Host the tenant is not known by is refused (DNS rebinding), before any URL is built.
    let (status, _, body) = request(
        &registry,
        "POST",
        "evil.example",
        "/globex/mcp",
        Some(tool_call("list_creative_formats", &json!({}))),
    )
    .await;
    assert_eq!(status, 421, "{body}");
    assert_eq!(
        body["error"]["data"]["adcp_error"]["field"], "Host",
        "{body}"
    );
    // The answers name the configured URL, not the Host the request came by.
    let (status, _, body) = request(
        &registry,
        "POST",
        "127.0.0.1:3000",
        "/globex/mcp",
        Some(tool_call("list_creative_formats", &json!({}))),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("\"https://sellers.example/globex\""),
        "{text}"
    );
    assert!(!text.contains("127.0.0.1"), "{text}");

    // Unknown host and path: an AdCP error with 404, never another tenant's answer.
    let (status, _, body) = request(
        &registry,
        "POST",
        "initech.localhost",
        "/initech/mcp",
        Some(tool_call("get_products", &json!({"brief": "x"}))),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["adcp_error"]["code"], "REFERENCE_NOT_FOUND", "{body}");
    assert_eq!(body["adcp_error"]["field"], "tenant", "{body}");
    // A prefix matches whole segments only.
    let (status, _, _) = request(
        &registry,
        "GET",
        "x",
        "/acmex/.well-known/agent-card.json",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_registration_names_its_field_and_changes_nothing() {
    let registry = builder(Stores::memory()).build().await.expect("a registry");
    registry
        .register(spec("acme", "https://s.example"))
        .await
        .expect("registered");
    let field = |e: TenantError| match e {
        TenantError::Invalid { field, .. } | TenantError::Conflict { field, .. } => field,
        other => panic!("{other}"),
    };
    let mut same_host = spec("globex", "https://s.example");
    same_host.hosts = vec!["ACME.localhost".into()];
    assert_eq!(
        field(registry.register(same_host).await.unwrap_err()),
        "hosts"
    );
    let mut same_prefix = spec("globex", "https://s.example");
    same_prefix.path_prefix = Some("/acme".into());
    assert_eq!(
        field(registry.register(same_prefix).await.unwrap_err()),
        "path_prefix"
    );
    assert_eq!(
        field(
            registry
                .register(spec("acme", "https://s.example"))
                .await
                .unwrap_err()
        ),
        "id"
    );
    assert_eq!(
        field(
            registry
                .register(spec("Bad Id", "https://s.example"))
                .await
                .unwrap_err()
        ),
        "id"
    );
    let mut reserved = spec("globex", "https://s.example");
    reserved.path_prefix = Some("/mcp".into());
    assert_eq!(
        field(registry.register(reserved).await.unwrap_err()),
        "path_prefix"
    );
    let mut platform = spec("globex", "https://s.example");
    platform.platform = "nope".into();
    assert_eq!(
        field(registry.register(platform).await.unwrap_err()),
        "platform"
    );
    let mut url = spec("globex", "https://s.example");
    url.public_url = "not a url".into();
    assert_eq!(
        field(registry.register(url).await.unwrap_err()),
        "public_url"
    );
    let mut jwks = spec("globex", "https://s.example");
    jwks.jwks = Some(JwksSource::Inline(
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "k", "x": "short"}]}),
    ));
    assert_eq!(field(registry.register(jwks).await.unwrap_err()), "jwks");
    let mut signer = spec("globex", "https://s.example");
    signer.request_signers = vec![SignerSpec {
        principal: "b".into(),
        jwks: JwksSource::Inline(json!({"nokeys": true})),
    }];
    assert_eq!(
        field(registry.register(signer).await.unwrap_err()),
        "request_signers"
    );
    // Nothing of the refused registrations was kept, and acme is untouched.
    let ids: Vec<String> = registry.list().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["acme"]);
    // An unreachable JWKS: registered, pending, the reason naming the field.
    let mut unreachable = spec("globex", "https://s.example");
    unreachable.webhook_signing_key_file = Some(key_file());
    unreachable.jwks = Some(JwksSource::Url("http://127.0.0.1:9/jwks.json".into()));
    let s = registry.register(unreachable).await.expect("registered");
    assert!(!s.served);
    assert_eq!(s.health.verification, Verification::Pending);
    let why = s.health.last_error.unwrap_or_default();
    assert!(why.contains("`jwks`"), "{why}");
}

fn key_file() -> String {
    let path = temp_dir("tenant-key").join("webhooks.jwk");
    std::fs::create_dir_all(path.parent().expect("a directory")).expect("a directory");
    std::fs::write(&path, WEBHOOK_JWK).expect("written");
    path.to_string_lossy().into_owned()
}

/// A JWKS endpoint on loopback whose answer the test changes: 0 = 404, 1 = the tenant's
/// keys, 2 = a JWKS without the tenant's key, 3 = 500.
async fn jwks_endpoint() -> (String, Arc<AtomicU16>) {
    let mode = Arc::new(AtomicU16::new(0));
    let m = mode.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let m = m.clone();
            async move {
                use axum::response::IntoResponse;
                match m.load(Ordering::SeqCst) {
                    1 => axum::Json(webhook_public_jwks()).into_response(),
                    2 => {
                        let (_, other) = adcp_runtime::test_util::signing_key("someone-else");
                        axum::Json(other).into_response()
                    }
                    3 => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    _ => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, mode)
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_tenant_is_served_once_its_jwks_validates_without_a_restart() {
    let (url, mode) = jwks_endpoint().await;
    let registry = builder(Stores::memory()).build().await.expect("a registry");
    let mut acme = spec("acme", "https://s.example");
    acme.webhook_signing_key_file = Some(key_file());
    acme.jwks = Some(JwksSource::Url(url));
    let s = registry.register(acme).await.expect("registered");
    assert_eq!(s.health.verification, Verification::Pending, "{s:?}");
    let get = tool_call(
        "get_products",
        &json!({"buying_mode": "brief", "brief": "display"}),
    );
    let (status, headers, body) = request(
        &registry,
        "POST",
        "acme.localhost",
        "/mcp",
        Some(get.clone()),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(header(&headers, "retry-after").is_some(), "{headers:?}");
    assert_eq!(body["adcp_error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(body["adcp_error"]["field"], "tenant", "{body}");

    // Published keys without the tenant's: still pending, and why.
    mode.store(2, Ordering::SeqCst);
    let s = registry.recheck("acme").await.expect("rechecked");
    assert_eq!(s.health.verification, Verification::Pending);
    assert!(
        s.health
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("tenant-webhooks"),
        "{s:?}"
    );

    // The keys appear: the registry's own retry validates the tenant, and it is served.
    mode.store(1, Ordering::SeqCst);
    wait_for("acme validated", async || {
        registry.status("acme").is_some_and(|s| s.served)
    })
    .await;
    let (status, _, body) = request(
        &registry,
        "POST",
        "acme.localhost",
        "/mcp",
        Some(get.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["result"]["structuredContent"]["products"].is_array(),
        "{body}"
    );

    // A failed recheck of a validated tenant: unverified, reported, still served.
    mode.store(3, Ordering::SeqCst);
    let s = registry.recheck("acme").await.expect("rechecked");
    assert_eq!(s.health.verification, Verification::Unverified);
    assert!(s.served && s.health.last_error.is_some(), "{s:?}");
    let (status, _, _) = request(
        &registry,
        "POST",
        "acme.localhost",
        "/mcp",
        Some(get.clone()),
    )
    .await;
    assert_eq!(status, 200);

    // The operator's gate is independent: disabled is 503 whatever the verification.
    registry.set_enabled("acme", false).await.expect("disabled");
    let (status, headers, _) = request(
        &registry,
        "POST",
        "acme.localhost",
        "/mcp",
        Some(get.clone()),
    )
    .await;
    assert_eq!(status, 503);
    assert!(header(&headers, "retry-after").is_some());
    registry.set_enabled("acme", true).await.expect("enabled");
    let (status, _, _) = request(&registry, "POST", "acme.localhost", "/mcp", Some(get)).await;
    assert_eq!(status, 200);
}

/// Signs a POST of `body` to `url` with `key`.
fn signed_post(key: &SigningKey, url: &str, body: &Value) -> reqwest::RequestBuilder {
    let bytes = body.to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let headers = sign(
        key,
        Profile::Request,
        "POST",
        url,
        "application/json",
        bytes.as_bytes(),
        now,
    )
    .expect("signed");
    let mut req = client()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(bytes);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_with_another_tenants_key_is_refused() {
    let (acme_key, acme_jwks) = adcp_runtime::test_util::signing_key("buyer-of-acme");
    let (globex_key, globex_jwks) = adcp_runtime::test_util::signing_key("buyer-of-globex");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let registry = builder(Stores::memory()).build().await.expect("a registry");
    for (id, jwks) in [("acme", acme_jwks), ("globex", globex_jwks)] {
        let mut s = spec(id, &base);
        s.request_signers = vec![SignerSpec {
            principal: format!("buyer-of-{id}"),
            jwks: JwksSource::Inline(jwks),
        }];
        s.signing_required_for = vec!["create_media_buy".into()];
        registry.register(s).await.expect("registered");
    }
    let served = registry.clone();
    tokio::spawn(async move {
        served
            .serve(listener, Some(Box::pin(std::future::pending())))
            .await
    });

    let get = tool_call(
        "get_products",
        &json!({"buying_mode": "brief", "brief": "display"}),
    );
    for (tenant, key, accepted) in [
        ("acme", &acme_key, true),
        ("globex", &globex_key, true),
        ("acme", &globex_key, false),
        ("globex", &acme_key, false),
    ] {
        let url = format!("{base}/{tenant}/mcp");
        let resp = signed_post(key, &url, &get)
            .send()
            .await
            .expect("an answer");
        let status = resp.status().as_u16();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value =
            serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        if accepted {
            assert_eq!(status, 200, "{tenant} with {}: {body}", key.kid());
            assert!(
                body["result"]["structuredContent"]["products"].is_array(),
                "{body}"
            );
        } else {
            assert_eq!(status, 401, "{tenant} with {}: {body}", key.kid());
            assert!(challenge.contains("key_unknown"), "{challenge}");
        }
    }
}

/// Same account, same idempotency key, same guessed ids in two tenants: nothing crosses.
async fn isolation(store: Store) {
    let registry = builder(stores(&store).await)
        .build()
        .await
        .expect("a registry");
    let (a, g) = (format!("acme-{}", unique()), format!("globex-{}", unique()));
    for id in [&a, &g] {
        registry
            .register(spec(id, "https://s.example"))
            .await
            .expect("registered");
    }
    let host = |id: &str| format!("{id}.localhost");
    let account =
        json!({"brand": {"domain": "acme.com"}, "operator": "agency.com", "sandbox": false});
    let sync = json!({"idempotency_key": format!("sync-key-{}", unique()),
        "accounts": [{"brand": {"domain": "acme.com"}, "operator": "agency.com", "billing": "operator"}]});
    let (e1, s1) = call(&registry, &host(&a), "/mcp", "sync_accounts", sync.clone()).await;
    let (e2, s2) = call(&registry, &host(&g), "/mcp", "sync_accounts", sync).await;
    assert!(!e1 && !e2, "{s1} {s2}");
    let acme_account = s1["accounts"][0]["account_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    assert_ne!(
        Some(acme_account.as_str()),
        s2["accounts"][0]["account_id"].as_str()
    );

    let key = format!("same-key-{}", unique());
    let create = json!({
        "idempotency_key": key, "account": account, "brand": {"domain": "acme.com"},
        "start_time": "2031-06-01T00:00:00Z", "end_time": "2031-07-01T00:00:00Z",
        "packages": [{"product_id": "outdoor_display_ron", "pricing_option_id": "cpm_auction",
                      "budget": 5000.0, "bid_price": 5.0}]});
    let (e, first) = call(
        &registry,
        &host(&a),
        "/mcp",
        "create_media_buy",
        create.clone(),
    )
    .await;
    assert!(!e, "{first}");
    let buy = first["media_buy_id"].as_str().expect("a buy").to_owned();
    // The same key and body in the other tenant is a new buy there, not acme's replay.
    let (e, second) = call(
        &registry,
        &host(&g),
        "/mcp",
        "create_media_buy",
        create.clone(),
    )
    .await;
    assert!(!e, "{second}");
    assert_ne!(second["media_buy_id"], first["media_buy_id"]);
    assert_ne!(second["replayed"], json!(true), "{second}");
    // Acme's replay is acme's.
    let (_, again) = call(&registry, &host(&a), "/mcp", "create_media_buy", create).await;
    assert_eq!(again["media_buy_id"], first["media_buy_id"]);

    // Acme's buy, named in globex: what an id that exists nowhere gets.
    let get = |id: &str| json!({"account": account, "media_buy_ids": [id]});
    let (_, theirs) = call(&registry, &host(&g), "/mcp", "get_media_buys", get(&buy)).await;
    let (_, nowhere) = call(
        &registry,
        &host(&g),
        "/mcp",
        "get_media_buys",
        get("mb_doesnotexist"),
    )
    .await;
    assert_eq!(theirs["media_buys"], nowhere["media_buys"], "{theirs}");
    let (_, listed) = call(
        &registry,
        &host(&g),
        "/mcp",
        "get_media_buys",
        json!({"account": account}),
    )
    .await;
    assert!(!listed.to_string().contains(&buy), "{listed}");
    // Acme's account id in globex: what an account id that exists nowhere gets.
    let by_account = |id: &str| json!({"account": {"account_id": id}});
    let (e1, theirs) = call(
        &registry,
        &host(&g),
        "/mcp",
        "get_media_buys",
        by_account(&acme_account),
    )
    .await;
    let (e2, nowhere) = call(
        &registry,
        &host(&g),
        "/mcp",
        "get_media_buys",
        by_account("acc_doesnotexist"),
    )
    .await;
    assert_eq!((e1, &theirs), (e2, &nowhere));
    assert!(!theirs.to_string().contains(&buy), "{theirs}");
    // Acme's tasks are not globex's.
    let (_, tasks) = call(&registry, &host(&g), "/mcp", "tasks_list", json!({})).await;
    assert!(!tasks.to_string().contains(&buy), "{tasks}");

    // A status change published for globex from acme's account scope is refused.
    let foreign = Event::new("media_buy", &buy, format!("acct:{acme_account}"), "paused");
    assert!(matches!(
        registry.publish_status_change(&g, foreign).await,
        Err(TenantError::ForeignEvent(_))
    ));
    for id in [&a, &g] {
        registry.unregister(id).await.expect("unregistered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_on_memory() {
    isolation(Store::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_on_sqlite() {
    isolation(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_on_postgres() {
    let Some(url) = postgres_url() else { return };
    isolation(Store::Postgres(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_tenant_on_one_postgres_replica_stops_it_on_both() {
    let Some(url) = postgres_url() else { return };
    let token = "admin-token-0123456789abcdef";
    let one = builder(stores(&Store::Postgres(url.clone())).await)
        .admin_token(token)
        .build()
        .await
        .expect("replica one");
    let two = builder(stores(&Store::Postgres(url)).await)
        .build()
        .await
        .expect("replica two");
    let id = format!("acme-{}", unique());
    one.register(spec(&id, "https://s.example"))
        .await
        .expect("registered");
    let host = format!("{id}.localhost");
    let get = tool_call(
        "get_products",
        &json!({"buying_mode": "brief", "brief": "display"}),
    );
    wait_for("replica two serves the tenant", async || {
        request(&two, "POST", &host, "/mcp", Some(get.clone()))
            .await
            .0
            == 200
    })
    .await;

    // The admin API is authenticated: no token, no change.
    let (status, _, body) = request(
        &one,
        "POST",
        "x",
        &format!("/_adcp/tenants/{id}/disable"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        request(&two, "POST", &host, "/mcp", Some(get.clone()))
            .await
            .0,
        200
    );

    // Disabled through replica one's admin API: replica two stops serving it too.
    let req = Request::builder()
        .method("POST")
        .uri(format!("/_adcp/tenants/{id}/disable"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request");
    let resp = one.router().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status().as_u16(), 200);
    wait_for("replica two refuses the disabled tenant", async || {
        request(&two, "POST", &host, "/mcp", Some(get.clone()))
            .await
            .0
            == 503
    })
    .await;
    assert_eq!(
        request(&one, "POST", &host, "/mcp", Some(get.clone()))
            .await
            .0,
        503
    );
    // The status is shared: replica two reports it disabled.
    assert!(two.status(&id).is_some_and(|s| !s.health.enabled));
    one.unregister(&id).await.expect("unregistered");
    wait_for("replica two forgets it", async || two.status(&id).is_none()).await;
    assert_eq!(request(&two, "POST", &host, "/mcp", Some(get)).await.0, 404);
}

/// A second platform type: a signals-less, formats-less catalogue of nothing, in
/// `singleton` account mode.
struct Empty;

#[adcp_runtime::decisioning_platform(accounts = singleton)]
impl Empty {
    async fn get_products(
        &self,
        _ctx: &adcp_runtime::Ctx,
        _req: adcp_runtime::wire::GetProductsRequest,
    ) -> adcp_runtime::AdcpResult<adcp_runtime::wire::GetProductsResponse> {
        Ok(adcp_runtime::wire::GetProductsResponse::new(Vec::new()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_of_different_platform_types_built_lazily_in_one_process() {
    let built = Arc::new(AtomicU16::new(0));
    let count = built.clone();
    let registry = builder(Stores::memory())
        .platform("empty", move |cx: TenantContext| {
            count.fetch_add(1, Ordering::SeqCst);
            async move {
                let config = Config {
                    name: "empty".into(),
                    ..cx.config
                };
                Ok(adcp_runtime::Server::with_stores(Empty, config, cx.stores).into())
            }
        })
        .lazy()
        .build()
        .await
        .expect("a registry");
    registry
        .register(spec("acme", "https://s.example"))
        .await
        .expect("registered");
    let mut other = spec("globex", "https://s.example");
    other.platform = "empty".into();
    registry.register(other).await.expect("registered");
    assert_eq!(
        built.load(Ordering::SeqCst),
        0,
        "lazy: nothing built before a request"
    );
    let get = json!({"buying_mode": "brief", "brief": "display"});
    let (_, acme) = call(
        &registry,
        "acme.localhost",
        "/mcp",
        "get_products",
        get.clone(),
    )
    .await;
    let (_, globex) = call(
        &registry,
        "globex.localhost",
        "/mcp",
        "get_products",
        get.clone(),
    )
    .await;
    assert!(
        acme["products"].as_array().is_some_and(|p| !p.is_empty()),
        "{acme}"
    );
    assert_eq!(globex["products"], json!([]), "{globex}");
    call(&registry, "globex.localhost", "/mcp", "get_products", get).await;
    assert_eq!(
        built.load(Ordering::SeqCst),
        1,
        "built once, on its first request"
    );
    // Each serves its own platform's tools only.
    let (_, _, tools) = request(
        &registry,
        "POST",
        "globex.localhost",
        "/mcp",
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
    )
    .await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"get_products"), "{names:?}");
    assert!(!names.contains(&"create_media_buy"), "{names:?}");
}

/// A buyer's `jwks_uri` on loopback, serving `jwks` until changed.
async fn buyer_jwks(jwks: Value) -> (String, Arc<std::sync::Mutex<Value>>) {
    let current = Arc::new(std::sync::Mutex::new(jwks));
    let served = current.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let v = served.lock().map(|v| v.clone()).unwrap_or(Value::Null);
            async move { axum::Json(v) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, current)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyers_rotated_keys_are_taken_up_at_the_recheck_without_a_restart() {
    let (old, old_jwks) = adcp_runtime::test_util::signing_key("buyer-2026");
    let (new, new_jwks) = adcp_runtime::test_util::signing_key("buyer-2027");
    let (uri, published) = buyer_jwks(old_jwks).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let registry = builder(Stores::memory()).build().await.expect("a registry");
    let mut acme = spec("acme", &base);
    acme.request_signers = vec![SignerSpec {
        principal: "buyer".into(),
        jwks: JwksSource::Url(uri),
    }];
    registry.register(acme).await.expect("registered");
    let served = registry.clone();
    tokio::spawn(async move {
        served
            .serve(listener, Some(Box::pin(std::future::pending())))
            .await
    });
    let url = format!("{base}/acme/mcp");
    let get = tool_call(
        "get_products",
        &json!({"buying_mode": "brief", "brief": "display"}),
    );
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(signed_post(&old, &url, &get).send().await.expect("sent")),
        200
    );
    assert_eq!(
        status(signed_post(&new, &url, &get).send().await.expect("sent")),
        401
    );
    // The buyer rotates: the old key is withdrawn, the new one published.
    *published.lock().expect("not poisoned") = new_jwks;
    registry.recheck("acme").await.expect("rechecked");
    assert_eq!(
        status(signed_post(&new, &url, &get).send().await.expect("sent")),
        200
    );
    assert_eq!(
        status(signed_post(&old, &url, &get).send().await.expect("sent")),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_jwks_are_refused_without_the_test_switch() {
    let (uri, _) = buyer_jwks(webhook_public_jwks()).await;
    let registry = TenantRegistry::builder(Stores::memory())
        .platform("seller", seller)
        .build()
        .await
        .expect("a registry");
    let mut acme = spec("acme", "https://s.example");
    acme.webhook_signing_key_file = Some(key_file());
    acme.jwks = Some(JwksSource::Url(uri));
    let s = registry.register(acme).await.expect("registered");
    assert!(!s.served, "{s:?}");
    let why = s.health.last_error.unwrap_or_default();
    assert!(why.contains("`jwks`") && why.contains("http"), "{why}");
}
