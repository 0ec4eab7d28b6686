//! Spend authority: the buyer's campaign plans, and the decision on each action a seller or
//! the buyer's own agents check against one.
//!
//! A plan (`sync_plans`) sets a budget, a flight and policies. A check (`check_governance`)
//! of a purchase or a modification weighs the amount it commits against what the plan has
//! left (its total less what reported outcomes committed) and its flight against the plan's;
//! a modification moving more than the plan's reallocation threshold, or any action on a
//! plan requiring human review, is for a person to approve; the plan's `must` policies
//! become conditions, its `should` ones warnings. A check of delivery
//! weighs cumulative spend, pacing and channel concentration. Each check, and each outcome a
//! seller reports (`report_plan_outcome`), is kept in the store: the audit log
//! (`get_plan_audit_logs`) reads them, after a restart as before.
//!
//! Everything is kept in the caller's account: a plan is never seen by another caller.

use adcp_runtime::signing::governance::Attestation;

use crate::review::{self, Escalation, Review};
use adcp_runtime::time::{self, Duration, OffsetDateTime};
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The plans, by id.
pub(crate) const PLANS: Collection<Kept> = Collection::new("plans");
/// The checks made, by id.
pub(crate) const CHECKS: Collection<Check> = Collection::new("checks");
/// The outcomes reported, by id.
pub(crate) const OUTCOMES: Collection<Outcome> = Collection::new("outcomes");

/// How long an approval holds.
const APPROVAL_LIFE: Duration = Duration::HOUR;

/// How often a seller reports delivery on a governed action.
const DELIVERY_CADENCE: Duration = Duration::DAY;

/// How soon it reports again once delivery drifts: the monitor re-evaluates sooner.
const DRIFT_RECHECK: Duration = Duration::hours(6);

/// Drift from an even pace past this share of the amount is flagged, when the plan sets no
/// reallocation threshold.
const DRIFT_SHARE: f64 = 0.1;

/// A channel taking this share of delivery or more is concentrated.
const CONCENTRATION_PCT: f64 = 60.0;

/// A plan as kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Kept {
    pub(crate) plan: SyncPlansRequestPlansItem,
    /// Bumped by every sync that changes it.
    pub(crate) version: i64,
    /// What reported outcomes committed.
    pub(crate) committed: f64,
}

/// A check, as the audit log keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Check {
    pub(crate) check_id: String,
    pub(crate) plan_id: String,
    pub(crate) plan_version: i64,
    pub(crate) caller: String,
    pub(crate) tool: Option<String>,
    pub(crate) phase: GovernancePhase,
    pub(crate) status: GovernanceDecision,
    pub(crate) explanation: String,
    pub(crate) findings: Vec<CheckGovernanceResponseFindingsItem>,
    /// The amount checked (a purchase or a modification).
    pub(crate) amount: Option<f64>,
    /// The context issued with an approval, which the outcome names.
    pub(crate) governance_context: Option<String>,
    /// Whether it waits for a person (above the reallocation threshold).
    pub(crate) escalated: bool,
    /// The reviewer whose approval it carries.
    #[serde(default)]
    pub(crate) reviewed_by: Option<String>,
    /// The action's flight (`start`, `end`), as checked.
    #[serde(default)]
    pub(crate) flight: Option<(String, String)>,
    /// When the seller was asked to report delivery next.
    #[serde(default)]
    pub(crate) next_check: Option<String>,
    /// A seller's check of what it executes (planned delivery, delivery), not an
    /// orchestrator's of what it intends (a payload).
    #[serde(default)]
    pub(crate) execution: bool,
    pub(crate) at: String,
}

/// An outcome a seller reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) outcome_id: String,
    pub(crate) plan_id: String,
    pub(crate) governance_context: String,
    pub(crate) outcome: OutcomeType,
    pub(crate) committed: f64,
    pub(crate) seller_reference: Option<String>,
    pub(crate) status: ReportPlanOutcomeResponseStatus,
    pub(crate) at: String,
}

fn plan_not_found(field: &str) -> AdcpError {
    AdcpError::not_found("PLAN_NOT_FOUND", field, "plan")
        .with_suggestion("sync the plan with sync_plans first")
}

/// A plan of the caller, or `PLAN_NOT_FOUND` on `field`.
async fn plan(ctx: &Ctx, id: &str, field: &str) -> AdcpResult<Kept> {
    ctx.state()
        .get(PLANS, id)
        .await?
        .ok_or_else(|| plan_not_found(field))
}

/// Keeps `plan` (new, or a new version of a changed one); answers its version.
pub(crate) async fn keep(ctx: &Ctx, plan: SyncPlansRequestPlansItem) -> AdcpResult<i64> {
    let id = plan.plan_id.clone();
    ctx.state()
        .entry(PLANS, &id, |slot| {
            let version = match slot.as_mut() {
                Some(k) if k.plan == plan => k.version,
                Some(k) => {
                    k.plan = plan.clone();
                    k.version += 1;
                    k.version
                }
                None => {
                    *slot = Some(Kept {
                        plan: plan.clone(),
                        version: 1,
                        committed: 0.0,
                    });
                    1
                }
            };
            Ok(version)
        })
        .await
}

pub(crate) async fn sync_plans(ctx: &Ctx, req: SyncPlansRequest) -> AdcpResult<SyncPlansResponse> {
    let mut out = Vec::with_capacity(req.plans.len());
    for (i, p) in req.plans.into_iter().enumerate() {
        let at = |f: &str| format!("plans[{i}].{f}");
        if p.budget.total < 0.0 {
            return Err(AdcpError::invalid_request(
                at("budget.total"),
                "a plan's budget is not negative",
            ));
        }
        let (start, end) = (
            time::parse(&at("flight.start"), &p.flight.start)?,
            time::parse(&at("flight.end"), &p.flight.end)?,
        );
        if end <= start {
            return Err(AdcpError::invalid_request(
                at("flight.end"),
                "the flight ends after it starts",
            ));
        }
        let id = p.plan_id.clone();
        let version = keep(ctx, p).await?;
        out.push(SyncPlansResponsePlansItem::new(
            id,
            SyncPlansResponsePlansItemStatus::Active,
            version,
        ));
    }
    Ok(SyncPlansResponse::new(out))
}

/// A money amount: a number, or `{amount}`.
fn amount(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.get("amount").and_then(Value::as_f64))
}

/// What an action commits: its `total_budget`, else the sum of its packages' budgets.
fn committed_by(payload: &Map<String, Value>) -> Option<f64> {
    if let Some(t) = payload.get("total_budget").and_then(amount) {
        return Some(t);
    }
    let packages = payload.get("packages")?.as_array()?;
    let budgets: Vec<f64> = packages
        .iter()
        .filter_map(|p| p.get("budget").and_then(amount))
        .collect();
    (!budgets.is_empty()).then(|| budgets.iter().sum())
}

fn finding(
    category: &str,
    severity: EscalationSeverity,
    why: String,
) -> CheckGovernanceResponseFindingsItem {
    CheckGovernanceResponseFindingsItem::new(category, why, severity)
}

/// The decision on one check, before it is kept.
struct Decision {
    status: GovernanceDecision,
    findings: Vec<CheckGovernanceResponseFindingsItem>,
    conditions: Vec<CheckGovernanceResponseConditionsItem>,
    amount: Option<f64>,
    escalated: bool,
    /// When the seller should report delivery next (a delivery check's).
    next_check: Option<Duration>,
}

/// Weighs a purchase or a modification against the plan. `before`: what the action
/// committed when last checked (a modification's), whose change is a reallocation.
fn purchase(
    k: &Kept,
    payload: &Map<String, Value>,
    before: Option<f64>,
    counted: f64,
) -> AdcpResult<Decision> {
    let budget = &k.plan.budget;
    let mut findings = Vec::new();
    let mut escalated = false;
    let amount = committed_by(payload);
    let currency = &budget.currency;
    match amount {
        None => findings.push(finding(
            "budget_authority",
            EscalationSeverity::Info,
            "the action names no budget, so none is weighed against the plan".into(),
        )),
        Some(a) => {
            // What the plan has left, this action's own committed amount given back (a
            // modification's new total replaces it).
            let left = budget.total - k.committed + counted;
            if a > left {
                findings.push(finding(
                    "budget_authority",
                    EscalationSeverity::Critical,
                    format!(
                        "{a} {currency} is more than the {left} {currency} the plan has left of its {} {currency}",
                        budget.total
                    ),
                ));
            }
            // Moving spend on an action already approved is a reallocation: above the plan's
            // threshold, a person approves it.
            let unlimited = budget.reallocation_unlimited == Some(true);
            if let (false, Some(t), Some(b)) = (unlimited, budget.reallocation_threshold, before)
                && (a - b).abs() > t
            {
                escalated = true;
                findings.push(finding(
                    "human_review",
                    EscalationSeverity::Critical,
                    format!(
                        "moving {} {currency} ({b} to {a}) is above the {t} {currency} the plan reallocates without a person",
                        (a - b).abs()
                    ),
                ));
            }
        }
    }
    if k.plan.human_review_required == Some(true) && !escalated {
        escalated = true;
        findings.push(finding(
            "human_review",
            EscalationSeverity::Critical,
            "the plan has every action approved by a person".into(),
        ));
    }
    // The flight the action runs in, against the plan's.
    let (start, end) = (
        time::parse("flight.start", &k.plan.flight.start)?,
        time::parse("flight.end", &k.plan.flight.end)?,
    );
    for key in ["start_time", "end_time"] {
        let Some(t) = payload.get(key).and_then(Value::as_str) else {
            continue;
        };
        if let Ok(t) = time::parse(key, t)
            && (t < start || t > end)
        {
            findings.push(finding(
                "flight",
                EscalationSeverity::Critical,
                format!(
                    "its {key} {} is outside the plan's flight ({} to {})",
                    time::rfc3339(t),
                    k.plan.flight.start,
                    k.plan.flight.end
                ),
            ));
        }
    }
    Ok(decide(k, findings, amount, escalated))
}

/// What a delivery check weighs spend against: the governed action (its approved amount and
/// flight) when the check names its approval, else the whole plan.
struct Pace {
    total: f64,
    start: OffsetDateTime,
    end: OffsetDateTime,
}

impl Pace {
    fn of(k: &Kept, action: Option<&Check>) -> AdcpResult<Pace> {
        let flight = action
            .and_then(|c| c.flight.clone())
            .unwrap_or_else(|| (k.plan.flight.start.clone(), k.plan.flight.end.clone()));
        Ok(Pace {
            total: action.and_then(|c| c.amount).unwrap_or(k.plan.budget.total),
            start: time::parse("flight.start", &flight.0)?,
            end: time::parse("flight.end", &flight.1)?,
        })
    }

    /// What should have been spent by `at`, delivering evenly over the flight.
    fn expected(&self, at: OffsetDateTime) -> f64 {
        let length = (self.end - self.start).as_seconds_f64();
        if length <= 0.0 {
            return self.total;
        }
        let elapsed = (at - self.start).as_seconds_f64().clamp(0.0, length);
        self.total * elapsed / length
    }
}

/// Weighs delivery against the plan: cumulative spend against the plan and against the pace
/// of the flight, the seller's own pacing, channel concentration, and whether the seller
/// reported when it was due. Drift asks for the next check sooner: the monitor re-evaluates.
fn delivery(
    k: &Kept,
    metrics: Option<&CheckGovernanceRequestDeliveryMetrics>,
    action: Option<&Check>,
    last: Option<&Check>,
    now: OffsetDateTime,
) -> AdcpResult<Decision> {
    let mut findings = Vec::new();
    if let Some(due) = last.and_then(|c| c.next_check.as_deref())
        && time::parse("next_check", due).is_ok_and(|d| d < now)
    {
        findings.push(finding(
            "delivery",
            EscalationSeverity::Warning,
            format!("this delivery check was due at {due}: report on the cadence asked"),
        ));
    }
    let Some(m) = metrics else {
        findings.push(finding(
            "delivery",
            EscalationSeverity::Warning,
            "a delivery check without delivery_metrics weighs nothing".into(),
        ));
        return Ok(decide(k, findings, None, false));
    };
    let currency = &k.plan.budget.currency;
    let spent = m.cumulative_spend.or(m.spend);
    if let Some(spent) = spent
        && spent > k.plan.budget.total
    {
        findings.push(finding(
            "budget_authority",
            EscalationSeverity::Critical,
            format!(
                "{spent} {currency} spent is over the plan's {} {currency}",
                k.plan.budget.total
            ),
        ));
    }
    // Spend against the flight's pace, at the end of the period reported.
    if let Some(spent) = spent {
        let pace = Pace::of(k, action)?;
        let at = time::parse(
            "delivery_metrics.reporting_period.end",
            &m.reporting_period.end,
        )?;
        let expected = pace.expected(at);
        let threshold = k
            .plan
            .budget
            .reallocation_threshold
            .unwrap_or(pace.total * DRIFT_SHARE);
        let drift = spent - expected;
        if drift.abs() > threshold {
            let (way, of) = if drift > 0.0 {
                ("ahead of", "over")
            } else {
                ("behind", "under")
            };
            let mut f = finding(
                "budget_drift",
                EscalationSeverity::Warning,
                format!(
                    "{spent:.2} {currency} spent by {} is {:.2} {currency} {of} the {expected:.2} {currency} an even pace expects ({way} the flight, past the {threshold} {currency} threshold): re-evaluate the allocation",
                    m.reporting_period.end,
                    drift.abs()
                ),
            );
            let details = json!({"expected_spend": expected, "actual_spend": spent,
                                 "drift": drift, "threshold": threshold});
            f.details = details.as_object().cloned();
            findings.push(f);
        }
    }
    if let Some(p) = &m.pacing {
        let p = p.to_string();
        if p != "on_track" {
            findings.push(finding(
                "pacing",
                EscalationSeverity::Warning,
                format!("the seller reports pacing {p}: re-evaluate the plan's allocation"),
            ));
        }
    }
    let shares = m
        .channel_distribution
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok());
    if let Some(Value::Object(shares)) = shares {
        for (channel, share) in &shares {
            if let Some(s) = share.as_f64()
                && s >= CONCENTRATION_PCT
            {
                findings.push(finding(
                    "channel_concentration",
                    EscalationSeverity::Warning,
                    format!("{channel} takes {s}% of delivery (drift past {CONCENTRATION_PCT}%)"),
                ));
            }
        }
    }
    let drifting = findings
        .iter()
        .any(|f| f.severity != EscalationSeverity::Info);
    let mut d = decide(k, findings, None, false);
    d.next_check = Some(if drifting {
        DRIFT_RECHECK
    } else {
        DELIVERY_CADENCE
    });
    Ok(d)
}

/// Denied on a critical finding, else on conditions if any, else approved.
fn status_of(
    findings: &[CheckGovernanceResponseFindingsItem],
    conditions: &[CheckGovernanceResponseConditionsItem],
) -> GovernanceDecision {
    if findings
        .iter()
        .any(|f| f.severity == EscalationSeverity::Critical)
    {
        GovernanceDecision::Denied
    } else if conditions.is_empty() {
        GovernanceDecision::Approved
    } else {
        GovernanceDecision::Conditions
    }
}

impl Decision {
    /// A person approved what the plan's limits escalated: the approval stands in for the
    /// limit, and its conditions join the plan's.
    fn reviewed(&mut self, reviewer: &str, at: &str, conditions: &[(String, String)]) {
        self.findings.retain(|f| f.category_id != "human_review");
        self.findings.push(finding(
            "human_review",
            EscalationSeverity::Info,
            format!("approved by {reviewer} at {at}"),
        ));
        for (field, requirement) in conditions {
            self.conditions
                .push(CheckGovernanceResponseConditionsItem::new(
                    field.clone(),
                    requirement.clone(),
                ));
        }
        self.escalated = false;
        self.status = status_of(&self.findings, &self.conditions);
    }
}

/// The status the findings and the plan's policies give.
fn decide(
    k: &Kept,
    mut findings: Vec<CheckGovernanceResponseFindingsItem>,
    amount: Option<f64>,
    escalated: bool,
) -> Decision {
    let mut conditions = Vec::new();
    for p in k.plan.custom_policies.iter().flatten() {
        match p.enforcement {
            PolicyEnforcement::Must => conditions.push(CheckGovernanceResponseConditionsItem::new(
                format!("policies.{}", p.policy_id),
                p.policy.clone(),
            )),
            PolicyEnforcement::Should => {
                let mut f = finding("policy", EscalationSeverity::Warning, p.policy.clone());
                f.policy_id = Some(p.policy_id.clone());
                findings.push(f);
            }
            _ => {}
        }
    }
    Decision {
        status: status_of(&findings, &conditions),
        next_check: None,
        findings,
        conditions,
        amount,
        escalated,
    }
}

pub(crate) async fn check(
    ctx: &Ctx,
    req: CheckGovernanceRequest,
) -> AdcpResult<CheckGovernanceResponse> {
    let k = plan(ctx, &req.plan_id, "plan_id").await?;
    let phase = req.phase.unwrap_or(GovernancePhase::Purchase);
    // A re-check naming an escalation of this caller's on this plan carries a person's
    // decision; the action it escalated is weighed as then (the approval it modified).
    let escalation = match &req.governance_context {
        Some(gc) => review::find(ctx, gc, &req.plan_id).await?,
        None => None,
    };
    let approval_context = match &escalation {
        Some(e) => e.context.clone(),
        None => req.governance_context.clone(),
    };
    let (mut d, flight) = match phase {
        GovernancePhase::Delivery => {
            // The action's approval (its amount and flight), and the last delivery check
            // made on it.
            let checks: Vec<Check> = ctx.state().list(CHECKS).await?;
            let mine =
                |c: &&Check| c.plan_id == req.plan_id && c.governance_context == approval_context;
            let action = checks
                .iter()
                .filter(mine)
                .filter(|c| approval_context.is_some() && c.phase != GovernancePhase::Delivery)
                .max_by(|a, b| a.at.cmp(&b.at));
            let last = checks
                .iter()
                .filter(mine)
                .filter(|c| c.phase == GovernancePhase::Delivery)
                .max_by(|a, b| a.at.cmp(&b.at));
            (
                delivery(&k, req.delivery_metrics.as_ref(), action, last, ctx.now())?,
                None,
            )
        }
        _ => {
            // The action: its payload, with what the seller plans to deliver (its flight, and
            // its total after the change, which an update's payload of changed packages
            // does not give).
            let mut action = req.payload.clone().unwrap_or_default();
            if let Some(Value::Object(planned)) = req
                .planned_delivery
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok())
            {
                for key in ["start_time", "end_time", "total_budget"] {
                    if let (false, Some(v)) = (action.contains_key(key), planned.get(key)) {
                        action.insert(key.into(), v.clone());
                    }
                }
            }
            if action.is_empty() {
                return Err(AdcpError::invalid_request(
                    "payload",
                    "a purchase or modification check carries the action's payload or planned_delivery",
                ));
            }
            // A modification changes what the action's last approval (its context) weighed,
            // and what outcomes under it committed.
            let (before, counted) = match (&phase, &approval_context) {
                (GovernancePhase::Modification, Some(gc)) => {
                    let checks: Vec<Check> = ctx.state().list(CHECKS).await?;
                    let before = checks
                        .into_iter()
                        .filter(|c| c.governance_context.as_deref() == Some(gc.as_str()))
                        .max_by(|a, b| a.at.cmp(&b.at))
                        .and_then(|c| c.amount);
                    let outcomes: Vec<Outcome> = ctx.state().list(OUTCOMES).await?;
                    let counted = outcomes
                        .iter()
                        .filter(|o| {
                            &o.governance_context == gc
                                && o.plan_id == req.plan_id
                                && o.status == ReportPlanOutcomeResponseStatus::Accepted
                        })
                        .max_by(|a, b| a.at.cmp(&b.at).then(a.outcome_id.cmp(&b.outcome_id)))
                        .map_or(0.0, |o| o.committed);
                    (before, counted)
                }
                _ => (None, 0.0),
            };
            let flight = action
                .get("start_time")
                .and_then(Value::as_str)
                .zip(action.get("end_time").and_then(Value::as_str))
                .map(|(s, e)| (s.to_owned(), e.to_owned()));
            (purchase(&k, &action, before, counted)?, flight)
        }
    };
    let now = ctx.now();
    let check_id = ctx.new_id("chk");
    // An action for a person: the reviewer's decision, if there is one for this action.
    let mut escalation_id = None;
    let mut reviewed_by = None;
    if d.escalated {
        match escalation.as_ref().map(|e| (e, &e.review)) {
            Some((
                e,
                Review::Approved {
                    reviewer,
                    at,
                    conditions,
                },
            )) if d.amount.zip(e.amount).is_none_or(|(a, r)| a <= r) => {
                d.reviewed(reviewer, at, conditions);
                reviewed_by = Some(reviewer.clone());
            }
            Some((e, Review::Pending)) => {
                escalation_id = Some(e.escalation_id.clone());
                d.findings.push(finding(
                    "human_review",
                    EscalationSeverity::Info,
                    format!(
                        "escalation {} since {} awaits a reviewer",
                        e.escalation_id, e.at
                    ),
                ));
            }
            Some((
                e,
                Review::Rejected {
                    reviewer,
                    at,
                    reason,
                },
            )) => {
                d.findings.push(finding(
                    "human_review",
                    EscalationSeverity::Critical,
                    format!(
                        "{reviewer} rejected escalation {} at {at}: {reason}",
                        e.escalation_id
                    ),
                ));
            }
            // A new escalation (or the action grew past what the reviewer approved).
            _ => {
                let e = Escalation {
                    escalation_id: ctx.new_id("esc"),
                    plan_id: req.plan_id.clone(),
                    check_id: check_id.clone(),
                    context: approval_context.clone(),
                    amount: d.amount,
                    reasons: d
                        .findings
                        .iter()
                        .filter(|f| f.category_id == "human_review")
                        .map(|f| f.explanation.clone())
                        .collect(),
                    at: time::rfc3339(now),
                    review: Review::Pending,
                };
                review::escalate(ctx, &e).await?;
                escalation_id = Some(e.escalation_id);
            }
        }
    }
    let granted = d.status != GovernanceDecision::Denied;
    let explanation = match (&d.status, &escalation_id, &reviewed_by) {
        (GovernanceDecision::Denied, Some(id), _) => format!(
            "escalated: a person must approve this action against the plan; re-check with governance_context {id} once reviewed"
        ),
        (GovernanceDecision::Denied, None, _) if d.escalated => {
            "denied: a reviewer rejected this action".to_owned()
        }
        (_, _, Some(reviewer)) if granted => {
            format!("approved on review by {reviewer}, on the conditions the action must meet")
        }
        (GovernanceDecision::Denied, _, _) => "denied: the action is outside the plan".to_owned(),
        (GovernanceDecision::Conditions, _, _) => {
            "approved on the plan's conditions, which the action must meet".to_owned()
        }
        _ => "approved within the plan".to_owned(),
    };
    // An approval's context attests it: a JWS the seller can verify offline against this
    // agent's published key (an opaque id when the agent has no key).
    let governance_context = granted.then(|| {
        // A delivery check continues the action it is of: its context stays the action's.
        if let (GovernancePhase::Delivery, Some(gc)) = (phase, &approval_context) {
            return gc.clone();
        }
        let plan = serde_json::to_value(&k.plan).unwrap_or_default();
        let phase = serde_json::to_value(phase).unwrap_or_default();
        let media_buy_id = req
            .payload
            .as_ref()
            .and_then(|p| p.get("media_buy_id"))
            .and_then(Value::as_str);
        ctx.attest_governance(Attestation {
            issuer: ctx.agent_url(),
            plan_id: &req.plan_id,
            plan: &plan,
            audience: Some(&req.caller)
                .filter(|c| !c.is_empty())
                .map(String::as_str),
            phase: phase.as_str().unwrap_or("purchase"),
            check_id: &check_id,
            media_buy_id,
            issued_at: now.unix_timestamp(),
            expires_at: (now + APPROVAL_LIFE).unix_timestamp(),
        })
        .unwrap_or_else(|| ctx.new_id("gov"))
    });
    let kept = Check {
        check_id,
        plan_id: req.plan_id.clone(),
        plan_version: k.version,
        caller: req.caller.clone(),
        tool: req.tool.clone(),
        phase,
        status: d.status,
        explanation: explanation.clone(),
        findings: d.findings.clone(),
        amount: d.amount,
        governance_context: governance_context.clone(),
        escalated: d.escalated,
        reviewed_by,
        flight,
        next_check: d.next_check.map(|n| time::rfc3339(now + n)),
        execution: req.payload.is_none(),
        at: time::rfc3339(now),
    };
    ctx.state().put(CHECKS, &kept.check_id, &kept).await?;
    let mut resp =
        CheckGovernanceResponse::new(kept.check_id.clone(), explanation, req.plan_id, d.status);
    resp.findings = Some(d.findings);
    resp.conditions = Some(d.conditions);
    resp.governance_context = governance_context.or(escalation_id);
    resp.next_check.clone_from(&kept.next_check);
    if granted {
        resp.expires_at = Some(time::rfc3339(now + APPROVAL_LIFE));
    }
    Ok(resp)
}

pub(crate) async fn report(
    ctx: &Ctx,
    req: ReportPlanOutcomeRequest,
) -> AdcpResult<ReportPlanOutcomeResponse> {
    plan(ctx, &req.plan_id, "plan_id").await?;
    // The approval the outcome is of: one this agent granted on this plan.
    let checks: Vec<Check> = ctx.state().list(CHECKS).await?;
    let approval = checks.iter().find(|c| {
        c.plan_id == req.plan_id
            && c.governance_context.as_deref() == Some(req.governance_context.as_str())
    });
    let reported = req.seller_response.as_ref().and_then(|s| {
        s.committed_budget.or_else(|| {
            let p = s.packages.as_ref()?;
            Some(p.iter().filter_map(|x| x.budget).sum())
        })
    });
    let (status, committed, findings) = match (&req.outcome, approval) {
        (OutcomeType::Completed, Some(_)) => (
            ReportPlanOutcomeResponseStatus::Accepted,
            reported.unwrap_or_default(),
            Vec::new(),
        ),
        (OutcomeType::Completed, None) => (
            ReportPlanOutcomeResponseStatus::Findings,
            0.0,
            vec![ReportPlanOutcomeResponseFindingsItem::new(
                "budget_authority",
                "this agent granted no approval under that governance context: nothing is committed against the plan",
                EscalationSeverity::Critical,
            )],
        ),
        _ => (ReportPlanOutcomeResponseStatus::Accepted, 0.0, Vec::new()),
    };
    // An action reported completed again commits its new amount in place of the old one.
    let outcomes: Vec<Outcome> = ctx.state().list(OUTCOMES).await?;
    let before: f64 = outcomes
        .iter()
        .filter(|o| {
            o.plan_id == req.plan_id
                && o.governance_context == req.governance_context
                && o.outcome == OutcomeType::Completed
                && o.status == ReportPlanOutcomeResponseStatus::Accepted
        })
        .max_by(|a, b| a.at.cmp(&b.at).then(a.outcome_id.cmp(&b.outcome_id)))
        .map_or(0.0, |o| o.committed);
    let change = if req.outcome == OutcomeType::Completed && approval.is_some() {
        committed - before
    } else {
        0.0
    };
    let total = ctx
        .state()
        .modify(
            PLANS,
            &req.plan_id,
            || plan_not_found("plan_id"),
            |k| {
                k.committed += change;
                Ok(k.committed)
            },
        )
        .await?;
    let outcome = Outcome {
        outcome_id: ctx.new_id("out"),
        plan_id: req.plan_id.clone(),
        governance_context: req.governance_context.clone(),
        outcome: req.outcome,
        committed,
        seller_reference: req
            .seller_response
            .as_ref()
            .and_then(|s| s.seller_reference.clone()),
        status,
        at: time::rfc3339(ctx.now()),
    };
    ctx.state()
        .put(OUTCOMES, &outcome.outcome_id, &outcome)
        .await?;
    let mut resp = ReportPlanOutcomeResponse::new(outcome.outcome_id, status);
    resp.committed_budget = Some(total);
    if !findings.is_empty() {
        resp.findings = Some(findings);
    }
    Ok(resp)
}

pub(crate) async fn audit(
    ctx: &Ctx,
    req: GetPlanAuditLogsRequest,
) -> AdcpResult<GetPlanAuditLogsResponse> {
    let plans: Vec<Kept> = match &req.plan_ids {
        Some(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                out.push(plan(ctx, id, &format!("plan_ids[{i}]")).await?);
            }
            out
        }
        None => ctx.state().list(PLANS).await?,
    };
    let checks: Vec<Check> = ctx.state().list(CHECKS).await?;
    let outcomes: Vec<Outcome> = ctx.state().list(OUTCOMES).await?;
    let mut out = Vec::with_capacity(plans.len());
    for k in plans {
        let id = &k.plan.plan_id;
        let mine: Vec<&Check> = checks.iter().filter(|c| &c.plan_id == id).collect();
        let reported: Vec<&Outcome> = outcomes.iter().filter(|o| &o.plan_id == id).collect();
        let total = k.plan.budget.total;
        let mut budget = GetPlanAuditLogsResponsePlansItemBudget::new();
        budget.authorized = Some(total);
        budget.committed = Some(k.committed);
        budget.remaining = Some(total - k.committed);
        if total > 0.0 {
            budget.utilization_pct = Some(k.committed / total * 100.0);
        }
        let count = |s: GovernanceDecision| mine.iter().filter(|c| c.status == s).count() as i64;
        let mut statuses = GetPlanAuditLogsResponsePlansItemSummaryStatuses::new();
        statuses.approved = Some(count(GovernanceDecision::Approved));
        statuses.conditions = Some(count(GovernanceDecision::Conditions));
        statuses.denied = Some(count(GovernanceDecision::Denied));
        statuses.human_reviewed =
            Some(mine.iter().filter(|c| c.reviewed_by.is_some()).count() as i64);
        let mut summary = GetPlanAuditLogsResponsePlansItemSummary::new();
        summary.checks_performed = Some(mine.len() as i64);
        summary.outcomes_reported = Some(reported.len() as i64);
        summary.findings_count = Some(mine.iter().map(|c| c.findings.len() as i64).sum());
        summary.statuses = Some(statuses);
        // Each action a seller reported (as last reported), with the checks made under its
        // context.
        let mut latest: Vec<&&Outcome> = reported
            .iter()
            .filter(|o| o.outcome == OutcomeType::Completed && o.committed > 0.0)
            .collect();
        latest.sort_by(|a, b| b.at.cmp(&a.at).then(b.outcome_id.cmp(&a.outcome_id)));
        let mut seen = std::collections::HashSet::new();
        latest.retain(|o| seen.insert(o.governance_context.as_str()));
        latest.reverse();
        let actions: Vec<GetPlanAuditLogsResponsePlansItemGovernedActionsItem> = latest
            .into_iter()
            .map(|o| {
                let checks = mine
                    .iter()
                    .filter(|c| {
                        c.governance_context.as_deref() == Some(o.governance_context.as_str())
                    })
                    .count() as i64;
                let mut a = GetPlanAuditLogsResponsePlansItemGovernedActionsItem::new(
                    checks,
                    o.committed,
                    o.governance_context.clone(),
                    PurchaseType::MediaBuy,
                    GetPlanAuditLogsResponsePlansItemGovernedActionsItemStatus::Active,
                );
                a.seller_reference.clone_from(&o.seller_reference);
                a
            })
            .collect();
        let mut item = GetPlanAuditLogsResponsePlansItem::new(
            budget,
            actions,
            id.clone(),
            k.version,
            GetPlanAuditLogsResponsePlansItemStatus::Active,
            summary,
        );
        if req.include_entries == Some(true) {
            item.entries = Some(entries(&mine, &reported)?);
        }
        out.push(item);
    }
    Ok(GetPlanAuditLogsResponse::new(out))
}

/// A check's findings as the audit log carries them (without their structured details).
fn audit_findings(findings: &[CheckGovernanceResponseFindingsItem]) -> Vec<Value> {
    findings
        .iter()
        .map(|f| {
            json!({"category_id": f.category_id, "severity": f.severity,
                   "explanation": f.explanation, "policy_id": f.policy_id,
                   "confidence": f.confidence})
        })
        .collect()
}

/// The checks and outcomes of a plan, oldest first.
fn entries(
    checks: &[&Check],
    outcomes: &[&Outcome],
) -> AdcpResult<Vec<GetPlanAuditLogsResponsePlansItemEntriesItem>> {
    let mut all: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({"type": "check", "id": c.check_id, "timestamp": c.at, "plan_id": c.plan_id,
                   "caller": c.caller, "tool": c.tool, "status": c.status,
                   "explanation": c.explanation, "governance_context": c.governance_context,
                   "check_type": if c.execution { "execution" } else { "intent" },
                   "findings": audit_findings(&c.findings)})
        })
        .chain(outcomes.iter().map(|o| {
            json!({"type": "outcome", "id": o.outcome_id, "timestamp": o.at, "plan_id": o.plan_id,
                   "outcome": o.outcome, "outcome_status": o.status, "committed_budget": o.committed,
                   "governance_context": o.governance_context})
        }))
        .collect();
    all.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
    all.into_iter()
        .map(|mut e| {
            if let Some(m) = e.as_object_mut() {
                m.retain(|_, v| !v.is_null());
            }
            decode(e).map_err(|e| AdcpError::internal(format!("an audit entry: {}", e.message)))
        })
        .collect()
}

/// Controller: a plan the storyboard's fixture names, kept as `sync_plans` keeps one.
pub(crate) async fn seed(ctx: &Ctx, id: &str, fixture: Map<String, Value>) -> AdcpResult<()> {
    let mut fixture = fixture;
    fixture.insert("plan_id".into(), json!(id));
    let plan: SyncPlansRequestPlansItem = decode(Value::Object(fixture)).map_err(|e| {
        AdcpError::new(codes::INVALID_REQUEST, e.message)
            .with_field(format!("params.fixture.{}", e.path))
    })?;
    keep(ctx, plan).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> Kept {
        let plan = json!({"plan_id": "p", "brand": {"domain": "acme.example"}, "objectives": "o",
                          "budget": {"total": 1000.0, "currency": "USD", "reallocation_threshold": 100.0},
                          "flight": {"start": "2031-01-01T00:00:00Z", "end": "2031-01-11T00:00:00Z"}});
        Kept {
            plan: serde_json::from_value(plan).expect("a plan"),
            version: 1,
            committed: 0.0,
        }
    }

    fn metrics(end: &str, spent: f64) -> CheckGovernanceRequestDeliveryMetrics {
        serde_json::from_value(
            json!({"reporting_period": {"start": "2031-01-01T00:00:00Z", "end": end},
                                      "cumulative_spend": spent}),
        )
        .expect("metrics")
    }

    fn categories(d: &Decision) -> Vec<&str> {
        d.findings.iter().map(|f| f.category_id.as_str()).collect()
    }

    #[test]
    fn delivery_is_paced_against_the_flight_and_drift_brings_the_next_check_forward() {
        let k = kept();
        let now = time::parse("now", "2031-01-06T00:00:00Z").unwrap();
        // Half the flight, half the budget: on pace, checked again in a day.
        let on = delivery(
            &k,
            Some(&metrics("2031-01-06T00:00:00Z", 500.0)),
            None,
            None,
            now,
        )
        .unwrap();
        assert!(categories(&on).is_empty(), "{:?}", categories(&on));
        assert_eq!(on.next_check, Some(DELIVERY_CADENCE));
        // 300 behind an even pace, past the 100 threshold: drift, checked again sooner.
        let behind = delivery(
            &k,
            Some(&metrics("2031-01-06T00:00:00Z", 200.0)),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(categories(&behind), ["budget_drift"]);
        assert_eq!(behind.next_check, Some(DRIFT_RECHECK));
    }

    #[test]
    fn a_delivery_check_later_than_asked_is_a_finding() {
        let k = kept();
        let now = time::parse("now", "2031-01-06T00:00:00Z").unwrap();
        let last: Check = serde_json::from_value(json!({
            "check_id": "c", "plan_id": "p", "plan_version": 1, "caller": "s", "tool": null,
            "phase": "delivery", "status": "approved", "explanation": "", "findings": [],
            "amount": null, "governance_context": null, "escalated": false,
            "at": "2031-01-04T00:00:00Z", "next_check": "2031-01-05T00:00:00Z"}))
        .expect("a check");
        let d = delivery(
            &k,
            Some(&metrics("2031-01-06T00:00:00Z", 500.0)),
            None,
            Some(&last),
            now,
        )
        .unwrap();
        assert_eq!(categories(&d), ["delivery"]);
    }
}
