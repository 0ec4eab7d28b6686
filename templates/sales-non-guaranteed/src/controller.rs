//! The compliance test controller's scenarios (served to sandbox accounts only, under
//! compliance testing): fixtures seeded, statuses forced, delivery simulated. The runtime has
//! checked each scenario's params (`INVALID_PARAMS` otherwise), so the ids are present.

use adcp_runtime::lifecycle::{CREATIVE, MEDIA_BUY};
use adcp_runtime::time::{self, OffsetDateTime};
use adcp_runtime::wire::{
    CreativeStatus, Format, MediaBuyStatus, PricingModel, PricingOption, decode,
};
use adcp_runtime::{AdcpResult, ControllerCode, ControllerReply, Ctx, ScenarioParams as Params};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{
    CREATIVES, Creative, FORMATS, MEDIA_BUYS, MediaBuy, PLANS, PRODUCTS, PackageState,
};
use crate::{Seller, catalog, products};

/// Marks a seeded product whose first seeded pricing option replaces the baseline one.
const SEEDED_DEFAULT_PRICING: &str = "x-seeded-default-pricing";

fn fixture(p: &mut Params) -> Value {
    Value::Object(p.fixture.take().unwrap_or_default())
}

fn id(field: Option<&String>) -> String {
    field.cloned().unwrap_or_default()
}

fn invalid(e: impl std::fmt::Display) -> adcp_runtime::AdcpError {
    ControllerCode::InvalidParams.error(format!("fixture: {e}"))
}

pub(crate) async fn seed_product(ctx: &Ctx, mut p: Params) -> AdcpResult<ControllerReply> {
    let pid = id(p.product_id.as_ref());
    let mut fields = fixture(&mut p);
    let default_pricing = fields.get("pricing_options").is_none();
    fields["product_id"] = json!(pid);
    let mut product = catalog::product(ctx.agent_url(), &fields)?;
    if default_pricing {
        product
            .extra
            .insert(SEEDED_DEFAULT_PRICING.into(), json!(true));
    }
    ctx.state().put(PRODUCTS, &pid, &product).await?;
    Ok(ControllerReply::Seeded)
}

pub(crate) async fn seed_pricing_option(
    s: &Seller,
    ctx: &Ctx,
    mut p: Params,
) -> AdcpResult<ControllerReply> {
    let (pid, oid) = (id(p.product_id.as_ref()), id(p.pricing_option_id.as_ref()));
    let mut option = fixture(&mut p);
    option["pricing_option_id"] = json!(oid);
    let option: PricingOption = decode(option).map_err(invalid)?;
    let mut product = match products::one(s, ctx, &pid).await? {
        Some(p) => p,
        None => catalog::product(ctx.agent_url(), &json!({"product_id": pid}))?,
    };
    if product.extra.remove(SEEDED_DEFAULT_PRICING).is_some() {
        product.pricing_options.clear();
    }
    product
        .pricing_options
        .retain(|p| p.pricing_option_id() != oid);
    product.pricing_options.push(option);
    ctx.state().put(PRODUCTS, &pid, &product).await?;
    Ok(ControllerReply::Seeded)
}

pub(crate) async fn seed_creative(ctx: &Ctx, mut p: Params) -> AdcpResult<ControllerReply> {
    let cid = id(p.creative_id.as_ref());
    let f = fixture(&mut p);
    let format = f["format_id"]["id"].as_str().unwrap_or("display_300x250");
    let status = f["status"].as_str().and_then(|s| s.parse().ok());
    let at = time::now();
    let creative = Creative {
        name: f["name"].as_str().unwrap_or(&cid).to_owned(),
        creative_id: cid.clone(),
        format_id: catalog::format_id(ctx.agent_url(), format),
        status: status.unwrap_or(CreativeStatus::Approved),
        created: at,
        updated: at,
        asset: None,
        platform_id: None,
    };
    ctx.state().put(CREATIVES, &cid, &creative).await?;
    Ok(ControllerReply::Seeded)
}

/// A seeded media buy as the storyboards give it; what they leave out takes a default.
#[derive(Deserialize)]
struct BuyFixture {
    #[serde(default = "active")]
    status: MediaBuyStatus,
    #[serde(default = "usd")]
    currency: String,
    #[serde(default, with = "::time::serde::rfc3339::option")]
    start_time: Option<OffsetDateTime>,
    #[serde(default, with = "::time::serde::rfc3339::option")]
    end_time: Option<OffsetDateTime>,
    #[serde(default)]
    packages: Vec<PackageFixture>,
}

#[derive(Deserialize)]
struct PackageFixture {
    package_id: Option<String>,
    product_id: Option<String>,
    pricing_option_id: Option<String>,
    pricing_model: Option<PricingModel>,
    bid_price: Option<f64>,
    budget: Option<f64>,
}

fn active() -> MediaBuyStatus {
    MediaBuyStatus::Active
}

fn usd() -> String {
    "USD".into()
}

pub(crate) async fn seed_media_buy(ctx: &Ctx, mut p: Params) -> AdcpResult<ControllerReply> {
    let mid = id(p.media_buy_id.as_ref());
    let f: BuyFixture = serde_json::from_value(fixture(&mut p)).map_err(invalid)?;
    let package = |(i, p): (usize, PackageFixture)| PackageState {
        package_id: p.package_id.unwrap_or_else(|| format!("{mid}_pkg_{i}")),
        product_id: p.product_id.unwrap_or_else(|| "test-product".into()),
        pricing_option_id: p.pricing_option_id.unwrap_or_else(|| "default".into()),
        pricing_model: p.pricing_model.unwrap_or(PricingModel::Cpm),
        rate: p.bid_price.unwrap_or(5.0),
        budget: p.budget.unwrap_or(1000.0),
        bid_price: p.bid_price,
        paused: false,
        canceled: false,
        targeting_overlay: None,
        creative_ids: Vec::new(),
        awaiting: Vec::new(),
        impressions: 0.0,
        clicks: 0.0,
        spend: 0.0,
        catalogs: None,
        measurement_terms: None,
        agency_estimate_number: None,
    };
    let at = time::now();
    let buy = MediaBuy {
        packages: f.packages.into_iter().enumerate().map(package).collect(),
        media_buy_id: mid.clone(),
        owner: ctx.scope().to_owned(),
        status: f.status,
        currency: f.currency,
        start_time: f.start_time.unwrap_or(at),
        end_time: f.end_time.unwrap_or(at + time::Duration::days(30)),
        created_at: at,
        updated_at: at,
        revision: 1,
        cancellation: None,
        booking: serde_json::Map::new(),
    };
    let cause = "comply_test_controller";
    ctx.state()
        .put_recorded(MEDIA_BUYS, &mid, MediaBuy::status_text, cause, &buy)
        .await?;
    Ok(ControllerReply::Seeded)
}

pub(crate) async fn seed_creative_format(ctx: &Ctx, mut p: Params) -> AdcpResult<ControllerReply> {
    let fid = id(p.format_id.as_ref());
    let f = fixture(&mut p);
    let name = f["name"].as_str().unwrap_or(&fid).to_owned();
    let mut format = Format::new(catalog::format_id(ctx.agent_url(), &fid), name);
    format.description = f["description"].as_str().map(str::to_owned);
    ctx.state().put(FORMATS, &fid, &format).await?;
    Ok(ControllerReply::Seeded)
}

pub(crate) async fn seed_plan(ctx: &Ctx, mut p: Params) -> AdcpResult<ControllerReply> {
    let plan = p.fixture.take().unwrap_or_default();
    ctx.state()
        .put(PLANS, &id(p.plan_id.as_ref()), &plan)
        .await?;
    Ok(ControllerReply::Seeded)
}

pub(crate) async fn force_media_buy_status(ctx: &Ctx, p: Params) -> AdcpResult<ControllerReply> {
    let touch = |b: &mut MediaBuy| {
        b.updated_at = time::now();
        b.revision += 1;
        if b.status == MediaBuyStatus::Canceled && b.cancellation.is_none() {
            b.mark_canceled(b.updated_at, adcp_runtime::wire::CanceledBy::Seller, None);
        }
    };
    let (mid, to) = (id(p.media_buy_id.as_ref()), p.status.as_deref());
    let buys = ctx.state();
    buys.force(MEDIA_BUYS, &mid, &MEDIA_BUY, to, |b| &mut b.status, touch)
        .await
}

pub(crate) async fn force_creative_status(ctx: &Ctx, p: Params) -> AdcpResult<ControllerReply> {
    let touch = |c: &mut Creative| c.updated = time::now();
    let (cid, to) = (id(p.creative_id.as_ref()), p.status.as_deref());
    let library = ctx.state();
    library
        .force(CREATIVES, &cid, &CREATIVE, to, |c| &mut c.status, touch)
        .await
}

fn no_buy() -> adcp_runtime::AdcpError {
    ControllerCode::NotFound.error("no such media buy in this sandbox")
}

pub(crate) async fn simulate_delivery(ctx: &Ctx, p: Params) -> AdcpResult<ControllerReply> {
    let (imps, clicks) = (
        p.impressions.unwrap_or(0) as f64,
        p.clicks.unwrap_or(0) as f64,
    );
    let spend = p.reported_spend.as_ref().map(|r| r.amount);
    let mut simulated = json!({"impressions": imps, "clicks": clicks});
    if let Some(r) = &p.reported_spend {
        simulated["reported_spend"] = json!({"amount": r.amount, "currency": r.currency});
    }
    if let Some(c) = p.conversions {
        simulated["conversions"] = json!(c);
    }
    ctx.state()
        .modify(MEDIA_BUYS, &id(p.media_buy_id.as_ref()), no_buy, |b| {
            let live: Vec<&mut PackageState> = b.packages.iter_mut().filter(|p| !p.canceled).collect();
            let n = live.len().max(1) as f64;
            for p in live {
                p.impressions += imps / n;
                p.clicks += clicks / n;
                p.spend += spend.unwrap_or(imps / n / 1000.0 * p.rate * n) / n;
            }
            let total = |f: fn(&PackageState) -> f64| b.packages.iter().map(f).sum::<f64>();
            let cumulative =
                json!({"impressions": total(|p| p.impressions), "clicks": total(|p| p.clicks), "spend": total(|p| p.spend)});
            Ok(ControllerReply::Simulated {
                simulated: simulated.clone(),
                cumulative: Some(cumulative),
            })
        })
        .await
}

pub(crate) async fn simulate_budget_spend(ctx: &Ctx, p: Params) -> AdcpResult<ControllerReply> {
    let pct = p.spend_percentage.unwrap_or(0.0);
    ctx.state()
        .modify(MEDIA_BUYS, &id(p.media_buy_id.as_ref()), no_buy, |b| {
            let budget = b.total_budget();
            for p in b.packages.iter_mut().filter(|p| !p.canceled) {
                p.spend = p.budget * pct / 100.0;
            }
            let simulated = json!({"spend_percentage": pct, "computed_spend": budget * pct / 100.0, "budget": budget});
            Ok(ControllerReply::Simulated {
                simulated,
                cumulative: None,
            })
        })
        .await
}
