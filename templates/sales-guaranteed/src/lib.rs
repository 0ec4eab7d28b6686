//! A seller of guaranteed inventory over a publisher's ad server.
//!
//! A guaranteed buy is an IO: the buy is booked as an order of the ad server once the
//! publisher signs it. The seller answers `create_media_buy` with a `submitted` task and
//! books the buy in a durable job that follows the IO's signature, so a restart while the IO
//! is out loses nothing; the task completes with the booked buy (the buyer polls it, or its
//! webhook is called). Sandbox buys under the IO approval limit are booked at once.
//!
//! The platform is the reference seller's (`sales-non-guaranteed`: validation against products
//! and pricing, the media-buy lifecycle, the creative library, the compliance controller)
//! booking into [`Gam`], the ad server it wraps (this template's business logic, in
//! `gam.rs`). Accounts, tasks, idempotency, webhooks and the envelope are the runtime's.

mod gam;

use std::sync::Arc;

use adcp_runtime::{Config, Serve, Stores, decisioning_platform};
pub use gam::Gam;
use sales_non_guaranteed::Seller;
use serde_json::json;

/// The IO approval limit by default: sandbox buys of at least this much wait for a signed IO.
pub const IO_APPROVAL_LIMIT: f64 = 50_000.0;

/// The seller: the reference platform booking into an ad server.
pub struct GuaranteedSeller {
    seller: Seller,
}

impl GuaranteedSeller {
    /// The seller booking into `gam`; `test_fixtures` adds the products the compliance
    /// storyboards buy unseeded.
    pub fn new(gam: Gam, test_fixtures: bool) -> Self {
        let seller = Seller::new(test_fixtures)
            .with_products(Vec::new())
            .unwrap_or_else(|_| Seller::new(test_fixtures))
            .with_ad_server(Arc::new(gam));
        GuaranteedSeller { seller }
    }
}

/// The seller's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs guaranteed seller".into(),
        description: "Guaranteed inventory of a publisher's ad server, booked once the IO is signed (adcp-rs template)".into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {"supported_pricing_models": ["cpm"]},
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`, booking into `gam`; briefs are also answered with a
/// proposal over the products (the reference seller's planner).
pub fn agent(config: Config, stores: Stores, gam: Gam) -> Serve<GuaranteedSeller> {
    let platform = GuaranteedSeller::new(gam, config.compliance_testing);
    let planner = platform.seller.planner();
    adcp_runtime::serve(platform)
        .proposals(planner)
        .config(config)
        .stores(stores)
}

// The platform is the reference seller's, whole: its `create_media_buy` answers `submitted`
// while the IO is out for signature and hands the buy to its `review_media_buy` job, which
// books it into the ad server once signed (a durable job, run again on any replica after a
// crash; the ad server's idempotency keys make a second booking find the first).
sales_non_guaranteed::seller_platform! {
    #[decisioning_platform(specialisms(sales_guaranteed), accounts = explicit)]
    impl GuaranteedSeller {}
    delegate seller: media_buying, controller
}
