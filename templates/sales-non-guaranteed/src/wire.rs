//! The seller's state as the wire shows it.

use adcp_runtime::lifecycle::media_buy_valid_actions;
use adcp_runtime::time::rfc3339;
use adcp_runtime::wire::{
    CreateMediaBuySuccess, CreativeAssignment,
    GetMediaBuyDeliveryResponseMediaBuyDeliveriesItem as Delivery,
    GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemByPackageItem as PackageDelivery,
    GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemStatus as DeliveryStatus,
    GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemTotals as Totals,
    GetMediaBuysResponseMediaBuysItem, GetMediaBuysResponseMediaBuysItemPackagesItem,
    GetMediaBuysResponseMediaBuysItemPackagesItemCancellation as PackageCancellation,
    ListCreativesResponseCreativesItem, Package, PricingModel,
};

use crate::store::{Creative, MediaBuy, PackageState};

pub(crate) fn package(p: &PackageState) -> Package {
    let mut w = Package::new(p.package_id.clone());
    w.product_id = Some(p.product_id.clone());
    w.pricing_option_id = Some(p.pricing_option_id.clone());
    w.budget = Some(p.budget);
    w.bid_price = p.bid_price;
    w.paused = Some(p.paused);
    w.targeting_overlay.clone_from(&p.targeting_overlay);
    w.catalogs.clone_from(&p.catalogs);
    w.measurement_terms.clone_from(&p.measurement_terms);
    w.agency_estimate_number
        .clone_from(&p.agency_estimate_number);
    if p.canceled {
        w.canceled = Some(true);
    }
    // Assignments awaiting their creative are the buyer's too, echoed as given.
    if !p.creative_ids.is_empty() || !p.awaiting.is_empty() {
        w.creative_assignments = Some(
            p.creative_ids
                .iter()
                .chain(&p.awaiting)
                .map(|c| CreativeAssignment::new(c.clone()))
                .collect(),
        );
    }
    w
}

pub(crate) fn media_buy(b: &MediaBuy) -> GetMediaBuysResponseMediaBuysItem {
    let packages = b
        .packages
        .iter()
        .map(|p| {
            let mut w = GetMediaBuysResponseMediaBuysItemPackagesItem::new(p.package_id.clone());
            w.product_id = Some(p.product_id.clone());
            w.budget = Some(p.budget);
            w.bid_price = p.bid_price;
            w.currency = Some(b.currency.clone());
            w.paused = Some(p.paused);
            w.canceled = Some(p.canceled);
            if p.canceled {
                w.cancellation = b.cancellation.as_ref().map(|c| {
                    let mut pc = PackageCancellation::new(c.canceled_at.clone(), c.canceled_by);
                    pc.reason.clone_from(&c.reason);
                    pc
                });
            }
            w.targeting_overlay.clone_from(&p.targeting_overlay);
            w.start_time = Some(rfc3339(b.start_time));
            w.end_time = Some(rfc3339(b.end_time));
            w
        })
        .collect::<Vec<_>>();
    let mut w = GetMediaBuysResponseMediaBuysItem::new(
        b.currency.clone(),
        b.media_buy_id.clone(),
        packages,
        b.status,
        b.total_budget(),
    );
    w.start_time = Some(rfc3339(b.start_time));
    w.end_time = Some(rfc3339(b.end_time));
    w.created_at = Some(rfc3339(b.created_at));
    w.updated_at = Some(rfc3339(b.updated_at));
    w.confirmed_at = Some(rfc3339(b.created_at));
    w.revision = Some(b.revision);
    w.valid_actions = Some(media_buy_valid_actions(b.status));
    w.cancellation.clone_from(&b.cancellation);
    w
}

/// The `create_media_buy` answer for a booked buy.
pub(crate) fn created(b: &MediaBuy) -> CreateMediaBuySuccess {
    let mut s = CreateMediaBuySuccess::new(
        b.media_buy_id.clone(),
        b.packages.iter().map(package).collect::<Vec<_>>(),
    );
    s.status = Some(b.status);
    s.confirmed_at = Some(rfc3339(b.created_at));
    s.revision = Some(b.revision);
    s.valid_actions = Some(media_buy_valid_actions(b.status));
    s
}

/// A buy's delivery so far.
pub(crate) fn delivery(b: &MediaBuy) -> Delivery {
    let by_package: Vec<PackageDelivery> = b
        .packages
        .iter()
        .map(|p| {
            let mut w = PackageDelivery::new(
                b.currency.clone(),
                p.package_id.clone(),
                p.pricing_model,
                p.rate,
                p.spend,
            );
            w.impressions = Some(p.impressions);
            w.clicks = Some(p.clicks);
            w.paused = Some(p.paused);
            w
        })
        .collect();
    let (imps, clicks, spend) = b.packages.iter().fold((0.0, 0.0, 0.0), |(i, c, s), p| {
        (i + p.impressions, c + p.clicks, s + p.spend)
    });
    let mut totals = Totals::new(spend);
    totals.impressions = Some(imps);
    totals.clicks = Some(clicks);
    if imps > 0.0 {
        totals.ctr = Some(clicks / imps);
    }
    let mut d = Delivery::new(
        by_package,
        b.media_buy_id.clone(),
        // The delivery enum has every media-buy status (and `pending`), by the same names.
        b.status
            .to_string()
            .parse()
            .unwrap_or(DeliveryStatus::Pending),
        totals,
    );
    // One model per buy is reported when all packages share it.
    let models: Vec<PricingModel> = b.packages.iter().map(|p| p.pricing_model).collect();
    d.pricing_model = models
        .first()
        .copied()
        .filter(|m| models.iter().all(|x| x == m));
    d
}

pub(crate) fn creative(c: &Creative) -> ListCreativesResponseCreativesItem {
    ListCreativesResponseCreativesItem::new(
        rfc3339(c.created),
        c.creative_id.clone(),
        c.format_id.clone(),
        c.name.clone(),
        c.status,
        rfc3339(c.updated),
    )
}
