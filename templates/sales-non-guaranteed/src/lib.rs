//! The reference seller: a non-guaranteed (auction) seller of display and video inventory.
//!
//! Buyers bid at or above each pricing option's floor. Media buys start in `pending_creatives`
//! and move to `active` (or `pending_start` before their flight) once a creative is assigned.
//! Buys above the auto-approval limit go to a review queue and are answered with a task.
//!
//! It is governance-aware: the buyer registers its governance agents with `sync_governance`,
//! and a buy naming a `plan_id` is booked only once they approve (the runtime's duty: see
//! `adcp_runtime::governance`).
//!
//! This file is the platform: each task delegates to the module of its resource. Accounts,
//! governance checks, idempotency, tasks, webhooks, validation and the envelope are the
//! runtime's.

mod catalog;
mod controller;
mod creatives;
mod media_buys;
mod products;
mod proposals;
mod store;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Config, ControllerReply, Ctx, Hybrid, ScenarioParams, Serve, Stores,
    decisioning_platform,
};
use serde_json::json;

pub use proposals::{LineItem, Planner};

/// The seller. Its state is in the runtime's state store (`Ctx::state`); it caches only the
/// default catalogue, per agent URL (format ids carry it).
pub struct Seller {
    catalogs: RwLock<HashMap<String, Arc<Vec<Product>>>>,
    /// Whether the catalogue carries the compliance runner's `test-product`.
    test_fixtures: bool,
    /// The product specs (fields over the shared baseline).
    products: Vec<serde_json::Value>,
}

impl Seller {
    /// A seller; `test_fixtures` adds the fixtures the compliance storyboards buy unseeded.
    pub fn new(test_fixtures: bool) -> Self {
        Seller {
            catalogs: RwLock::default(),
            test_fixtures,
            products: catalog::default_specs(),
        }
    }

    /// The seller selling `products` (fields over the shared baseline) instead of the default
    /// ones; a spec that makes no valid product is refused, by its id.
    pub fn with_products(mut self, products: Vec<serde_json::Value>) -> Result<Self, String> {
        for p in &products {
            let why = |e: AdcpError| format!("product {}: {}", p["product_id"], e.message());
            catalog::product("http://127.0.0.1/mcp", p).map_err(why)?;
        }
        self.products = products;
        Ok(self)
    }

    /// Its proposal manager, planning over the same products.
    pub fn planner(&self) -> Planner {
        Planner(Seller {
            catalogs: RwLock::default(),
            test_fixtures: self.test_fixtures,
            products: self.products.clone(),
        })
    }

    /// The default catalogue for an agent URL.
    pub fn catalog(&self, agent_url: &str) -> Arc<Vec<Product>> {
        let cached = self.catalogs.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cached.get(agent_url) {
            return c.clone();
        }
        drop(cached);
        let mut all = self
            .catalogs
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let make = || {
            Arc::new(catalog::products(
                agent_url,
                self.test_fixtures,
                &self.products,
            ))
        };
        all.entry(agent_url.to_owned()).or_insert_with(make).clone()
    }
}

/// The reference seller's settings: its name, and the capability sections it declares.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs reference seller".into(),
        description:
            "Non-guaranteed display and video inventory, auction priced (adcp-rs reference seller)"
                .into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {"supported_pricing_models": ["cpm"]},
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`, ready to bind and serve.
pub fn agent(config: Config, stores: Stores) -> Serve<Seller> {
    let seller = Seller::new(config.compliance_testing);
    let (products, planner) = (
        seller.catalog("http://127.0.0.1/mcp").to_vec(),
        seller.planner(),
    );
    adcp_runtime::serve(seller)
        .proposals(planner)
        .config(config)
        .stores(stores)
        .catalog(products)
}

#[decisioning_platform(
    specialisms(sales_non_guaranteed, sales_proposal_mode, governance_aware_seller),
    accounts = explicit,
    recipes(line_item = LineItem),
    recipe_union = pub SellerRecipe
)]
impl Seller {
    async fn get_products(
        &self,
        ctx: &Ctx,
        req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        products::get_products(self, ctx, req).await
    }

    async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        products::list_creative_formats(ctx, req).await
    }

    async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        media_buys::create(self, ctx, req).await
    }

    /// The review of a large buy: a durable job, so a review in progress survives a restart.
    #[adcp(job)]
    async fn review_media_buy(
        &self,
        ctx: &Ctx,
        buy: store::MediaBuy,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        media_buys::review(ctx, buy).await
    }

    async fn update_media_buy(
        &self,
        ctx: &Ctx,
        req: UpdateMediaBuyRequest,
    ) -> AdcpResult<UpdateMediaBuySuccess> {
        media_buys::update(self, ctx, req).await
    }

    async fn get_media_buys(
        &self,
        ctx: &Ctx,
        req: GetMediaBuysRequest,
    ) -> AdcpResult<GetMediaBuysResponse> {
        media_buys::get(ctx, req).await
    }

    async fn get_media_buy_delivery(
        &self,
        ctx: &Ctx,
        req: GetMediaBuyDeliveryRequest,
    ) -> AdcpResult<GetMediaBuyDeliveryResponse> {
        media_buys::delivery(ctx, req).await
    }

    async fn sync_creatives(
        &self,
        ctx: &Ctx,
        req: SyncCreativesRequest,
    ) -> AdcpResult<SyncCreativesSuccess> {
        creatives::sync(ctx, req).await
    }

    async fn list_creatives(
        &self,
        ctx: &Ctx,
        req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        creatives::list(ctx, req).await
    }

    // --- compliance test controller (sandbox accounts only) ------------------------------

    async fn seed_product(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_product(ctx, p).await
    }

    async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::seed_pricing_option(self, ctx, p).await
    }

    async fn seed_creative(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_creative(ctx, p).await
    }

    async fn seed_media_buy(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_media_buy(ctx, p).await
    }

    async fn seed_creative_format(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::seed_creative_format(ctx, p).await
    }

    async fn seed_plan(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_plan(ctx, p).await
    }

    async fn force_media_buy_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::force_media_buy_status(ctx, p).await
    }

    async fn force_creative_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::force_creative_status(ctx, p).await
    }

    async fn simulate_delivery(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::simulate_delivery(ctx, p).await
    }

    async fn simulate_budget_spend(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::simulate_budget_spend(ctx, p).await
    }
}
