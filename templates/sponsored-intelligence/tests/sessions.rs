//! Sessions with a brand, over MCP and A2A, against the SDK's mock brand-agent platform: an
//! offering with its products, a conversation relayed to the hand-off, closed with the
//! checkout, nothing accepted after, and another buyer's session out of reach.

use adcp_conformance::harness::{ALICE_KEY, runner, two_buyers};
use adcp_runtime::Stores;
use adcp_runtime::serde_json::json;
use adcp_runtime::test_util::A2aClient;
use sponsored_intelligence::{BrandConversations, agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("si-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

#[test]
fn a_session_runs_from_offering_to_checkout_and_stays_its_callers() {
    let upstream = runner()
        .mock_server("sponsored-intelligence")
        .expect("the mock platform starts");
    let (url, secret) = (upstream.url.clone(), upstream.key.clone());
    let (server, alice, bob) = two_buyers(config(false), move |c| {
        let brands = vec![
            "novamotors.example".to_owned(),
            "acmeoutdoor.example".to_owned(),
        ];
        agent(
            c,
            Stores::memory(),
            BrandConversations::new(&url, &secret, brands),
        )
    });
    let a2a = A2aClient::new(server.a2a_url()).bearer(ALICE_KEY);
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            // The offering, with its products and the token a session opens with; one no
            // brand here has is unavailable.
            let (err, offering) = alice
                .call(
                    "si_get_offering",
                    json!({"offering_id": "novamotors_conversational_v1", "include_products": true}),
                )
                .await;
            assert!(!err, "{offering}");
            assert_eq!(offering["available"], true, "{offering}");
            assert_eq!(
                offering["matching_products"][0]["product_id"],
                "nova_volta_long_range_awd",
                "{offering}"
            );
            let token = offering["offering_token"].as_str().expect("a token").to_owned();
            let (_, none) = alice
                .call("si_get_offering", json!({"offering_id": "no_such_offering"}))
                .await;
            assert_eq!(none["available"], false, "{none}");

            // Opened over A2A, with the brand's greeting.
            let (err, opened) = a2a
                .call(
                    "si_initiate_session",
                    json!({"idempotency_key": key(), "intent": "An EV for long road trips",
                           "identity": {"consent_granted": true},
                           "offering_id": "novamotors_conversational_v1", "offering_token": token}),
                )
                .await;
            assert!(!err, "{opened}");
            assert_eq!(opened["session_status"], "active", "{opened}");
            assert!(opened["response"]["message"].is_string(), "{opened}");
            let session = opened["session_id"].as_str().expect("a session").to_owned();

            // Another buyer cannot reach it.
            let (err, theirs) = bob
                .call(
                    "si_send_message",
                    json!({"idempotency_key": key(), "session_id": session, "message": "hi"}),
                )
                .await;
            assert!(err, "{theirs}");
            assert_eq!(theirs["errors"][0]["code"], "SESSION_NOT_FOUND", "{theirs}");

            // A question, then the user wants to buy: the brand hands off to checkout.
            let (_, answer) = alice
                .call(
                    "si_send_message",
                    json!({"idempotency_key": key(), "session_id": session, "message": "What is the range?"}),
                )
                .await;
            assert_eq!(answer["session_status"], "active", "{answer}");
            assert_eq!(answer["response"]["ui_elements"][0]["type"], "product_card", "{answer}");
            let (_, buying) = alice
                .call(
                    "si_send_message",
                    json!({"idempotency_key": key(), "session_id": session, "message": "I want to buy it"}),
                )
                .await;
            assert_eq!(
                (buying["session_status"].clone(), buying["handoff"]["type"].clone()),
                (json!("pending_handoff"), json!("transaction")),
                "{buying}"
            );

            // Closed for the transaction: the checkout hand-off; closed again, the same.
            let close = json!({"session_id": session, "reason": "handoff_transaction"});
            let (err, closed) = alice.call("si_terminate_session", close.clone()).await;
            assert!(!err, "{closed}");
            assert_eq!(closed["terminated"], true, "{closed}");
            let checkout = closed["acp_handoff"]["checkout_url"].clone();
            assert!(checkout.is_string(), "{closed}");
            let (_, again) = alice.call("si_terminate_session", close).await;
            assert_eq!(again["acp_handoff"]["checkout_url"], checkout, "{again}");

            // Nothing is accepted after.
            let (err, late) = alice
                .call(
                    "si_send_message",
                    json!({"idempotency_key": key(), "session_id": session, "message": "one more thing"}),
                )
                .await;
            assert!(err, "{late}");
            assert_eq!(late["errors"][0]["code"], "SESSION_TERMINATED", "{late}");
        });
}
