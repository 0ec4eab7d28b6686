//! The seller: an auction (non-guaranteed) seller of display and video inventory.
//!
//! Buyers bid at or above each pricing option's floor. Media buys start in `pending_creatives`
//! and move to `active` (or `pending_start` before their flight) once a creative is assigned.
//! Buys above the auto-approval limit go to a review queue and are answered with a task.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use adcp_runtime::lifecycle::{self, CREATIVE, MEDIA_BUY, Page};
use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, ControllerReply, Ctx, Hybrid, ScenarioParams, TaskHandoff, codes,
    decisioning_platform,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::catalog;
use crate::store::{
    self, CREATIVES, Creative, FORMATS, GOVERNANCE, MEDIA_BUYS, MediaBuy, PLANS, PRODUCTS,
    PackageState,
};

/// Buys whose total budget is above this go to manual review.
const AUTO_APPROVAL_LIMIT: f64 = 1_000_000.0;
/// How long manual review takes in this reference seller.
const REVIEW_TIME: Duration = Duration::from_secs(2);
/// Billing measurement windows this seller accepts, and the least variance it guarantees.
const ACCEPTED_WINDOWS: &[&str] = &["live", "c3", "c7"];
const MIN_VARIANCE_PERCENT: f64 = 5.0;

/// The seller. Its state is in the runtime's state store (`Ctx::state`); it caches only the
/// default catalogue, per agent URL.
#[derive(Default)]
pub struct Seller {
    /// The default catalogue, per agent URL (format ids carry it).
    catalogs: RwLock<HashMap<String, Arc<Vec<Product>>>>,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn parse_time(field: &str, s: &str) -> AdcpResult<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        AdcpError::invalid_request(field, format!("`{s}` is not an RFC 3339 date-time"))
    })
}

/// A reporting date (`YYYY-MM-DD`, a real calendar day) as the date-time that starts it, or,
/// with `end_of_day`, the last second of it.
fn reporting_day(field: &str, s: &str, end_of_day: bool) -> AdcpResult<String> {
    let day = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| {
            AdcpError::invalid_request(field, format!("`{s}` is not a calendar date (YYYY-MM-DD)"))
        })?;
    let at = if end_of_day {
        time::macros::time!(23:59:59)
    } else {
        time::Time::MIDNIGHT
    };
    Ok(rfc3339(day.with_time(at).assume_utc()))
}

/// A reference that resolves to nothing this account can see. The message names the kind and
/// the field names the position, but the id is not echoed: an id that exists in another account
/// and one that exists nowhere must get the same answer, byte for byte.
fn not_found(code: &'static str, field: impl Into<String>, what: &str) -> AdcpError {
    AdcpError::new(code, format!("no such {what} in this account")).with_field(field)
}

/// The terms of a pricing option, read from whichever arm it is.
struct Terms {
    id: String,
    model: PricingModel,
    currency: String,
    fixed: Option<f64>,
    floor: Option<f64>,
    min_spend: Option<f64>,
}

fn terms(po: &PricingOption) -> Terms {
    let v = serde_json::to_value(po).unwrap_or_default();
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    Terms {
        id: v["pricing_option_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        model: v["pricing_model"]
            .as_str()
            .and_then(|m| m.parse().ok())
            .unwrap_or(PricingModel::Cpm),
        currency: v["currency"].as_str().unwrap_or("USD").to_owned(),
        fixed: num("fixed_price"),
        floor: num("floor_price"),
        min_spend: num("min_spend_per_package"),
    }
}

fn status_of(s: &str) -> MediaBuyStatus {
    s.parse().unwrap_or(MediaBuyStatus::PendingCreatives)
}

fn valid_actions(status: &str) -> Vec<MediaBuyValidAction> {
    lifecycle::media_buy_valid_actions(status)
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// The status a buy takes once creatives are assigned.
fn running_status(buy: &MediaBuy) -> &'static str {
    match OffsetDateTime::parse(&buy.start_time, &Rfc3339) {
        Ok(start) if start > now() => "pending_start",
        _ => "active",
    }
}

impl Seller {
    /// A seller with an empty store.
    pub fn new() -> Self {
        Seller::default()
    }

    /// The default catalogue as JSON, for boot validation.
    pub fn catalog_json(&self) -> Vec<Value> {
        catalog::default_products("http://127.0.0.1/mcp")
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect()
    }

    fn default_catalog(&self, agent_url: &str) -> Arc<Vec<Product>> {
        if let Some(c) = self
            .catalogs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(agent_url)
        {
            return c.clone();
        }
        let c = Arc::new(catalog::default_products(agent_url));
        self.catalogs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(agent_url.to_owned(), c.clone());
        c
    }

    /// Every product a scope can buy: seeded ones first, then the default catalogue.
    async fn products(&self, ctx: &Ctx) -> AdcpResult<Vec<Product>> {
        let mut out: Vec<Product> = store::list(ctx, PRODUCTS).await?;
        for p in self.default_catalog(ctx.agent_url()).iter() {
            if !out.iter().any(|o| o.product_id == p.product_id) {
                out.push(p.clone());
            }
        }
        Ok(out)
    }

    async fn product(&self, ctx: &Ctx, id: &str) -> AdcpResult<Option<Product>> {
        if let Some(p) = store::get(ctx, PRODUCTS, id).await? {
            return Ok(Some(p));
        }
        Ok(self
            .default_catalog(ctx.agent_url())
            .iter()
            .find(|p| p.product_id == id)
            .cloned())
    }

    /// Checks one requested package against the catalogue and this seller's rules.
    async fn package(
        &self,
        ctx: &Ctx,
        i: usize,
        req: &PackageRequest,
        id: String,
        currency: &mut Option<String>,
    ) -> AdcpResult<PackageState> {
        let at = |f: &str| format!("packages[{i}].{f}");
        let product = self
            .product(ctx, &req.product_id)
            .await?
            .ok_or_else(|| not_found(codes::PRODUCT_NOT_FOUND, at("product_id"), "product"))?;
        let po = product
            .pricing_options
            .iter()
            .map(terms)
            .find(|t| t.id == req.pricing_option_id)
            .ok_or_else(|| {
                AdcpError::invalid_request(
                    at("pricing_option_id"),
                    format!(
                        "product `{}` has no pricing option `{}`",
                        product.product_id, req.pricing_option_id
                    ),
                )
            })?;
        if let Some(c) = currency.as_deref()
            && c != po.currency
        {
            return Err(AdcpError::invalid_request(
                at("pricing_option_id"),
                "every package of a buy must be priced in one currency",
            ));
        }
        *currency = Some(po.currency.clone());
        if req.budget <= 0.0 {
            return Err(AdcpError::invalid_request(
                at("budget"),
                "the budget must be positive",
            ));
        }
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
        let rate = req.bid_price.or(po.fixed).or(po.floor).unwrap_or(0.0);
        let creative_ids = req
            .creatives
            .as_ref()
            .map(|cs| cs.iter().map(|c| c.creative_id.clone()).collect())
            .unwrap_or_default();
        Ok(PackageState {
            package_id: id,
            product_id: req.product_id.clone(),
            pricing_option_id: req.pricing_option_id.clone(),
            pricing_model: po.model,
            rate,
            budget: req.budget,
            bid_price: req.bid_price,
            paused: req.paused.unwrap_or(false),
            canceled: false,
            targeting_overlay: req.targeting_overlay.clone(),
            creative_ids,
            impressions: 0.0,
            clicks: 0.0,
            spend: 0.0,
        })
    }
}

/// Billing measurement this seller cannot stand behind is rejected.
fn check_terms(field: &str, terms: &MeasurementTerms) -> AdcpResult<()> {
    let v = serde_json::to_value(terms).unwrap_or_default();
    let billing = &v["billing_measurement"];
    let window = billing["measurement_window"].as_str();
    let variance = billing["max_variance_percent"].as_f64();
    let window_ok = window.is_none_or(|w| ACCEPTED_WINDOWS.contains(&w));
    let variance_ok = variance.is_none_or(|p| p >= MIN_VARIANCE_PERCENT);
    if window_ok && variance_ok {
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

fn package_wire(p: &PackageState) -> Package {
    let mut w = Package::new(p.package_id.clone());
    w.product_id = Some(p.product_id.clone());
    w.pricing_option_id = Some(p.pricing_option_id.clone());
    w.budget = Some(p.budget);
    w.bid_price = p.bid_price;
    w.paused = Some(p.paused);
    w.targeting_overlay = p.targeting_overlay.clone();
    if p.canceled {
        w.canceled = Some(true);
    }
    if !p.creative_ids.is_empty() {
        w.creative_assignments = Some(
            p.creative_ids
                .iter()
                .map(|c| CreativeAssignment::new(c.clone()))
                .collect(),
        );
    }
    w
}

fn buy_wire(b: &MediaBuy) -> GetMediaBuysResponseMediaBuysItem {
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
            w.targeting_overlay = p.targeting_overlay.clone();
            w.start_time = Some(b.start_time.clone());
            w.end_time = Some(b.end_time.clone());
            w
        })
        .collect::<Vec<_>>();
    let mut w = GetMediaBuysResponseMediaBuysItem::new(
        b.currency.clone(),
        b.media_buy_id.clone(),
        packages,
        status_of(&b.status),
        b.total_budget(),
    );
    w.start_time = Some(b.start_time.clone());
    w.end_time = Some(b.end_time.clone());
    w.created_at = Some(rfc3339(b.created_at));
    w.updated_at = Some(rfc3339(b.updated_at));
    w.confirmed_at = Some(rfc3339(b.created_at));
    w.revision = Some(b.revision);
    w.valid_actions = Some(valid_actions(&b.status));
    w
}

/// The `create_media_buy` answer for a booked buy.
fn created_answer(b: &MediaBuy, sandbox: bool) -> CreateMediaBuySuccess {
    let mut s = CreateMediaBuySuccess::new(
        b.media_buy_id.clone(),
        b.packages.iter().map(package_wire).collect::<Vec<_>>(),
    );
    s.status = Some(status_of(&b.status));
    s.confirmed_at = Some(rfc3339(b.created_at));
    s.revision = Some(b.revision);
    s.valid_actions = Some(valid_actions(&b.status));
    if sandbox {
        s.sandbox = Some(true);
    }
    s
}

/// Moves a buy to `status` if its lifecycle allows, recording the change.
fn transition(b: &mut MediaBuy, status: &str) -> AdcpResult<()> {
    MEDIA_BUY.check(&b.status, status)?;
    b.status = status.to_owned();
    b.updated_at = now();
    b.revision += 1;
    Ok(())
}

/// Assigns creatives to a package; a buy waiting for creatives starts running. Returns the
/// buy, or `None` when no buy has the package.
async fn assign(
    ctx: &Ctx,
    package_id: &str,
    creative_ids: &[String],
) -> AdcpResult<Option<String>> {
    let buys: Vec<MediaBuy> = store::list(ctx, MEDIA_BUYS).await?;
    let Some(buy) = buys
        .iter()
        .find(|b| b.packages.iter().any(|p| p.package_id == package_id))
    else {
        return Ok(None);
    };
    let id = buy.media_buy_id.clone();
    ctx.state()
        .modify(ctx.scope(), MEDIA_BUYS, &id, |buy: &mut MediaBuy| {
            if let Some(pkg) = buy.packages.iter_mut().find(|p| p.package_id == package_id) {
                for c in creative_ids {
                    if !pkg.creative_ids.contains(c) {
                        pkg.creative_ids.push(c.clone());
                    }
                }
            }
            if buy.status == "pending_creatives" {
                let next = running_status(buy);
                let _ = transition(buy, next);
            }
            Ok(())
        })
        .await?;
    Ok(Some(id))
}

fn media_buy_not_found(field: &str) -> AdcpError {
    not_found(codes::MEDIA_BUY_NOT_FOUND, field, "media buy")
}

fn controller_not_found(what: &str, id: &str) -> AdcpError {
    AdcpError::new("NOT_FOUND", format!("no {what} `{id}`"))
}

fn page_response(p: &Page) -> AdcpResult<PaginationResponse> {
    decode(p.response()).map_err(|e| AdcpError::internal(e.to_string()))
}

#[decisioning_platform(specialisms(sales_non_guaranteed), accounts = explicit)]
impl Seller {
    async fn get_products(
        &self,
        ctx: &Ctx,
        req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        let mut products = self.products(ctx).await?;
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
        if let Some(refine) = &req.refine {
            for r in refine {
                if let GetProductsRequestRefineItem::Product(p) = r
                    && p.action == Some(GetProductsRequestRefineItemProductAction::Omit)
                {
                    products.retain(|x| x.product_id != p.product_id);
                }
            }
        }
        let page = Page::from_request(
            req.pagination
                .as_ref()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .as_ref(),
            products.len(),
        )?;
        let mut resp = GetProductsResponse::new(products[page.range()].to_vec());
        resp.pagination = Some(page_response(&page)?);
        if ctx.sandbox() {
            resp.sandbox = Some(true);
        }
        Ok(resp)
    }

    async fn list_creative_formats(
        &self,
        ctx: &Ctx,
        req: ListCreativeFormatsRequest,
    ) -> AdcpResult<ListCreativeFormatsResponse> {
        let seeded: Vec<Format> = store::list(ctx, FORMATS).await?;
        let mut formats = if seeded.is_empty() {
            catalog::formats(ctx.agent_url())
        } else {
            seeded
        };
        if let Some(ids) = &req.format_ids {
            // Asked-for formats first, in the order asked, then nothing else.
            formats = ids
                .iter()
                .filter_map(|id| formats.iter().find(|f| f.format_id.id == id.id).cloned())
                .collect();
        }
        if let Some(q) = &req.name_search {
            let q = q.to_lowercase();
            formats.retain(|f| f.name.to_lowercase().contains(&q));
        }
        let page = Page::from_request(
            req.pagination
                .as_ref()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .as_ref(),
            formats.len(),
        )?;
        let mut resp = ListCreativeFormatsResponse::new(formats[page.range()].to_vec());
        resp.pagination = Some(page_response(&page)?);
        Ok(resp)
    }

    async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        if req.proposal_id.is_some() {
            return Err(AdcpError::new(
                codes::UNSUPPORTED_FEATURE,
                "this seller sells from its catalogue, not from proposals",
            )
            .with_field("proposal_id"));
        }
        let start = match &req.start_time {
            StartTiming::Asap(_) => now(),
            StartTiming::DateTime(s) => parse_time("start_time", s)?,
        };
        let end = parse_time("end_time", &req.end_time)?;
        if end <= start {
            return Err(AdcpError::invalid_request(
                "end_time",
                "end_time must be after start_time",
            ));
        }
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
            let id = ctx.new_id("pkg");
            packages.push(self.package(ctx, i, p, id, &mut currency).await?);
        }
        let created = now();
        let mut buy = MediaBuy {
            owner: ctx.scope().to_owned(),
            media_buy_id: ctx.new_id("mb"),
            status: "pending_creatives".into(),
            currency: currency.unwrap_or_else(|| "USD".into()),
            start_time: rfc3339(start),
            end_time: rfc3339(end),
            created_at: created,
            updated_at: created,
            revision: 1,
            packages,
        };
        if buy.has_creatives() {
            buy.status = running_status(&buy).into();
        }
        // Creatives given inline join the library.
        for p in requested {
            for c in p.creatives.iter().flatten() {
                let body = serde_json::to_value(c).unwrap_or_default();
                ctx.state()
                    .update(
                        ctx.scope(),
                        CREATIVES,
                        &c.creative_id,
                        |slot: &mut Option<Creative>| {
                            slot.get_or_insert_with(|| Creative {
                                creative_id: c.creative_id.clone(),
                                name: c.name.clone(),
                                format_id: c.format_id.clone(),
                                status: "pending_review".into(),
                                created,
                                updated: created,
                                body: body.clone(),
                            });
                            Ok(())
                        },
                    )
                    .await?;
            }
        }
        if buy.total_budget() > AUTO_APPROVAL_LIMIT {
            // Large buys are reviewed before they are booked: a durable job, so a review in
            // progress survives a restart.
            let handoff = TaskHandoff::job(Self::REVIEW_MEDIA_BUY, buy).message(format!(
                "buys above {AUTO_APPROVAL_LIMIT} are reviewed before booking"
            ));
            return Ok(Hybrid::Later(handoff));
        }
        store::put(ctx, MEDIA_BUYS, &buy.media_buy_id, &buy).await?;
        Ok(Hybrid::Now(created_answer(&buy, ctx.sandbox())))
    }

    /// The review of a large buy: books it once reviewed. Safe to run again after a crash:
    /// the buy's id was fixed at hand-off, and booking it twice writes the same document.
    #[adcp(job)]
    async fn review_media_buy(
        &self,
        ctx: &Ctx,
        buy: MediaBuy,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        tokio::time::sleep(REVIEW_TIME).await;
        let booked = ctx
            .state()
            .update(
                ctx.scope(),
                MEDIA_BUYS,
                &buy.media_buy_id,
                |slot: &mut Option<MediaBuy>| Ok(slot.get_or_insert_with(|| buy.clone()).clone()),
            )
            .await?;
        Ok(created_answer(&booked, ctx.sandbox()))
    }

    async fn update_media_buy(
        &self,
        ctx: &Ctx,
        req: UpdateMediaBuyRequest,
    ) -> AdcpResult<UpdateMediaBuySuccess> {
        let id = req.media_buy_id.clone();
        let Some(current) = store::get::<MediaBuy>(ctx, MEDIA_BUYS, &id).await? else {
            return Err(media_buy_not_found("media_buy_id"));
        };
        ctx.require_account_match(&current.owner, || media_buy_not_found("media_buy_id"))?;
        // New packages are checked against the catalogue before the buy is touched.
        let mut added = Vec::new();
        let mut currency = Some(current.currency);
        for (i, p) in req.new_packages.iter().flatten().enumerate() {
            let pid = ctx.new_id("pkg");
            added.push(
                self.package(ctx, i, p, pid, &mut currency)
                    .await
                    .map_err(|e| {
                        let field = e
                            .field()
                            .map(|f| f.replacen("packages", "new_packages", 1))
                            .unwrap_or_default();
                        e.with_field(field)
                    })?,
            );
        }
        let mut known: Vec<String> = Vec::new();
        for u in req.packages.iter().flatten() {
            for a in u.creative_assignments.iter().flatten() {
                if store::get::<Creative>(ctx, CREATIVES, &a.creative_id)
                    .await?
                    .is_some()
                {
                    known.push(a.creative_id.clone());
                }
            }
        }
        let missing = || media_buy_not_found("media_buy_id");
        store::modify(ctx, MEDIA_BUYS, &id, missing, |b: &mut MediaBuy| {
            if let Some(rev) = req.revision
                && rev != b.revision
            {
                return Err(AdcpError::new(
                    codes::CONFLICT,
                    format!("the buy is at revision {}, not {rev}", b.revision),
                )
                .with_field("revision")
                .with_details(json!({"expected_version": rev, "current_version": b.revision})));
            }
            let mut affected = Vec::new();
            if req.canceled.is_some() {
                transition(b, "canceled")?;
                for p in &mut b.packages {
                    p.canceled = true;
                }
                affected.extend(b.packages.iter().map(package_wire));
            } else {
                if MEDIA_BUY.is_terminal(&b.status) {
                    return Err(AdcpError::new(
                        codes::INVALID_STATE,
                        format!("the buy is {} and cannot change", b.status),
                    )
                    .with_field("media_buy_id")
                    .with_details(json!({"current_state": b.status})));
                }
                match req.paused {
                    Some(true) => transition(b, "paused")?,
                    // A resumed buy runs again: its lifecycle has no way back to pending.
                    Some(false) if b.status == "paused" => transition(b, "active")?,
                    Some(false) => {
                        return Err(AdcpError::new(
                            codes::INVALID_STATE,
                            format!("the buy is {}, not paused", b.status),
                        )
                        .with_field("paused")
                        .with_details(json!({"current_state": b.status})));
                    }
                    None => {}
                }
                if let Some(t) = &req.end_time {
                    let end = parse_time("end_time", t)?;
                    let start =
                        OffsetDateTime::parse(&b.start_time, &Rfc3339).unwrap_or_else(|_| now());
                    if end <= start {
                        return Err(AdcpError::invalid_request(
                            "end_time",
                            "end_time must be after start_time",
                        ));
                    }
                    b.end_time = rfc3339(end);
                }
                for (i, u) in req.packages.iter().flatten().enumerate() {
                    let p = b
                        .packages
                        .iter_mut()
                        .find(|p| p.package_id == u.package_id)
                        .ok_or_else(|| {
                            not_found(
                                codes::PACKAGE_NOT_FOUND,
                                format!("packages[{i}].package_id"),
                                "package",
                            )
                        })?;
                    if let Some(budget) = u.budget {
                        if budget <= 0.0 {
                            return Err(AdcpError::invalid_request(
                                format!("packages[{i}].budget"),
                                "the budget must be positive",
                            ));
                        }
                        p.budget = budget;
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
                    if let Some(ca) = &u.creative_assignments {
                        for (j, a) in ca.iter().enumerate() {
                            if !known.contains(&a.creative_id) {
                                return Err(not_found(
                                    codes::CREATIVE_NOT_FOUND,
                                    format!("packages[{i}].creative_assignments[{j}].creative_id"),
                                    "creative",
                                ));
                            }
                            if !p.creative_ids.contains(&a.creative_id) {
                                p.creative_ids.push(a.creative_id.clone());
                            }
                        }
                    }
                    affected.push(package_wire(p));
                }
                affected.extend(added.iter().map(package_wire));
                b.packages.extend(added.iter().cloned());
                if b.status == "pending_creatives" && b.has_creatives() {
                    let next = running_status(b);
                    transition(b, next)?;
                }
                b.revision += 1;
                b.updated_at = now();
            }
            let mut resp = UpdateMediaBuySuccess::new(b.media_buy_id.clone());
            resp.status = Some(status_of(&b.status));
            resp.revision = Some(b.revision);
            resp.affected_packages = Some(affected);
            resp.valid_actions = Some(valid_actions(&b.status));
            if ctx.sandbox() {
                resp.sandbox = Some(true);
            }
            Ok(resp)
        })
        .await
    }

    async fn get_media_buys(
        &self,
        ctx: &Ctx,
        req: GetMediaBuysRequest,
    ) -> AdcpResult<GetMediaBuysResponse> {
        let statuses: Option<Vec<MediaBuyStatus>> = req.status_filter.as_ref().map(|f| match f {
            GetMediaBuysRequestStatusFilter::MediaBuyStatus(s) => vec![*s],
            GetMediaBuysRequestStatusFilter::Array(v) => v.clone(),
        });
        let selected: Vec<MediaBuy> = match &req.media_buy_ids {
            Some(ids) => {
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(b) = store::media_buy(ctx, id).await? {
                        found.push(b);
                    }
                }
                found
            }
            None => store::list(ctx, MEDIA_BUYS).await?,
        };
        let buys: Vec<GetMediaBuysResponseMediaBuysItem> = selected
            .iter()
            .filter(|b| {
                statuses
                    .as_ref()
                    .is_none_or(|st| st.contains(&status_of(&b.status)))
            })
            .map(buy_wire)
            .collect();
        let page = Page::from_request(
            req.pagination
                .as_ref()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .as_ref(),
            buys.len(),
        )?;
        let mut resp = GetMediaBuysResponse::new(buys[page.range()].to_vec());
        resp.pagination = Some(page_response(&page)?);
        if ctx.sandbox() {
            resp.sandbox = Some(true);
        }
        Ok(resp)
    }

    async fn get_media_buy_delivery(
        &self,
        ctx: &Ctx,
        req: GetMediaBuyDeliveryRequest,
    ) -> AdcpResult<GetMediaBuyDeliveryResponse> {
        // Buys found, and the positions of the ids that were not.
        let (buys, missing): (Vec<MediaBuy>, Vec<usize>) = match &req.media_buy_ids {
            Some(ids) => {
                let (mut found, mut missing) = (Vec::new(), Vec::new());
                for (i, id) in ids.iter().enumerate() {
                    match store::media_buy(ctx, id).await? {
                        Some(b) => found.push(b),
                        None => missing.push(i),
                    }
                }
                (found, missing)
            }
            None => (store::list(ctx, MEDIA_BUYS).await?, Vec::new()),
        };
        if let (true, Some(first)) = (buys.is_empty(), missing.first()) {
            return Err(media_buy_not_found(&format!("media_buy_ids[{first}]")));
        }
        let currency = buys
            .first()
            .map_or_else(|| "USD".to_owned(), |b| b.currency.clone());
        let start = match &req.start_date {
            Some(d) => reporting_day("start_date", d, false)?,
            None => buys
                .iter()
                .map(|b| b.start_time.clone())
                .min()
                .unwrap_or_else(|| rfc3339(now())),
        };
        let end = match &req.end_date {
            Some(d) => reporting_day("end_date", d, true)?,
            None => rfc3339(now()),
        };
        if req.start_date.is_some() && req.end_date.is_some() && end < start {
            return Err(AdcpError::invalid_request(
                "end_date",
                "the reporting period ends before it starts",
            ));
        }
        let deliveries: Vec<GetMediaBuyDeliveryResponseMediaBuyDeliveriesItem> =
            buys.iter()
                .map(|b| {
                    let by_package: Vec<
                        GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemByPackageItem,
                    > = b
                        .packages
                        .iter()
                        .map(|p| {
                            let mut w =
                                GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemByPackageItem::new(
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
                    let (imps, clicks, spend) =
                        b.packages.iter().fold((0.0, 0.0, 0.0), |(i, c, s), p| {
                            (i + p.impressions, c + p.clicks, s + p.spend)
                        });
                    let mut totals =
                        GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemTotals::new(spend);
                    totals.impressions = Some(imps);
                    totals.clicks = Some(clicks);
                    if imps > 0.0 {
                        totals.ctr = Some(clicks / imps);
                    }
                    let status = b.status.parse().unwrap_or(
                        GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemStatus::Pending,
                    );
                    let mut d = GetMediaBuyDeliveryResponseMediaBuyDeliveriesItem::new(
                        by_package,
                        b.media_buy_id.clone(),
                        status,
                        totals,
                    );
                    // One model per buy is reported when all packages share it.
                    let models: Vec<PricingModel> =
                        b.packages.iter().map(|p| p.pricing_model).collect();
                    d.pricing_model = models
                        .first()
                        .copied()
                        .filter(|m| models.iter().all(|x| x == m));
                    d
                })
                .collect();
        let mut resp = GetMediaBuyDeliveryResponse::new(
            currency,
            deliveries,
            GetMediaBuyDeliveryResponseReportingPeriod::new(end, start),
        );
        if !missing.is_empty() {
            resp.errors = Some(
                missing
                    .iter()
                    .map(|i| {
                        decode::<Error>(
                            media_buy_not_found(&format!("media_buy_ids[{i}]")).to_json(),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| AdcpError::internal(e.to_string()))?,
            );
        }
        if ctx.sandbox() {
            resp.sandbox = Some(true);
        }
        Ok(resp)
    }

    async fn sync_creatives(
        &self,
        ctx: &Ctx,
        req: SyncCreativesRequest,
    ) -> AdcpResult<SyncCreativesSuccess> {
        let known_formats: Vec<&str> = catalog::FORMATS.iter().map(|f| f.id).collect();
        let dry_run = req.dry_run.unwrap_or(false);
        // `assignments` ({creative_id, package_id}) is accepted as the storyboards send it.
        let assignments: Vec<(String, String)> = req
            .extra
            .get("assignments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        Some((
                            x["creative_id"].as_str()?.to_owned(),
                            x["package_id"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let at = now();
        let mut items = Vec::new();
        for c in &req.creatives {
            if !known_formats.contains(&c.format_id.id.as_str()) {
                let mut item = SyncCreativesSuccessCreativesItem::new(
                    CreativeAction::Failed,
                    c.creative_id.clone(),
                );
                let e = AdcpError::invalid_request(
                    "format_id",
                    format!("this seller does not accept format `{}`", c.format_id.id),
                );
                item.errors = decode::<Error>(e.to_json()).ok().map(|e| vec![e]);
                items.push(item);
                continue;
            }
            let body = serde_json::to_value(c).unwrap_or_default();
            let sync = |slot: &mut Option<Creative>| {
                let action = match slot {
                    None => CreativeAction::Created,
                    Some(old) if old.body == body => CreativeAction::Unchanged,
                    Some(_) => CreativeAction::Updated,
                };
                if !dry_run && action != CreativeAction::Unchanged {
                    *slot = Some(Creative {
                        creative_id: c.creative_id.clone(),
                        name: c.name.clone(),
                        format_id: c.format_id.clone(),
                        status: slot
                            .as_ref()
                            .map_or_else(|| "pending_review".to_owned(), |o| o.status.clone()),
                        created: slot.as_ref().map_or(at, |o| o.created),
                        updated: at,
                        body: body.clone(),
                    });
                }
                Ok((action, slot.as_ref().map(|x| x.status.clone())))
            };
            let (action, status) = if dry_run {
                let mut current = store::get(ctx, CREATIVES, &c.creative_id).await?;
                sync(&mut current)?
            } else {
                ctx.state()
                    .update(ctx.scope(), CREATIVES, &c.creative_id, sync)
                    .await?
            };
            let mut item = SyncCreativesSuccessCreativesItem::new(action, c.creative_id.clone());
            item.status = status
                .and_then(|x| x.parse().ok())
                .or(Some(CreativeStatus::PendingReview));
            let mut assigned = Vec::new();
            for (cid, pid) in assignments.iter().filter(|(cid, _)| *cid == c.creative_id) {
                if !dry_run && assign(ctx, pid, std::slice::from_ref(cid)).await?.is_some() {
                    assigned.push(pid.clone());
                }
            }
            if !assigned.is_empty() {
                item.assigned_to = Some(assigned);
            }
            items.push(item);
        }
        let mut resp = SyncCreativesSuccess::new(items);
        if dry_run {
            resp.dry_run = Some(true);
        }
        if ctx.sandbox() {
            resp.sandbox = Some(true);
        }
        Ok(resp)
    }

    async fn list_creatives(
        &self,
        ctx: &Ctx,
        req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        let filters = req
            .filters
            .as_ref()
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .unwrap_or_default();
        let ids: Option<Vec<String>> = filters["creative_ids"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        });
        let statuses: Option<Vec<String>> = filters["statuses"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        });
        let mut all: Vec<Creative> = store::list(ctx, CREATIVES).await?;
        all.retain(|c| {
            ids.as_ref().is_none_or(|i| i.contains(&c.creative_id))
                && statuses.as_ref().is_none_or(|st| st.contains(&c.status))
        });
        let page = Page::from_request(
            req.pagination
                .as_ref()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .as_ref(),
            all.len(),
        )?;
        let creatives: Vec<ListCreativesResponseCreativesItem> = all[page.range()]
            .iter()
            .map(|c| {
                ListCreativesResponseCreativesItem::new(
                    rfc3339(c.created),
                    c.creative_id.clone(),
                    c.format_id.clone(),
                    c.name.clone(),
                    c.status.parse().unwrap_or(CreativeStatus::PendingReview),
                    rfc3339(c.updated),
                )
            })
            .collect();
        let summary = decode::<ListCreativesResponseQuerySummary>(
            json!({"total_matching": all.len(), "returned": creatives.len()}),
        )
        .map_err(|e| AdcpError::internal(e.to_string()))?;
        let mut resp = ListCreativesResponse::new(creatives, page_response(&page)?, summary);
        if ctx.sandbox() {
            resp.sandbox = Some(true);
        }
        Ok(resp)
    }

    async fn sync_governance(
        &self,
        ctx: &Ctx,
        req: SyncGovernanceRequest,
    ) -> AdcpResult<SyncGovernanceSuccess> {
        let mut items = Vec::with_capacity(req.accounts.len());
        for a in &req.accounts {
            let id = ctx.new_id("gov");
            store::put(ctx, GOVERNANCE, &id, a).await?;
            items.push(SyncGovernanceSuccessAccountsItem::new(
                a.account.clone(),
                SyncGovernanceSuccessAccountsItemStatus::Synced,
            ));
        }
        Ok(SyncGovernanceSuccess::new(items))
    }

    // --- compliance test controller -------------------------------------------------------

    async fn seed_product(&self, ctx: &Ctx, params: ScenarioParams) -> AdcpResult<ControllerReply> {
        let id = params
            .product_id
            .clone()
            .ok_or_else(|| AdcpError::new("INVALID_PARAMS", "seed_product needs `product_id`"))?;
        let mut fields = Value::Object(params.fixture.unwrap_or_default());
        let defaults_pricing = fields.get("pricing_options").is_none();
        fields["product_id"] = json!(id);
        let mut product = catalog::product(ctx.agent_url(), &fields)?;
        if defaults_pricing {
            // Marked so that the first seeded pricing option replaces the baseline one.
            product
                .extra
                .insert("x-seeded-default-pricing".into(), json!(true));
        }
        store::put(ctx, PRODUCTS, &id, &product).await?;
        Ok(ControllerReply::Seeded)
    }

    async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let (Some(pid), Some(oid)) = (params.product_id.clone(), params.pricing_option_id.clone())
        else {
            return Err(AdcpError::new(
                "INVALID_PARAMS",
                "seed_pricing_option needs `product_id` and `pricing_option_id`",
            ));
        };
        let mut option = Value::Object(params.fixture.unwrap_or_default());
        option["pricing_option_id"] = json!(oid);
        let option: PricingOption = decode(option)
            .map_err(|e| AdcpError::new("INVALID_PARAMS", format!("fixture: {e}")))?;
        let mut product = match self.product(ctx, &pid).await? {
            Some(p) => p,
            None => catalog::product(ctx.agent_url(), &json!({"product_id": pid}))?,
        };
        if product.extra.remove("x-seeded-default-pricing").is_some() {
            product.pricing_options.clear();
        }
        product.pricing_options.retain(|p| terms(p).id != oid);
        product.pricing_options.push(option);
        store::put(ctx, PRODUCTS, &pid, &product).await?;
        Ok(ControllerReply::Seeded)
    }

    async fn seed_creative(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params
            .creative_id
            .clone()
            .ok_or_else(|| AdcpError::new("INVALID_PARAMS", "seed_creative needs `creative_id`"))?;
        let fixture = Value::Object(params.fixture.unwrap_or_default());
        let format = fixture["format_id"]["id"]
            .as_str()
            .unwrap_or("display_300x250")
            .to_owned();
        let at = now();
        let creative = Creative {
            creative_id: id.clone(),
            name: fixture["name"].as_str().unwrap_or(&id).to_owned(),
            format_id: catalog::format_id(ctx.agent_url(), &format),
            status: fixture["status"]
                .as_str()
                .filter(|s| CREATIVE.knows(s))
                .unwrap_or("approved")
                .to_owned(),
            created: at,
            updated: at,
            body: fixture,
        };
        store::put(ctx, CREATIVES, &id, &creative).await?;
        Ok(ControllerReply::Seeded)
    }

    async fn seed_media_buy(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params.media_buy_id.clone().ok_or_else(|| {
            AdcpError::new("INVALID_PARAMS", "seed_media_buy needs `media_buy_id`")
        })?;
        let f = Value::Object(params.fixture.unwrap_or_default());
        let at = now();
        let packages = f["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| PackageState {
                package_id: p["package_id"]
                    .as_str()
                    .map_or_else(|| format!("{id}_pkg_{i}"), str::to_owned),
                product_id: p["product_id"]
                    .as_str()
                    .unwrap_or("test-product")
                    .to_owned(),
                pricing_option_id: p["pricing_option_id"]
                    .as_str()
                    .unwrap_or("default")
                    .to_owned(),
                pricing_model: p["pricing_model"]
                    .as_str()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(PricingModel::Cpm),
                rate: p["bid_price"].as_f64().unwrap_or(5.0),
                budget: p["budget"].as_f64().unwrap_or(1000.0),
                bid_price: p["bid_price"].as_f64(),
                paused: false,
                canceled: false,
                targeting_overlay: None,
                creative_ids: Vec::new(),
                impressions: 0.0,
                clicks: 0.0,
                spend: 0.0,
            })
            .collect();
        let buy = MediaBuy {
            owner: ctx.scope().to_owned(),
            media_buy_id: id.clone(),
            status: f["status"]
                .as_str()
                .filter(|s| MEDIA_BUY.knows(s))
                .unwrap_or("active")
                .to_owned(),
            currency: f["currency"].as_str().unwrap_or("USD").to_owned(),
            start_time: f["start_time"]
                .as_str()
                .map_or_else(|| rfc3339(at), str::to_owned),
            end_time: f["end_time"]
                .as_str()
                .map_or_else(|| rfc3339(at + time::Duration::days(30)), str::to_owned),
            created_at: at,
            updated_at: at,
            revision: 1,
            packages,
        };
        store::put(ctx, MEDIA_BUYS, &id, &buy).await?;
        Ok(ControllerReply::Seeded)
    }

    async fn seed_creative_format(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params.format_id.clone().ok_or_else(|| {
            AdcpError::new("INVALID_PARAMS", "seed_creative_format needs `format_id`")
        })?;
        let fixture = Value::Object(params.fixture.unwrap_or_default());
        let name = fixture["name"].as_str().unwrap_or(&id).to_owned();
        let mut format = Format::new(catalog::format_id(ctx.agent_url(), &id), name);
        format.description = fixture["description"].as_str().map(str::to_owned);
        store::put(ctx, FORMATS, &id, &format).await?;
        Ok(ControllerReply::Seeded)
    }

    async fn seed_plan(&self, ctx: &Ctx, params: ScenarioParams) -> AdcpResult<ControllerReply> {
        let id = params
            .plan_id
            .clone()
            .ok_or_else(|| AdcpError::new("INVALID_PARAMS", "seed_plan needs `plan_id`"))?;
        let fixture = Value::Object(params.fixture.unwrap_or_default());
        store::put(ctx, PLANS, &id, &fixture).await?;
        Ok(ControllerReply::Seeded)
    }

    async fn force_media_buy_status(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params.media_buy_id.clone().unwrap_or_default();
        let to = params.status.unwrap_or_default();
        let missing = || controller_not_found("media buy", &id);
        store::modify(ctx, MEDIA_BUYS, &id, missing, |b: &mut MediaBuy| {
            let previous = b.status.clone();
            if !MEDIA_BUY.allows(&previous, &to) {
                return Err(AdcpError::new(
                    "INVALID_TRANSITION",
                    format!("a media buy cannot go from `{previous}` to `{to}`"),
                )
                .with_details(json!({"current_state": previous})));
            }
            transition(b, &to)?;
            Ok(ControllerReply::Transition {
                previous,
                current: to.clone(),
            })
        })
        .await
    }

    async fn force_creative_status(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params.creative_id.clone().unwrap_or_default();
        let to = params.status.unwrap_or_default();
        let missing = || controller_not_found("creative", &id);
        store::modify(ctx, CREATIVES, &id, missing, |c: &mut Creative| {
            let previous = c.status.clone();
            if !CREATIVE.allows(&previous, &to) {
                return Err(AdcpError::new(
                    "INVALID_TRANSITION",
                    format!("a creative cannot go from `{previous}` to `{to}`"),
                )
                .with_details(json!({"current_state": previous})));
            }
            c.status = to.clone();
            c.updated = now();
            Ok(ControllerReply::Transition {
                previous,
                current: to.clone(),
            })
        })
        .await
    }

    async fn simulate_delivery(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params.media_buy_id.clone().unwrap_or_default();
        let imps = params.impressions.unwrap_or(0) as f64;
        let clicks = params.clicks.unwrap_or(0) as f64;
        let missing = || controller_not_found("media buy", &id);
        store::modify(ctx, MEDIA_BUYS, &id, missing, |b: &mut MediaBuy| {
            let live: Vec<&mut PackageState> =
                b.packages.iter_mut().filter(|p| !p.canceled).collect();
            let n = live.len().max(1) as f64;
            let spend = params
                .reported_spend
                .as_ref()
                .map_or_else(|| None, |r| Some(r.amount));
            for p in live {
                p.impressions += imps / n;
                p.clicks += clicks / n;
                p.spend += spend.unwrap_or(imps / n / 1000.0 * p.rate * n) / n;
            }
            let (ti, tc, ts) = b.packages.iter().fold((0.0, 0.0, 0.0), |(i, c, s), p| {
                (i + p.impressions, c + p.clicks, s + p.spend)
            });
            let mut simulated = json!({"impressions": imps, "clicks": clicks});
            if let Some(r) = &params.reported_spend {
                simulated["reported_spend"] = json!({"amount": r.amount, "currency": r.currency});
            }
            if let Some(c) = params.conversions {
                simulated["conversions"] = json!(c);
            }
            Ok(ControllerReply::Simulated {
                simulated,
                cumulative: Some(json!({"impressions": ti, "clicks": tc, "spend": ts})),
            })
        })
        .await
    }

    async fn simulate_budget_spend(
        &self,
        ctx: &Ctx,
        params: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = params.media_buy_id.clone().unwrap_or_default();
        let pct = params.spend_percentage.unwrap_or(0.0);
        let missing = || controller_not_found("media buy", &id);
        store::modify(ctx, MEDIA_BUYS, &id, missing, |b: &mut MediaBuy| {
            let budget = b.total_budget();
            for p in b.packages.iter_mut().filter(|p| !p.canceled) {
                p.spend = p.budget * pct / 100.0;
            }
            Ok(ControllerReply::Simulated {
                simulated: json!({"spend_percentage": pct, "computed_spend": budget * pct / 100.0, "budget": budget}),
                cumulative: None,
            })
        })
        .await
    }
}
