//! Media buys: booking (with a review queue for large buys), changes, reads and delivery.

use std::time::Duration;

use adcp_runtime::Page;
use adcp_runtime::lifecycle::MEDIA_BUY;
use adcp_runtime::time::{self, rfc3339};
use adcp_runtime::wire::{
    CanceledBy, Catalog, CreateMediaBuyRequest, CreateMediaBuySuccess, GetMediaBuyDeliveryRequest,
    GetMediaBuyDeliveryResponse, GetMediaBuyDeliveryResponseReportingPeriod, GetMediaBuysRequest,
    GetMediaBuysRequestStatusFilter, GetMediaBuysResponse, MeasurementTerms, MediaBuyStatus,
    PackageRequest, ProvidePerformanceFeedbackRequest, ProvidePerformanceFeedbackSuccess,
    StartTiming, UpdateMediaBuyRequest, UpdateMediaBuySuccess,
};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, Hybrid, TaskHandoff, codes};
use serde_json::json;

use crate::store::{CREATIVES, FEEDBACK, MEDIA_BUYS, MediaBuy, PackageState};
use crate::{Seller, products, wire};

/// Buys whose total budget is above this go to manual review.
const AUTO_APPROVAL_LIMIT: f64 = 1_000_000.0;
/// How long manual review takes in this reference seller.
const REVIEW_TIME: Duration = Duration::from_secs(2);
/// Billing measurement windows this seller accepts, and the least variance it guarantees.
const ACCEPTED_WINDOWS: &[&str] = &["live", "c3", "c7"];
const MIN_VARIANCE_PERCENT: f64 = 5.0;

fn media_buy_not_found(field: &str) -> AdcpError {
    AdcpError::not_found(codes::MEDIA_BUY_NOT_FOUND, field, "media buy")
}

/// A media buy of the request's account: one stored for another account (which the scoped
/// state never returns, but the buy says whose it is) is as absent as one that does not exist.
async fn one(ctx: &Ctx, id: &str) -> AdcpResult<Option<MediaBuy>> {
    let buy = ctx.state().get(MEDIA_BUYS, id).await?;
    Ok(buy.filter(|b| ctx.owns(&b.owner)))
}

/// Checks one requested package against the catalogue and this seller's rules.
async fn package(
    seller: &Seller,
    ctx: &Ctx,
    at: &(dyn Fn(&str) -> String + Sync),
    req: &PackageRequest,
    currency: &mut Option<String>,
    buy_estimate: Option<&str>,
) -> AdcpResult<PackageState> {
    let product = products::one(seller, ctx, &req.product_id)
        .await?
        .ok_or_else(|| {
            AdcpError::not_found(codes::PRODUCT_NOT_FOUND, at("product_id"), "product")
        })?;
    let po = product
        .pricing_options
        .iter()
        .find(|o| o.pricing_option_id() == req.pricing_option_id)
        .map(products::terms)
        .ok_or_else(|| {
            AdcpError::invalid_request(
                at("pricing_option_id"),
                format!(
                    "product `{}` has no pricing option `{}`",
                    product.product_id, req.pricing_option_id
                ),
            )
        })?;
    if currency.as_deref().is_some_and(|c| c != po.currency) {
        return Err(AdcpError::invalid_request(
            at("pricing_option_id"),
            "every package of a buy must be priced in one currency",
        ));
    }
    *currency = Some(po.currency.clone());
    positive(&at("budget"), req.budget)?;
    if let Some(min) = po.min_spend
        && req.budget < min
    {
        return Err(AdcpError::new(
            codes::BUDGET_TOO_LOW,
            format!("the minimum spend per package is {min} {}", po.currency),
        )
        .with_field(at("budget"))
        .with_details(json!({"minimum_budget": min, "currency": po.currency})));
    }
    if let (Some(bid), Some(floor)) = (req.bid_price, po.floor)
        && bid < floor
    {
        return Err(AdcpError::invalid_request(
            at("bid_price"),
            format!("the bid {bid} is below the floor {floor}"),
        ));
    }
    if let Some(mt) = &req.measurement_terms {
        check_terms(&at("measurement_terms"), mt)?;
    }
    if let Some(catalogs) = &req.catalogs {
        check_catalogs(ctx, &at("catalogs"), catalogs).await?;
    }
    // Creatives given inline are assigned; so are library creatives named in the
    // assignments, and the others once the buyer syncs them.
    let mut creative_ids: Vec<String> = req
        .creatives
        .iter()
        .flatten()
        .map(|c| c.creative_id.clone())
        .collect();
    let mut awaiting = Vec::new();
    for a in req.creative_assignments.iter().flatten() {
        let id = &a.creative_id;
        if creative_ids.contains(id) || awaiting.contains(id) {
            continue;
        }
        if ctx.state().get(CREATIVES, id).await?.is_some() {
            creative_ids.push(id.clone());
        } else {
            awaiting.push(id.clone());
        }
    }
    Ok(PackageState {
        package_id: ctx.new_id("pkg"),
        product_id: req.product_id.clone(),
        pricing_option_id: req.pricing_option_id.clone(),
        pricing_model: po.model,
        rate: req.bid_price.or(po.fixed).or(po.floor).unwrap_or(0.0),
        budget: req.budget,
        bid_price: req.bid_price,
        paused: req.paused.unwrap_or(false),
        canceled: false,
        targeting_overlay: req.targeting_overlay.clone(),
        creative_ids,
        awaiting,
        impressions: 0.0,
        clicks: 0.0,
        spend: 0.0,
        catalogs: req.catalogs.clone(),
        measurement_terms: req.measurement_terms.clone(),
        agency_estimate_number: req
            .agency_estimate_number
            .clone()
            .or_else(|| buy_estimate.map(str::to_owned)),
    })
}

/// A package's catalogues: one of each type (the spec's rule), each named one synced to the
/// account unless given inline.
async fn check_catalogs(ctx: &Ctx, field: &str, catalogs: &[Catalog]) -> AdcpResult<()> {
    let kept = crate::catalogs(ctx).await?;
    for (i, c) in catalogs.iter().enumerate() {
        if catalogs[..i].iter().any(|o| o.r#type == c.r#type) {
            return Err(AdcpError::validation(
                format!("{field}[{i}].type"),
                "a package promotes at most one catalogue of each type",
            ));
        }
        if let Some(id) = &c.catalog_id
            && c.items.is_none()
            && c.url.is_none()
            && !kept
                .iter()
                .any(|k| k.catalog.catalog_id.as_deref() == Some(id.as_str()))
        {
            return Err(AdcpError::not_found(
                codes::REFERENCE_NOT_FOUND,
                format!("{field}[{i}].catalog_id"),
                "catalogue",
            )
            .with_suggestion("sync it with sync_catalogs first"));
        }
    }
    Ok(())
}

/// A budget, if it is positive.
fn positive(field: &str, budget: f64) -> AdcpResult<f64> {
    if budget > 0.0 {
        return Ok(budget);
    }
    Err(AdcpError::invalid_request(
        field,
        "the budget must be positive",
    ))
}

/// Billing measurement this seller cannot stand behind is rejected.
fn check_terms(field: &str, terms: &MeasurementTerms) -> AdcpResult<()> {
    let billing = terms.billing_measurement.as_ref();
    let window = billing.and_then(|b| b.measurement_window.as_deref());
    let variance = billing.and_then(|b| b.max_variance_percent);
    if window.is_none_or(|w| ACCEPTED_WINDOWS.contains(&w))
        && variance.is_none_or(|p| p >= MIN_VARIANCE_PERCENT)
    {
        return Ok(());
    }
    Err(AdcpError::new(
        codes::TERMS_REJECTED,
        format!(
            "billing measurement must use a window of {} with at least {MIN_VARIANCE_PERCENT}% variance",
            ACCEPTED_WINDOWS.join(", ")
        ),
    )
    .with_field(format!("{field}.billing_measurement"))
    .with_details(json!({"accepted_windows": ACCEPTED_WINDOWS, "min_variance_percent": MIN_VARIANCE_PERCENT})))
}

/// Moves a buy to `status` if its lifecycle allows, recording the change.
fn transition(b: &mut MediaBuy, status: MediaBuyStatus) -> AdcpResult<()> {
    MEDIA_BUY.check(b.status, status)?;
    b.status = status;
    b.updated_at = time::now();
    b.revision += 1;
    Ok(())
}

/// A buy waiting for creatives starts running once it has one.
pub(crate) fn start_if_ready(b: &mut MediaBuy) {
    if b.status == MediaBuyStatus::PendingCreatives && b.has_creatives() {
        let next = b.running_status();
        let _ = transition(b, next);
    }
}

pub(crate) async fn create(
    seller: &Seller,
    ctx: &Ctx,
    req: CreateMediaBuyRequest,
) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
    let (start, end) = time::flight(&req.start_time, &req.end_time)?;
    let requested = req.packages.as_deref().unwrap_or_default();
    if requested.is_empty() {
        return Err(AdcpError::invalid_request(
            "packages",
            "a media buy needs at least one package",
        ));
    }
    let mut currency = None;
    let mut packages = Vec::with_capacity(requested.len());
    for (i, p) in requested.iter().enumerate() {
        let at = |f: &str| format!("packages[{i}].{f}");
        let estimate = req.agency_estimate_number.as_deref();
        packages.push(package(seller, ctx, &at, p, &mut currency, estimate).await?);
    }
    let now = time::now();
    let mut buy = MediaBuy {
        media_buy_id: ctx.new_id("mb"),
        owner: ctx.scope().to_owned(),
        status: MediaBuyStatus::PendingCreatives,
        currency: currency.unwrap_or_else(|| "USD".into()),
        start_time: start,
        end_time: end,
        created_at: now,
        updated_at: now,
        revision: 1,
        packages,
        cancellation: None,
        booking: serde_json::Map::new(),
    };
    if buy.has_creatives() {
        buy.status = buy.running_status();
    }
    // Creatives given inline join the library, registered with the creative platform if the
    // seller has one. One it refuses fails the buy, on its path, before any joins the library
    // (what the platform took is found again by its idempotent registration on a retry).
    let mut inline = Vec::new();
    for (i, p) in requested.iter().enumerate() {
        for (j, c) in p.creatives.iter().flatten().enumerate() {
            let registered = crate::creatives::register(seller, ctx, c)
                .await?
                .map_err(|e| e.within(&format!("packages[{i}].creatives[{j}]")))?;
            inline.push((c, registered));
        }
    }
    for (c, registered) in inline {
        ctx.state()
            .entry(CREATIVES, &c.creative_id, |slot| {
                // A changed creative is its new version (as `sync_creatives` keeps it).
                if slot.as_ref().and_then(|k| k.asset.as_ref()) != Some(c) {
                    let kept =
                        crate::creatives::from_asset(c, now, slot.as_ref(), registered.as_ref());
                    *slot = Some(kept);
                }
                Ok(())
            })
            .await?;
    }
    if buy.total_budget() > AUTO_APPROVAL_LIMIT {
        // Large buys are reviewed before they are booked: a durable job, so a review in
        // progress survives a restart.
        let handoff = TaskHandoff::job(Seller::REVIEW_MEDIA_BUY, buy).message(format!(
            "buys above {AUTO_APPROVAL_LIMIT} are reviewed before booking"
        ));
        return Ok(Hybrid::Later(handoff));
    }
    if let Some(ad) = seller.ad_server() {
        if ad.needs_io_approval(ctx, &buy) {
            // The ad server books the buy once a person signs its IO: a durable job, so an
            // approval in progress survives a restart.
            let handoff = TaskHandoff::job(Seller::REVIEW_MEDIA_BUY, buy).message(
                "the IO is with the publisher for signature; the buy is booked once it is signed",
            );
            return Ok(Hybrid::Later(handoff));
        }
        ad.book(ctx, &mut buy).await?;
    }
    let cause = ctx.task().name;
    ctx.state()
        .put_recorded(
            MEDIA_BUYS,
            &buy.media_buy_id,
            MediaBuy::status_text,
            cause,
            &buy,
        )
        .await?;
    Ok(Hybrid::Now(wire::created(&buy)))
}

/// Books a reviewed buy. Safe to run again after a crash: the buy's id was fixed at hand-off,
/// and booking it twice keeps the first.
pub(crate) async fn review(
    seller: &Seller,
    ctx: &Ctx,
    mut buy: MediaBuy,
) -> AdcpResult<CreateMediaBuySuccess> {
    // Booked already (a run before a crash got that far): booked once.
    if let Some(booked) = one(ctx, &buy.media_buy_id).await? {
        return Ok(wire::created(&booked));
    }
    match seller.ad_server() {
        Some(ad) => ad.book(ctx, &mut buy).await?,
        None => tokio::time::sleep(REVIEW_TIME).await,
    }
    let booked = ctx
        .state()
        .entry_recorded(
            MEDIA_BUYS,
            &buy.media_buy_id,
            MediaBuy::status_text,
            "review",
            |slot| Ok(slot.get_or_insert_with(|| buy.clone()).clone()),
        )
        .await?;
    Ok(wire::created(&booked))
}

pub(crate) async fn update(
    seller: &Seller,
    ctx: &Ctx,
    req: UpdateMediaBuyRequest,
) -> AdcpResult<UpdateMediaBuySuccess> {
    let id = req.media_buy_id.clone();
    let Some(current) = one(ctx, &id).await? else {
        return Err(media_buy_not_found("media_buy_id"));
    };
    // New packages are checked against the catalogue before the buy is touched.
    let mut added = Vec::new();
    let mut currency = Some(current.currency);
    for (i, p) in req.new_packages.iter().flatten().enumerate() {
        let at = |f: &str| format!("new_packages[{i}].{f}");
        added.push(package(seller, ctx, &at, p, &mut currency, None).await?);
    }
    let mut known: Vec<String> = Vec::new();
    for a in req
        .packages
        .iter()
        .flatten()
        .flat_map(|u| u.creative_assignments.iter().flatten())
    {
        if ctx.state().get(CREATIVES, &a.creative_id).await?.is_some() {
            known.push(a.creative_id.clone());
        }
    }
    let missing = || media_buy_not_found("media_buy_id");
    let resp = ctx
        .state()
        .modify_recorded(
            MEDIA_BUYS,
            &id,
            MediaBuy::status_text,
            "update_media_buy",
            missing,
            |b| {
                if let Some(rev) = req.revision
                    && rev != b.revision
                {
                    return Err(AdcpError::new(
                        codes::CONFLICT,
                        format!("the buy is at revision {}, not {rev}", b.revision),
                    )
                    .with_field("revision")
                    .with_details(
                        json!({"expected_version": rev, "current_version": b.revision}),
                    ));
                }
                let mut affected = Vec::new();
                if req.canceled.is_some() {
                    transition(b, MediaBuyStatus::Canceled)?;
                    let reason = req.cancellation_reason.clone();
                    b.mark_canceled(time::now(), CanceledBy::Buyer, reason);
                    affected.extend(b.packages.iter().map(wire::package));
                } else {
                    change(b, &req, &known, &added, &mut affected)?;
                }
                let mut resp = UpdateMediaBuySuccess::new(b.media_buy_id.clone());
                // The cancel's answer says who and when too: the 3.0 response has no field for
                // it (the buy's `cancellation` is in get_media_buys), and the official runner
                // reads these two from it.
                if let Some(c) = &b.cancellation {
                    resp.extra
                        .insert("canceled_by".into(), json!(c.canceled_by));
                    resp.extra
                        .insert("canceled_at".into(), json!(c.canceled_at));
                }
                resp.status = Some(b.status);
                resp.revision = Some(b.revision);
                resp.affected_packages = Some(affected);
                resp.valid_actions =
                    Some(adcp_runtime::lifecycle::media_buy_valid_actions(b.status));
                Ok(resp)
            },
        )
        .await?;
    // Creatives assigned now are attached in the ad server the buy is booked in.
    if let Some(ad) = seller.ad_server()
        && let Some(buy) = one(ctx, &id).await?
    {
        for u in req.packages.iter().flatten() {
            for a in u.creative_assignments.iter().flatten() {
                if let Some(c) = ctx.state().get(CREATIVES, &a.creative_id).await? {
                    ad.attach(ctx, &buy, &u.package_id, &c).await?;
                }
            }
        }
    }
    Ok(resp)
}

/// Applies an update that is not a cancellation.
fn change(
    b: &mut MediaBuy,
    req: &UpdateMediaBuyRequest,
    known: &[String],
    added: &[PackageState],
    affected: &mut Vec<adcp_runtime::wire::Package>,
) -> AdcpResult<()> {
    let state_error = |b: &MediaBuy, field: &str, why: String| {
        AdcpError::new(codes::INVALID_STATE, why)
            .with_field(field)
            .with_details(json!({"current_state": b.status}))
    };
    if MEDIA_BUY.is_terminal(b.status) {
        return Err(state_error(
            b,
            "media_buy_id",
            format!("the buy is {} and cannot change", b.status),
        ));
    }
    match req.paused {
        Some(true) => transition(b, MediaBuyStatus::Paused)?,
        // The lifecycle's only way out of `paused` is `active` (the official runner checks
        // it), even for a buy still without creatives or before its flight.
        Some(false) if b.status == MediaBuyStatus::Paused => transition(b, MediaBuyStatus::Active)?,
        Some(false) => {
            return Err(state_error(
                b,
                "paused",
                format!("the buy is {}, not paused", b.status),
            ));
        }
        None => {}
    }
    if let Some(end) = &req.end_time {
        // The flight's rule: an end after the (unchanged) start.
        (_, b.end_time) = time::flight(&StartTiming::DateTime(rfc3339(b.start_time)), end)?;
    }
    for (i, u) in req.packages.iter().flatten().enumerate() {
        let p = b
            .packages
            .iter_mut()
            .find(|p| p.package_id == u.package_id)
            .ok_or_else(|| {
                AdcpError::not_found(
                    codes::PACKAGE_NOT_FOUND,
                    format!("packages[{i}].package_id"),
                    "package",
                )
            })?;
        if let Some(budget) = u.budget {
            p.budget = positive(&format!("packages[{i}].budget"), budget)?;
        }
        if let Some(paused) = u.paused {
            p.paused = paused;
        }
        if let Some(bid) = u.bid_price {
            p.bid_price = Some(bid);
            p.rate = bid;
        }
        if let Some(t) = &u.targeting_overlay {
            p.targeting_overlay = Some(t.clone());
        }
        for (j, a) in u.creative_assignments.iter().flatten().enumerate() {
            if !known.contains(&a.creative_id) {
                return Err(AdcpError::not_found(
                    codes::CREATIVE_NOT_FOUND,
                    format!("packages[{i}].creative_assignments[{j}].creative_id"),
                    "creative",
                ));
            }
            if !p.creative_ids.contains(&a.creative_id) {
                p.creative_ids.push(a.creative_id.clone());
            }
        }
        affected.push(wire::package(p));
    }
    affected.extend(added.iter().map(wire::package));
    b.packages.extend(added.iter().cloned());
    start_if_ready(b);
    b.revision += 1;
    b.updated_at = time::now();
    Ok(())
}

pub(crate) async fn get(ctx: &Ctx, req: GetMediaBuysRequest) -> AdcpResult<GetMediaBuysResponse> {
    let statuses: Option<Vec<MediaBuyStatus>> = req.status_filter.as_ref().map(|f| match f {
        GetMediaBuysRequestStatusFilter::MediaBuyStatus(s) => vec![*s],
        GetMediaBuysRequestStatusFilter::Array(v) => v.clone(),
    });
    let selected: Vec<MediaBuy> = match &req.media_buy_ids {
        Some(ids) => {
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.extend(one(ctx, id).await?);
            }
            found
        }
        None => ctx.state().list(MEDIA_BUYS).await?,
    };
    let buys: Vec<_> = selected
        .iter()
        .filter(|b| statuses.as_ref().is_none_or(|st| st.contains(&b.status)))
        .map(wire::media_buy)
        .collect();
    let (page, pagination) = Page::take(req.pagination.as_ref(), buys)?;
    let mut resp = GetMediaBuysResponse::new(page);
    resp.pagination = Some(pagination);
    Ok(resp)
}

pub(crate) async fn delivery(
    seller: &Seller,
    ctx: &Ctx,
    req: GetMediaBuyDeliveryRequest,
) -> AdcpResult<GetMediaBuyDeliveryResponse> {
    // Buys found, and the positions of the ids that were not.
    let (buys, missing): (Vec<MediaBuy>, Vec<usize>) = match &req.media_buy_ids {
        Some(ids) => {
            let (mut found, mut missing) = (Vec::new(), Vec::new());
            for (i, id) in ids.iter().enumerate() {
                match one(ctx, id).await? {
                    Some(b) => found.push(b),
                    None => missing.push(i),
                }
            }
            (found, missing)
        }
        None => (ctx.state().list(MEDIA_BUYS).await?, Vec::new()),
    };
    if let (true, Some(first)) = (buys.is_empty(), missing.first()) {
        return Err(media_buy_not_found(&format!("media_buy_ids[{first}]")));
    }
    // Without dates the period runs from the earliest flight to now, and never ends before it
    // starts (a buy that has not started has delivered nothing yet).
    let now = time::now();
    let day = |field, d: &Option<String>| d.as_deref().map(|d| time::day(field, d)).transpose();
    let asked_start = day("start_date", &req.start_date)?;
    let asked_end = day("end_date", &req.end_date)?;
    let end = asked_end.map_or(now, time::end_of_day);
    let start = match asked_start {
        Some(d) => time::start_of_day(d),
        None => buys
            .iter()
            .map(|b| b.start_time)
            .min()
            .unwrap_or(now)
            .min(end),
    };
    if asked_end.is_some() && end < start {
        return Err(AdcpError::invalid_request(
            "end_date",
            "the reporting period ends before it starts",
        ));
    }
    let end = end.max(start);
    let currency = buys
        .first()
        .map_or_else(|| "USD".to_owned(), |b| b.currency.clone());
    // What the ad server reports, on top of what the seller recorded (simulated delivery).
    let mut reported = Vec::with_capacity(buys.len());
    for b in &buys {
        let mut b = b.clone();
        if let Some(ad) = seller.ad_server() {
            for d in ad.delivery(ctx, &b).await? {
                if let Some(p) = b.packages.iter_mut().find(|p| p.package_id == d.package_id) {
                    p.impressions += d.impressions;
                    p.clicks += d.clicks;
                    p.spend += d.spend;
                }
            }
        }
        reported.push(wire::delivery(&b));
    }
    let mut resp = GetMediaBuyDeliveryResponse::new(
        currency,
        reported,
        GetMediaBuyDeliveryResponseReportingPeriod::new(rfc3339(end), rfc3339(start)),
    );
    if !missing.is_empty() {
        resp.errors = Some(
            missing
                .iter()
                .map(|i| media_buy_not_found(&format!("media_buy_ids[{i}]")).to_wire())
                .collect(),
        );
    }
    Ok(resp)
}

/// Performance feedback on a buy (or one of its packages or creatives), kept with the buy's
/// feedback for the seller's optimisation.
/// How many feedback entries a buy keeps.
const FEEDBACK_KEPT: usize = 500;

pub(crate) async fn feedback(
    ctx: &Ctx,
    req: ProvidePerformanceFeedbackRequest,
) -> AdcpResult<ProvidePerformanceFeedbackSuccess> {
    let Some(buy) = one(ctx, &req.media_buy_id).await? else {
        return Err(media_buy_not_found("media_buy_id"));
    };
    if let Some(p) = &req.package_id
        && !buy.packages.iter().any(|k| &k.package_id == p)
    {
        return Err(AdcpError::not_found(
            codes::PACKAGE_NOT_FOUND,
            "package_id",
            "package",
        ));
    }
    // A creative named is one of the buy's, or at least the account's.
    if let Some(c) = &req.creative_id
        && !buy.packages.iter().any(|p| p.creative_ids.contains(c))
        && ctx.state().get(CREATIVES, c).await?.is_none()
    {
        return Err(AdcpError::not_found(
            codes::CREATIVE_NOT_FOUND,
            "creative_id",
            "creative",
        ));
    }
    let start = time::parse("measurement_period.start", &req.measurement_period.start)?;
    if time::parse("measurement_period.end", &req.measurement_period.end)? < start {
        return Err(AdcpError::invalid_request(
            "measurement_period.end",
            "the period ends before it starts",
        ));
    }
    let mut entry = serde_json::to_value(&req).map_err(|e| AdcpError::internal(e.to_string()))?;
    if let Some(m) = entry.as_object_mut() {
        for k in ["idempotency_key", "context", "ext", "adcp_major_version"] {
            m.remove(k);
        }
        m.insert("received_at".into(), json!(rfc3339(ctx.now())));
    }
    ctx.state()
        .entry(FEEDBACK, &req.media_buy_id, |slot| {
            let kept = slot.get_or_insert_with(Vec::new);
            kept.push(entry.clone());
            // The latest feedback is what optimisation reads; older entries are let go.
            let over = kept.len().saturating_sub(FEEDBACK_KEPT);
            kept.drain(..over);
            Ok(())
        })
        .await?;
    Ok(ProvidePerformanceFeedbackSuccess::new())
}
