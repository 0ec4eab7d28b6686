//! A buyer's content standards, over MCP: malformed policies refused on their field, the
//! current version judged, a delivery batch filtered by feature, a page at a time, and kept
//! from another buyer.

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use governance::{agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("standards-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn policy(id: &str, enforcement: &str, text: &str) -> Value {
    json!({"policy_id": id, "enforcement": enforcement, "policy": text})
}

fn artifact(id: &str, text: &str, alt: Option<&str>) -> Value {
    let mut image = json!({"type": "image", "url": format!("https://cdn.example/{id}.png")});
    if let Some(alt) = alt {
        image["alt_text"] = json!(alt);
    }
    json!({"property_rid": "news.example", "artifact_id": id,
           "assets": [{"type": "text", "role": "title", "content": text}, image]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standards_are_judged_as_they_are_now_and_kept_private() {
    let (_server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));
    let create = |policies: Value| {
        json!({"idempotency_key": key(), "context": {"correlation_id": "c-1"},
               "scope": {"languages_any": ["en"], "channels_any": ["display"],
                         "description": "Acme display"},
               "policies": policies})
    };

    // A namespaced id is a registry's, not an inline policy's; a registry this agent does
    // not keep is refused; both name the field, and echo the context.
    let (err, e) = alice
        .call(
            "create_content_standards",
            create(json!([policy("garm:violence", "must", "No violence")])),
        )
        .await;
    assert!(err, "{e}");
    assert_eq!(e["errors"][0]["code"], "VALIDATION_ERROR", "{e}");
    assert_eq!(e["errors"][0]["field"], "policies[0].policy_id", "{e}");
    assert_eq!(e["context"]["correlation_id"], "c-1", "{e}");
    let mut with_registry = create(json!([policy("no_violence", "must", "No violence")]));
    with_registry["registry_policy_ids"] = json!(["garm:brand_safety:violence"]);
    let (err, e) = alice.call("create_content_standards", with_registry).await;
    assert!(err, "{e}");
    assert_eq!(e["errors"][0]["code"], "UNSUPPORTED_FEATURE", "{e}");

    let (err, made) = alice
        .call(
            "create_content_standards",
            create(json!([policy(
                "no_gambling",
                "must",
                "No gambling content"
            )])),
        )
        .await;
    assert!(!err, "{made}");
    let id = made["standards_id"].as_str().expect("an id").to_owned();
    let calibrate = |a: Value| json!({"idempotency_key": key(), "standards_id": id, "artifact": a});

    // Alt text is not yet a policy: the image without it passes.
    let plain = artifact("trail", "Trail running shoes", None);
    let (_, c) = alice
        .call("calibrate_content", calibrate(plain.clone()))
        .await;
    assert_eq!(c["verdict"], "pass", "{c}");
    let (_, c) = alice
        .call(
            "calibrate_content",
            calibrate(artifact("odds", "Best casino odds tonight", Some("cards"))),
        )
        .await;
    assert_eq!(
        (c["verdict"].clone(), c["features"][0]["policy_id"].clone()),
        (json!("fail"), json!("no_gambling")),
        "{c}"
    );

    // Updated, the next calibration judges the new version.
    let mut alt_text = policy("alt_text", "must", "Every image has alt text");
    alt_text["policy_categories"] = json!(["accessibility"]);
    let (err, u) = alice
        .call(
            "update_content_standards",
            json!({"idempotency_key": key(), "standards_id": id,
                   "policies": [policy("no_gambling", "must", "No gambling content"),
                                alt_text]}),
        )
        .await;
    assert!(!err, "{u}");
    assert_eq!(
        (u["success"].clone(), u["standards_id"].clone()),
        (json!(true), json!(id)),
        "{u}"
    );
    let (_, c) = alice.call("calibrate_content", calibrate(plain)).await;
    assert_eq!(c["verdict"], "fail", "{c}");
    assert!(
        c["explanation"]
            .as_str()
            .unwrap_or_default()
            .contains("version 2"),
        "{c}"
    );

    // A delivery batch: verdicts per record; a feature filter; passed records left out.
    let records = json!([
        {"record_id": "r1", "artifact": artifact("a1", "Hiking boots", Some("boots")), "channel": "display"},
        {"record_id": "r2", "artifact": artifact("a2", "Poker night", Some("chips")), "channel": "display"},
        {"record_id": "r3", "artifact": artifact("a3", "Tents", None), "channel": "display"},
        {"record_id": "r4", "artifact": artifact("a4", "Poker night", None), "channel": "ctv"}
    ]);
    let (_, v) = alice
        .call(
            "validate_content_delivery",
            json!({"standards_id": id, "records": records, "include_passed": false}),
        )
        .await;
    assert_eq!(
        v["summary"],
        json!({"total_records": 4, "passed_records": 2, "failed_records": 2}),
        "r4 is on a channel the standards do not cover: {v}"
    );
    let failed: Vec<&Value> = v["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["record_id"])
        .collect();
    assert_eq!(failed, [&json!("r2"), &json!("r3")], "{v}");
    let (_, v) = alice
        .call(
            "validate_content_delivery",
            json!({"standards_id": id, "records": records, "feature_ids": ["brand_suitability"]}),
        )
        .await;
    assert_eq!(
        v["summary"]["failed_records"], 1,
        "only the gambling record: {v}"
    );

    // Filtered and paged.
    let (_, second) = alice
        .call(
            "create_content_standards",
            json!({"idempotency_key": key(), "scope": {"languages_any": ["fr"]},
                   "policies": [policy("no_alcohol", "must", "No alcohol")]}),
        )
        .await;
    let (_, page) = alice
        .call(
            "list_content_standards",
            json!({"pagination": {"max_results": 1}}),
        )
        .await;
    assert_eq!(page["standards"][0]["standards_id"], id.as_str(), "{page}");
    assert_eq!(page["pagination"]["has_more"], true, "{page}");
    let (_, fr) = alice
        .call("list_content_standards", json!({"languages": ["fr"]}))
        .await;
    assert_eq!(fr["standards"].as_array().map(Vec::len), Some(1), "{fr}");
    assert_eq!(
        fr["standards"][0]["standards_id"], second["standards_id"],
        "{fr}"
    );

    // Another buyer sees none of it, and cannot tell it exists.
    let (err, e) = bob
        .call("get_content_standards", json!({"standards_id": id}))
        .await;
    assert!(err, "{e}");
    assert_eq!(e["errors"][0]["code"], "REFERENCE_NOT_FOUND", "{e}");
    let (_, none) = bob.call("list_content_standards", json!({})).await;
    assert_eq!(none["standards"], json!([]), "{none}");
    let (err, e) = bob
        .call(
            "calibrate_content",
            json!({"idempotency_key": key(), "standards_id": id,
                   "artifact": artifact("x", "x", None)}),
        )
        .await;
    assert!(
        err && e["errors"][0]["code"] == "REFERENCE_NOT_FOUND",
        "{e}"
    );
}
