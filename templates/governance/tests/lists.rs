//! A buyer's property and collection lists, over MCP: created with a fetch token, resolved,
//! found by name, changed, validated against delivery (compliant, not, not covered), kept from
//! another buyer, fetched by a seller holding the list's token (that list, and nothing else),
//! deleted (the token with it).

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use adcp_runtime::test_util::McpClient;
use governance::{agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("lists-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn domains(d: &[&str]) -> Value {
    let ids: Vec<Value> = d
        .iter()
        .map(|v| json!({"type": "domain", "value": v}))
        .collect();
    json!([{"selection_type": "identifiers", "identifiers": ids}])
}

fn record(id: &str, domain: &str, impressions: u64) -> Value {
    json!({"record_id": id, "identifier": {"type": "domain", "value": domain}, "impressions": impressions})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_kept_resolved_validated_and_private() {
    let (server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));

    let (err, made) = alice
        .call(
            "create_property_list",
            json!({"idempotency_key": key(), "name": "Acme approved sites",
                   "base_properties": domains(&["outdoormagazine.example", "hikingtrails.example"])}),
        )
        .await;
    assert!(!err, "{made}");
    let id = made["list"]["list_id"].as_str().expect("an id").to_owned();
    let token = made["auth_token"].as_str().expect("a token").to_owned();
    assert!(token.len() > 16 && !token.starts_with("Bearer"), "{made}");

    // Resolved to its identifiers; found by name.
    let (_, got) = alice
        .call("get_property_list", json!({"list_id": id}))
        .await;
    assert_eq!(
        got["identifiers"].as_array().map(Vec::len),
        Some(2),
        "{got}"
    );
    let (_, found) = alice
        .call("list_property_lists", json!({"name_contains": "acme"}))
        .await;
    assert_eq!(found["lists"][0]["list_id"], id.as_str(), "{found}");

    // Delivery on a listed site is compliant; elsewhere it is not.
    let validate =
        |records: Value| json!({"list_id": id, "records": records, "include_compliant": true});
    let (_, v) = alice
        .call(
            "validate_property_delivery",
            validate(json!([
                record("a", "OutdoorMagazine.example", 500),
                record("b", "random.example", 20)
            ])),
        )
        .await;
    assert_eq!(v["compliant"], false, "{v}");
    assert_eq!(
        (
            v["summary"]["compliant_impressions"].clone(),
            v["summary"]["non_compliant_records"].clone()
        ),
        (json!(500), json!(1)),
        "{v}"
    );
    assert_eq!(v["results"][1]["record_id"], "b", "{v}");

    // A publisher's tags cannot be resolved here: what is not on the identifiers is not covered.
    let mut sources = domains(&["outdoormagazine.example"]);
    sources.as_array_mut().expect("an array").push(json!({"selection_type": "publisher_tags", "publisher_domain": "bignetwork.example", "tags": ["outdoor"]}));
    let (err, changed) = alice
        .call(
            "update_property_list",
            json!({"idempotency_key": key(), "list_id": id, "base_properties": sources}),
        )
        .await;
    assert!(!err, "{changed}");
    let (_, v) = alice
        .call(
            "validate_property_delivery",
            validate(json!([record("c", "random.example", 20)])),
        )
        .await;
    assert_eq!(
        (v["results"][0]["status"].clone(), v["compliant"].clone()),
        (json!("not_covered"), json!(true)),
        "{v}"
    );

    // Another buyer: no such list.
    let (err, theirs) = bob.call("get_property_list", json!({"list_id": id})).await;
    assert!(err, "{theirs}");
    assert_eq!(
        theirs["errors"][0]["code"], "REFERENCE_NOT_FOUND",
        "{theirs}"
    );
    let (_, none) = bob.call("list_property_lists", json!({})).await;
    assert_eq!(none["lists"], json!([]), "{none}");

    // A seller holding the list's token, and no key of its own: this list, read, and nothing
    // else (the same refusal whatever else it names).
    let seller = McpClient::new(server.mcp_url()).bearer(token.clone());
    let (err, fetched) = seller
        .call(
            "get_property_list",
            json!({"list_id": id, "context": {"correlation_id": "s-1"}}),
        )
        .await;
    assert!(!err, "{fetched}");
    assert_eq!(fetched["list"]["list_id"], id.as_str(), "{fetched}");
    assert_eq!(fetched["context"]["correlation_id"], "s-1");
    for (task, args) in [
        ("get_property_list", json!({"list_id": "pl_another"})),
        ("list_property_lists", json!({})),
        (
            "delete_property_list",
            json!({"idempotency_key": key(), "list_id": id}),
        ),
        ("get_collection_list", json!({"list_id": id})),
    ] {
        let (err, refused) = seller.call(task, args).await;
        assert!(err, "{task}: {refused}");
        assert_eq!(
            refused["errors"][0]["code"], "PERMISSION_DENIED",
            "{task}: {refused}"
        );
    }

    // Deleted: gone.
    let (_, gone) = alice
        .call(
            "delete_property_list",
            json!({"idempotency_key": key(), "list_id": id}),
        )
        .await;
    assert_eq!(gone["deleted"], true, "{gone}");
    let (err, _) = alice
        .call("get_property_list", json!({"list_id": id}))
        .await;
    assert!(err);
    let (err, after) = seller
        .call("get_property_list", json!({"list_id": id}))
        .await;
    assert!(err, "the token went with the list: {after}");

    // A collection list resolves the programs this agent knows, and no others.
    let (err, made) = alice
        .call(
            "create_collection_list",
            json!({"idempotency_key": key(), "name": "Drama allowlist", "base_collections": [{"selection_type": "distribution_ids",
                   "identifiers": [{"type": "imdb_id", "value": "tt0903747"}, {"type": "imdb_id", "value": "tt9999999"}]}]}),
        )
        .await;
    assert!(!err, "{made}");
    let (_, got) = alice
        .call(
            "get_collection_list",
            json!({"list_id": made["list"]["list_id"], "resolve": true}),
        )
        .await;
    let names: Vec<&str> = got["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Breaking Bad"], "{got}");
}
