//! The marketplace agent over MCP, against the SDK's mock marketplace: segments with their
//! provenance, an agency without a seat, activations refused on their field, put live on a
//! DSP and found again, decided by the buyer's plan, and kept per account.

use adcp_conformance::harness::{runner, two_buyers};
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use adcp_runtime::test_util::McpClient;
use signal_marketplace::{Marketplace, agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("market-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn account(brand: &str, operator: &str) -> Value {
    json!({"brand": {"domain": brand}, "operator": operator})
}

async fn open(client: &McpClient, brand: &str, operator: &str) {
    let mut a = account(brand, operator);
    a["billing"] = json!("operator");
    let (err, synced) = client
        .call(
            "sync_accounts",
            json!({"idempotency_key": key(), "accounts": [a]}),
        )
        .await;
    assert!(!err, "{synced}");
}

fn activation(segment: &str, pricing: Option<&str>, platform: &str) -> Value {
    let mut a = json!({"idempotency_key": key(), "signal_agent_segment_id": segment,
                       "account": account("acmeoutdoor.example", "pinnacle-agency.example"),
                       "destinations": [{"type": "platform", "platform": platform, "account": "seat-1"}],
                       "context": {"correlation_id": "c-7"}});
    if let Some(p) = pricing {
        a["pricing_option_id"] = json!(p);
    }
    a
}

#[test]
fn segments_are_found_activated_governed_and_kept_per_account() {
    let upstream = runner()
        .mock_server("signal-marketplace")
        .expect("the mock marketplace starts");
    let (url, secret) = (upstream.url.clone(), upstream.key.clone());
    let (_server, alice, bob) = two_buyers(config(false), move |c| {
        agent(c, Stores::memory(), Marketplace::new(&url, &secret))
    });
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            open(&alice, "acmeoutdoor.example", "pinnacle-agency.example").await;
            open(&bob, "acmeoutdoor.example", "pinnacle-agency.example").await;
            open(&alice, "acmeoutdoor.example", "nobody-agency.example").await;

            // Found by brief, with the provider's catalogue entry as its id.
            let (err, found) = alice
                .call(
                    "get_signals",
                    json!({"signal_spec": "EV buyers", "max_results": 2,
                           "account": account("acmeoutdoor.example", "pinnacle-agency.example")}),
                )
                .await;
            assert!(!err, "{found}");
            let first = &found["signals"][0];
            assert_eq!(
                first["signal_id"],
                json!({"source": "catalog", "data_provider_domain": "tridentauto.example", "id": "likely_ev_buyers"}),
                "{found}"
            );
            assert_eq!(first["signal_type"], "marketplace", "{found}");
            assert_eq!(found["pagination"]["has_more"], true, "{found}");
            let segment = first["signal_agent_segment_id"].as_str().expect("an id").to_owned();
            let pricing = first["pricing_options"][0]["pricing_option_id"]
                .as_str()
                .expect("a price")
                .to_owned();

            // An agency with no seat on the marketplace.
            let (err, seatless) = alice
                .call(
                    "get_signals",
                    json!({"signal_spec": "EV", "account": account("acmeoutdoor.example", "nobody-agency.example")}),
                )
                .await;
            assert!(err, "{seatless}");
            assert_eq!(seatless["errors"][0]["code"], "ACCOUNT_SETUP_REQUIRED", "{seatless}");

            // Refused on the field at fault, the context echoed.
            let (err, unpriced) = alice
                .call("activate_signal", activation(&segment, None, "the-trade-desk"))
                .await;
            assert!(err, "{unpriced}");
            assert_eq!(unpriced["errors"][0]["field"], "pricing_option_id", "{unpriced}");
            assert_eq!(unpriced["context"]["correlation_id"], "c-7", "{unpriced}");
            let (_, nowhere) = alice
                .call("activate_signal", activation(&segment, Some(&pricing), "no-such-dsp"))
                .await;
            assert_eq!(nowhere["errors"][0]["field"], "destinations[0]", "{nowhere}");
            let (_, unknown) = alice
                .call("activate_signal", activation("no_such_cohort", Some(&pricing), "the-trade-desk"))
                .await;
            assert_eq!(unknown["errors"][0]["code"], "SIGNAL_NOT_FOUND", "{unknown}");

            // Live on the DSP, with its segment id; activated again, the same.
            let (err, live) = alice
                .call("activate_signal", activation(&segment, Some(&pricing), "the-trade-desk"))
                .await;
            assert!(!err, "{live}");
            let deployed = &live["deployments"][0];
            assert_eq!(deployed["is_live"], true, "{live}");
            let segment_key = deployed["activation_key"]["segment_id"].clone();
            assert!(segment_key.is_string(), "{live}");
            let (_, again) = alice
                .call("activate_signal", activation(&segment, Some(&pricing), "the-trade-desk"))
                .await;
            assert_eq!(again["deployments"][0]["activation_key"]["segment_id"], segment_key);

            // The account sees it deployed; another account does not.
            let look = json!({"signal_ids": [first["signal_id"].clone()],
                              "account": account("acmeoutdoor.example", "pinnacle-agency.example")});
            let (_, mine) = alice.call("get_signals", look.clone()).await;
            assert_eq!(mine["signals"][0]["deployments"][0]["is_live"], true, "{mine}");
            let (_, theirs) = bob.call("get_signals", look).await;
            assert_eq!(theirs["signals"][0]["deployments"], json!([]), "{theirs}");

            // A plan for the brand: the next activation is more than it allows.
            let (err, plan) = alice
                .call(
                    "sync_plans",
                    json!({"idempotency_key": key(), "plans": [{"plan_id": "acme_signals",
                           "brand": {"domain": "acmeoutdoor.example"}, "objectives": "Signals",
                           "budget": {"total": 100, "currency": "USD", "reallocation_threshold": 50},
                           "flight": {"start": "2026-01-01T00:00:00Z", "end": "2027-12-31T23:59:59Z"}}]}),
                )
                .await;
            assert!(!err, "{plan}");
            let (err, denied) = alice
                .call("activate_signal", activation(&segment, Some(&pricing), "streamhaus"))
                .await;
            assert!(err, "{denied}");
            assert_eq!(denied["errors"][0]["code"], "GOVERNANCE_DENIED", "{denied}");
            // Bob's purchases are not Alice's plan's.
            let (err, his) = bob
                .call("activate_signal", activation(&segment, Some(&pricing), "streamhaus"))
                .await;
            assert!(!err, "{his}");

            // Taking a segment down is not something the marketplace offers.
            let mut off = activation(&segment, Some(&pricing), "the-trade-desk");
            off["action"] = json!("deactivate");
            let (_, down) = alice.call("activate_signal", off).await;
            assert_eq!(
                (down["errors"][0]["code"].clone(), down["errors"][0]["field"].clone()),
                (json!("UNSUPPORTED_FEATURE"), json!("action")),
                "{down}"
            );
        });
}
