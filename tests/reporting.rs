//! Delivery reports from a platform's own delivery data, with the reporting clock driven by
//! the test: `delayed` while the platform cannot answer (the period stays open and is
//! reported with the next), `adjusted` and `window_update` for periods the adopter restates,
//! `final` at once when the buyer cancels, and the metrics the buyer did not ask for left out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use adcp_conformance::harness::Receiver;
use adcp_runtime::wire::{
    CreateMediaBuyRequest, CreateMediaBuySuccess, GetMediaBuyDeliveryRequest,
    GetMediaBuyDeliveryResponse, GetMediaBuyDeliveryResponseMediaBuyDeliveriesItem as Delivery,
    GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemStatus as DeliveryStatus,
    GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemTotals as Totals,
    GetMediaBuyDeliveryResponseReportingPeriod as Period, GetSignalsRequest, GetSignalsResponse,
    Package, UpdateMediaBuyRequest, UpdateMediaBuySuccess,
};
use adcp_runtime::{
    AdcpError, AdcpResult, Call, Clock, Config, Ctx, Restated, Server, Stores, codes,
    decisioning_platform, time,
};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Reports {
    /// The reporting pipeline upstream is down.
    down: Arc<AtomicBool>,
    /// The buy was canceled.
    canceled: Arc<AtomicBool>,
}

#[decisioning_platform]
impl Reports {
    async fn get_signals(
        &self,
        _ctx: &Ctx,
        _req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        Ok(GetSignalsResponse::new(Vec::new()))
    }

    async fn create_media_buy(
        &self,
        _ctx: &Ctx,
        _req: CreateMediaBuyRequest,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new("mb_1", Vec::<Package>::new()))
    }

    /// A late measurement window arrived (`ext.window`) or the buyer cancels.
    async fn update_media_buy(
        &self,
        ctx: &Ctx,
        req: UpdateMediaBuyRequest,
    ) -> AdcpResult<UpdateMediaBuySuccess> {
        if req.canceled.is_some() {
            self.canceled.store(true, Ordering::SeqCst);
        }
        if let Some(ext) = req.ext.as_ref().and_then(|e| e.get("restate")) {
            let at = |k: &str| time::parse(k, ext[k].as_str().unwrap_or_default());
            let kind = if ext["kind"] == "adjusted" {
                Restated::Adjusted
            } else {
                Restated::WindowUpdate
            };
            assert!(
                ctx.restate_delivery(&req.media_buy_id, at("start")?, at("end")?, kind)
                    .await?
            );
        }
        Ok(UpdateMediaBuySuccess::new(req.media_buy_id))
    }

    async fn get_media_buy_delivery(
        &self,
        _ctx: &Ctx,
        req: GetMediaBuyDeliveryRequest,
    ) -> AdcpResult<GetMediaBuyDeliveryResponse> {
        if self.down.load(Ordering::SeqCst) {
            return Err(AdcpError::new(
                codes::SERVICE_UNAVAILABLE,
                "the reporting pipeline is down",
            ));
        }
        let mut totals = Totals::new(10.0);
        totals.impressions = Some(2000.0);
        totals.clicks = Some(20.0);
        totals.ctr = Some(0.01);
        let status = if self.canceled.load(Ordering::SeqCst) {
            DeliveryStatus::Canceled
        } else {
            DeliveryStatus::Active
        };
        let id = req.media_buy_ids.unwrap_or_default().remove(0);
        let mut resp = GetMediaBuyDeliveryResponse::new(
            "EUR",
            vec![Delivery::new(Vec::new(), id, status, totals)],
            Period::new(
                format!("{}T23:59:59Z", req.end_date.unwrap_or_default()),
                format!("{}T00:00:00Z", req.start_date.unwrap_or_default()),
            ),
        );
        resp.aggregated_totals = None;
        Ok(resp)
    }
}

async fn call(server: &Server<Reports>, tool: &str, args: Value) -> Value {
    let reply = server.call(Call::new(tool, args)).await;
    assert!(!reply.is_error, "{tool}: {}", reply.body);
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_restated_and_final_on_cancel() {
    let receiver = Receiver::start(vec![]).await.expect("a receiver");
    // Mid-morning, so the day's end is hours away.
    let t0 = time::now_ms().date().midnight().assume_utc() + time::Duration::hours(9);
    let clock = Clock::manual(t0);
    let platform = Reports::default();
    let config = Config {
        allow_private_webhooks: true,
        clock: clock.clone(),
        reporting_poll: Duration::from_millis(50),
        ..Config::default()
    };
    let server = Server::with_stores(platform.clone(), config, Stores::memory());
    server.start();
    call(
        &server,
        "create_media_buy",
        json!({
            "idempotency_key": format!("rpt-{}", uuid::Uuid::new_v4()),
            "account": {"brand": {"domain": "acme.example"}, "operator": "acme.example"},
            "brand": {"domain": "acme.example"},
            "start_time": "asap",
            "end_time": time::rfc3339(t0 + time::Duration::days(10)),
            "packages": [{"product_id": "p", "pricing_option_id": "cpm", "budget": 100.0}],
            "reporting_webhook": {
                "url": receiver.url("/r"),
                "authentication": {"schemes": ["Bearer"], "credentials": "a-bearer-token-of-32-characters!!"},
                "reporting_frequency": "hourly",
                "requested_metrics": ["ctr"]
            }
        }),
    )
    .await;
    let wait = |n: usize| {
        let receiver = &receiver;
        async move {
            let hits = receiver
                .wait_delivered("/r", n, Duration::from_secs(10))
                .await;
            let r: Vec<Value> = hits
                .iter()
                .filter(|h| h.status < 300)
                .map(|h| h.json()["result"].clone())
                .collect();
            assert!(r.len() >= n, "{} of {n}: {r:?}", r.len());
            r
        }
    };

    // The hour ends while the platform cannot answer: delayed, the period kept open.
    platform.down.store(true, Ordering::SeqCst);
    clock.advance(time::Duration::minutes(61));
    let r = wait(1).await;
    assert_eq!(r[0]["notification_type"], "delayed", "{}", r[0]);
    assert_eq!(r[0]["partial_data"], true);
    assert!(r[0]["next_expected_at"].is_string());
    // Back: the next hour's report covers both hours.
    platform.down.store(false, Ordering::SeqCst);
    clock.advance(time::Duration::HOUR);
    let r = wait(2).await;
    assert_eq!(r[1]["notification_type"], "scheduled", "{}", r[1]);
    assert_eq!(
        r[1]["reporting_period"]["start"],
        time::rfc3339(t0).as_str()
    );
    assert_eq!(
        r[1]["reporting_period"]["end"],
        time::rfc3339(t0 + time::Duration::hours(2)).as_str()
    );
    assert_eq!(r[1]["currency"], "EUR");
    let totals = &r[1]["media_buy_deliveries"][0]["totals"];
    assert!(
        totals.get("ctr").is_some() && totals.get("clicks").is_none(),
        "{totals}"
    );
    assert!(totals.get("impressions").is_some() && totals.get("spend").is_some());

    // The adopter restates the first hour, then a wider window of it.
    let restate = |kind: &str| {
        json!({"idempotency_key": format!("upd-{}", uuid::Uuid::new_v4()), "media_buy_id": "mb_1", "account": {"brand": {"domain": "acme.example"}, "operator": "acme.example"},
               "ext": {"restate": {"kind": kind, "start": time::rfc3339(t0), "end": time::rfc3339(t0 + time::Duration::HOUR)}}})
    };
    call(&server, "update_media_buy", restate("adjusted")).await;
    call(&server, "update_media_buy", restate("window_update")).await;
    let r = wait(4).await;
    assert_eq!(r[2]["notification_type"], "adjusted");
    assert_eq!(r[3]["notification_type"], "window_update");
    assert_eq!(
        r[3]["reporting_period"]["end"],
        time::rfc3339(t0 + time::Duration::HOUR).as_str()
    );

    // Canceled: the final report at once, nothing after it.
    clock.advance(time::Duration::minutes(10));
    let mut cancel = restate("x");
    cancel["ext"] = json!({});
    cancel["canceled"] = json!(true);
    call(&server, "update_media_buy", cancel).await;
    let r = wait(5).await;
    assert_eq!(r[4]["notification_type"], "final", "{}", r[4]);
    assert!(r[4].get("next_expected_at").is_none());
    clock.advance(time::Duration::days(20));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.hits().len(), 5, "nothing after the final report");
    let seqs: Vec<u64> = r
        .iter()
        .filter_map(|r| r["sequence_number"].as_u64())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}
