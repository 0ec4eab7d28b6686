//! A buy's status as a buyer reads it after pausing, resuming, assigning and canceling: the
//! lifecycle's edges only, and a canceled buy says who canceled it, when and why. Formats say
//! which assets a creative of theirs carries.

use adcp_conformance::harness::{Seller, Store, mcp};
use serde_json::{Value, json};

fn account() -> Value {
    json!({"brand": {"domain": "acme.example"}, "operator": "acme.example", "sandbox": true})
}

async fn call(seller: &Seller, tool: &str, mut args: Value) -> Value {
    args["account"] = account();
    if tool != "get_media_buys" && tool != "comply_test_controller" {
        args["idempotency_key"] = json!(format!("life-{}", uuid::Uuid::new_v4()));
    }
    let (is_error, body) = mcp(&seller.mcp_url(), tool, &args).await;
    assert!(!is_error, "{tool}: {body}");
    body
}

/// A buy whose flight starts next year, without creatives.
async fn book(seller: &Seller) -> (String, String) {
    let buy = call(
        seller,
        "create_media_buy",
        json!({"brand": {"domain": "acme.example"},
               "start_time": "2027-06-01T00:00:00Z", "end_time": "2027-07-01T00:00:00Z",
               "packages": [{"product_id": "test-product", "pricing_option_id": "default", "budget": 5000}]}),
    )
    .await;
    assert_eq!(buy["status"], "pending_creatives", "{buy}");
    let id = buy["media_buy_id"].as_str().expect("an id").to_owned();
    let package = buy["packages"][0]["package_id"]
        .as_str()
        .expect("a package")
        .to_owned();
    (id, package)
}

async fn read(seller: &Seller, id: &str) -> Value {
    let got = call(seller, "get_media_buys", json!({"media_buy_ids": [id]})).await;
    got["media_buys"][0].clone()
}

async fn pause(seller: &Seller, id: &str, paused: bool) -> Value {
    call(
        seller,
        "update_media_buy",
        json!({"media_buy_id": id, "paused": paused}),
    )
    .await
}

/// The media-buy lifecycle leaves `paused` only for `active`, `completed` or `canceled` (the
/// official runner's `status.monotonic` invariant fails any other edge), so a buy paused while
/// it waited for creatives reads `active` once resumed; it still delivers nothing without them.
#[tokio::test]
async fn a_resumed_buy_follows_the_lifecycle_and_assigning_creatives_keeps_it_running() {
    let seller = Seller::start_on(Store::Memory);
    let (id, package) = book(&seller).await;

    assert_eq!(pause(&seller, &id, true).await["status"], "paused");
    let resumed = pause(&seller, &id, false).await;
    assert_eq!(resumed["status"], "active", "{resumed}");
    let buy = read(&seller, &id).await;
    assert_eq!(buy["status"], "active");
    assert!(
        buy["valid_actions"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("pause"))),
        "{buy}"
    );
    let delivery = call(
        &seller,
        "get_media_buy_delivery",
        json!({"media_buy_ids": [id]}),
    )
    .await;
    assert_eq!(
        delivery["media_buy_deliveries"][0]["totals"]["impressions"], 0.0,
        "{delivery}"
    );

    call(
        &seller,
        "comply_test_controller",
        json!({"scenario": "seed_creative", "params": {"creative_id": "cr-life"}}),
    )
    .await;
    let assigned = call(
        &seller,
        "update_media_buy",
        json!({"media_buy_id": id, "packages": [{"package_id": package,
               "creative_assignments": [{"creative_id": "cr-life"}]}]}),
    )
    .await;
    assert_eq!(
        assigned["status"], "active",
        "no way back to pending: {assigned}"
    );
}

#[tokio::test]
async fn a_canceled_buy_says_who_canceled_it_when_and_why() {
    let seller = Seller::start_on(Store::Memory);
    let (id, _) = book(&seller).await;
    let canceled = call(
        &seller,
        "update_media_buy",
        json!({"media_buy_id": id, "canceled": true, "cancellation_reason": "campaign withdrawn"}),
    )
    .await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    assert_eq!(canceled["canceled_by"], "buyer", "{canceled}");
    assert!(canceled["canceled_at"].is_string(), "{canceled}");
    let buy = read(&seller, &id).await;
    let c = &buy["cancellation"];
    assert_eq!(c["canceled_by"], "buyer", "{buy}");
    assert_eq!(c["reason"], "campaign withdrawn");
    assert!(
        c["canceled_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{buy}"
    );
    let p = &buy["packages"][0];
    assert_eq!(p["canceled"], true);
    assert_eq!(p["cancellation"]["canceled_by"], "buyer", "{buy}");
    assert_eq!(buy["valid_actions"], json!([]), "{buy}");

    // The seller's side (the controller standing in for it) cancels another.
    let (other, _) = book(&seller).await;
    call(
        &seller,
        "comply_test_controller",
        json!({"scenario": "force_media_buy_status", "params": {"media_buy_id": other, "status": "canceled"}}),
    )
    .await;
    let buy = read(&seller, &other).await;
    assert_eq!(buy["cancellation"]["canceled_by"], "seller", "{buy}");
    assert_eq!(buy["packages"][0]["canceled"], true, "{buy}");
    assert!(buy["cancellation"]["reason"].is_null());
}

#[tokio::test]
async fn sync_creatives_assigns_to_the_packages_named_and_says_which_it_could_not() {
    let seller = Seller::start_on(Store::Memory);
    let (id, package) = book(&seller).await;
    let agent = seller.mcp_url();
    let synced = call(
        &seller,
        "sync_creatives",
        json!({
            "creatives": [{"creative_id": "cr-assign", "name": "Banner",
                "format_id": {"agent_url": agent, "id": "display_300x250"},
                "assets": {"image": {"asset_type": "image", "url": "https://cdn.acme.example/b.png", "width": 300, "height": 250}}}],
            "assignments": [
                {"creative_id": "cr-assign", "package_id": package},
                {"creative_id": "cr-assign", "package_id": "pkg_nope"},
            ],
        }),
    )
    .await;
    let item = &synced["creatives"][0];
    assert_eq!(item["action"], "created", "{synced}");
    assert_eq!(item["assigned_to"], json!([package]), "{synced}");
    assert!(
        item["assignment_errors"]["pkg_nope"].is_string(),
        "{synced}"
    );
    assert!(item["assignment_errors"].get(&package).is_none());

    // The buy has its creative now, and waits for its flight.
    let buy = read(&seller, &id).await;
    assert_eq!(buy["status"], "pending_start", "{buy}");

    // Its delivery so far: nothing, over a period that does not end before it starts.
    let delivery = call(
        &seller,
        "get_media_buy_delivery",
        json!({"media_buy_ids": [id]}),
    )
    .await;
    let period = &delivery["reporting_period"];
    let (start, end) = (
        period["start"].as_str().unwrap(),
        period["end"].as_str().unwrap(),
    );
    assert!(start <= end, "{delivery}");
}

#[tokio::test]
async fn archived_creatives_are_listed_only_when_asked_for_and_formats_resolve_by_id() {
    let seller = Seller::start_on(Store::Memory);
    for (id, status) in [("cr-live", "approved"), ("cr-old", "archived")] {
        call(
            &seller,
            "comply_test_controller",
            json!({"scenario": "seed_creative", "params": {"creative_id": id, "fixture": {"status": status}}}),
        )
        .await;
    }
    let ids = |body: &Value| -> Vec<String> {
        body["creatives"]
            .as_array()
            .expect("creatives")
            .iter()
            .filter_map(|c| c["creative_id"].as_str().map(str::to_owned))
            .collect()
    };
    let all = call(&seller, "list_creatives", json!({})).await;
    assert_eq!(ids(&all), ["cr-live"], "{all}");
    assert_eq!(all["query_summary"]["total_matching"], 1);
    let archived = call(
        &seller,
        "list_creatives",
        json!({"filters": {"statuses": ["archived"]}}),
    )
    .await;
    assert_eq!(ids(&archived), ["cr-old"], "{archived}");

    // A seeded format replaces the listed catalogue, but a product's format still resolves.
    call(
        &seller,
        "comply_test_controller",
        json!({"scenario": "seed_creative_format", "params": {"format_id": "seeded_fmt", "fixture": {"name": "Seeded"}}}),
    )
    .await;
    let agent = seller.mcp_url();
    let found = call(
        &seller,
        "list_creative_formats",
        json!({"format_ids": [{"agent_url": agent, "id": "display_300x250"}, {"agent_url": agent, "id": "seeded_fmt"}]}),
    )
    .await;
    let got: Vec<&str> = found["formats"]
        .as_array()
        .expect("formats")
        .iter()
        .filter_map(|f| f["format_id"]["id"].as_str())
        .collect();
    assert_eq!(got, ["display_300x250", "seeded_fmt"], "{found}");
}

/// Every format says which assets a creative carries (keyed by `asset_id`, with their
/// requirements), so a buyer need not guess the keys of its manifest.
#[tokio::test]
async fn formats_declare_their_assets() {
    let seller = Seller::start_on(Store::Memory);
    let listed = call(&seller, "list_creative_formats", json!({})).await;
    let formats = listed["formats"].as_array().expect("formats");
    assert!(!formats.is_empty());
    for f in formats {
        let assets = f["assets"]
            .as_array()
            .expect("each format declares its assets");
        assert!(
            assets
                .iter()
                .any(|a| a["required"] == true && a["asset_id"].is_string()),
            "{f}"
        );
    }
    let asset = |id: &str, n: usize| {
        formats
            .iter()
            .find(|f| f["format_id"]["id"] == id)
            .map(|f| f["assets"][n].clone())
            .unwrap_or_default()
    };
    let image = asset("display_300x250", 0);
    assert_eq!(image["asset_id"], "image");
    assert_eq!(image["asset_type"], "image");
    assert_eq!(image["requirements"]["min_width"].as_f64(), Some(300.0));
    assert_eq!(image["requirements"]["max_height"].as_f64(), Some(250.0));
    let video = asset("video_30s", 0);
    assert_eq!(video["asset_id"], "video");
    assert_eq!(
        video["requirements"]["max_duration_ms"].as_f64(),
        Some(30_000.0)
    );
    assert_eq!(asset("video_30s", 1)["required"], false);
}
