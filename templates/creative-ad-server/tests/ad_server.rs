//! The ad-server agent over MCP, against the SDK's mock ad server: formats that declare their
//! assets, filtered; a library synced with per-item failures, kept under the buyer's ids and
//! uploaded; the brand's own library listed with its pricing; tags built per media buy (HTML
//! for display, VAST for video) and refused for a format the creative is not; delivery of the
//! buy's creatives from the ad server; usage checked against the pricing; and another buyer
//! who sees none of it.

use adcp_conformance::harness::{runner, two_buyers};
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use adcp_runtime::test_util::McpClient;
use creative_ad_server::{AdServer, agent, config};

fn key(n: u32) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("ads-{n}-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn ids(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[field].as_str().map(str::to_owned))
        .collect()
}

fn creative(id: &str, format: &str, asset: &Value) -> Value {
    let kind = if format.starts_with("video") {
        "video"
    } else {
        "image"
    };
    json!({"creative_id": id, "name": id, "format_id": {"agent_url": "https://elsewhere.example", "id": format},
           "assets": {kind: asset,
                      "click_url": {"asset_type": "url", "url": "https://acmeoutdoor.example/trail"}}})
}

/// Each buyer's account: the same brand through the same agency, so each sees the brand's
/// own library at the ad server, and neither sees the other's uploads.
fn account() -> Value {
    json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "agency.example"})
}

async fn send(client: &McpClient, task: &str, mut args: Value) -> (bool, Value) {
    args["account"] = account();
    client.call(task, args).await
}

async fn call(client: &McpClient, task: &str, args: Value) -> Value {
    let (err, v) = send(client, task, args).await;
    assert!(!err, "{task}: {v}");
    v
}

#[test]
fn a_library_tags_per_buy_delivery_and_usage() {
    let upstream = runner()
        .mock_server("creative-ad-server")
        .expect("the mock ad server starts");
    let (url, secret) = (upstream.url.clone(), upstream.key.clone());
    let (_server, alice, bob) = two_buyers(config(false), move |c| {
        agent(
            c,
            Stores::memory(),
            AdServer::new(&url, &secret, "acmeoutdoor.example"),
        )
    });
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            for buyer in [&alice, &bob] {
                let mut a = account();
                a["billing"] = json!("operator");
                let (err, v) = buyer
                    .call("sync_accounts", json!({"idempotency_key": key(0), "accounts": [a]}))
                    .await;
                assert!(!err, "{v}");
            }
            // Formats declare their assets; filters narrow them.
            let all = call(&alice, "list_creative_formats", json!({})).await;
            let medrec = all["formats"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["format_id"]["id"] == "display_300x250")
                .expect("the medium rectangle")
                .clone();
            assert_eq!(
                ids(&medrec, "assets", "asset_id"),
                ["image", "click_url"],
                "{medrec}"
            );
            assert_eq!(medrec["assets"][0]["requirements"]["max_width"].as_f64(), Some(300.0));
            let video = call(
                &alice,
                "list_creative_formats",
                json!({"type": "video", "max_width": 2000}),
            )
            .await;
            let vids = ids(&video, "formats", "name");
            assert!(!vids.is_empty(), "{video}");
            assert!(
                video["formats"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|f| f["assets"][0]["asset_type"] == "video"),
                "{video}"
            );

            // A library: uploaded, kept under the buyer's ids; each bad creative fails alone.
            let image = |w: i64| {
                json!({"asset_type": "image", "url": "https://cdn.example/hero.jpg", "width": w, "height": 250})
            };
            let synced = call(
                &alice,
                "sync_creatives",
                json!({"idempotency_key": key(1), "creatives": [
                    creative("hero_medrec", "display_300x250", &image(300)),
                    creative("hero_wide", "display_300x250", &image(320)),
                    creative("hero_native", "native_post", &image(300)),
                    creative("hero_video", "video_30s", &json!({"asset_type": "video",
                        "url": "https://cdn.example/hero.mp4", "width": 1920, "height": 1080, "duration_ms": 30000})),
                ]}),
            )
            .await;
            let items = synced["creatives"].as_array().cloned().unwrap_or_default();
            assert_eq!(items[0]["action"], "created", "{synced}");
            assert_eq!(items[0]["status"], "approved");
            assert!(items[0]["platform_id"].as_str().is_some_and(|p| p.starts_with("cr_")));
            assert_eq!(items[1]["action"], "failed");
            assert_eq!(
                items[1]["errors"][0]["field"],
                "creatives[1].assets.image.width"
            );
            assert!(items[1].get("status").is_none(), "{synced}");
            assert_eq!(items[2]["errors"][0]["field"], "creatives[2].format_id");
            assert_eq!(items[3]["action"], "created");
            let again = call(
                &alice,
                "sync_creatives",
                json!({"idempotency_key": key(2), "creatives": [creative("hero_medrec", "display_300x250", &image(300))]}),
            )
            .await;
            assert_eq!(again["creatives"][0]["action"], "unchanged", "{again}");

            // The library with pricing: the brand's own creatives at the ad server, then this
            // buyer's.
            let listed = call(
                &alice,
                "list_creatives",
                json!({"include_pricing": true, "filters": {"statuses": ["approved"]}}),
            )
            .await;
            assert_eq!(
                ids(&listed, "creatives", "creative_id"),
                [
                    "cr_seed_acme_leaderboard",
                    "cr_seed_acme_medrec",
                    "hero_medrec",
                    "hero_video"
                ],
                "{listed}"
            );
            assert_eq!(
                listed["creatives"][2]["pricing_options"][0],
                json!({"pricing_option_id": "po_display_300x250_cpm", "model": "cpm",
                       "cpm": 0.1, "currency": "USD"})
            );

            // Tags per media buy: HTML for display with the creative's asset and click, VAST for
            // video; a display creative is not a video tag.
            let tag = call(
                &alice,
                "build_creative",
                json!({"idempotency_key": key(3), "creative_id": "hero_medrec",
                       "target_format_id": {"agent_url": "https://elsewhere.example", "id": "display_300x250"},
                       "media_buy_id": "mb_1", "package_id": "pkg_1", "include_preview": true}),
            )
            .await;
            let html = tag["creative_manifest"]["assets"]["tag"]["content"]
                .as_str()
                .unwrap_or_default();
            assert!(
                html.contains("https://cdn.example/hero.jpg")
                    && html.contains("acmeoutdoor.example/trail"),
                "{tag}"
            );
            assert_eq!(tag["pricing_option_id"], "po_display_300x250_cpm");
            assert_eq!(tag["vendor_cost"].as_f64(), Some(0.0));
            assert!(
                tag["preview"]["previews"][0]["renders"][0]["preview_url"]
                    .as_str()
                    .is_some_and(|u| u.contains("mb_1")),
                "{tag}"
            );
            let vast = call(
                &alice,
                "build_creative",
                json!({"idempotency_key": key(4), "creative_id": "hero_video",
                       "target_format_id": {"agent_url": "https://elsewhere.example", "id": "vast_30s"},
                       "media_buy_id": "mb_1", "package_id": "pkg_2"}),
            )
            .await;
            let xml = vast["creative_manifest"]["assets"]["vast"]["content"]
                .as_str()
                .unwrap_or_default();
            assert!(
                xml.starts_with("<VAST") && xml.contains("hero.mp4"),
                "{vast}"
            );
            let (err, wrong) = send(
                    &alice,
                    "build_creative",
                    json!({"idempotency_key": key(5), "creative_id": "hero_medrec",
                           "target_format_id": {"agent_url": "https://elsewhere.example", "id": "vast_30s"},
                           "context": {"correlation_id": "w-1"}}),
                )
                .await;
            assert!(err, "{wrong}");
            assert_eq!(wrong["errors"][0]["code"], "VALIDATION_ERROR", "{wrong}");
            assert_eq!(wrong["errors"][0]["field"], "target_format_id");
            assert_eq!(wrong["context"]["correlation_id"], "w-1");

            // The buy's delivery, from the ad server, per creative trafficked in it.
            let delivery = call(
                &alice,
                "get_creative_delivery",
                json!({"media_buy_ids": ["mb_1"]}),
            )
            .await;
            assert_eq!(
                ids(&delivery, "creatives", "creative_id"),
                ["hero_medrec", "hero_video"],
                "{delivery}"
            );
            // The ad server's day since the tag was built: 10,000 to 100,000 impressions.
            let imps = delivery["creatives"][0]["totals"]["impressions"]
                .as_f64()
                .unwrap_or_default();
            assert!((10_000.0..=100_000.0).contains(&imps), "{delivery}");
            assert_eq!(delivery["creatives"][0]["media_buy_id"], "mb_1");

            // Usage: checked against the creative's pricing, item by item.
            let usage = call(
                &alice,
                "report_usage",
                json!({"idempotency_key": key(6),
                       "reporting_period": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-31T23:59:59Z"},
                       "usage": [
                    {"account": {"account_id": "a"}, "creative_id": "hero_medrec",
                     "pricing_option_id": "po_display_300x250_cpm", "impressions": 100000,
                     "vendor_cost": 10.0, "currency": "USD"},
                    {"account": {"account_id": "a"}, "creative_id": "hero_medrec",
                     "impressions": 100000, "vendor_cost": 99.0, "currency": "USD"},
                    {"account": {"account_id": "a"}, "creative_id": "nobody",
                     "vendor_cost": 1.0, "currency": "USD"}]}),
            )
            .await;
            assert_eq!(usage["accepted"], 1, "{usage}");
            assert_eq!(usage["errors"][0]["field"], "usage[1].vendor_cost");
            assert_eq!(usage["errors"][1]["code"], "CREATIVE_NOT_FOUND");

            // Another buyer of the brand sees its library, and none of the first buyer's.
            let theirs = call(&bob, "list_creatives", json!({})).await;
            assert_eq!(
                ids(&theirs, "creatives", "creative_id"),
                ["cr_seed_acme_leaderboard", "cr_seed_acme_medrec"],
                "{theirs}"
            );
            let (err, refused) = send(
                    &bob,
                    "build_creative",
                    json!({"idempotency_key": key(7), "creative_id": "hero_medrec",
                           "target_format_id": {"agent_url": "https://elsewhere.example", "id": "display_300x250"}}),
                )
                .await;
            assert!(err);
            assert_eq!(refused["errors"][0]["code"], "CREATIVE_NOT_FOUND");
            let none = call(
                &bob,
                "get_creative_delivery",
                json!({"media_buy_ids": ["mb_1"]}),
            )
            .await;
            assert_eq!(none["creatives"], json!([]), "{none}");
        });
}
