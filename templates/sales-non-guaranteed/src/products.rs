//! Products and creative formats: the default catalogue plus what the controller seeded.

use adcp_runtime::Page;
use adcp_runtime::wire::{
    Format, GetProductsRequest, GetProductsRequestRefineItem,
    GetProductsRequestRefineItemProductAction, GetProductsResponse, ListCreativeFormatsRequest,
    ListCreativeFormatsResponse, PricingModel, PricingOption, Product,
};
use adcp_runtime::{AdcpResult, Ctx};

use crate::Seller;
use crate::store::{FORMATS, PRODUCTS};

/// The default catalogue, where the account sees it (not in a compliance fixture sandbox,
/// which holds its storyboard's fixtures alone).
fn catalogue(seller: &Seller, ctx: &Ctx) -> std::sync::Arc<Vec<Product>> {
    if ctx.fixtures_only() {
        std::sync::Arc::default()
    } else {
        seller.catalog(ctx.agent_url())
    }
}

/// Where an account's products come from: seeded ones first, then the default catalogue, then
/// what the ad server the seller wraps sells the account.
struct Sources {
    seeded: Vec<Product>,
    catalogue: std::sync::Arc<Vec<Product>>,
    upstream: Vec<Product>,
}

impl Sources {
    async fn read(seller: &Seller, ctx: &Ctx) -> AdcpResult<Sources> {
        let seeded = ctx.state().list(PRODUCTS).await?;
        let upstream = match seller.ad_server() {
            Some(a) if !ctx.fixtures_only() => a.products(ctx).await?,
            _ => Vec::new(),
        };
        Ok(Sources {
            seeded,
            catalogue: catalogue(seller, ctx),
            upstream,
        })
    }

    /// In that order, the first of each id: by reference, so that a page of a large catalogue
    /// copies the page, not the catalogue.
    fn merged(&self) -> Vec<&Product> {
        let mut seen = std::collections::HashSet::new();
        self.seeded
            .iter()
            .chain(self.catalogue.iter())
            .chain(&self.upstream)
            .filter(|p| seen.insert(p.product_id.as_str()))
            .collect()
    }
}

/// One product: as the runtime hydrated it for this request, seeded, or default.
pub(crate) async fn one(seller: &Seller, ctx: &Ctx, id: &str) -> AdcpResult<Option<Product>> {
    if let Some(p) = ctx.product(id) {
        return Ok(Some(p.clone()));
    }
    if let Some(p) = ctx.state().get(PRODUCTS, id).await? {
        return Ok(Some(p));
    }
    if let Some(p) = catalogue(seller, ctx).iter().find(|p| p.product_id == id) {
        return Ok(Some(p.clone()));
    }
    match seller.ad_server() {
        Some(a) if !ctx.fixtures_only() => Ok(a
            .products(ctx)
            .await?
            .into_iter()
            .find(|p| p.product_id == id)),
        _ => Ok(None),
    }
}

/// The terms of a pricing option, whichever arm it is.
pub(crate) struct Terms {
    pub(crate) model: PricingModel,
    pub(crate) currency: String,
    pub(crate) fixed: Option<f64>,
    pub(crate) floor: Option<f64>,
    pub(crate) min_spend: Option<f64>,
}

pub(crate) fn terms(po: &PricingOption) -> Terms {
    let floor = match po {
        PricingOption::CpmOption(o) => o.floor_price,
        PricingOption::VcpmOption(o) => o.floor_price,
        PricingOption::CpcOption(o) => o.floor_price,
        PricingOption::CpcvOption(o) => o.floor_price,
        PricingOption::CpvOption(o) => o.floor_price,
        PricingOption::CppOption(o) => o.floor_price,
        PricingOption::FlatRateOption(o) => o.floor_price,
        PricingOption::TimeOption(o) => o.floor_price,
        PricingOption::CpaOption(_) => None,
    };
    Terms {
        model: po.pricing_model().parse().unwrap_or(PricingModel::Cpm),
        currency: po.currency().to_owned(),
        fixed: po.fixed_price(),
        floor,
        min_spend: po.min_spend_per_package(),
    }
}

pub(crate) async fn get_products(
    seller: &Seller,
    ctx: &Ctx,
    req: GetProductsRequest,
) -> AdcpResult<GetProductsResponse> {
    let sources = Sources::read(seller, ctx).await?;
    let mut products = sources.merged();
    if let Some(f) = &req.filters {
        if let Some(dt) = &f.delivery_type {
            products.retain(|p| &p.delivery_type == dt);
        }
        if let Some(chs) = &f.channels {
            products.retain(|p| {
                p.channels
                    .as_ref()
                    .is_some_and(|pc| pc.iter().any(|c| chs.contains(c)))
            });
        }
    }
    if let Some(types) = &req.preferred_delivery_types {
        // A preference orders, it does not filter.
        products.sort_by_key(|p| !types.contains(&p.delivery_type));
    }
    for r in req.refine.iter().flatten() {
        if let GetProductsRequestRefineItem::Product(p) = r
            && p.action == Some(GetProductsRequestRefineItemProductAction::Omit)
        {
            products.retain(|x| x.product_id != p.product_id);
        }
    }
    let (page, pagination) = Page::take(req.pagination.as_ref(), products)?;
    let mut resp = GetProductsResponse::new(page.into_iter().cloned().collect::<Vec<_>>());
    resp.pagination = Some(pagination);
    Ok(resp)
}

pub(crate) async fn list_creative_formats(
    seller: &Seller,
    ctx: &Ctx,
    req: ListCreativeFormatsRequest,
) -> AdcpResult<ListCreativeFormatsResponse> {
    // The catalogue's formats (not in a compliance fixture sandbox) and the seeded ones, a
    // seeded format replacing the catalogue's of the same id.
    let seeded: Vec<Format> = ctx.state().list(FORMATS).await?;
    let mut known = if ctx.fixtures_only() {
        Vec::new()
    } else {
        seller.formats(ctx.agent_url())
    };
    known.retain(|f| !seeded.iter().any(|s| s.format_id.id == f.format_id.id));
    known.extend(seeded);
    let mut formats = match &req.format_ids {
        // Asked-for formats first, in the order asked, then nothing else.
        Some(ids) => ids
            .iter()
            .filter_map(|id| known.iter().find(|f| f.format_id.id == id.id).cloned())
            .collect(),
        None => known,
    };
    if let Some(q) = &req.name_search {
        let q = q.to_lowercase();
        formats.retain(|f| f.name.to_lowercase().contains(&q));
    }
    let (page, pagination) = Page::take(req.pagination.as_ref(), formats)?;
    let mut resp = ListCreativeFormatsResponse::new(page);
    resp.pagination = Some(pagination);
    Ok(resp)
}
