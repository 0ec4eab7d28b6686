//! The creative library: synced creatives, their review status, and their assignment to
//! packages.

use adcp_runtime::Page;
use adcp_runtime::time::{self, OffsetDateTime};
use adcp_runtime::wire::{
    CreativeAction, CreativeAsset, CreativeStatus, ListCreativesRequest, ListCreativesResponse,
    ListCreativesResponseQuerySummary, SyncCreativesRequest, SyncCreativesSuccess,
    SyncCreativesSuccessCreativesItem, SyncCreativesSuccessCreativesItemAssignmentErrors,
};
use adcp_runtime::{AdcpError, AdcpResult, Ctx};
use serde_json::json;

use crate::media_buys::start_if_ready;
use crate::store::{CREATIVES, Creative, FORMATS, MEDIA_BUYS, MediaBuy};
use crate::{Registered, Seller, wire};

/// A library entry for a creative as the buyer sent it.
pub(crate) fn from_asset(
    c: &CreativeAsset,
    at: OffsetDateTime,
    before: Option<&Creative>,
    registered: Option<&Registered>,
) -> Creative {
    Creative {
        creative_id: c.creative_id.clone(),
        name: c.name.clone(),
        format_id: c.format_id.clone(),
        status: registered.map_or_else(
            || before.map_or(CreativeStatus::PendingReview, |b| b.status),
            |r| r.status,
        ),
        created: before.map_or(at, |b| b.created),
        updated: at,
        asset: Some(c.clone()),
        platform_id: registered
            .map(|r| r.platform_id.clone())
            .or_else(|| before.and_then(|b| b.platform_id.clone())),
    }
}

/// The creative registered with the seller's creative platform, when it has one and the
/// creative is new or changed; `Err` is the creative's own failure.
pub(crate) async fn register(
    seller: &Seller,
    ctx: &Ctx,
    c: &CreativeAsset,
) -> AdcpResult<Result<Option<Registered>, AdcpError>> {
    let Some(platform) = seller.creative_platform() else {
        return Ok(Ok(None));
    };
    let before = ctx.state().get(CREATIVES, &c.creative_id).await?;
    if before.as_ref().and_then(|b| b.asset.as_ref()) == Some(c) {
        return Ok(Ok(None));
    }
    match platform.register(ctx, c).await {
        Ok(r) => Ok(Ok(Some(r))),
        Err(e) if crate::fails_the_call(&e) => Err(e),
        Err(e) => Ok(Err(e)),
    }
}

/// Assigns a creative to a package of one of the account's buys (and attaches it in the ad
/// server the buy is booked in); a buy waiting for creatives starts running. `false` when no
/// buy of the account has the package.
async fn assign(
    seller: &Seller,
    ctx: &Ctx,
    package_id: &str,
    creative_id: &str,
) -> AdcpResult<bool> {
    let buys: Vec<MediaBuy> = ctx.state().list(MEDIA_BUYS).await?;
    let Some(buy) = buys
        .iter()
        .filter(|b| ctx.owns(&b.owner))
        .find(|b| b.packages.iter().any(|p| p.package_id == package_id))
    else {
        return Ok(false);
    };
    let gone = || AdcpError::internal("the buy disappeared while a creative was assigned");
    let assigned = ctx
        .state()
        .modify_recorded(
            MEDIA_BUYS,
            &buy.media_buy_id,
            MediaBuy::status_text,
            "sync_creatives",
            gone,
            |b| {
                if let Some(pkg) = b.packages.iter_mut().find(|p| p.package_id == package_id) {
                    pkg.awaiting.retain(|c| c != creative_id);
                    if !pkg.creative_ids.iter().any(|c| c == creative_id) {
                        pkg.creative_ids.push(creative_id.to_owned());
                    }
                }
                start_if_ready(b);
                Ok(b.clone())
            },
        )
        .await?;
    if let Some(ad) = seller.ad_server()
        && let Some(c) = ctx.state().get(CREATIVES, creative_id).await?
    {
        ad.attach(ctx, &assigned, package_id, &c).await?;
    }
    Ok(true)
}

/// Assigns `creative_id` to the packages of the account's buys awaiting it; answers their
/// ids.
async fn awaited(seller: &Seller, ctx: &Ctx, creative_id: &str) -> AdcpResult<Vec<String>> {
    let buys: Vec<MediaBuy> = ctx.state().list(MEDIA_BUYS).await?;
    let waiting: Vec<String> = buys
        .iter()
        .filter(|b| ctx.owns(&b.owner))
        .flat_map(|b| &b.packages)
        .filter(|p| p.awaiting.iter().any(|c| c == creative_id))
        .map(|p| p.package_id.clone())
        .collect();
    for p in &waiting {
        assign(seller, ctx, p, creative_id).await?;
    }
    Ok(waiting)
}

pub(crate) async fn sync(
    seller: &Seller,
    ctx: &Ctx,
    req: SyncCreativesRequest,
) -> AdcpResult<SyncCreativesSuccess> {
    let dry_run = req.dry_run.unwrap_or(false);
    let at = time::now();
    let mut items = Vec::with_capacity(req.creatives.len());
    for c in &req.creatives {
        let accepted = (!ctx.fixtures_only() && seller.sells_format(&c.format_id.id))
            || ctx.state().get(FORMATS, &c.format_id.id).await?.is_some();
        if !accepted {
            let mut item = SyncCreativesSuccessCreativesItem::new(
                CreativeAction::Failed,
                c.creative_id.clone(),
            );
            let e = AdcpError::invalid_request(
                "format_id",
                format!("this seller does not accept format `{}`", c.format_id.id),
            );
            item.errors = Some(vec![e.to_wire()]);
            items.push(item);
            continue;
        }
        let registered = if dry_run {
            None
        } else {
            match register(seller, ctx, c).await? {
                Ok(r) => r,
                Err(e) => {
                    let mut item = SyncCreativesSuccessCreativesItem::new(
                        CreativeAction::Failed,
                        c.creative_id.clone(),
                    );
                    item.errors = Some(vec![e.to_wire()]);
                    items.push(item);
                    continue;
                }
            }
        };
        let sync = |slot: &mut Option<Creative>| {
            let action = match slot.as_ref() {
                None => CreativeAction::Created,
                Some(old) if old.asset.as_ref() == Some(c) => CreativeAction::Unchanged,
                Some(_) => CreativeAction::Updated,
            };
            if !dry_run && action != CreativeAction::Unchanged {
                *slot = Some(from_asset(c, at, slot.as_ref(), registered.as_ref()));
            }
            let kept = slot.as_ref();
            Ok((
                action,
                kept.map(|x| x.status),
                kept.and_then(|x| x.platform_id.clone()),
            ))
        };
        let (action, status, platform_id) = if dry_run {
            sync(&mut ctx.state().get(CREATIVES, &c.creative_id).await?)?
        } else {
            ctx.state().entry(CREATIVES, &c.creative_id, sync).await?
        };
        let mut item = SyncCreativesSuccessCreativesItem::new(action, c.creative_id.clone());
        item.status = status.or(Some(CreativeStatus::PendingReview));
        item.platform_id = platform_id;
        // Packages that were assigned it before it was synced have it now.
        let mut assigned = if dry_run {
            Vec::new()
        } else {
            awaited(seller, ctx, &c.creative_id).await?
        };
        let mut refused = SyncCreativesSuccessCreativesItemAssignmentErrors::new();
        for a in req
            .assignments
            .iter()
            .flatten()
            .filter(|a| a.creative_id == c.creative_id)
        {
            let known = if dry_run {
                let buys: Vec<MediaBuy> = ctx.state().list(MEDIA_BUYS).await?;
                buys.iter()
                    .any(|b| b.packages.iter().any(|p| p.package_id == a.package_id))
            } else {
                assign(seller, ctx, &a.package_id, &a.creative_id).await?
            };
            if known {
                if !assigned.contains(&a.package_id) {
                    assigned.push(a.package_id.clone());
                }
            } else {
                refused.extra.insert(
                    a.package_id.clone(),
                    json!("no such package in this account"),
                );
            }
        }
        item.assigned_to = (!assigned.is_empty()).then_some(assigned);
        item.assignment_errors = (!refused.extra.is_empty()).then_some(refused);
        items.push(item);
    }
    let mut resp = SyncCreativesSuccess::new(items);
    resp.dry_run = dry_run.then_some(true);
    Ok(resp)
}

pub(crate) async fn list(
    ctx: &Ctx,
    req: ListCreativesRequest,
) -> AdcpResult<ListCreativesResponse> {
    let filters = req.filters.as_ref();
    let ids = filters.and_then(|f| f.creative_ids.as_ref());
    let statuses = filters.and_then(|f| f.statuses.as_ref());
    let mut all: Vec<Creative> = ctx.state().list(CREATIVES).await?;
    // Archived creatives are left out unless the filter asks for them by status.
    all.retain(|c| {
        ids.is_none_or(|i| i.contains(&c.creative_id))
            && statuses.map_or(c.status != CreativeStatus::Archived, |st| {
                st.contains(&c.status)
            })
    });
    let total = all.len();
    let (page, pagination) = Page::take(req.pagination.as_ref(), all)?;
    let creatives: Vec<_> = page.iter().map(wire::creative).collect();
    let summary = ListCreativesResponseQuerySummary::new(creatives.len() as i64, total as i64);
    Ok(ListCreativesResponse::new(creatives, pagination, summary))
}
