//! The social seller against the official mock platform (`adcp mock-server sales-social`,
//! started by the test), as a buyer uses it: audiences uploaded as hashed identifiers,
//! catalogues and the dynamic creatives rendered from them, pixels and the conversions logged
//! to them, and the refusals a buyer must be able to act on. The platform's traffic shows it
//! did the work.

use adcp_conformance::harness::{runner, two_buyers};
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use sales_social::{Garden, Grants, agent, config};
use sha2::{Digest, Sha256};

fn sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("social-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn acme() -> Value {
    json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example", "sandbox": false})
}

fn hits(traffic: &Value, route: &str) -> u64 {
    traffic["traffic"][route].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_syncs_audiences_catalogues_creatives_and_conversions() {
    let upstream = runner()
        .mock_server("sales-social")
        .expect("the mock platform starts");
    let (id, secret) = upstream.key.split_once(':').expect("an OAuth client");
    // Alice acts for Acme's advertiser; Bob for no one.
    let grants = Grants::none().grant("alice", "acmeoutdoor.example");
    let garden = Garden::new(&upstream.url, id, secret).grants(grants);
    let (server, alice, bob) =
        two_buyers(config(false), move |c| agent(c, Stores::memory(), garden));

    // The features serving these tasks are declared.
    let (_, caps) = alice.call("get_adcp_capabilities", json!({})).await;
    let features = &caps["media_buy"]["features"];
    for f in [
        "audience_targeting",
        "conversion_tracking",
        "catalog_management",
    ] {
        assert_eq!(features[f], true, "{caps}");
    }
    assert_eq!(
        caps["media_buy"]["audience_targeting"]["minimum_audience_size"], 1000,
        "{caps}"
    );

    // Audiences: members uploaded as hashed identifiers, by type; below the minimum size the
    // audience is too small to target; identifiers the platform cannot match are said.
    let members = json!([
        {"external_id": "u1", "hashed_email": sha256("a@example.com")},
        {"external_id": "u2", "hashed_phone": sha256("+15551234567")},
        {"external_id": "u3", "uids": [{"type": "rampid", "value": "XY123"}]},
    ]);
    let (err, resp) = alice
        .call(
            "sync_audiences",
            json!({"account": acme(), "idempotency_key": key(), "context": {"trace": "a1"},
                   "audiences": [{"audience_id": "crm_buyers", "name": "CRM buyers", "add": members}]}),
        )
        .await;
    assert!(!err, "{resp}");
    let a = &resp["audiences"][0];
    assert_eq!(a["action"], "created", "{resp}");
    assert_eq!(a["uploaded_count"], 2, "{resp}");
    assert_eq!(a["status"], "too_small", "{resp}");
    assert!(
        a["seller_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("ca_")),
        "{resp}"
    );
    assert_eq!(a["errors"][0]["field"], "audiences[0].add", "{resp}");
    assert_eq!(resp["context"]["trace"], "a1", "context echoed: {resp}");

    // Removing members is something the platform cannot do: said on the audience.
    let (err, resp) = alice
        .call(
            "sync_audiences",
            json!({"account": acme(), "idempotency_key": key(),
                   "audiences": [{"audience_id": "crm_buyers", "remove": [{"external_id": "u1", "hashed_email": sha256("a@example.com")}]}]}),
        )
        .await;
    assert!(!err, "{resp}");
    assert_eq!(resp["audiences"][0]["action"], "failed", "{resp}");
    assert_eq!(
        resp["audiences"][0]["errors"][0]["code"], "UNSUPPORTED_FEATURE",
        "{resp}"
    );

    // Another buyer naming Acme cannot use its advertiser, and is told no more than about a
    // brand the platform does not have.
    let attempt = |account: Value| {
        json!({"account": account, "idempotency_key": key(),
               "audiences": [{"audience_id": "lookalike_seed", "add": [{"external_id": "u7", "hashed_email": sha256("b@example.com")}]}]})
    };
    let (_, listed) = bob
        .call(
            "sync_audiences",
            json!({"account": acme(), "idempotency_key": key()}),
        )
        .await;
    assert_eq!(listed["audiences"], json!([]), "{listed}");
    let (err, theirs) = bob.call("sync_audiences", attempt(acme())).await;
    assert!(err, "{theirs}");
    assert_eq!(
        theirs["errors"][0]["code"], "ACCOUNT_SETUP_REQUIRED",
        "{theirs}"
    );
    let mut nobody = acme();
    nobody["brand"]["domain"] = json!("no-such-brand.example");
    let (_, unknown) = alice.call("sync_audiences", attempt(nobody)).await;
    assert_eq!(
        unknown["errors"][0]["message"], theirs["errors"][0]["message"],
        "{unknown}"
    );
    assert!(!theirs.to_string().contains("acmeoutdoor"), "{theirs}");

    // A sandbox account never reaches this (live) platform: its audience is the seller's.
    let before = upstream.traffic().await;
    let mut sandbox = acme();
    sandbox["sandbox"] = json!(true);
    let (err, resp) = alice
        .call(
            "sync_audiences",
            json!({"account": sandbox, "idempotency_key": key(),
                   "audiences": [{"audience_id": "trial", "add": [{"external_id": "u9", "hashed_email": sha256("t@example.com")}]}]}),
        )
        .await;
    assert!(!err, "{resp}");
    assert_eq!(resp["audiences"][0]["action"], "created", "{resp}");
    let after = upstream.traffic().await;
    let made = "POST /v1.3/advertiser/{id}/custom_audience/create";
    assert_eq!(
        hits(&after, made),
        hits(&before, made),
        "nothing made on the platform"
    );

    // A dynamic product ad needs a catalogue with images; once synced, it is registered.
    let dpa = json!({"creative_id": "dpa_1", "name": "Spring DPA",
        "format_id": {"agent_url": server.mcp_url(), "id": "product_carousel_3_to_10"},
        "assets": {"click_url": {"asset_type": "url", "url": "https://acmeoutdoor.example/p?sku={SKU}"}}});
    let (err, resp) = alice
        .call(
            "sync_creatives",
            json!({"account": acme(), "idempotency_key": key(), "creatives": [dpa.clone()]}),
        )
        .await;
    assert!(!err, "{resp}");
    assert_eq!(resp["creatives"][0]["action"], "failed", "{resp}");
    assert_eq!(
        resp["creatives"][0]["errors"][0]["field"], "format_id",
        "{resp}"
    );
    let (err, resp) = alice
        .call(
            "sync_catalogs",
            json!({"account": acme(), "idempotency_key": key(), "catalogs": [{
                "catalog_id": "spring", "type": "product", "name": "Spring gear",
                "items": [{"item_id": "tent", "title": "Tent", "image_url": "https://cdn.acmeoutdoor.example/tent.png"},
                          {"title": "no id"}]}]}),
        )
        .await;
    assert!(!err, "{resp}");
    let c = &resp["catalogs"][0];
    assert_eq!(
        (c["action"].clone(), c["item_count"].clone()),
        (json!("created"), json!(1)),
        "{resp}"
    );
    assert_eq!(c["items_rejected"], 1, "{resp}");
    assert!(
        c["platform_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("cat_")),
        "{resp}"
    );
    let feed = json!({"creative_id": "feed_1", "name": "Trail Pro",
        "format_id": {"agent_url": server.mcp_url(), "id": "native_feed"},
        "assets": {"image": {"asset_type": "image", "url": "https://cdn.acmeoutdoor.example/t.png", "width": 1200, "height": 628},
                   "headline": {"asset_type": "text", "content": "Built for the summit"}}});
    let (err, resp) = alice
        .call(
            "sync_creatives",
            json!({"account": acme(), "idempotency_key": key(), "creatives": [dpa, feed]}),
        )
        .await;
    assert!(!err, "{resp}");
    for c in resp["creatives"].as_array().expect("creatives") {
        assert_eq!(c["action"], "created", "{resp}");
        assert_eq!(c["status"], "pending_review", "{resp}");
        assert!(
            c["platform_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("cr_")),
            "{resp}"
        );
    }

    // Conversions: an event with a hashed email reaches the platform; one without any
    // identifier is a partial failure. log_event names no account: the caller's event source
    // is found by its id, and another caller's is not.
    let (err, resp) = alice
        .call(
            "sync_event_sources",
            json!({"account": acme(), "idempotency_key": key(), "event_sources": [{
                "event_source_id": "web", "name": "Website", "allowed_domains": ["acmeoutdoor.example"]}]}),
        )
        .await;
    assert!(!err, "{resp}");
    let s = &resp["event_sources"][0];
    assert!(
        s["seller_id"]
            .as_str()
            .is_some_and(|p| s["setup"]["snippet"]
                .as_str()
                .is_some_and(|x| x.contains(p))),
        "{resp}"
    );
    let events = json!([
        {"event_id": "e1", "event_type": "purchase", "event_time": "2026-04-05T14:30:00Z",
         "user_match": {"hashed_email": sha256("a@example.com")}, "custom_data": {"value": 10.0, "currency": "USD"}},
        {"event_id": "e2", "event_type": "purchase", "event_time": "2026-04-05T14:31:00Z"},
    ]);
    let (err, resp) = alice
        .call(
            "log_event",
            json!({"event_source_id": "web", "idempotency_key": key(), "events": events.clone()}),
        )
        .await;
    assert!(!err, "{resp}");
    assert_eq!(
        (
            resp["events_received"].clone(),
            resp["events_processed"].clone()
        ),
        (json!(2), json!(1)),
        "{resp}"
    );
    assert_eq!(resp["partial_failures"][0]["event_id"], "e2", "{resp}");
    let (err, resp) = bob
        .call(
            "log_event",
            json!({"event_source_id": "web", "idempotency_key": key(), "events": events}),
        )
        .await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "REFERENCE_NOT_FOUND", "{resp}");

    // Financials: the advertiser's currency and time zone, from the platform.
    let (err, resp) = alice
        .call("get_account_financials", json!({"account": acme()}))
        .await;
    assert!(!err, "{resp}");
    assert_eq!(resp["timezone"], "America/Los_Angeles", "{resp}");
    assert!(
        resp["period"]["start"].as_str() <= resp["period"]["end"].as_str(),
        "{resp}"
    );

    // A live account whose brand has no advertiser on the platform cannot use it.
    let stranger = json!({"brand": {"domain": "nobody.example"}, "operator": "pinnacle-agency.example", "sandbox": false});
    let (err, resp) = alice
        .call(
            "sync_catalogs",
            json!({"account": stranger, "idempotency_key": key(), "context": {"trace": "n1"},
                   "catalogs": [{"catalog_id": "x", "type": "product", "items": [{"item_id": "a"}]}]}),
        )
        .await;
    assert!(err, "{resp}");
    assert_eq!(
        resp["errors"][0]["code"], "ACCOUNT_SETUP_REQUIRED",
        "{resp}"
    );
    assert_eq!(resp["errors"][0]["field"], "account", "{resp}");
    assert_eq!(resp["context"]["trace"], "n1", "{resp}");

    // The platform did the work, authenticated as the OAuth client.
    let t = upstream.traffic().await;
    for route in [
        "POST /oauth/token",
        "POST /v1.3/advertiser/{id}/custom_audience/create",
        "POST /v1.3/advertiser/{id}/custom_audience/upload",
        "POST /v1.3/advertiser/{id}/catalog/upload",
        "POST /v1.3/advertiser/{id}/creative/create",
        "POST /v1.3/advertiser/{id}/pixel/create",
        "POST /v1.3/advertiser/{id}/event/track",
        "GET /v1.3/advertiser/{id}/info",
    ] {
        assert!(hits(&t, route) > 0, "{route} never called: {t}");
    }
    // One upload per identifier type the platform takes (email, phone).
    assert_eq!(
        hits(&t, "POST /v1.3/advertiser/{id}/custom_audience/upload"),
        2,
        "{t}"
    );
    // One token for the whole run.
    assert_eq!(hits(&t, "POST /oauth/token"), 1, "{t}");
}
