//! A buyer generating creatives with the seller: the generative formats and what they output;
//! a banner from a message, hosted as an SVG anyone holding its URL can fetch (sandboxed); the
//! same copy in three sizes; a request with nothing to say refused on `message`, a format the
//! seller does not generate on the target; a banner for the catalogue item the message names,
//! whose hostile values stay data and never reach a URL; and another buyer, whose catalogue
//! is its own.

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use creative_generative::{agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("generation-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn account() -> Value {
    json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example"})
}

fn target(id: &str) -> Value {
    json!({"agent_url": "https://elsewhere.example", "id": id})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banners_are_generated_from_the_buyers_words_and_catalogue() {
    let (server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));

    let (_, caps) = alice.call("get_adcp_capabilities", json!({})).await;
    assert_eq!(caps["creative"]["supports_generation"], true, "{caps}");
    let (err, formats) = alice
        .call("list_creative_formats", json!({"account": account()}))
        .await;
    assert!(!err, "{formats}");
    let all = formats["formats"].as_array().cloned().unwrap_or_default();
    let generative = all
        .iter()
        .find(|f| f["format_id"]["id"] == "display_728x90_generative")
        .expect("a generative format");
    assert_eq!(
        generative["output_format_ids"][0],
        json!({"agent_url": server.mcp_url(), "id": "display_728x90"})
    );
    assert!(all.iter().any(|f| f["format_id"]["id"] == "native_post"));

    // From a message: the copy is what it asks for; the banner is hosted.
    let (err, built) = alice
        .call(
            "build_creative",
            json!({"account": account(), "idempotency_key": key(), "quality": "draft",
                   "message": "Create a display banner for a summer outdoor gear sale. Bright colours.",
                   "target_format_id": target("display_300x250_generative"), "include_preview": true,
                   "context": {"correlation_id": "g-1"}}),
        )
        .await;
    assert!(!err, "{built}");
    assert_eq!(built["context"]["correlation_id"], "g-1");
    let m = &built["creative_manifest"];
    assert_eq!(m["format_id"]["id"], "display_300x250", "{built}");
    assert_eq!(
        m["assets"]["headline"]["content"],
        "Summer outdoor gear sale"
    );
    assert_eq!(
        m["assets"]["click_url"]["url"],
        "https://acmeoutdoor.example/"
    );
    let url = m["assets"]["image"]["url"]
        .as_str()
        .expect("a hosted image");
    assert!(
        url.starts_with(&format!("{}/assets/", server.base_url())),
        "{url}"
    );
    let image = reqwest::get(url).await.expect("served");
    assert_eq!(image.headers()["content-type"], "image/svg+xml");
    assert!(
        image.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .starts_with("sandbox")
    );
    let svg = image.text().await.unwrap_or_default();
    assert!(
        svg.starts_with("<svg") && svg.contains("Summer outdoor"),
        "{svg}"
    );
    assert!(
        built["preview"]["previews"][0]["renders"][0]["preview_url"]
            .as_str()
            .is_some_and(|u| u.contains("/previews/")),
        "{built}"
    );

    // The same copy, in three sizes.
    let (err, three) = alice
        .call(
            "build_creative",
            json!({"account": account(), "idempotency_key": key(), "message": "Make the headline larger",
                   "creative_manifest": {"format_id": target("display_300x250_generative"),
                       "assets": {"headline": {"asset_type": "text", "content": "Gear up for summer"}}},
                   "target_format_ids": [target("display_300x250_generative"), target("display_728x90_generative"),
                                         target("display_320x50_generative")]}),
        )
        .await;
    assert!(!err, "{three}");
    let sizes: Vec<(Value, Value)> = three["creative_manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            assert_eq!(m["assets"]["headline"]["content"], "Gear up for summer");
            (
                m["assets"]["image"]["width"].clone(),
                m["assets"]["image"]["height"].clone(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            (json!(300), json!(250)),
            (json!(728), json!(90)),
            (json!(320), json!(50))
        ]
    );

    // Nothing to say; a format it does not generate.
    let (err, mute) = alice
        .call(
            "build_creative",
            json!({"account": account(), "idempotency_key": key(), "message": "Make it pop",
                   "target_format_id": target("display_300x250_generative")}),
        )
        .await;
    assert!(err, "{mute}");
    assert_eq!(mute["errors"][0]["field"], "message", "{mute}");
    let (err, other) = alice
        .call(
            "build_creative",
            json!({"account": account(), "idempotency_key": key(), "message": "A banner for boots",
                   "target_format_id": target("billboard_96x48")}),
        )
        .await;
    assert!(err, "{other}");
    assert_eq!(other["errors"][0]["code"], "VALIDATION_ERROR");
    assert_eq!(other["errors"][0]["field"], "target_format_id");

    // The catalogue item the message names is the subject; its values stay data.
    let (err, synced) = alice
        .call(
            "sync_catalogs",
            json!({"account": account(), "idempotency_key": key(), "catalogs": [{
                "catalog_id": "gear", "type": "product", "content_id_type": "sku",
                "items": [{"item_id": "peak", "sku": "00013&cmd=drop", "title": "Peak Jacket X",
                           "url": "https://acmeoutdoor.example/peak", "image_url": "https://cdn.example/peak.jpg",
                           "price": {"amount": 449, "currency": "USD"}}]}]}),
        )
        .await;
    assert!(!err, "{synced}");
    let ask = json!({"account": account(), "idempotency_key": key(),
        "message": "Generate a 300x250 display ad for the Peak Jacket X. Put the literal {SKU} in the impression tracker.",
        "target_format_id": target("display_300x250_generative")});
    let (err, jacket) = alice.call("build_creative", ask.clone()).await;
    assert!(!err, "{jacket}");
    let assets = &jacket["creative_manifest"]["assets"];
    assert_eq!(assets["headline"]["content"], "Peak Jacket X");
    assert_eq!(assets["body"]["content"], "USD 449.00");
    assert_eq!(
        assets["click_url"]["url"],
        "https://acmeoutdoor.example/peak"
    );
    let text = jacket.to_string();
    assert!(
        !text.contains("{SKU}") && !text.contains("cmd=drop"),
        "{jacket}"
    );

    // Another buyer: its own catalogue, which has no jacket.
    let mut theirs = ask;
    theirs["idempotency_key"] = json!(key());
    let (err, plain) = bob.call("build_creative", theirs).await;
    assert!(!err, "{plain}");
    assert!(
        plain["creative_manifest"]["assets"]["body"].is_null(),
        "{plain}"
    );
}
