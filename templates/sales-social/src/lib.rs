//! A seller for a social platform (a walled garden): its in-feed, story and dynamic product
//! ads, bought at auction, and what a buyer brings to them: first-party audiences (hashed
//! emails, phone numbers, mobile ids), product catalogues, creatives in the platform's native
//! formats, and conversion pixels with the events logged to them. These are synced to the
//! platform's marketing API through [`Garden`], this template's adapter.
//!
//! Media buying is the reference seller's (`sales-non-guaranteed`: products, pricing, the
//! media-buy lifecycle, the creative library and its assignments, the compliance controller),
//! selling the platform's products and formats and registering every creative with the
//! platform, which reviews it. The platform's accounts are its advertisers: an AdCP account
//! (declared with `sync_accounts`, listed by `list_accounts`: the runtime's) is the advertiser
//! of its brand's domain. Accounts, tasks, idempotency, the envelope and validation are the
//! runtime's; each account's audiences, catalogues, creatives and event sources are kept in its
//! own state.

mod audiences;
mod conversions;
mod creatives;
mod garden;

use std::sync::Arc;

use adcp_runtime::time;
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpError, AdcpResult, Config, Ctx, Serve, Stores, decisioning_platform};
pub use garden::{Advertiser, Garden, Grants};
use sales_non_guaranteed::Seller;
use serde_json::{Value, json};

/// The seller: the platform's AdCP agent.
pub struct SocialSeller {
    garden: Arc<Garden>,
    seller: Seller,
}

/// The platform's products (fields over the reference seller's baseline).
fn products() -> Vec<Value> {
    let on_platform =
        json!([{"publisher_domain": garden::PLATFORM_DOMAIN, "selection_type": "all"}]);
    let auction = |floor: f64| json!([{"pricing_option_id": "cpm_auction", "pricing_model": "cpm", "currency": "USD", "floor_price": floor}]);
    vec![
        json!({"product_id": "social_feed", "name": "In-feed ads",
               "description": "Image and carousel posts in the main feed, targeted by the buyer's audiences",
               "channels": ["social"], "publisher_properties": on_platform,
               "format_ids": [{"id": "native_feed"}, {"id": "carousel_image"}],
               "pricing_options": auction(3.0)}),
        json!({"product_id": "social_stories", "name": "Stories and vertical video",
               "description": "Full-screen vertical video between stories and in the video feed",
               "channels": ["social"], "publisher_properties": on_platform,
               "format_ids": [{"id": "story_video"}, {"id": "vertical_video"}],
               "pricing_options": auction(6.0)}),
        json!({"product_id": "social_dynamic_product_ads", "name": "Dynamic product ads",
               "description": "Carousels of the advertiser's synced catalogue, chosen per viewer",
               "channels": ["social"], "publisher_properties": on_platform,
               "format_ids": [{"id": "product_carousel_3_to_10"}],
               "pricing_options": auction(4.0)}),
    ]
}

impl SocialSeller {
    /// The seller over `garden`; `test_fixtures` adds the products the compliance storyboards
    /// buy unseeded.
    pub fn new(garden: Garden, test_fixtures: bool) -> Self {
        let garden = Arc::new(garden);
        let seller = Seller::new(test_fixtures)
            .with_products(products())
            .and_then(|s| s.with_formats(creatives::formats()))
            // The specs are this file's: a test proves they are valid.
            .unwrap_or_else(|_| Seller::new(test_fixtures))
            .with_creative_platform(garden.clone())
            .with_catalog_platform(garden.clone())
            .with_conversion_platform(garden.clone());
        SocialSeller { garden, seller }
    }
}

/// The seller's settings: media buys at auction, audiences matched on hashed email and phone
/// (and mobile ids), conversions tracked from the website.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs social seller".into(),
        description: "A social platform's ads, and the audiences, catalogues, creatives and \
                      conversions they use (adcp-rs template)"
            .into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {
                "supported_pricing_models": ["cpm"],
                "audience_targeting": {
                    "supported_identifier_types": ["hashed_email", "hashed_phone"],
                    "supported_uid_types": ["maid"],
                    "minimum_audience_size": audiences::MINIMUM_SIZE,
                },
                "conversion_tracking": {
                    "supported_hashed_identifiers": ["hashed_email", "hashed_phone"],
                    "supported_action_sources": ["website"],
                    "multi_source_event_dedup": false,
                },
            },
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`, over `garden`.
pub fn agent(config: Config, stores: Stores, garden: Garden) -> Serve<SocialSeller> {
    let platform = SocialSeller::new(garden, config.compliance_testing);
    // Briefs are answered with a proposal over the products (the reference seller's planner).
    let planner = platform.seller.planner();
    adcp_runtime::serve(platform)
        .proposals(planner)
        .config(config)
        .stores(stores)
}

// The platform: its own tasks here; media buying (over the platform's products and formats,
// each creative registered with the platform) and the compliance controller are the reference
// seller's.
sales_non_guaranteed::seller_platform! {
#[decisioning_platform(specialisms(sales_social, audience_sync), accounts = explicit)]
impl SocialSeller {
    async fn sync_audiences(
        &self,
        ctx: &Ctx,
        req: SyncAudiencesRequest,
    ) -> AdcpResult<SyncAudiencesSuccess> {
        audiences::sync(&self.garden, ctx, req).await
    }

    /// The advertiser's currency, time zone and payment terms for the period (this month, in
    /// UTC, by default). The platform's API reports no spend or invoices, so none are claimed.
    async fn get_account_financials(
        &self,
        ctx: &Ctx,
        req: GetAccountFinancialsRequest,
    ) -> AdcpResult<GetAccountFinancialsSuccess> {
        let (currency, timezone) = match self.garden.advertiser(ctx).await? {
            Some(adv) => {
                let info = self.garden.info(&adv).await?;
                (
                    info.currency.unwrap_or_else(|| "USD".into()),
                    info.timezone.unwrap_or_else(|| "UTC".into()),
                )
            }
            None => ("USD".into(), "UTC".into()),
        };
        let period = match req.period.clone() {
            Some(p) => {
                let start = time::day("period.start", &p.start)?;
                if time::day("period.end", &p.end)? < start {
                    return Err(AdcpError::invalid_request(
                        "period.end",
                        "the period ends before it starts",
                    ));
                }
                p
            }
            None => {
                let today = ctx.now().date();
                let first = today.replace_day(1).unwrap_or(today);
                // (`DateRange::new` takes its fields in name order: end, start.)
                DateRange::new(today.to_string(), first.to_string())
            }
        };
        let mut resp = GetAccountFinancialsSuccess::new(req.account, currency, period, timezone);
        resp.payment_terms = ctx.account().payment_terms;
        Ok(resp)
    }
}
delegate seller: media_buying, sync_catalogs, conversions, controller
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_products_and_formats_are_valid() {
        let seller = sales_non_guaranteed::Seller::new(false)
            .with_products(super::products())
            .and_then(|s| s.with_formats(super::creatives::formats()));
        assert!(seller.is_ok(), "{:?}", seller.err());
    }
}
