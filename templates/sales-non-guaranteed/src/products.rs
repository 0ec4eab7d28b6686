//! Products and creative formats: the default catalogue plus what the controller seeded.

use std::collections::HashSet;
use std::sync::Arc;

use adcp_runtime::Page;
use adcp_runtime::wire::{
    Format, GetProductsRequest, GetProductsRequestRefineItem,
    GetProductsRequestRefineItemProductAction, GetProductsResponse, ListCreativeFormatsRequest,
    ListCreativeFormatsResponse, PricingModel, PricingOption, Product,
};
use adcp_runtime::{AdcpResult, Ctx};

use crate::store::{FORMATS, PRODUCTS};
use crate::{Catalogue, Seller};

/// The default catalogue, where the account sees it (not in a compliance fixture sandbox,
/// which holds its storyboard's fixtures alone).
fn catalogue(seller: &Seller, ctx: &Ctx) -> Arc<Catalogue> {
    if ctx.fixtures_only() {
        Arc::default()
    } else {
        seller.catalog(ctx.agent_url())
    }
}

/// Where an account's products come from: seeded ones first, then the default catalogue, then
/// what the ad server the seller wraps sells the account; the first of each id.
struct Sources {
    seeded: Vec<Product>,
    catalogue: Arc<Catalogue>,
    upstream: Vec<Product>,
}

/// The merged list without a copy of the catalogue: the seeded and upstream products that are
/// sold (each id once), and how many of the catalogue's ids a seeded product takes over.
struct Merged<'a> {
    catalogue: &'a Catalogue,
    seeded: Vec<&'a Product>,
    seeded_ids: HashSet<&'a str>,
    /// Catalogue products a seeded one of the same id replaces.
    replaced: usize,
    upstream: Vec<&'a Product>,
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

    /// Costs what the seeded and upstream products cost, whatever the catalogue's size.
    fn merged(&self) -> Merged<'_> {
        let catalogue = &*self.catalogue;
        let mut seeded_ids = HashSet::new();
        let seeded: Vec<&Product> = (self.seeded.iter())
            .filter(|p| seeded_ids.insert(p.product_id.as_str()))
            .collect();
        let replaced = seeded_ids
            .iter()
            .filter(|id| catalogue.contains(id))
            .count();
        let mut upstream_ids = HashSet::new();
        let upstream = (self.upstream.iter())
            .filter(|p| {
                let id = p.product_id.as_str();
                !seeded_ids.contains(id) && !catalogue.contains(id) && upstream_ids.insert(id)
            })
            .collect();
        Merged {
            catalogue,
            seeded,
            seeded_ids,
            replaced,
            upstream,
        }
    }
}

impl<'a> Merged<'a> {
    fn len(&self) -> usize {
        self.seeded.len() + self.catalogue.len() - self.replaced + self.upstream.len()
    }

    /// In order: seeded, catalogue, upstream. Skipping into it is O(1) over the catalogue
    /// unless a seeded product replaced one of its ids.
    fn iter(&self) -> Box<dyn Iterator<Item = &'a Product> + '_> {
        let seeded = self.seeded.iter().copied();
        let upstream = self.upstream.iter().copied();
        if self.replaced == 0 {
            Box::new(seeded.chain(self.catalogue.iter()).chain(upstream))
        } else {
            let kept = (self.catalogue.iter())
                .filter(|p| !self.seeded_ids.contains(p.product_id.as_str()));
            Box::new(seeded.chain(kept).chain(upstream))
        }
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
    if let Some(p) = catalogue(seller, ctx).get(id) {
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
    let merged = sources.merged();
    let omitted: Vec<&str> = (req.refine.iter().flatten())
        .filter_map(|r| match r {
            GetProductsRequestRefineItem::Product(p)
                if p.action == Some(GetProductsRequestRefineItemProductAction::Omit) =>
            {
                Some(p.product_id.as_str())
            }
            _ => None,
        })
        .collect();
    let unfiltered =
        req.filters.is_none() && req.preferred_delivery_types.is_none() && omitted.is_empty();
    let (page, pagination) = if unfiltered {
        // The whole list in order: a page is found by position, whatever the catalogue's size.
        let page = Page::new(req.pagination.as_ref(), merged.len())?;
        let range = page.range();
        let items = merged.iter().skip(range.start).take(range.len());
        (items.cloned().collect::<Vec<_>>(), page.response())
    } else {
        let mut products: Vec<&Product> = merged.iter().collect();
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
        products.retain(|x| !omitted.contains(&x.product_id.as_str()));
        let (page, pagination) = Page::take(req.pagination.as_ref(), products)?;
        (page.into_iter().cloned().collect(), pagination)
    };
    let mut resp = GetProductsResponse::new(page);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn renamed(p: &Product, id: &str) -> Product {
        let mut p = p.clone();
        p.product_id = id.to_owned();
        p
    }

    #[test]
    fn the_merged_list_is_the_first_of_each_id_in_source_order_without_a_catalogue_walk() {
        let url = "http://127.0.0.1/mcp";
        let stock = Catalogue::new(catalog::products(url, true, &catalog::default_specs()));
        let ids = |it: &mut dyn Iterator<Item = &Product>| {
            it.map(|p| p.product_id.clone()).collect::<Vec<_>>()
        };
        let catalogue_ids = ids(&mut stock.iter());
        assert!(catalogue_ids.len() >= 3, "{catalogue_ids:?}");
        let sources = Sources {
            seeded: vec![
                renamed(&stock[0], "seeded-new"),
                renamed(&stock[0], &catalogue_ids[1]),
                renamed(&stock[0], "seeded-new"),
            ],
            catalogue: Arc::new(Catalogue::new(stock.to_vec())),
            upstream: vec![
                renamed(&stock[0], &catalogue_ids[2]),
                renamed(&stock[0], "upstream-new"),
                renamed(&stock[0], "seeded-new"),
            ],
        };
        let merged = sources.merged();
        let mut want = vec!["seeded-new".to_owned(), catalogue_ids[1].clone()];
        want.extend(
            catalogue_ids
                .iter()
                .filter(|id| **id != catalogue_ids[1])
                .cloned(),
        );
        want.push("upstream-new".to_owned());
        assert_eq!(ids(&mut merged.iter()), want);
        assert_eq!(merged.len(), want.len());
        // A seeded product replaces the catalogue's of its id, in the seeded place.
        let replacing = merged.iter().nth(1).expect("two");
        assert_eq!(replacing.name, stock[0].name);
        for start in 0..want.len() {
            let got = ids(&mut merged.iter().skip(start).take(2));
            assert_eq!(
                got,
                want[start..(start + 2).min(want.len())],
                "from {start}"
            );
        }
    }
}
