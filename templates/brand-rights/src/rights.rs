//! Rights: searched by the uses a buyer needs, acquired on a priced option within the
//! right's terms, and held as a grant the buyer can change over its life.

use adcp_runtime::governance::Purchase;
use adcp_runtime::json::{answer, object};
use adcp_runtime::time::{self, Date};
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, Page, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::catalog::{self, PriceOption, Right};

/// The grants of an account, by id.
const GRANTS: Collection<Grant> = Collection::new("rights_grants");

/// A right licensed to a buyer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Grant {
    pub(crate) grant_id: String,
    pub(crate) rights_id: String,
    pub(crate) brand_id: String,
    pub(crate) pricing_option_id: String,
    pub(crate) uses: Vec<String>,
    pub(crate) countries: Vec<String>,
    pub(crate) start_date: String,
    pub(crate) end_date: String,
    pub(crate) impression_cap: Option<i64>,
    pub(crate) amount: f64,
    pub(crate) paused: bool,
    /// Where the brand tells the buyer of a revocation (its credentials are kept, never shown).
    pub(crate) revocation_webhook: Value,
    /// The generation provider's key for this grant.
    pub(crate) rights_key: String,
    pub(crate) buyer: String,
    pub(crate) acquired_at: String,
}

fn uses_of(uses: &[RightUse]) -> Vec<String> {
    uses.iter().map(ToString::to_string).collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// How well a right answers a search: the share of the uses asked for that it covers, then
/// the words of the query its name and description share, then whether it is the buyer's own
/// brand's.
fn score(r: &Right, uses: &[String], query: &[String], buyer: Option<&str>) -> (f64, Vec<String>) {
    let covered: Vec<&String> = uses
        .iter()
        .filter(|u| r.uses.contains(&u.as_str()))
        .collect();
    let mut reasons = Vec::new();
    if !covered.is_empty() {
        let names: Vec<&str> = covered.iter().map(|u| u.as_str()).collect();
        reasons.push(format!("licenses {}", names.join(", ")));
    }
    let text = words(&format!("{} {}", r.name, r.description));
    let shared = query.iter().filter(|w| text.contains(w)).count();
    if shared > 0 {
        reasons.push(format!("{shared} words of the query in its description"));
    }
    let own = buyer.is_some_and(|d| {
        catalog::brand(r.brand_id).is_some_and(|b| b.house_domain.eq_ignore_ascii_case(d))
    });
    if own {
        reasons.push("the buyer's own brand".into());
    }
    let use_share = covered.len() as f64 / uses.len().max(1) as f64;
    let words_share = shared as f64 / query.len().max(1) as f64;
    let score = 0.7 * use_share + 0.2 * words_share + if own { 0.1 } else { 0.0 };
    (score.clamp(0.0, 1.0), reasons)
}

fn available_in(r: &Right, countries: &[String]) -> Vec<String> {
    countries
        .iter()
        .filter(|c| !r.countries.is_empty() && !r.countries.contains(&c.as_str()))
        .cloned()
        .collect()
}

fn wire_right(r: &Right, score: f64, reasons: &[String]) -> Value {
    let mut w = json!({"rights_id": r.id, "brand_id": r.brand_id, "name": r.name,
                       "description": r.description, "right_type": r.right_type,
                       "available_uses": r.uses, "match_score": score, "match_reasons": reasons,
                       "pricing_options": r.options.iter().map(PriceOption::wire).collect::<Vec<_>>(),
                       "exclusivity_status": {"available": false}});
    if !r.countries.is_empty() {
        w["countries"] = json!(r.countries);
    }
    w
}

/// The rights covering any of the uses asked for, best first; a brand filter the agent does
/// not represent filters nothing. Rights unavailable in the countries asked for are
/// excluded, with why, when the buyer asks to see them.
pub(crate) async fn get(ctx: &Ctx, req: &GetRightsRequest) -> AdcpResult<GetRightsResponse> {
    let uses = uses_of(&req.uses);
    let query = words(&req.query);
    let buyer = req.buyer_brand.as_ref().map(|b| b.domain.as_str());
    let brand_filter = req
        .brand_id
        .as_deref()
        .filter(|b| catalog::brand(b).is_some());
    let right_type = req.right_type.as_ref().map(ToString::to_string);
    let countries = req.countries.clone().unwrap_or_default();
    let mut found = Vec::new();
    let mut excluded = Vec::new();
    for r in catalog::RIGHTS {
        if brand_filter.is_some_and(|b| b != r.brand_id)
            || right_type.as_deref().is_some_and(|t| t != r.right_type)
            || !uses.iter().any(|u| r.uses.contains(&u.as_str()))
        {
            continue;
        }
        let missing = available_in(r, &countries);
        if !missing.is_empty() {
            excluded.push(json!({"brand_id": r.brand_id, "name": r.name,
                "reason": format!("not licensable in {}", missing.join(", ")),
                "suggestions": [format!("available in {}", r.countries.join(", "))]}));
            continue;
        }
        let (s, reasons) = score(r, &uses, &query, buyer);
        found.push((s, r, reasons));
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(b.1.id)));
    let all: Vec<Value> = found
        .into_iter()
        .map(|(s, r, reasons)| wire_right(r, (s * 100.0).round() / 100.0, &reasons))
        .collect();
    let (page, pagination) = Page::take(req.pagination.as_ref(), all)?;
    let mut out = json!({"rights": page, "pagination": pagination});
    if req.include_excluded == Some(true) {
        out["excluded"] = json!(excluded);
    }
    let _ = ctx;
    answer(out, "rights")
}

fn day(field: &str, d: &str) -> AdcpResult<Date> {
    time::day(field, d)
}

/// What a licence on `option` commits: a flat fee as priced; a CPM licence on the campaign's
/// estimated impressions, else on the most the option covers (its cap); `None` when neither
/// is known.
fn commitment(option: &PriceOption, estimated: Option<i64>) -> Option<f64> {
    match option.model {
        "cpm" => estimated
            .or(option.impression_cap)
            .map(|n| option.price * n as f64 / 1000.0),
        _ => Some(option.price),
    }
}

fn grant_not_found() -> AdcpError {
    AdcpError::not_found(codes::REFERENCE_NOT_FOUND, "rights_id", "rights grant")
}

/// The wire terms, credentials and constraint of a grant.
fn grant_answer(ctx: &Ctx, g: &Grant, r: &Right, option: &PriceOption) -> Map<String, Value> {
    let mut terms = json!({"pricing_option_id": g.pricing_option_id, "amount": g.amount,
                           "currency": option.currency, "uses": g.uses,
                           "start_date": g.start_date, "end_date": g.end_date});
    if let Some(p) = option.period {
        terms["period"] = json!(p);
    }
    if let Some(c) = g.impression_cap {
        terms["impression_cap"] = json!(c);
    }
    let valid_until = format!("{}T23:59:59Z", g.end_date);
    let mut constraint = json!({"rights_id": g.grant_id,
        "rights_agent": {"url": ctx.agent_url(), "id": g.brand_id},
        "valid_from": format!("{}T00:00:00Z", g.start_date), "valid_until": valid_until,
        "uses": g.uses, "right_type": r.right_type, "approval_status": "approved"});
    if !g.countries.is_empty() {
        constraint["countries"] = json!(g.countries);
    }
    if let Some(c) = g.impression_cap {
        constraint["impression_cap"] = json!(c);
    }
    let mut out = Map::new();
    out.insert("rights_id".into(), json!(g.grant_id));
    out.insert("terms".into(), terms);
    // Paused, the grant's generation key is withheld.
    let credentials = if g.paused {
        json!([])
    } else {
        json!([{"provider": "genstudio.example", "rights_key": g.rights_key, "uses": g.uses,
                "expires_at": valid_until}])
    };
    out.insert("generation_credentials".into(), credentials);
    out.insert("rights_constraint".into(), constraint);
    out
}

/// Licenses a right to the buyer: the option must be the right's and cover the campaign's
/// uses, the campaign must fall within the right's availability and countries, and the
/// buyer's plan (when this agent keeps one for the brand) must allow what it commits.
pub(crate) async fn acquire(
    ctx: &Ctx,
    req: &AcquireRightsRequest,
) -> AdcpResult<AcquireRightsResponse> {
    let Some(r) = catalog::right(&req.rights_id) else {
        return Err(AdcpError::not_found(
            codes::REFERENCE_NOT_FOUND,
            "rights_id",
            "right",
        ));
    };
    let Some(option) = r.options.iter().find(|o| o.id == req.pricing_option_id) else {
        return Err(AdcpError::validation(
            "pricing_option_id",
            format!("{} has no pricing option {}", r.id, req.pricing_option_id),
        ));
    };
    let uses = uses_of(&req.campaign.uses);
    let beyond: Vec<&String> = uses
        .iter()
        .filter(|u| !option.uses.contains(&u.as_str()))
        .collect();
    if !beyond.is_empty() {
        let names: Vec<&str> = beyond.iter().map(|u| u.as_str()).collect();
        return Err(AdcpError::validation(
            "campaign.uses",
            format!("{} does not license {}", option.id, names.join(", ")),
        ));
    }
    let countries = req.campaign.countries.clone().unwrap_or_default();
    let missing = available_in(r, &countries);
    if !missing.is_empty() {
        return Err(AdcpError::validation(
            "campaign.countries",
            format!("{} is not licensable in {}", r.id, missing.join(", ")),
        ));
    }
    let (from, until) = (
        day("available_from", r.available_from)?,
        day("available_until", r.available_until)?,
    );
    let start = match &req.campaign.start_date {
        Some(s) => day("campaign.start_date", s)?,
        None => ctx.now().date().max(from),
    };
    let end = match &req.campaign.end_date {
        Some(e) => day("campaign.end_date", e)?,
        None => until,
    };
    if end < start {
        return Err(AdcpError::validation(
            "campaign.end_date",
            "the campaign ends before it starts",
        ));
    }
    if start < from || end > until {
        let field = if start < from {
            "campaign.start_date"
        } else {
            "campaign.end_date"
        };
        return Err(AdcpError::validation(
            field,
            format!(
                "{} is licensable from {} to {}",
                r.id, r.available_from, r.available_until
            ),
        ));
    }
    let amount = commitment(option, req.campaign.estimated_impressions);
    // The buyer's plan decides what this commits before anything is granted.
    let mut payload = object(req);
    payload.remove("revocation_webhook");
    let purchase = Purchase {
        purchase_type: "rights_license".into(),
        tool: "acquire_rights".into(),
        total: amount,
        start: Some(format!("{start}T00:00:00Z")),
        end: Some(format!("{end}T23:59:59Z")),
        payload,
    };
    let decision = ctx.govern(&purchase).await?;
    let mut webhook = serde_json::to_value(&req.revocation_webhook)
        .map_err(|e| AdcpError::internal(e.to_string()))?;
    if let Some(m) = webhook.as_object_mut() {
        m.remove("token");
    }
    let g = Grant {
        grant_id: ctx.new_id("grant"),
        rights_id: r.id.into(),
        brand_id: r.brand_id.into(),
        pricing_option_id: option.id.into(),
        uses,
        countries,
        start_date: start.to_string(),
        end_date: end.to_string(),
        impression_cap: req.campaign.estimated_impressions.or(option.impression_cap),
        amount: amount.unwrap_or(option.price),
        paused: false,
        revocation_webhook: webhook,
        rights_key: ctx.new_id("rk"),
        buyer: req.buyer.domain.clone(),
        acquired_at: time::rfc3339(ctx.now()),
    };
    ctx.state().put(GRANTS, &g.grant_id, &g).await?;
    if let Some(d) = &decision {
        ctx.purchased(d, &purchase, &g.grant_id).await;
    }
    let mut out = grant_answer(ctx, &g, r, option);
    out.insert("status".into(), json!("acquired"));
    out.insert("brand_id".into(), json!(g.brand_id));
    if let Some(text) = r.disclosure {
        out.insert("disclosure".into(), json!({"required": true, "text": text}));
    }
    answer(Value::Object(out), "an acquisition")
}

/// Changes a grant: its end date (within the right's availability), impression cap, pricing
/// option (one of the right's covering the grant's uses) or pause. Re-issues its credentials.
pub(crate) async fn update(
    ctx: &Ctx,
    req: &UpdateRightsRequest,
) -> AdcpResult<UpdateRightsResponse> {
    let mut g: Grant = ctx
        .state()
        .get(GRANTS, &req.rights_id)
        .await?
        .ok_or_else(grant_not_found)?;
    let r = catalog::right(&g.rights_id)
        .ok_or_else(|| AdcpError::internal("a grant of a right no longer offered"))?;
    if let Some(id) = &req.pricing_option_id {
        let Some(o) = r.options.iter().find(|o| o.id == id) else {
            return Err(AdcpError::validation(
                "pricing_option_id",
                format!("{} has no pricing option {id}", r.id),
            ));
        };
        if let Some(u) = g.uses.iter().find(|u| !o.uses.contains(&u.as_str())) {
            return Err(AdcpError::validation(
                "pricing_option_id",
                format!("{id} does not license {u}, which the grant uses"),
            ));
        }
        g.pricing_option_id = id.clone();
    }
    if let Some(e) = &req.end_date {
        let end = day("end_date", e)?;
        let start = day("start_date", &g.start_date)?;
        if end < start || end > day("available_until", r.available_until)? {
            return Err(AdcpError::validation(
                "end_date",
                format!(
                    "the grant runs from {} and the right is licensable to {}",
                    g.start_date, r.available_until
                ),
            ));
        }
        g.end_date = end.to_string();
    }
    if let Some(c) = req.impression_cap {
        if c <= 0 {
            return Err(AdcpError::validation(
                "impression_cap",
                "an impression cap is positive",
            ));
        }
        g.impression_cap = Some(c);
    }
    let pause_changed = req.paused.is_some_and(|p| p != g.paused);
    if let Some(p) = req.paused {
        g.paused = p;
    }
    let option = r
        .options
        .iter()
        .find(|o| o.id == g.pricing_option_id)
        .ok_or_else(|| AdcpError::internal("a grant on an option no longer offered"))?;
    g.amount = commitment(option, g.impression_cap).unwrap_or(option.price);
    // New terms, new key.
    g.rights_key = ctx.new_id("rk");
    ctx.state().put(GRANTS, &g.grant_id, &g).await?;
    let mut out = grant_answer(ctx, &g, r, option);
    if pause_changed {
        out.insert("paused".into(), json!(g.paused));
    }
    answer(Value::Object(out), "an update")
}
