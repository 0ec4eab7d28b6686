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

use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpResult, Config, ControllerReply, Ctx, Hybrid, ScenarioParams, Serve, Stores,
    decisioning_platform,
};
pub use gam::Gam;
use sales_non_guaranteed::{MediaBuy, Seller};
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

#[decisioning_platform(specialisms(sales_guaranteed), accounts = explicit)]
impl GuaranteedSeller {
    async fn get_products(
        &self,
        ctx: &Ctx,
        req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        self.seller.get_products(ctx, req).await
    }

    async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        self.seller.list_creative_formats(ctx, req).await
    }

    // `submitted` while the IO is out for signature: the reference seller hands the buy to
    // its `review_media_buy` job, which this platform runs (below) and which books it into
    // the ad server once signed.
    async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        self.seller.create_media_buy(ctx, req).await
    }

    /// Books a buy once its IO is signed: a durable job (run again, on any replica, after a
    /// crash; the ad server's idempotency keys make a second booking find the first).
    #[adcp(job)]
    async fn review_media_buy(
        &self,
        ctx: &Ctx,
        buy: MediaBuy,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        self.seller.review_media_buy(ctx, buy).await
    }

    async fn update_media_buy(
        &self,
        ctx: &Ctx,
        req: UpdateMediaBuyRequest,
    ) -> AdcpResult<UpdateMediaBuySuccess> {
        self.seller.update_media_buy(ctx, req).await
    }

    async fn get_media_buys(
        &self,
        ctx: &Ctx,
        req: GetMediaBuysRequest,
    ) -> AdcpResult<GetMediaBuysResponse> {
        self.seller.get_media_buys(ctx, req).await
    }

    async fn get_media_buy_delivery(
        &self,
        ctx: &Ctx,
        req: GetMediaBuyDeliveryRequest,
    ) -> AdcpResult<GetMediaBuyDeliveryResponse> {
        self.seller.get_media_buy_delivery(ctx, req).await
    }

    async fn sync_creatives(
        &self,
        ctx: &Ctx,
        req: SyncCreativesRequest,
    ) -> AdcpResult<SyncCreativesSuccess> {
        self.seller.sync_creatives(ctx, req).await
    }

    async fn list_creatives(
        &self,
        ctx: &Ctx,
        req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        self.seller.list_creatives(ctx, req).await
    }

    // --- compliance test controller (sandbox accounts only) ------------------------------

    async fn seed_product(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.seller.seed_product(ctx, p).await
    }

    async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.seller.seed_pricing_option(ctx, p).await
    }

    async fn seed_creative(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.seller.seed_creative(ctx, p).await
    }

    async fn seed_media_buy(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.seller.seed_media_buy(ctx, p).await
    }

    async fn seed_creative_format(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.seller.seed_creative_format(ctx, p).await
    }

    async fn force_media_buy_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.seller.force_media_buy_status(ctx, p).await
    }

    async fn force_creative_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.seller.force_creative_status(ctx, p).await
    }

    async fn simulate_delivery(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.seller.simulate_delivery(ctx, p).await
    }

    async fn simulate_budget_spend(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.seller.simulate_budget_spend(ctx, p).await
    }
}
