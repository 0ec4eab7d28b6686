//! A buyer's flight with the broadcast seller, graded where the storyboard only narrates:
//! spots cleared under their Ad-ID (and refused with a wrong one or the wrong length), the
//! agency estimate number echoed, billing terms outside the windows sold rejected, and the
//! delivery reports of a one-day flight with the reporting clock driven by the test: delayed
//! until the live ratings are in, each day again as live, C3 and C7 come in (each superseding
//! the one before, C7 final), then the final report for the flight, and nothing after it.

use std::time::Duration;

use adcp_conformance::harness::Receiver;
use adcp_runtime::{Call, Clock, Server, Stores, time};
use sales_broadcast_tv::BroadcastSeller;
use serde_json::{Value, json};

const SECRET: &str = "a-shared-secret-of-at-least-32-characters";
const STATIONS: &str = "https://tri-state-broadcasting.example";

fn account() -> Value {
    json!({"brand": {"domain": "novamotors.example"}, "operator": "pinnacle-agency.example", "sandbox": true})
}

fn key(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4())
}

async fn call(server: &Server<BroadcastSeller>, tool: &str, args: Value) -> (bool, Value) {
    let reply = server.call(Call::new(tool, args)).await;
    (reply.is_error, reply.body)
}

fn spot(id: &str, format: &str, ad_id: Option<&str>, duration_ms: i64) -> Value {
    let mut c = json!({
        "creative_id": id, "name": id,
        "format_id": {"agent_url": STATIONS, "id": format},
        "assets": {"video_file": {"asset_type": "video", "url": format!("https://cdn.pinnacle-agency.example/{id}.mp4"),
                                  "width": 1920, "height": 1080, "duration_ms": duration_ms,
                                  "container_format": "mp4", "video_codec": "h264"}},
    });
    if let Some(a) = ad_id {
        c["industry_identifiers"] = json!([{"type": "ad_id", "value": a}]);
    }
    c
}

/// The `package` of a create of `primetime_30s` with `window` as the billing window.
fn package(window: &str, variance: f64) -> Value {
    json!({"product_id": "primetime_30s", "pricing_option_id": "unit_primetime_30", "budget": 9000.0,
           "agency_estimate_number": "PNNL-NM-2026-Q4-0847",
           "measurement_terms": {"billing_measurement": {"vendor": {"domain": "videoamp.example"},
                                  "measurement_window": window, "max_variance_percent": variance}},
           "creative_assignments": [{"creative_id": "volta_30s"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearance_terms_and_reports_in_measurement_windows() {
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    // Early morning: the flight ends at the next midnight.
    let t0 = time::now_ms().date().midnight().assume_utc() + time::Duration::hours(6);
    let flight_end = t0.date().midnight().assume_utc() + time::Duration::DAY;
    let clock = Clock::manual(t0);
    let mut config = sales_broadcast_tv::config(true);
    config.allow_private_webhooks = true;
    config.clock = clock.clone();
    config.reporting_poll = Duration::from_millis(50);
    let server = sales_broadcast_tv::agent(config, Stores::memory())
        .into_server()
        .expect("boots");

    // Clearance: the spot with its Ad-ID is cleared and filed under it; a malformed Ad-ID and
    // a :15 cut sent as a :30 are refused on their fields; a spot without its Ad-ID is held.
    let (err, synced) = call(
        &server,
        "sync_creatives",
        json!({"account": account(), "idempotency_key": key("sync"), "creatives": [
            spot("volta_30s", "broadcast_spot_30s", Some("NOVA0042000H"), 30_000),
            spot("volta_bad_id", "broadcast_spot_30s", Some("NOVA-42"), 30_000),
            spot("volta_short", "broadcast_spot_30s", Some("NOVA0042001H"), 15_000),
            spot("volta_no_id", "broadcast_spot_15s", None, 15_000),
        ]}),
    )
    .await;
    assert!(!err, "{synced}");
    let c = &synced["creatives"];
    assert_eq!(c[0]["action"], "created", "{synced}");
    assert_eq!(c[0]["platform_id"], "NOVA0042000H", "{synced}");
    assert_eq!(c[1]["action"], "failed", "{synced}");
    assert_eq!(
        c[1]["errors"][0]["field"], "industry_identifiers[0].value",
        "{synced}"
    );
    assert_eq!(c[2]["action"], "failed", "{synced}");
    assert_eq!(
        c[2]["errors"][0]["field"], "assets.video_file.duration_ms",
        "{synced}"
    );
    assert_eq!(c[3]["action"], "created", "{synced}");
    let (_, listed) = call(&server, "list_creatives", json!({"account": account()})).await;
    let status = |id: &str| {
        listed["creatives"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["creative_id"] == id))
            .map(|c| c["status"].clone())
    };
    assert_eq!(status("volta_30s"), Some(json!("approved")), "{listed}");
    assert_eq!(
        status("volta_no_id"),
        Some(json!("pending_review")),
        "{listed}"
    );
    assert_eq!(status("volta_bad_id"), None, "a refused spot is not kept");

    // Billing on a window the station does not sell, or with no variance, is rejected.
    let create = |pkg: Value| {
        json!({"idempotency_key": key("buy"), "account": account(), "brand": {"domain": "novamotors.example"},
               "start_time": "asap", "end_time": time::rfc3339(flight_end), "packages": [pkg],
               "reporting_webhook": {"url": receiver.url("/reports"),
                   "authentication": {"schemes": ["HMAC-SHA256"], "credentials": SECRET},
                   "reporting_frequency": "daily"}})
    };
    let (err, refused) = call(&server, "create_media_buy", create(package("c30", 0.0))).await;
    assert!(err, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "TERMS_REJECTED", "{refused}");

    // Spots given inline are cleared too: one refused fails the buy on its path, and none of
    // them joins the library.
    let mut inline = package("c7", 10.0);
    inline["creatives"] = json!([
        spot(
            "inline_ok",
            "broadcast_spot_30s",
            Some("NOVA0042003H"),
            30_000
        ),
        spot("inline_bad", "broadcast_spot_30s", Some("NOVA3"), 30_000),
    ]);
    let (err, refused) = call(&server, "create_media_buy", create(inline)).await;
    assert!(err, "{refused}");
    assert_eq!(
        refused["errors"][0]["field"], "packages[0].creatives[1].industry_identifiers[0].value",
        "{refused}"
    );
    let (_, listed) = call(&server, "list_creatives", json!({"account": account()})).await;
    assert!(!listed.to_string().contains("inline_ok"), "{listed}");

    // The buy: the estimate number and terms echoed on its package.
    let (err, created) = call(&server, "create_media_buy", create(package("c7", 10.0))).await;
    assert!(!err, "{created}");
    let pkg = &created["packages"][0];
    assert_eq!(
        pkg["agency_estimate_number"], "PNNL-NM-2026-Q4-0847",
        "{created}"
    );
    assert_eq!(
        pkg["measurement_terms"]["billing_measurement"]["measurement_window"],
        "c7"
    );
    let buy = created["media_buy_id"].as_str().expect("a buy").to_owned();

    // Traffic instructions ahead of the materials: a package assigned a spot not synced yet
    // waits for it, and has it once it is synced.
    let mut early = package("c7", 10.0);
    early["creative_assignments"] = json!([{"creative_id": "volta_late_30s"}]);
    let mut early = create(early);
    early.as_object_mut().map(|o| o.remove("reporting_webhook"));
    let (err, waiting) = call(&server, "create_media_buy", early).await;
    assert!(!err, "{waiting}");
    assert_eq!(waiting["status"], "pending_creatives", "{waiting}");
    let early_pkg = waiting["packages"][0]["package_id"].clone();
    assert_eq!(
        waiting["packages"][0]["creative_assignments"][0]["creative_id"],
        "volta_late_30s"
    );
    let (err, synced) = call(
        &server,
        "sync_creatives",
        json!({"account": account(), "idempotency_key": key("sync"), "creatives": [
            spot("volta_late_30s", "broadcast_spot_30s", Some("NOVA0042002H"), 30_000)]}),
    )
    .await;
    assert!(!err, "{synced}");
    assert_eq!(
        synced["creatives"][0]["assigned_to"],
        json!([early_pkg]),
        "{synced}"
    );
    let (_, got) = call(
        &server,
        "get_media_buys",
        json!({"account": account(), "media_buy_ids": [waiting["media_buy_id"]]}),
    )
    .await;
    let status = &got["media_buys"][0]["status"];
    assert!(status == "pending_start" || status == "active", "{got}");

    // An hour of airings, reported at once: the ratings are not in.
    clock.advance(time::Duration::HOUR);
    let (err, sim) = call(
        &server,
        "comply_test_controller",
        json!({"account": account(), "scenario": "simulate_delivery",
               "params": {"media_buy_id": buy, "impressions": 240_000, "reported_spend": {"amount": 9000.0, "currency": "USD"}}}),
    )
    .await;
    assert!(!err, "{sim}");
    let reports = |n: usize| {
        let receiver = &receiver;
        async move {
            let hits = receiver
                .wait_delivered("/reports", n, Duration::from_secs(10))
                .await;
            let mut r: Vec<Value> = hits
                .iter()
                .filter(|h| h.status < 300)
                .map(|h| h.json()["result"].clone())
                .collect();
            assert!(r.len() >= n, "{} of {n}: {r:#?}", r.len());
            // The outbox sends concurrently: in the order they were made.
            r.sort_by_key(|r| r["sequence_number"].as_u64());
            r
        }
    };
    let r = reports(1).await;
    assert_eq!(r[0]["notification_type"], "delayed", "{}", r[0]);
    let d = &r[0]["media_buy_deliveries"][0];
    assert_eq!(d["status"], "reporting_delayed", "{d}");
    assert!(d["expected_availability"].is_string(), "{d}");
    assert_eq!(d["by_package"][0]["is_final"], false, "{d}");

    // The flight ends: its last period, delayed too; no final report while windows are due.
    clock.advance(flight_end - clock.now() + time::Duration::MINUTE);
    let r = reports(2).await;
    assert_eq!(r[1]["notification_type"], "delayed", "{}", r[1]);
    assert!(r[1]["next_expected_at"].is_string());

    // Each window's ratings come in: the flight's day again, in that window (once: both
    // periods were of the same day).
    let mut expected = 2;
    for (days, window, before, last) in [
        (1, "live", None, false),
        (4, "c3", Some("live"), false),
        (8, "c7", Some("c3"), true),
    ] {
        let at = flight_end + time::Duration::days(days) + time::Duration::MINUTE;
        clock.advance(at - clock.now());
        expected += 1;
        let r = reports(expected).await;
        for report in &r[expected - 1..expected] {
            assert_eq!(report["notification_type"], "window_update", "{report}");
            let p = &report["media_buy_deliveries"][0]["by_package"][0];
            assert_eq!(p["measurement_window"], window, "{report}");
            assert_eq!(p["is_final"], last, "{report}");
            assert_eq!(
                p.get("supersedes_window").and_then(Value::as_str),
                before,
                "{report}"
            );
            assert!(p["grps"].as_f64().is_some_and(|g| g > 0.0), "{p}");
        }
    }
    // C7 is in for the whole flight: the final report, then nothing.
    let r = reports(expected + 1).await;
    let last = &r[expected];
    assert_eq!(last["notification_type"], "final", "{last}");
    assert_eq!(
        last["reporting_period"]["start"],
        time::rfc3339(t0).as_str()
    );
    assert_eq!(
        last["reporting_period"]["end"],
        time::rfc3339(flight_end).as_str()
    );
    assert_eq!(
        last["media_buy_deliveries"][0]["by_package"][0]["measurement_window"],
        "c7"
    );
    assert!(last.get("next_expected_at").is_none(), "{last}");
    clock.advance(time::Duration::days(10));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        receiver.hits().len(),
        expected + 1,
        "nothing after the final report"
    );
    let seqs: Vec<u64> = r
        .iter()
        .filter_map(|r| r["sequence_number"].as_u64())
        .collect();
    assert_eq!(seqs, (1..=expected as u64 + 1).collect::<Vec<_>>());
}
