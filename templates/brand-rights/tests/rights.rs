//! The brand agent over MCP: identity, rights ranked by use and excluded by country, an
//! acquisition refused on its field, denied by the buyer's plan or granted and counted
//! against it, a grant paused and extended, and kept from another buyer.

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use brand_rights::{agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("rights-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn acquire(rights_id: &str, option: &str, uses: &[&str], start: &str, end: &str) -> Value {
    json!({"idempotency_key": key(), "rights_id": rights_id, "pricing_option_id": option,
           "buyer": {"domain": "acmeoutdoor.example"},
           "campaign": {"description": "Summer trail campaign", "uses": uses,
                        "start_date": start, "end_date": end},
           "revocation_webhook": {"url": "https://buyer.example/revoked",
                                  "authentication": {"schemes": ["Bearer"],
                                                     "credentials": "revocation-secret-0123456789abcdef"}},
           "context": {"correlation_id": "c-9"}})
}

fn code(v: &Value) -> (&Value, &Value) {
    (&v["errors"][0]["code"], &v["errors"][0]["field"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_are_found_acquired_under_the_plan_and_kept_per_buyer() {
    let (_server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));

    // Identity: the brand kit, or the fields asked for; an unknown brand named.
    let (err, id) = alice
        .call("get_brand_identity", json!({"brand_id": "acme_outdoor"}))
        .await;
    assert!(!err, "{id}");
    assert_eq!(id["house"]["domain"], "acmeoutdoor.example", "{id}");
    assert!(id["colors"].is_object() && id["tone"].is_object(), "{id}");
    let (_, some) = alice
        .call(
            "get_brand_identity",
            json!({"brand_id": "acme_outdoor", "fields": ["tagline"]}),
        )
        .await;
    assert!(
        some["tagline"].is_string() && some.get("colors").is_none(),
        "{some}"
    );
    let (err, none) = alice
        .call("get_brand_identity", json!({"brand_id": "no_such_brand"}))
        .await;
    assert!(err, "{none}");
    assert_eq!(
        code(&none),
        (&json!("BRAND_NOT_FOUND"), &json!("brand_id")),
        "{none}"
    );

    // Ranked by the uses asked for; excluded where not licensable.
    let (_, found) = alice
        .call(
            "get_rights",
            json!({"query": "image generation for advertising", "uses": ["ai_generated_image"],
                   "buyer_brand": {"domain": "acmeoutdoor.example"}}),
        )
        .await;
    assert_eq!(
        found["rights"][0]["rights_id"], "mercer_ai_likeness",
        "{found}"
    );
    let (_, endorse) = alice
        .call(
            "get_rights",
            json!({"query": "endorsement", "uses": ["commercial", "endorsement"]}),
        )
        .await;
    assert_eq!(
        endorse["rights"][0]["rights_id"], "mercer_endorsement",
        "{endorse}"
    );
    let (_, french) = alice
        .call(
            "get_rights",
            json!({"query": "endorsement", "uses": ["endorsement"], "countries": ["FR"],
                   "include_excluded": true}),
        )
        .await;
    assert_eq!(french["rights"], json!([]), "{french}");
    assert_eq!(
        french["excluded"][0]["brand_id"], "acme_outdoor",
        "{french}"
    );

    // Refused on the field at fault, the context echoed.
    let (err, beyond) = alice
        .call(
            "acquire_rights",
            acquire(
                "mercer_ai_likeness",
                "mercer_ai_flat",
                &["voice"],
                "2026-09-01",
                "2026-09-30",
            ),
        )
        .await;
    assert!(err, "{beyond}");
    assert_eq!(
        code(&beyond),
        (&json!("VALIDATION_ERROR"), &json!("campaign.uses"))
    );
    assert_eq!(beyond["context"]["correlation_id"], "c-9", "{beyond}");
    let (_, early) = alice
        .call(
            "acquire_rights",
            acquire(
                "mercer_ai_likeness",
                "mercer_ai_flat",
                &["likeness"],
                "2024-01-01",
                "2024-02-01",
            ),
        )
        .await;
    assert_eq!(
        code(&early),
        (&json!("VALIDATION_ERROR"), &json!("campaign.start_date"))
    );

    // Alice keeps a $1,000 plan for Acme here: a month of endorsement ($4,000) is denied
    // with the plan's findings; the AI likeness ($25) is granted and counted.
    let (err, plan) = alice
        .call(
            "sync_plans",
            json!({"idempotency_key": key(), "plans": [{"plan_id": "acme_q3", "brand": {"domain": "acmeoutdoor.example"},
                   "objectives": "Q3", "budget": {"total": 1000, "currency": "USD", "reallocation_threshold": 500},
                   "flight": {"start": "2026-07-01T00:00:00Z", "end": "2026-12-31T23:59:59Z"}}]}),
        )
        .await;
    assert!(!err, "{plan}");
    let (err, denied) = alice
        .call(
            "acquire_rights",
            acquire(
                "mercer_endorsement",
                "mercer_endorsement_monthly",
                &["endorsement"],
                "2026-09-01",
                "2026-09-30",
            ),
        )
        .await;
    assert!(err, "{denied}");
    assert_eq!(denied["errors"][0]["code"], "GOVERNANCE_DENIED", "{denied}");
    assert_eq!(
        denied["errors"][0]["details"]["findings"][0]["category_id"], "budget_authority",
        "{denied}"
    );
    let (err, granted) = alice
        .call(
            "acquire_rights",
            acquire(
                "mercer_ai_likeness",
                "mercer_ai_flat",
                &["likeness", "ai_generated_image"],
                "2026-09-01",
                "2026-09-30",
            ),
        )
        .await;
    assert!(!err, "{granted}");
    assert_eq!(granted["status"], "acquired", "{granted}");
    assert_eq!(granted["disclosure"]["required"], true, "{granted}");
    assert!(
        !granted.to_string().contains("revocation-secret"),
        "the buyer's webhook credentials are never shown: {granted}"
    );
    let grant = granted["rights_id"].as_str().expect("a grant").to_owned();
    let (_, log) = alice
        .call("get_plan_audit_logs", json!({"plan_ids": ["acme_q3"]}))
        .await;
    assert_eq!(log["plans"][0]["budget"]["committed"], 25.0, "{log}");

    // The grant's life: paused (no generation key), extended within the right's term, not
    // beyond it.
    let (err, paused) = alice
        .call(
            "update_rights",
            json!({"idempotency_key": key(), "rights_id": grant, "paused": true}),
        )
        .await;
    assert!(!err, "{paused}");
    assert_eq!(
        (
            paused["paused"].clone(),
            paused["generation_credentials"].clone()
        ),
        (json!(true), json!([])),
        "{paused}"
    );
    let (_, longer) = alice
        .call(
            "update_rights",
            json!({"idempotency_key": key(), "rights_id": grant, "end_date": "2027-03-31", "paused": false}),
        )
        .await;
    assert_eq!(longer["terms"]["end_date"], "2027-03-31", "{longer}");
    assert_eq!(
        longer["generation_credentials"][0]["uses"],
        json!(["likeness", "ai_generated_image"]),
        "{longer}"
    );
    let (err, too_long) = alice
        .call(
            "update_rights",
            json!({"idempotency_key": key(), "rights_id": grant, "end_date": "2029-01-01"}),
        )
        .await;
    assert!(err, "{too_long}");
    assert_eq!(
        code(&too_long),
        (&json!("VALIDATION_ERROR"), &json!("end_date"))
    );

    // Another buyer: no such grant, and no plan of Alice's governs its purchases.
    let (err, theirs) = bob
        .call(
            "update_rights",
            json!({"idempotency_key": key(), "rights_id": grant, "paused": true}),
        )
        .await;
    assert!(err, "{theirs}");
    assert_eq!(code(&theirs).0, "REFERENCE_NOT_FOUND", "{theirs}");
    let (err, own) = bob
        .call(
            "acquire_rights",
            acquire(
                "mercer_endorsement",
                "mercer_endorsement_monthly",
                &["endorsement"],
                "2026-09-01",
                "2026-09-30",
            ),
        )
        .await;
    assert!(!err, "{own}");
}
