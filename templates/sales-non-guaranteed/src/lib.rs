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

mod ad_server;
mod catalog;
mod catalogs;
mod controller;
mod conversions;
mod creatives;
mod media_buys;
mod previews;
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

pub use ad_server::{
    AdServer, BoxFuture, CatalogPlatform, ConversionPlatform, CreativePlatform, Delivered,
    Registered,
};
pub use catalog::Catalogue;
pub use catalogs::KeptCatalog;
pub use conversions::{EventSource, RegisteredSource, Tracked};
pub use proposals::{LineItem, Planner};
pub use store::{Creative, MediaBuy, PackageState};

/// The seller. Its state is in the runtime's state store (`Ctx::state`); it caches only the
/// default catalogue, per agent URL (format ids carry it).
pub struct Seller {
    catalogs: RwLock<HashMap<String, Arc<Catalogue>>>,
    /// Whether the catalogue carries the compliance runner's `test-product`.
    test_fixtures: bool,
    /// The product specs (fields over the shared baseline).
    products: Vec<serde_json::Value>,
    /// The ad server it books into, if it wraps one.
    ad_server: Option<Arc<dyn AdServer>>,
    /// Its own creative formats (format objects, ids without an agent), instead of the
    /// default display and video ones.
    formats: Option<Vec<serde_json::Value>>,
    /// The platform that reviews and serves its creatives, if it wraps one.
    creative_platform: Option<Arc<dyn CreativePlatform>>,
    /// The platform its catalogues are uploaded to, if it wraps one.
    catalog_platform: Option<Arc<dyn CatalogPlatform>>,
    /// The platform its event sources and conversions go to, if it wraps one.
    conversion_platform: Option<Arc<dyn ConversionPlatform>>,
}

impl Seller {
    /// A seller; `test_fixtures` adds the fixtures the compliance storyboards buy unseeded.
    pub fn new(test_fixtures: bool) -> Self {
        Seller {
            catalogs: RwLock::default(),
            test_fixtures,
            products: catalog::default_specs(),
            ad_server: None,
            formats: None,
            creative_platform: None,
            catalog_platform: None,
            conversion_platform: None,
        }
    }

    /// The seller uploading catalogues to `platform` (see [`CatalogPlatform`]).
    pub fn with_catalog_platform(mut self, platform: Arc<dyn CatalogPlatform>) -> Self {
        self.catalog_platform = Some(platform);
        self
    }

    /// The seller registering event sources with `platform` and sending it the events logged
    /// (see [`ConversionPlatform`]).
    pub fn with_conversion_platform(mut self, platform: Arc<dyn ConversionPlatform>) -> Self {
        self.conversion_platform = Some(platform);
        self
    }

    pub(crate) fn catalog_platform(&self) -> Option<&dyn CatalogPlatform> {
        self.catalog_platform.as_deref()
    }

    pub(crate) fn conversion_platform(&self) -> Option<&dyn ConversionPlatform> {
        self.conversion_platform.as_deref()
    }

    /// Syncs the buyer's catalogues (a task a platform claiming catalogue-driven selling
    /// delegates here: see [`seller_platform!`]).
    pub async fn sync_catalogs(
        &self,
        ctx: &Ctx,
        req: SyncCatalogsRequest,
    ) -> AdcpResult<SyncCatalogsSuccess> {
        catalogs::sync(self, ctx, req).await
    }

    /// Syncs the buyer's event sources.
    pub async fn sync_event_sources(
        &self,
        ctx: &Ctx,
        req: SyncEventSourcesRequest,
    ) -> AdcpResult<SyncEventSourcesSuccess> {
        conversions::sync(self, ctx, req).await
    }

    /// Takes conversion events for one of the caller's event sources.
    pub async fn log_event(&self, ctx: &Ctx, req: LogEventRequest) -> AdcpResult<LogEventSuccess> {
        conversions::log(self, ctx, req).await
    }

    /// Takes the buyer's performance feedback on one of its buys.
    pub async fn provide_performance_feedback(
        &self,
        ctx: &Ctx,
        req: ProvidePerformanceFeedbackRequest,
    ) -> AdcpResult<ProvidePerformanceFeedbackSuccess> {
        media_buys::feedback(ctx, req).await
    }

    /// The seller taking `formats` (format objects whose `format_id` has no `agent_url`: this
    /// agent's) instead of the default display and video ones; a format that does not decode
    /// is refused, by its id. Under compliance testing the formats of the runner's unseeded
    /// fixture products are listed too.
    pub fn with_formats(mut self, formats: Vec<serde_json::Value>) -> Result<Self, String> {
        for f in &formats {
            catalog::custom_format("http://127.0.0.1/mcp", f)
                .map_err(|e| format!("format {}: {e}", f["format_id"]))?;
        }
        self.formats = Some(formats);
        Ok(self)
    }

    /// The seller registering creatives with `platform` (see [`CreativePlatform`]) as they are
    /// synced or given inline.
    pub fn with_creative_platform(mut self, platform: Arc<dyn CreativePlatform>) -> Self {
        self.creative_platform = Some(platform);
        self
    }

    /// The platform it registers creatives with, if it has one.
    pub(crate) fn creative_platform(&self) -> Option<&dyn CreativePlatform> {
        self.creative_platform.as_deref()
    }

    /// Its formats, for an agent URL.
    pub(crate) fn formats(&self, agent_url: &str) -> Vec<Format> {
        catalog::formats(agent_url, self.formats.as_deref(), self.test_fixtures)
    }

    /// Whether it takes creatives of format `id` (seeded formats aside).
    pub fn sells_format(&self, id: &str) -> bool {
        catalog::format_ids(self.formats.as_deref(), self.test_fixtures).any(|f| f == id)
    }

    /// The seller booking into `ad_server` (see [`AdServer`]): its products are sold beside
    /// the seller's own, and buys are booked, delivered and given creatives there.
    pub fn with_ad_server(mut self, ad_server: Arc<dyn AdServer>) -> Self {
        self.ad_server = Some(ad_server);
        self
    }

    /// The ad server it books into, if it wraps one.
    pub(crate) fn ad_server(&self) -> Option<&dyn AdServer> {
        self.ad_server.as_deref()
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
            ad_server: self.ad_server.clone(),
            formats: self.formats.clone(),
            creative_platform: self.creative_platform.clone(),
            catalog_platform: self.catalog_platform.clone(),
            conversion_platform: self.conversion_platform.clone(),
        })
    }

    /// The default catalogue for an agent URL.
    pub fn catalog(&self, agent_url: &str) -> Arc<Catalogue> {
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
            Arc::new(Catalogue::new(catalog::products(
                agent_url,
                self.test_fixtures,
                &self.products,
            )))
        };
        all.entry(agent_url.to_owned()).or_insert_with(make).clone()
    }
}

/// Whether a platform's error is about the call rather than the item it was given: the
/// platform is unavailable (the buyer retries the call), or the account cannot use it.
pub fn fails_the_call(e: &AdcpError) -> bool {
    e.code() == adcp_runtime::codes::SERVICE_UNAVAILABLE || e.code().starts_with("ACCOUNT_")
}

/// The request's account's catalogues, as synced (for a platform building creatives from
/// them).
pub async fn catalogs(ctx: &Ctx) -> AdcpResult<Vec<KeptCatalog>> {
    ctx.state().list(catalogs::CATALOGS).await
}

/// A creative of the account's library (synced or seeded), for a platform composing with the
/// seller (a build from a library creative).
pub async fn library_creative(ctx: &Ctx, creative_id: &str) -> AdcpResult<Option<Creative>> {
    ctx.state().get(store::CREATIVES, creative_id).await
}

/// A product of this seller's shape (its properties, reporting and pricing defaults) with
/// `fields` over them; format ids given without an agent are `agent_url`'s. For an
/// [`AdServer`] mapping its own products.
pub fn product(agent_url: &str, fields: &serde_json::Value) -> AdcpResult<Product> {
    catalog::product(agent_url, fields)
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
    /// Products an account can buy: seeded, the catalogue, and the ad server's.
    pub async fn get_products(
        &self,
        ctx: &Ctx,
        req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        products::get_products(self, ctx, req).await
    }

    /// The creative formats, each with the assets it takes.
    pub async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        products::list_creative_formats(self, ctx, req).await
    }

    /// Books a buy (after review, or after its IO is signed, when either is needed).
    pub async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        media_buys::create(self, ctx, req).await
    }

    /// The review of a large buy: a durable job, so a review in progress survives a restart.
    /// Books a buy handed off for review or IO signature.
    #[adcp(job)]
    pub async fn review_media_buy(
        &self,
        ctx: &Ctx,
        buy: store::MediaBuy,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        media_buys::review(self, ctx, buy).await
    }

    /// Changes, pauses, resumes or cancels a buy.
    pub async fn update_media_buy(
        &self,
        ctx: &Ctx,
        req: UpdateMediaBuyRequest,
    ) -> AdcpResult<UpdateMediaBuySuccess> {
        media_buys::update(self, ctx, req).await
    }

    /// The account's buys.
    pub async fn get_media_buys(
        &self,
        ctx: &Ctx,
        req: GetMediaBuysRequest,
    ) -> AdcpResult<GetMediaBuysResponse> {
        media_buys::get(ctx, req).await
    }

    /// What the account's buys delivered.
    pub async fn get_media_buy_delivery(
        &self,
        ctx: &Ctx,
        req: GetMediaBuyDeliveryRequest,
    ) -> AdcpResult<GetMediaBuyDeliveryResponse> {
        media_buys::delivery(self, ctx, req).await
    }

    /// Adds creatives to the library, and assigns them to packages.
    pub async fn sync_creatives(
        &self,
        ctx: &Ctx,
        req: SyncCreativesRequest,
    ) -> AdcpResult<SyncCreativesSuccess> {
        creatives::sync(self, ctx, req).await
    }

    /// The account's creative library.
    pub async fn list_creatives(
        &self,
        ctx: &Ctx,
        req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        creatives::list(ctx, req).await
    }

    // --- compliance test controller (sandbox accounts only) ------------------------------

    /// Controller: seeds a product.
    pub async fn seed_product(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_product(ctx, p).await
    }

    /// Controller: seeds a pricing option of a product.
    pub async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::seed_pricing_option(self, ctx, p).await
    }

    /// Controller: seeds a creative.
    pub async fn seed_creative(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_creative(ctx, p).await
    }

    /// Controller: seeds a media buy.
    pub async fn seed_media_buy(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::seed_media_buy(ctx, p).await
    }

    /// Controller: seeds a creative format.
    pub async fn seed_creative_format(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::seed_creative_format(ctx, p).await
    }

    /// Controller: seeds a plan.
    pub async fn seed_plan(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        controller::seed_plan(ctx, p).await
    }

    /// Controller: moves a buy's status.
    pub async fn force_media_buy_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::force_media_buy_status(ctx, p).await
    }

    /// Controller: moves a creative's status.
    pub async fn force_creative_status(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::force_creative_status(ctx, p).await
    }

    /// Controller: records delivery for a buy.
    pub async fn simulate_delivery(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::simulate_delivery(ctx, p).await
    }

    /// Controller: records spend for a buy.
    pub async fn simulate_budget_spend(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        controller::simulate_budget_spend(ctx, p).await
    }
}

/// A stock `native_post` format (a sponsored post in a feed: a headline, a line of text, a
/// picture and a link), for a seller to add to its formats ([`Seller::with_formats`]); its
/// previews render as a post.
pub fn native_post() -> serde_json::Value {
    json!({
        "format_id": {"id": "native_post"}, "name": "Sponsored post",
        "description": "A post in the publisher's feed: a picture, a headline, a line of text and a link",
        "renders": [{"role": "primary", "dimensions": {"responsive": {"width": true, "height": true}}}],
        "assets": [
            {"item_type": "individual", "asset_id": "headline", "asset_type": "text", "required": true,
             "requirements": {"max_length": 90}},
            {"item_type": "individual", "asset_id": "body", "asset_type": "text", "required": false,
             "requirements": {"max_length": 250}},
            {"item_type": "individual", "asset_id": "image", "asset_type": "image", "required": true,
             "requirements": {"min_width": 600, "min_height": 314, "formats": ["jpg", "png", "webp"]}},
            {"item_type": "individual", "asset_id": "click_url", "asset_type": "url", "required": true},
        ],
    })
}

/// What the seller lends a template composing with it that also previews or builds creatives
/// (not served by the reference seller itself: delegate `preview_creative` to serve it).
impl Seller {
    /// `preview_creative`: a manifest of a format this seller takes, rendered as it serves it
    /// (a post with a headline, a banner, a video), its text escaped and only http(s) links
    /// used; a URL hosted by the runtime, or the HTML.
    pub async fn preview_creative(
        &self,
        ctx: &Ctx,
        req: PreviewCreativeRequest,
    ) -> AdcpResult<PreviewCreativeResponse> {
        previews::preview(ctx, |f| self.sells_format(f), &req).await
    }

    /// A VAST tag for a hosted video (the manifest's, or a library creative's by
    /// `creative_id`) when the build asks for `vast_30s` of a seller that takes video;
    /// `None` otherwise (the platform builds it).
    pub async fn vast_tag(
        &self,
        ctx: &Ctx,
        req: &BuildCreativeRequest,
    ) -> Option<AdcpResult<BuildCreativeSuccess>> {
        let target = req.target_format_id.as_ref()?;
        (target.id == previews::VAST && self.sells_format("video_30s"))
            .then(|| previews::vast(ctx, req))?
            .await
            .into()
    }
}

/// What [`seller_platform!`] expands to names, from one path.
#[doc(hidden)]
pub mod __seller {
    pub use crate::{MediaBuy, Seller};
    pub use adcp_runtime::wire;
    pub use adcp_runtime::{AdcpResult, ControllerReply, Ctx, Hybrid, ScenarioParams};
}

/// A platform's impl block with tasks and controller scenarios delegated to the reference
/// seller in one of its fields: a template composing with the seller writes only its own
/// methods. `media_buying` names the media-buying tasks (products, formats, the buy's
/// lifecycle and its review job, delivery, the creative library); `conversions` the event
/// sources and `log_event`; `controller` the compliance controller's scenarios; or name tasks
/// (`sync_catalogs`, `provide_performance_feedback`, ...) and scenarios one by one, leaving
/// out those the block implements itself.
///
/// ```text
/// sales_non_guaranteed::seller_platform! {
///     #[decisioning_platform(specialisms(sales_social), accounts = explicit)]
///     impl SocialSeller {
///         async fn sync_audiences(&self, ctx: &Ctx, req: SyncAudiencesRequest) -> ... { ... }
///     }
///     delegate seller: media_buying, controller
/// }
/// ```
///
/// The attribute sees one impl block with every method, so the specialism checks still run at
/// compile time. A name that is neither a task or scenario the reference seller serves nor a
/// group does not compile:
///
/// ```compile_fail
/// use adcp_runtime::decisioning_platform;
///
/// struct Mine {
///     seller: sales_non_guaranteed::Seller,
/// }
///
/// sales_non_guaranteed::seller_platform! {
///     #[decisioning_platform(accounts = explicit)]
///     impl Mine {}
///     delegate seller: get_product
/// }
/// ```
#[macro_export]
macro_rules! seller_platform {
    (#[$attr:meta] impl $ty:ident { $($body:tt)* } delegate $field:ident: $($task:ident),+ $(,)?) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [] $($task)+);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*]) => {
        #[$attr]
        impl $ty { $($body)* $($acc)* }
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] media_buying $($rest:ident)*) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*]
            get_products list_creative_formats create_media_buy review_media_buy update_media_buy
            get_media_buys get_media_buy_delivery sync_creatives list_creatives $($rest)*);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] conversions $($rest:ident)*) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*]
            sync_event_sources log_event $($rest)*);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] controller $($rest:ident)*) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*]
            seed_product seed_pricing_option seed_creative seed_media_buy seed_creative_format
            seed_plan force_media_buy_status force_creative_status simulate_delivery
            simulate_budget_spend $($rest)*);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] create_media_buy $($rest:ident)*) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*
            async fn create_media_buy(
                &self,
                ctx: &$crate::__seller::Ctx,
                req: $crate::__seller::wire::CreateMediaBuyRequest,
            ) -> $crate::__seller::AdcpResult<$crate::__seller::Hybrid<$crate::__seller::wire::CreateMediaBuySuccess>> {
                self.$field.create_media_buy(ctx, req).await
            }
        ] $($rest)*);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] review_media_buy $($rest:ident)*) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*
            /// Reviews (and books) a buy handed off by `create_media_buy`: a durable job.
            #[adcp(job)]
            async fn review_media_buy(
                &self,
                ctx: &$crate::__seller::Ctx,
                buy: $crate::__seller::MediaBuy,
            ) -> $crate::__seller::AdcpResult<$crate::__seller::wire::CreateMediaBuySuccess> {
                self.$field.review_media_buy(ctx, buy).await
            }
        ] $($rest)*);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] get_products $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] get_products GetProductsRequest GetProductsResponse);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] list_creative_formats $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] list_creative_formats ListCreativeFormatsRequest ListCreativeFormatsResponse);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] update_media_buy $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] update_media_buy UpdateMediaBuyRequest UpdateMediaBuySuccess);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] get_media_buys $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] get_media_buys GetMediaBuysRequest GetMediaBuysResponse);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] get_media_buy_delivery $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] get_media_buy_delivery GetMediaBuyDeliveryRequest GetMediaBuyDeliveryResponse);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] sync_creatives $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] sync_creatives SyncCreativesRequest SyncCreativesSuccess);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] list_creatives $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] list_creatives ListCreativesRequest ListCreativesResponse);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] preview_creative $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] preview_creative PreviewCreativeRequest PreviewCreativeResponse);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] sync_catalogs $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] sync_catalogs SyncCatalogsRequest SyncCatalogsSuccess);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] sync_event_sources $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] sync_event_sources SyncEventSourcesRequest SyncEventSourcesSuccess);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] log_event $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] log_event LogEventRequest LogEventSuccess);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] provide_performance_feedback $($rest:ident)*) => {
        $crate::seller_platform!(@emit [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] provide_performance_feedback ProvidePerformanceFeedbackRequest ProvidePerformanceFeedbackSuccess);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] seed_product $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] seed_product);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] seed_pricing_option $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] seed_pricing_option);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] seed_creative $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] seed_creative);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] seed_media_buy $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] seed_media_buy);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] seed_creative_format $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] seed_creative_format);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] seed_plan $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] seed_plan);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] force_media_buy_status $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] force_media_buy_status);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] force_creative_status $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] force_creative_status);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] simulate_delivery $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] simulate_delivery);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] simulate_budget_spend $($rest:ident)*) => {
        $crate::seller_platform!(@scenario [$attr] $ty $field [$($body)*] [$($acc)*] [$($rest)*] simulate_budget_spend);
    };
    (@munch [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] $other:ident $($rest:ident)*) => {
        ::core::compile_error!(::core::concat!(
            "seller_platform!: `", ::core::stringify!($other), "` is not a task or scenario the \
             reference seller serves, nor a group (media_buying, conversions, controller)"
        ));
    };
    // A controller scenario.
    (@scenario [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] [$($rest:ident)*] $scenario:ident) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*
            async fn $scenario(
                &self,
                ctx: &$crate::__seller::Ctx,
                p: $crate::__seller::ScenarioParams,
            ) -> $crate::__seller::AdcpResult<$crate::__seller::ControllerReply> {
                self.$field.$scenario(ctx, p).await
            }
        ] $($rest)*);
    };
    (@emit [$attr:meta] $ty:ident $field:ident [$($body:tt)*] [$($acc:tt)*] [$($rest:ident)*] $name:ident $req:ident $resp:ident) => {
        $crate::seller_platform!(@munch [$attr] $ty $field [$($body)*] [$($acc)*
            async fn $name(
                &self,
                ctx: &$crate::__seller::Ctx,
                req: $crate::__seller::wire::$req,
            ) -> $crate::__seller::AdcpResult<$crate::__seller::wire::$resp> {
                self.$field.$name(ctx, req).await
            }
        ] $($rest)*);
    };
}
