//! A buyer's session with the catalogue-driven seller: a catalogue synced and its items
//! reviewed, a dynamic creative built from it whose tracker URLs carry hostile catalogue values
//! as data (what the runner's `expect_substitution_safe` would check), conversions logged
//! twice and counted once, and feedback on a buy (and on one that is not the caller's).

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use sales_catalog_driven::{agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("catalogue-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn account() -> Value {
    json!({"brand": {"domain": "amsterdam-steakhouse.example"}, "operator": "pinnacle-agency.example"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_creative_conversions_and_feedback() {
    let (server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));

    // Building creatives is the creative protocol: declared, so buyers' clients call it.
    let (_, caps) = alice.call("get_adcp_capabilities", json!({})).await;
    let protocols = caps["supported_protocols"].as_array().expect("protocols");
    assert!(protocols.contains(&json!("creative")), "{caps}");
    assert_eq!(
        caps["media_buy"]["features"]["conversion_tracking"], true,
        "{caps}"
    );

    // Nothing to build from yet.
    let build = json!({"account": account(), "idempotency_key": key(), "include_preview": true,
        "target_format_id": {"agent_url": server.mcp_url(), "id": "display_300x250_catalog"},
        "message": "Build from the menu catalogue"});
    let (err, resp) = alice.call("build_creative", build.clone()).await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "REFERENCE_NOT_FOUND", "{resp}");

    // A catalogue with hostile values is accepted; an item without an id is rejected.
    let (err, resp) = alice
        .call(
            "sync_catalogs",
            json!({"account": account(), "idempotency_key": key(), "catalogs": [{
                "catalog_id": "menu", "type": "product", "content_id_type": "sku",
                "items": [
                    {"item_id": "a", "sku": "00013&cmd=drop", "title": "<b>Ribeye</b>", "image_url": "https://cdn.example/r.jpg",
                     "price": {"amount": 89.0, "currency": "USD"}},
                    {"item_id": "b", "sku": "vacancy-{DEVICE_ID}-42", "title": "Tower"},
                    {"item_id": "c", "sku": "café-amsterdam", "title": "Flight"},
                    {"title": "no id"}]}]}),
        )
        .await;
    assert!(!err, "{resp}");
    let c = &resp["catalogs"][0];
    assert_eq!(
        (
            c["item_count"].clone(),
            c["items_approved"].clone(),
            c["items_rejected"].clone()
        ),
        (json!(3), json!(3), json!(1)),
        "{resp}"
    );
    assert_eq!(c["item_issues"][0]["status"], "rejected", "{resp}");

    // The creative names the catalogue; the preview's URLs carry each SKU percent-encoded
    // once, and text is escaped.
    let (err, resp) = alice.call("build_creative", build.clone()).await;
    assert!(!err, "{resp}");
    let m = &resp["creative_manifest"];
    assert_eq!(m["format_id"]["id"], "display_300x250_catalog", "{resp}");
    assert_eq!(m["assets"]["catalog"]["catalog_id"], "menu", "{resp}");
    assert!(m["assets"]["catalog"].get("items").is_none(), "{resp}");
    let page = resp["preview"]["previews"][0]["renders"][0]["preview_html"]
        .as_str()
        .expect("a preview");
    for encoded in [
        "sku=00013%26cmd%3Ddrop&amp;",
        "sku=vacancy-%7BDEVICE_ID%7D-42&amp;",
        "sku=caf%C3%A9-amsterdam&amp;",
    ] {
        assert!(page.contains(encoded), "{encoded} in {page}");
    }
    assert!(
        !page.contains("cmd=drop") && !page.contains("<b>"),
        "{page}"
    );
    assert!(page.contains("&lt;b&gt;Ribeye"), "{page}");

    // A catalogue given inline in the manifest is the one built from, and travels with it; a
    // named one the account lacks is refused on its asset.
    let mut inline = build.clone();
    inline["idempotency_key"] = json!(key());
    inline["creative_manifest"] = json!({
        "format_id": {"agent_url": server.mcp_url(), "id": "display_300x250_catalog"},
        "assets": {"feed": {"asset_type": "catalog", "type": "product", "content_id_type": "sku",
            "items": [{"item_id": "z", "sku": "winter&sale", "title": "Stew"}]}}});
    let (err, resp) = alice.call("build_creative", inline.clone()).await;
    assert!(!err, "{resp}");
    let m = &resp["creative_manifest"];
    assert_eq!(m["assets"]["catalog"]["items"][0]["item_id"], "z", "{resp}");
    let page = resp["preview"]["previews"][0]["renders"][0]["preview_html"]
        .as_str()
        .expect("a preview");
    assert!(
        page.contains("sku=winter%26sale") && !page.contains("Ribeye"),
        "{page}"
    );
    inline["idempotency_key"] = json!(key());
    inline["creative_manifest"]["assets"]["feed"] =
        json!({"asset_type": "catalog", "catalog_id": "not_synced", "type": "product"});
    let (err, resp) = alice.call("build_creative", inline).await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "REFERENCE_NOT_FOUND", "{resp}");
    assert_eq!(
        resp["errors"][0]["field"], "creative_manifest.assets.feed.catalog_id",
        "{resp}"
    );

    // Conversions: server to server, each event_id counted once; match quality reported.
    let (err, resp) = alice
        .call(
            "sync_event_sources",
            json!({"account": account(), "idempotency_key": key(),
                   "event_sources": [{"event_source_id": "site", "name": "Website"}]}),
        )
        .await;
    assert!(!err, "{resp}");
    assert_eq!(
        resp["event_sources"][0]["setup"]["snippet_type"], "server_only",
        "{resp}"
    );
    let events = json!([
        {"event_id": "e1", "event_type": "purchase", "event_time": "2026-04-05T14:30:00Z",
         "user_match": {"hashed_email": "a".repeat(64)}},
        {"event_id": "e2", "event_type": "lead", "event_time": "2026-04-05T14:31:00Z"},
        {"event_id": "e3", "event_type": "page_view", "event_time": "2026-04-05T14:32:00Z",
         "custom_data": {"content_ids": ["a"]}},
    ]);
    let log = json!({"event_source_id": "site", "events": events});
    let mut first = log.clone();
    first["idempotency_key"] = json!(key());
    let (err, resp) = alice.call("log_event", first).await;
    assert!(!err, "{resp}");
    assert_eq!(
        (
            resp["events_received"].clone(),
            resp["events_processed"].clone()
        ),
        (json!(3), json!(3)),
        "{resp}"
    );
    let q = resp["match_quality"].as_f64().expect("match quality");
    assert!((q - 1.0 / 3.0).abs() < 1e-9, "{resp}");
    let mut again = log;
    again["idempotency_key"] = json!(key());
    let (_, resp) = alice.call("log_event", again).await;
    assert_eq!(
        resp["events_processed"], 0,
        "repeats are counted once: {resp}"
    );
    assert!(
        resp["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("counted once")),
        "{resp}"
    );

    // Feedback on a buy of the caller's; another caller's buy is as absent as none.
    let (_, products) = alice
        .call(
            "get_products",
            json!({"buying_mode": "wholesale", "account": account()}),
        )
        .await;
    let product = products["products"]
        .as_array()
        .and_then(|p| {
            p.iter()
                .find(|p| p["product_id"] == "local_display_dynamic")
        })
        .cloned()
        .expect("the dynamic product");
    let (err, buy) = alice
        .call(
            "create_media_buy",
            json!({"account": account(), "idempotency_key": key(), "brand": {"domain": "amsterdam-steakhouse.example"},
                   "start_time": "2031-01-01T00:00:00Z", "end_time": "2031-01-31T23:59:59Z",
                   "packages": [{"product_id": product["product_id"], "pricing_option_id": "cpm_standard",
                                 "budget": 5000, "bid_price": 7.0, "catalogs": [{"catalog_id": "menu", "type": "product"}]}]}),
        )
        .await;
    assert!(!err, "{buy}");
    assert_eq!(
        buy["packages"][0]["catalogs"][0]["catalog_id"], "menu",
        "echoed: {buy}"
    );
    let id = buy["media_buy_id"].as_str().expect("a buy").to_owned();

    // A package naming a catalogue the account never synced is refused, on that catalogue.
    let (err, resp) = alice
        .call(
            "create_media_buy",
            json!({"account": account(), "idempotency_key": key(), "brand": {"domain": "amsterdam-steakhouse.example"},
                   "start_time": "2031-01-01T00:00:00Z", "end_time": "2031-01-31T23:59:59Z",
                   "packages": [{"product_id": "local_display_dynamic", "pricing_option_id": "cpm_standard",
                                 "budget": 5000, "bid_price": 7.0, "catalogs": [{"catalog_id": "nope", "type": "product"}]}]}),
        )
        .await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "REFERENCE_NOT_FOUND", "{resp}");
    assert_eq!(
        resp["errors"][0]["field"], "packages[0].catalogs[0].catalog_id",
        "{resp}"
    );
    let feedback = |who: &str| {
        json!({"account": account(), "idempotency_key": format!("{}-{who}", key()), "media_buy_id": id,
               "measurement_period": {"start": "2031-01-01T00:00:00Z", "end": "2031-01-08T00:00:00Z"},
               "performance_index": 1.4, "metric_type": "conversion_rate", "context": {"trace": who}})
    };
    let (err, resp) = alice
        .call("provide_performance_feedback", feedback("alice"))
        .await;
    assert!(!err, "{resp}");
    assert_eq!(resp["success"], true, "{resp}");
    let (err, resp) = bob
        .call("provide_performance_feedback", feedback("bob"))
        .await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "MEDIA_BUY_NOT_FOUND", "{resp}");
    assert_eq!(resp["context"]["trace"], "bob", "{resp}");
    // Feedback on a creative the account does not have.
    let mut on_creative = feedback("creative");
    on_creative["creative_id"] = json!("no_such_creative");
    let (err, resp) = alice
        .call("provide_performance_feedback", on_creative)
        .await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "CREATIVE_NOT_FOUND", "{resp}");
    assert_eq!(resp["errors"][0]["field"], "creative_id", "{resp}");
}

/// A sponsored post previewed as the network serves it: hosted at a URL anyone holding it can
/// open, sandboxed, with the manifest's text escaped; a format the network does not take
/// refused on its field; a synced video built into a VAST tag where the network serves video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_are_hosted_escaped_and_videos_become_vast() {
    let (server, alice, _bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));
    let post = |format: &str, output: &str| {
        json!({"account": account(), "request_type": "single", "output_format": output,
               "context": {"correlation_id": "p-1"},
               "creative_manifest": {"format_id": {"agent_url": "https://elsewhere.example", "id": format},
                   "assets": {"headline": {"asset_type": "text", "content": "Steak <script>alert(1)</script> night"},
                              "image": {"asset_type": "image", "url": "https://cdn.example/steak.jpg", "width": 1200, "height": 628},
                              "click_url": {"asset_type": "url", "url": "javascript:alert(1)"}}}})
    };
    let (err, shown) = alice
        .call("preview_creative", post("native_post", "html"))
        .await;
    assert!(!err, "{shown}");
    assert_eq!(shown["context"]["correlation_id"], "p-1");
    let html = shown["previews"][0]["renders"][0]["preview_html"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains("Steak &lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "only http(s) links: {html}");
    let (err, hosted) = alice
        .call("preview_creative", post("native_post", "url"))
        .await;
    assert!(!err, "{hosted}");
    let url = hosted["previews"][0]["renders"][0]["preview_url"]
        .as_str()
        .expect("a hosted preview");
    assert!(url.starts_with(&server.base_url()), "{url}");
    let page = reqwest::get(url).await.expect("the preview is served");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(csp.starts_with("sandbox"), "{csp}");
    assert_eq!(page.text().await.unwrap_or_default(), html);
    let missing = reqwest::get(format!("{}/previews/pv_nothing", server.base_url()))
        .await
        .expect("answered");
    assert_eq!(missing.status(), 404);

    let (err, refused) = alice
        .call("preview_creative", post("billboard_96x48", "url"))
        .await;
    assert!(err, "{refused}");
    assert_eq!(
        refused["errors"][0]["field"], "creative_manifest.format_id",
        "{refused}"
    );

    // Where the network serves video (its compliance fixtures do), a synced video is built
    // into a VAST tag by its id.
    let (_fixtures, alice, _) = two_buyers(config(true), move |c| agent(c, Stores::memory()));
    let (err, synced) = alice
        .call(
            "sync_creatives",
            json!({"account": account(), "idempotency_key": key(), "creatives": [{
                "creative_id": "steak_video", "name": "Steak night", "format_id": {"agent_url": server.mcp_url(), "id": "video_30s"},
                "assets": {"video": {"asset_type": "video", "url": "https://cdn.example/steak.mp4", "width": 1920, "height": 1080, "duration_ms": 15000},
                           "click_url": {"asset_type": "url", "url": "https://amsterdam-steakhouse.example/book"}}}]}),
        )
        .await;
    assert!(!err, "{synced}");
    assert_eq!(synced["creatives"][0]["action"], "created", "{synced}");
    let (err, built) = alice
        .call(
            "build_creative",
            json!({"account": account(), "idempotency_key": key(), "creative_id": "steak_video",
                   "target_format_id": {"agent_url": server.mcp_url(), "id": "vast_30s"}}),
        )
        .await;
    assert!(!err, "{built}");
    let xml = built["creative_manifest"]["assets"]["vast"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        xml.contains("<Duration>00:00:15</Duration>") && xml.contains("steak.mp4"),
        "{xml}"
    );
}
