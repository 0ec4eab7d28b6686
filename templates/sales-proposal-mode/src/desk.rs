//! The proposal desk: the proposal manager of this seller. It answers `get_products` from the
//! upstream ad server's products and forecasts, plans a proposal spreading the budget over
//! them, revises the plan on `refine`, and finalizes it with the upstream's pricing held.
//!
//! The upstream is the official SDK's mock ad server or a real one with the same API:
//! `GET /_lookup/network?adcp_publisher=D` (which network sells for a domain),
//! `GET /v1/products` (per network, `X-Network-Code`, with a forecast for `budget`). Each
//! product carries its recipe (`line_item`: network, ad units, what a buyer may configure),
//! which the runtime checks packages against before the platform books them.
//!
//! Sandbox accounts may be served by another upstream (a mock) than live ones.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use adcp_runtime::proposals;
use adcp_runtime::store::ProposalRecord;
use adcp_runtime::upstream::Upstream;
use adcp_runtime::wire::{
    DeliveryForecast, GetProductsRequest, GetProductsResponse, Product, Proposal,
    ProposalTotalBudgetGuidance, decode,
};
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes, proposal_manager};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Targeting a buyer may set on the upstream's line items (no audiences, no keywords).
#[rustfmt::skip]
const TARGETING: &[&str] = &["geo_countries", "geo_countries_exclude", "geo_regions",
    "geo_regions_exclude", "geo_metros", "device_type", "daypart_targets", "frequency_cap",
    "language", "property_list", "collection_list", "collection_list_exclude"];

/// The budget a plan is forecast for when the brief names none.
const DEFAULT_BUDGET: f64 = 50_000.0;

/// A network the upstream sells, as its lookup answers.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct Network {
    network_code: String,
    adcp_publisher: String,
}

/// A product as the upstream lists it.
#[derive(Debug, Deserialize)]
struct Listed {
    product_id: String,
    name: String,
    network_code: String,
    delivery_type: String,
    channel: String,
    format_ids: Vec<String>,
    ad_unit_ids: Vec<String>,
    pricing: Pricing,
    #[serde(default)]
    forecast: Option<Value>,
}

/// A fixed CPM (guaranteed inventory) or a floor with a target (auctions).
#[derive(Debug, Deserialize)]
struct Pricing {
    cpm: Option<f64>,
    min_cpm: Option<f64>,
    target_cpm: Option<f64>,
    currency: String,
    min_spend: Option<f64>,
}

#[derive(Deserialize)]
struct Listing {
    products: Vec<Listed>,
}

/// The networks an account has been offered, kept with the account: a buy names their
/// products after a restart, or under another brand of the same account.
const OFFERED: Collection<Vec<Network>> = Collection::new("desk:networks");

/// Domain lookups kept at most (buyers choose the domains); then forgotten.
const LOOKUPS: usize = 10_000;

/// The proposal manager over an upstream ad server.
pub struct Desk {
    live: Upstream,
    sandbox: Option<Upstream>,
    /// Which network sells for a domain at an upstream (`None`: none does).
    lookups: Mutex<HashMap<(String, String), Option<Network>>>,
}

impl Desk {
    /// The desk over `live`.
    pub fn new(live: Upstream) -> Self {
        Desk {
            live,
            sandbox: None,
            lookups: Mutex::default(),
        }
    }

    /// Sandbox accounts are served by `upstream` instead (a mock, while live ones are real).
    pub fn sandbox(mut self, upstream: Upstream) -> Self {
        self.sandbox = Some(upstream);
        self
    }

    fn upstream(&self, ctx: &Ctx) -> &Upstream {
        match &self.sandbox {
            Some(s) if ctx.sandbox() => s,
            _ => &self.live,
        }
    }

    /// The networks selling for the account: those it was offered, its brand's, its
    /// operator's.
    async fn networks(&self, ctx: &Ctx) -> AdcpResult<Vec<Network>> {
        let mut out = ctx.state().get(OFFERED, "all").await?.unwrap_or_default();
        let before = out.len();
        let (a, up) = (ctx.account(), self.upstream(ctx));
        for domain in a
            .brand
            .iter()
            .map(|b| b.domain.as_str())
            .chain(a.operator.as_deref())
        {
            let key = (up.url().to_owned(), domain.to_owned());
            let known = self.cache().get(&key).cloned();
            let network = match known {
                Some(n) => n,
                None => {
                    let call = up.get("/_lookup/network").query("adcp_publisher", domain);
                    let n: Option<Network> = call.send_opt().await?;
                    let mut cache = self.cache();
                    if cache.len() >= LOOKUPS {
                        cache.clear();
                    }
                    cache.insert(key, n.clone());
                    n
                }
            };
            if let Some(n) = network
                && !out
                    .iter()
                    .any(|o: &Network| o.network_code == n.network_code)
            {
                out.push(n);
            }
        }
        if out.len() > before {
            ctx.state().put(OFFERED, "all", &out).await?;
        }
        Ok(out)
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<(String, String), Option<Network>>> {
        self.lookups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every product the account can buy, forecast at `budget`.
    async fn catalogue(&self, ctx: &Ctx, budget: f64) -> AdcpResult<Vec<Product>> {
        let mut out = Vec::new();
        for n in self.networks(ctx).await? {
            let listing: Listing = self
                .upstream(ctx)
                .get("/v1/products")
                .header("X-Network-Code", n.network_code.as_str())
                .query("budget", &budget)
                .send()
                .await?;
            for p in listing.products {
                out.push(product(ctx.agent_url(), &n, p)?);
            }
        }
        Ok(out)
    }
}

/// An upstream product as an AdCP product, its recipe attached.
fn product(agent_url: &str, network: &Network, p: Listed) -> AdcpResult<Product> {
    let channel = match p.channel.as_str() {
        "video" => "olv",
        other => other,
    };
    let mut option = json!({"pricing_option_id": "cpm", "pricing_model": "cpm",
        "currency": p.pricing.currency, "min_spend_per_package": p.pricing.min_spend});
    match (p.pricing.cpm, p.pricing.min_cpm) {
        (Some(fixed), _) => option["fixed_price"] = json!(fixed),
        (None, floor) => {
            option["floor_price"] = json!(floor.unwrap_or(0.0));
            if let Some(t) = p.pricing.target_cpm {
                option["price_guidance"] = json!({"p50": t});
            }
        }
    }
    let formats: Vec<Value> = p
        .format_ids
        .iter()
        .map(|id| json!({"agent_url": agent_url, "id": id}))
        .collect();
    let forecast = p.forecast.and_then(|f| decode::<DeliveryForecast>(f).ok());
    let product = json!({
        "product_id": p.product_id,
        "name": p.name,
        "description": format!("{} on {}", p.name, network.adcp_publisher),
        "publisher_properties": [{"publisher_domain": network.adcp_publisher, "selection_type": "all"}],
        "channels": [channel],
        "format_ids": formats,
        "delivery_type": p.delivery_type,
        "pricing_options": [option],
        "forecast": forecast,
        "reporting_capabilities": {
            "available_reporting_frequencies": ["daily"], "expected_delay_minutes": 240,
            "timezone": "UTC", "supports_webhooks": false,
            "available_metrics": ["impressions", "spend"], "date_range_support": "date_range",
        },
        "implementation_config": {
            "recipe_kind": "line_item", "network_code": p.network_code,
            "ad_unit_ids": p.ad_unit_ids, "pricing_models": ["cpm"],
            "targeting_dimensions": TARGETING,
        },
    });
    decode(product).map_err(|e| {
        tracing::error!(error = %e, "an upstream product does not map to AdCP");
        AdcpError::internal("the upstream's products cannot be answered")
    })
}

/// The budget a brief names (`$50K`, `$1.5M`, `$20,000`), if any.
fn budget_in(brief: &str) -> Option<f64> {
    let after = brief.split('$').nth(1)?;
    let scanned = after
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(after.len());
    let n: f64 = after[..scanned].replace(',', "").parse().ok()?;
    Some(match after[scanned..].chars().next() {
        Some('K' | 'k') => n * 1e3,
        Some('M' | 'm') => n * 1e6,
        _ => n,
    })
}

/// A plan over `products`: video and CTV weighted above display, at most four products,
/// each allocation with its forecast, the budget as guidance.
fn plan(
    ctx: &Ctx,
    id: Option<&str>,
    products: &[Product],
    budget: f64,
    why: &str,
) -> Option<Proposal> {
    let video = |p: &Product| {
        p.channels
            .iter()
            .flatten()
            .any(|c| matches!(c.to_string().as_str(), "olv" | "ctv"))
    };
    let weighted = products
        .iter()
        .take(4)
        .map(|p| (p, if video(p) { 3.0 } else { 2.0 }));
    let name = "Balanced reach across video and display";
    let mut p = proposals::plan(ctx, id, name, weighted, why)?;
    for a in &mut p.allocations {
        let product = products.iter().find(|p| p.product_id == a.product_id);
        a.forecast = product.and_then(|p| p.forecast.clone());
    }
    let currency = products
        .first()
        .and_then(|p| p.pricing_options.first())
        .map(|o| o.currency().to_owned());
    p.total_budget_guidance = Some(ProposalTotalBudgetGuidance {
        recommended: Some(budget),
        currency,
        ..Default::default()
    });
    Some(p)
}

#[proposal_manager(refine, finalize)]
impl Desk {
    async fn get_products(
        &self,
        ctx: &Ctx,
        req: &GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        let brief = req.brief.as_deref().unwrap_or_default();
        let budget = budget_in(brief).unwrap_or(DEFAULT_BUDGET);
        let products = self.catalogue(ctx, budget).await?;
        let wholesale = req.brief.is_none();
        let proposal = (!wholesale)
            .then(|| plan(ctx, None, &products, budget, brief))
            .flatten();
        let mut resp = GetProductsResponse::new(products);
        resp.proposals = Some(proposal.into_iter().collect());
        Ok(resp)
    }

    /// The drafts named are re-planned under their ids over the products left (omitted ones
    /// out), with the buyer's asks kept as the plan's alignment; the runtime reports each
    /// refinement's outcome.
    async fn refine(
        &self,
        ctx: &Ctx,
        req: &GetProductsRequest,
        drafts: &[ProposalRecord],
    ) -> AdcpResult<GetProductsResponse> {
        let guidance = drafts
            .first()
            .and_then(|d| d.decode().ok()?.total_budget_guidance);
        let budget = guidance
            .and_then(|g| g.recommended)
            .unwrap_or(DEFAULT_BUDGET);
        let gone = proposals::omitted(req);
        let mut products = self.catalogue(ctx, budget).await?;
        products.retain(|p| !gone.contains(&p.product_id.as_str()));
        let why = proposals::asks(req).join(" / ");
        let ids: Vec<Option<&str>> = match drafts {
            [] => vec![None],
            d => d.iter().map(|d| Some(d.proposal_id.as_str())).collect(),
        };
        let plans: Vec<Proposal> = ids
            .into_iter()
            .filter_map(|id| plan(ctx, id, &products, budget, &why))
            .collect();
        let mut resp = GetProductsResponse::new(products);
        resp.proposals = Some(plans);
        Ok(resp)
    }

    /// Firm pricing: each allocation's price as the upstream quotes it now, held until expiry.
    async fn finalize(&self, ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal> {
        let mut p = draft.decode()?;
        let products = self.catalogue(ctx, DEFAULT_BUDGET).await?;
        for a in &mut p.allocations {
            let Some(product) = products.iter().find(|x| x.product_id == a.product_id) else {
                let why = format!("`{}` is no longer offered; discover anew", a.product_id);
                return Err(AdcpError::new(codes::PRODUCT_UNAVAILABLE, why).with_field("refine"));
            };
            let o = product.pricing_options.first();
            let fixed = o.and_then(|o| Some(format!("{:.2} {}", o.fixed_price()?, o.currency())));
            let price = fixed.unwrap_or_else(|| "auction".to_owned());
            a.rationale = Some(format!("firm: {price} per thousand"));
        }
        Ok(p)
    }

    async fn product(&self, ctx: &Ctx, product_id: &str) -> AdcpResult<Option<Product>> {
        let products = self.catalogue(ctx, DEFAULT_BUDGET).await?;
        Ok(products.into_iter().find(|p| p.product_id == product_id))
    }
}
