//! A buyer with the first-party signals agent: segments found by brief (best match first) and
//! filters, paged; activated on a DSP with the same key every time, shown live to that account
//! alone, then deactivated; refusals on their fields.

use adcp_conformance::harness::two_buyers;
use adcp_runtime::Stores;
use adcp_runtime::serde_json::{Value, json};
use signal_owned::{agent, config};

fn key() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    format!("signals-{}", t.map(|d| d.as_nanos()).unwrap_or_default())
}

fn ids(resp: &Value) -> Vec<String> {
    resp["signals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["signal_agent_segment_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_found_activated_once_per_destination_and_deactivated() {
    let (server, alice, bob) = two_buyers(config(false), move |c| agent(c, Stores::memory()));

    // By brief: the segment matching most words first; nothing unrelated.
    let (err, found) = alice
        .call("get_signals", json!({"signal_spec": "trail running gear"}))
        .await;
    assert!(!err, "{found}");
    let got = ids(&found);
    assert_eq!(
        got.first().map(String::as_str),
        Some("trail_runners"),
        "{found}"
    );
    assert!(!got.contains(&"weekend_travelers".to_owned()), "{found}");
    // Compliance fixtures are not listed outside compliance testing.
    let (err, all) = alice
        .call("get_signals", json!({"signal_spec": "audience"}))
        .await;
    assert!(!err && ids(&all).len() == 7, "{all}");
    assert!(!ids(&all).iter().any(|i| i.starts_with("prism_")), "{all}");

    // By filters: at most $2 CPM and 5% coverage.
    let (_, cheap) = alice
        .call(
            "get_signals",
            json!({"signal_spec": "audience", "filters": {"max_cpm": 2.0, "min_coverage_percentage": 5.0}}),
        )
        .await;
    let cheap = ids(&cheap);
    assert!(
        cheap.contains(&"outdoor_enthusiasts".to_owned()),
        "{cheap:?}"
    );
    assert!(
        !cheap.contains(&"gear_buyers_in_market".to_owned()),
        "{cheap:?}"
    );
    assert!(!cheap.contains(&"trail_runners".to_owned()), "{cheap:?}");

    // Paged two at a time, every segment once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = json!({"signal_spec": "audience", "pagination": {"max_results": 2}});
        if let Some(c) = &cursor {
            req["pagination"]["cursor"] = json!(c);
        }
        let (_, page) = alice.call("get_signals", req).await;
        seen.extend(ids(&page));
        match page["pagination"]["cursor"].as_str() {
            Some(c) if page["pagination"]["has_more"] == true => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7), "{seen:?}");

    // Activated on a DSP: live with a key, the same key when activated again.
    let dsp = json!([{"type": "platform", "platform": "the-trade-desk", "account": "ttd-acme"}]);
    let activate = |action: &str| {
        json!({"idempotency_key": key(), "signal_agent_segment_id": "trail_runners", "action": action,
               "pricing_option_id": "cpm_standard", "destinations": dsp})
    };
    let (err, first) = alice.call("activate_signal", activate("activate")).await;
    assert!(!err, "{first}");
    let d = &first["deployments"][0];
    assert_eq!(d["is_live"], true, "{first}");
    let k = d["activation_key"]["segment_id"].clone();
    assert!(k.is_string(), "{first}");
    let (_, again) = alice.call("activate_signal", activate("activate")).await;
    assert_eq!(
        again["deployments"][0]["activation_key"]["segment_id"], k,
        "{again}"
    );

    // Shown live to Alice's account, not to Bob's.
    let ask = json!({"signal_ids": [{"source": "agent", "agent_url": server.mcp_url(), "id": "trail_runners"}], "destinations": dsp});
    let (_, mine) = alice.call("get_signals", ask.clone()).await;
    assert_eq!(
        mine["signals"][0]["deployments"][0]["is_live"], true,
        "{mine}"
    );
    let (_, theirs) = bob.call("get_signals", ask.clone()).await;
    assert_eq!(
        theirs["signals"][0]["deployments"][0]["is_live"], false,
        "{theirs}"
    );

    // Deactivated: down, and shown so.
    let (err, off) = alice.call("activate_signal", activate("deactivate")).await;
    assert!(!err, "{off}");
    assert_eq!(off["deployments"][0]["is_live"], false, "{off}");
    let (_, after) = alice.call("get_signals", ask).await;
    assert_eq!(
        after["signals"][0]["deployments"][0]["is_live"], false,
        "{after}"
    );

    // Refusals on their fields.
    let mut unknown = activate("activate");
    unknown["signal_agent_segment_id"] = json!("no_such_segment");
    let (err, resp) = alice.call("activate_signal", unknown).await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["code"], "SIGNAL_NOT_FOUND", "{resp}");
    let mut priced = activate("activate");
    priced["pricing_option_id"] = json!("po_other");
    let (err, resp) = alice.call("activate_signal", priced).await;
    assert!(err, "{resp}");
    assert_eq!(resp["errors"][0]["field"], "pricing_option_id", "{resp}");
}
