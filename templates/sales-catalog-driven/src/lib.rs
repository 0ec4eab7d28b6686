//! A seller of catalogue-driven display: a local publisher network selling dynamic ads built
//! from the advertiser's catalogue (a restaurant's menu, a retailer's products). The buyer
//! syncs its catalogues (each item reviewed: an item without an id is rejected), asks the
//! seller to build a dynamic creative from one (`build_creative`, this template's logic in
//! `builder.rs`: a manifest naming the catalogue, and a preview whose tracker URLs carry each
//! item's id percent-encoded, so a catalogue value can never break out of its URL), buys the
//! dynamic product, tells the seller where conversions come from (`sync_event_sources`,
//! `log_event`) and how the buy performs (`provide_performance_feedback`).
//!
//! Catalogues, conversions, feedback and media buying are the reference seller's
//! (`sales-non-guaranteed`, through `seller_platform!`), selling this network's products and
//! formats; accounts, tasks, idempotency, validation and the envelope are the runtime's.

mod builder;

use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Config, Ctx, Serve, Stores, decisioning_platform};
use sales_non_guaranteed::Seller;
use serde_json::{Value, json};

/// The seller: the network's AdCP agent.
pub struct CatalogSeller {
    seller: Seller,
}

/// The domain the network's inventory is sold as.
const NETWORK_DOMAIN: &str = "local-eats-network.example";

/// The network's products (fields over the reference seller's baseline).
fn products() -> Vec<Value> {
    let network = json!([{"publisher_domain": NETWORK_DOMAIN, "selection_type": "all"}]);
    vec![
        json!({"product_id": "local_display_dynamic", "name": "Local display, dynamic",
               "description": "Display on local food and lifestyle sites, each ad showing the items of the advertiser's catalogue a reader is likeliest to want",
               "channels": ["display"], "publisher_properties": network,
               "format_ids": [{"id": "display_300x250_catalog"}, {"id": "display_320x50_catalog"}],
               "pricing_options": [{"pricing_option_id": "cpm_standard", "pricing_model": "cpm", "currency": "USD", "floor_price": 6.0}]}),
        json!({"product_id": "local_native_carousel", "name": "Local native carousel",
               "description": "A swipeable carousel of catalogue items in local sites' feeds",
               "channels": ["display"], "publisher_properties": network,
               "format_ids": [{"id": "native_catalog_carousel"}],
               "pricing_options": [{"pricing_option_id": "cpm_standard", "pricing_model": "cpm", "currency": "USD", "floor_price": 8.0}]}),
        json!({"product_id": "local_feed_posts", "name": "Local feed, sponsored posts",
               "description": "Sponsored posts in local sites' restaurant feeds: a picture, a headline and a link",
               "channels": ["display"], "publisher_properties": network,
               "format_ids": [{"id": "native_post"}],
               "pricing_options": [{"pricing_option_id": "cpm_standard", "pricing_model": "cpm", "currency": "USD", "floor_price": 7.0}]}),
    ]
}

/// The network's formats beyond the reference seller's: the catalogue-driven ones, and the
/// sponsored feed post.
fn formats() -> Vec<Value> {
    let mut all = builder::formats();
    all.push(sales_non_guaranteed::native_post());
    all
}

impl CatalogSeller {
    /// The seller; `test_fixtures` adds the products the compliance storyboards buy
    /// unseeded.
    pub fn new(test_fixtures: bool) -> Self {
        let seller = Seller::new(test_fixtures)
            .with_products(products())
            .and_then(|s| s.with_formats(formats()))
            // The specs are this file's: a test proves they are valid.
            .unwrap_or_else(|_| Seller::new(test_fixtures));
        CatalogSeller { seller }
    }
}

/// The seller's settings: auction-priced display, conversions tracked server to server.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs catalogue-driven seller".into(),
        description: "Dynamic display built from the advertiser's catalogue (adcp-rs template)"
            .into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {
                "supported_pricing_models": ["cpm"],
                "conversion_tracking": {
                    "supported_hashed_identifiers": ["hashed_email", "hashed_phone"],
                    "supported_action_sources": ["website", "app", "offline"],
                    "multi_source_event_dedup": false,
                },
            },
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`; briefs are also answered with a proposal over the
/// products (the reference seller's planner).
pub fn agent(config: Config, stores: Stores) -> Serve<CatalogSeller> {
    let platform = CatalogSeller::new(config.compliance_testing);
    let planner = platform.seller.planner();
    adcp_runtime::serve(platform)
        .proposals(planner)
        .config(config)
        .stores(stores)
}

// The platform: the creative builder here; catalogues, conversions, feedback, media buying
// and the compliance controller are the reference seller's.
sales_non_guaranteed::seller_platform! {
    #[decisioning_platform(specialisms(sales_catalog_driven), accounts = explicit)]
    impl CatalogSeller {
        async fn build_creative(
            &self,
            ctx: &Ctx,
            req: BuildCreativeRequest,
        ) -> AdcpResult<BuildCreativeSuccess> {
            if let Some(vast) = self.seller.vast_tag(ctx, &req).await {
                return vast;
            }
            builder::build(ctx, req).await
        }
    }
    delegate seller: media_buying, sync_catalogs, conversions, provide_performance_feedback,
        preview_creative, controller
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
