//! A seller of linear TV spots: a regional broadcast group's primetime and late-fringe
//! inventory, sold as guaranteed units.
//!
//! What the group adds to the reference seller (`sales-non-guaranteed`, through
//! `seller_platform!`):
//! - **Clearance** (`clearance.rs`): a spot is trafficked under its Ad-ID, and must run the
//!   length its format sells.
//! - **Measurement windows** (`windows.rs`): every product reports live, C3 and C7 (the
//!   guarantee's basis); delivery says which window its figures are in, and is late by a day.
//!   The runtime turns the declared windows into `window_update` reports and a `final` one
//!   after C7.
//! - **Compliance fixtures** are sold the way the station sells: a seeded product is linear
//!   TV with the station's windows.
//!
//! Media buying (agency estimate numbers echoed per package, measurement terms checked
//! against the windows sold: `TERMS_REJECTED` otherwise), the creative library and the
//! controller are the reference seller's; accounts, tasks, idempotency, validation, webhooks
//! and the envelope are the runtime's.

mod clearance;
mod windows;

use std::sync::Arc;

use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpResult, Config, ControllerReply, Ctx, ScenarioParams, Serve, Stores, decisioning_platform,
};
use sales_non_guaranteed::Seller;
use serde_json::{Value, json};

/// The seller: the broadcast group's AdCP agent.
pub struct BroadcastSeller {
    seller: Seller,
}

/// The domain the group's stations are sold as.
const GROUP_DOMAIN: &str = "tri-state-broadcasting.example";

/// The group's spot formats: `(id, seconds)`.
const SPOTS: [(&str, i64); 2] = [("broadcast_spot_30s", 30), ("broadcast_spot_15s", 15)];

/// The group's products (fields over the reference seller's baseline).
fn products() -> Vec<Value> {
    let stations = json!([{"publisher_domain": GROUP_DOMAIN, "selection_type": "all"}]);
    let spot = |id: &str, name: &str, description: &str, format: &str, option: &str, price: f64| {
        json!({"product_id": id, "name": name, "description": description,
               "channels": ["linear_tv"], "delivery_type": "guaranteed",
               "publisher_properties": stations, "format_ids": [{"id": format}],
               "reporting_capabilities": windows::reporting_capabilities(),
               "pricing_options": [{"pricing_option_id": option, "pricing_model": "flat_rate",
                                    "currency": "USD", "fixed_price": price}]})
    };
    vec![
        spot(
            "primetime_30s",
            "Primetime :30",
            "A :30 spot in primetime (Monday to Sunday, 8 to 11 pm) on the group's three stations, priced per unit",
            "broadcast_spot_30s",
            "unit_primetime_30",
            4500.0,
        ),
        spot(
            "late_fringe_15s",
            "Late fringe :15",
            "A :15 spot after the late news (11:35 pm to 1 am) on the group's three stations, priced per unit",
            "broadcast_spot_15s",
            "unit_fringe_15",
            1200.0,
        ),
    ]
}

/// The spot formats: a video file of the spot's length, at broadcast loudness.
fn formats() -> Vec<Value> {
    SPOTS
        .iter()
        .map(|(id, secs)| {
            json!({
                "format_id": {"id": id}, "name": format!(":{secs:02} broadcast spot"),
                "description": format!("A {secs}-second broadcast spot, trafficked under its Ad-ID"),
                "assets": [{"item_type": "individual", "asset_id": "video_file", "asset_type": "video",
                            "required": true,
                            "requirements": {"min_duration_ms": secs * 1000 - 500, "max_duration_ms": secs * 1000 + 500,
                                             "min_width": 1280, "min_height": 720,
                                             "loudness_lufs": -24, "loudness_tolerance_db": 2}}],
            })
        })
        .collect()
}

impl BroadcastSeller {
    /// The seller; `test_fixtures` adds the products the compliance storyboards buy
    /// unseeded.
    pub fn new(test_fixtures: bool) -> Self {
        let seller = Seller::new(test_fixtures)
            .with_products(products())
            .and_then(|s| s.with_formats(formats()))
            // The specs are this file's: a test proves they are valid.
            .unwrap_or_else(|_| Seller::new(test_fixtures))
            .with_creative_platform(Arc::new(clearance::Clearance));
        BroadcastSeller { seller }
    }
}

/// The seller's settings: flat-rate units, guaranteed.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs broadcast TV seller".into(),
        description: "Primetime and late-fringe linear TV spots with live, C3 and C7 ratings (adcp-rs template)".into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {"supported_pricing_models": ["flat_rate", "cpm"]},
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`; briefs are also answered with a proposal over the
/// products (the reference seller's planner).
pub fn agent(config: Config, stores: Stores) -> Serve<BroadcastSeller> {
    let platform = BroadcastSeller::new(config.compliance_testing);
    let planner = platform.seller.planner();
    adcp_runtime::serve(platform)
        .proposals(planner)
        .config(config)
        .stores(stores)
}

// The platform: delivery in measurement windows and seeded products here; media buying, the
// creative library and the rest of the controller are the reference seller's.
sales_non_guaranteed::seller_platform! {
    #[decisioning_platform(specialisms(sales_broadcast_tv), accounts = explicit)]
    impl BroadcastSeller {
        /// What the account's buys delivered, in the measurement window their ratings are in.
        async fn get_media_buy_delivery(
            &self,
            ctx: &Ctx,
            req: GetMediaBuyDeliveryRequest,
        ) -> AdcpResult<GetMediaBuyDeliveryResponse> {
            let dated = req.end_date.is_some();
            let mut resp = self.seller.get_media_buy_delivery(ctx, req).await?;
            windows::label(&mut resp, dated, ctx.now())?;
            Ok(resp)
        }

        /// Controller: seeds a product, sold as the station sells (linear TV, its windows).
        async fn seed_product(&self, ctx: &Ctx, mut p: ScenarioParams) -> AdcpResult<ControllerReply> {
            let fixture = p.fixture.get_or_insert_with(Default::default);
            fixture
                .entry("reporting_capabilities")
                .or_insert_with(windows::reporting_capabilities);
            let video = fixture
                .get("channels")
                .and_then(Value::as_array)
                .is_none_or(|c| c.iter().any(|c| c == "video"));
            if video {
                fixture.insert("channels".into(), json!(["linear_tv"]));
            }
            self.seller.seed_product(ctx, p).await
        }
    }
    delegate seller: get_products, list_creative_formats, create_media_buy, review_media_buy,
        update_media_buy, get_media_buys, sync_creatives, list_creatives, seed_pricing_option,
        seed_creative, seed_media_buy, seed_creative_format, seed_plan, force_media_buy_status,
        force_creative_status, simulate_delivery, simulate_budget_spend
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_products_and_formats_are_valid() {
        let seller = sales_non_guaranteed::Seller::new(false)
            .with_products(super::products())
            .and_then(|s| s.with_formats(super::formats()));
        assert!(seller.is_ok(), "{:?}", seller.err());
    }
}
