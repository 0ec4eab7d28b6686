//! Proposals: a [`ProposalManager`] composed with the decisioning platform. The manager answers
//! `get_products` (brief, wholesale, refine) and finalizes drafts; the platform books the buy.
//! Between them the runtime keeps the one ledger ([`ProposalStore`]): every proposal the
//! manager answers is recorded as a draft of the caller's account, a `finalize` commits it
//! with a hold until `expires_at`, and a `create_media_buy` naming it consumes it, atomically
//! and once, before the platform sees the request.
//!
//! What the runtime decides itself, so no manager has to:
//! - a refine or finalize naming a proposal the account does not have: its
//!   `refinement_applied` entry is `unable` (the same answer whether the proposal does not
//!   exist or is another account's); the rest of the request is answered;
//! - a second finalize: `unable`, the committed proposal answered as it stands;
//! - `create_media_buy` with `proposal_id`: `PROPOSAL_NOT_COMMITTED` for a draft,
//!   `PROPOSAL_EXPIRED` from `expires_at` on, after a clock-skew grace
//!   ([`ProposalCapabilities::grace`], 5 s by default, by the seller's clock; the buyer is
//!   told `expires_at` only), and `REFERENCE_NOT_FOUND` on `proposal_id` for
//!   one the account does not have (AdCP 3.0 has no `PROPOSAL_NOT_FOUND`); one consumed by
//!   another create is `CONFLICT`. Without `packages`, the packages are derived from the
//!   proposal's allocations and `total_budget`.
//!
//! [`ProposalStore`]: crate::store::ProposalStore

use std::sync::Arc;
use std::time::Duration;

use adcp_wire::{
    CreateMediaBuyRequestTotalBudget, GetProductsRequest,
    GetProductsRequestBuyingMode as BuyingMode, GetProductsRequestRefineItem,
    GetProductsRequestRefineItemProposalAction as ProposalAction, GetProductsResponse,
    GetProductsResponseRefinementAppliedItem as Applied,
    GetProductsResponseRefinementAppliedItemProposal as AppliedProposal,
    GetProductsResponseRefinementAppliedItemProposalStatus as AppliedStatus,
    GetProductsResponseRefinementAppliedItemRequest as AppliedRequest,
    GetProductsResponseRefinementAppliedItemRequestStatus as RequestStatus, PackageRequest,
    Product, Proposal, ProposalStatus,
};
use serde_json::{Map, Value, json};

use crate::ctx::Ctx;
use crate::error::{AdcpError, AdcpResult, codes};
use crate::platform::{Handoff, Hybrid, Outcome, TaskHandoff, Work};
use crate::store::proposals::{Commit, Consume, ProposalRecord, ProposalStore};
use crate::store::{BoxFuture, StoreError};

/// What a proposal manager does, declared (never inferred from what it answers). The default
/// declares neither refine nor finalize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposalCapabilities {
    /// It revises products and proposals on `buying_mode: "refine"`.
    pub refine: bool,
    /// It finalizes drafts (`action: "finalize"`): its proposals are drafts until then. A
    /// manager that does not finalize answers proposals that are ready to buy as they are.
    pub finalize: bool,
    /// How long a committed proposal's terms are held when the manager sets no `expires_at`.
    pub hold: Duration,
    /// How long after `expires_at`, by this seller's clock, a `create_media_buy` accepting the
    /// proposal is still taken: the buyer's clock and the network may lag the seller's. The
    /// buyer is never told of it (`expires_at` is what it sees); a manager that releases
    /// inventory at `expires_at` upstream sets it to zero.
    pub grace: Duration,
}

/// The default clock-skew grace on `expires_at` (see [`ProposalCapabilities::grace`]).
pub const EXPIRY_GRACE: Duration = Duration::from_secs(5);

impl Default for ProposalCapabilities {
    fn default() -> Self {
        ProposalCapabilities {
            refine: false,
            finalize: false,
            hold: Duration::from_secs(24 * 3600),
            grace: EXPIRY_GRACE,
        }
    }
}

/// Answers `get_products` with products and proposals, and finalizes drafts. Bound to a
/// server with [`Serve::proposals`](crate::Serve::proposals) (per tenant: in the tenant's
/// platform builder).
pub trait ProposalManager: Send + Sync + 'static {
    /// What it does.
    fn capabilities(&self) -> ProposalCapabilities;

    /// Answers a `get_products` request: brief, wholesale or refine. `drafts` are the caller's
    /// draft proposals the request's `refine` entries name, as last answered; entries naming
    /// proposals the caller does not have are answered by the runtime (`unable`).
    fn get_products<'a>(
        &'a self,
        ctx: &'a Ctx,
        req: &'a GetProductsRequest,
        drafts: &'a [ProposalRecord],
    ) -> BoxFuture<'a, AdcpResult<GetProductsResponse>>;

    /// Finalizes a draft: the proposal with firm pricing (its `expires_at`, when set, is the
    /// hold; otherwise the capabilities' `hold` from now), now or after a hand-off (a human
    /// review: `Hybrid::Later(TaskHandoff::spawn(..))`; the `get_products` call is answered
    /// `submitted` and its task completes with the committed proposal). Called only when the
    /// capabilities say `finalize`; the default refuses.
    fn finalize<'a>(
        &'a self,
        _ctx: &'a Ctx,
        _draft: &'a ProposalRecord,
    ) -> BoxFuture<'a, AdcpResult<Hybrid<Proposal>>> {
        Box::pin(async {
            Err(AdcpError::new(
                codes::UNSUPPORTED_FEATURE,
                "this seller does not support: finalize",
            ))
        })
    }

    /// A product as the manager holds it, its recipe (`implementation_config`) included: what
    /// the runtime checks a package of it against (the recipe's capability overlap) before
    /// the platform runs, and hands the platform as [`Ctx::recipes`]. `None`, the default,
    /// leaves packages of the product ungated.
    fn product<'a>(
        &'a self,
        _ctx: &'a Ctx,
        _product_id: &'a str,
    ) -> BoxFuture<'a, AdcpResult<Option<Product>>> {
        Box::pin(async { Ok(None) })
    }

    /// The packages a `create_media_buy` accepting `proposal` books: by default one per
    /// allocation, its budget that share of `total_budget`, its pricing option the
    /// allocation's.
    fn packages(
        &self,
        proposal: &Proposal,
        total_budget: &CreateMediaBuyRequestTotalBudget,
    ) -> AdcpResult<Vec<PackageRequest>> {
        proposal
            .allocations
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let option = a.pricing_option_id.clone().ok_or_else(|| {
                    tracing::error!(proposal = %proposal.proposal_id, allocation = i, "a committed proposal's allocation names no pricing option");
                    AdcpError::internal("the proposal cannot be booked as it stands")
                })?;
                let budget = total_budget.amount * a.allocation_percentage / 100.0;
                Ok(PackageRequest::new(budget, option, a.product_id.clone()))
            })
            .collect()
    }
}

/// Allocations over weighted products: each product's share of the budget proportional to its
/// weight, in hundredths of a percent, summing to exactly 100 (AdCP requires it; the rounding
/// remainder goes to the largest share), each naming the product's first pricing option.
/// Products with no positive weight are left out.
pub fn allocations<'a>(
    weighted: impl IntoIterator<Item = (&'a Product, f64)>,
) -> Vec<adcp_wire::ProductAllocation> {
    let weighted: Vec<(&Product, f64)> = weighted
        .into_iter()
        .filter(|(_, w)| w.is_finite() && *w > 0.0)
        .collect();
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let mut out: Vec<adcp_wire::ProductAllocation> = weighted
        .iter()
        .map(|(p, w)| {
            let pct = (w / total * 10_000.0).round() / 100.0;
            let mut a = adcp_wire::ProductAllocation::new(pct, p.product_id.clone());
            a.pricing_option_id = p
                .pricing_options
                .first()
                .map(|o| o.pricing_option_id().to_owned());
            a
        })
        .collect();
    let sum: f64 = out.iter().map(|a| a.allocation_percentage).sum();
    if let Some(largest) = out
        .iter_mut()
        .max_by(|a, b| a.allocation_percentage.total_cmp(&b.allocation_percentage))
    {
        largest.allocation_percentage =
            ((largest.allocation_percentage + 100.0 - sum) * 100.0).round() / 100.0;
    }
    out
}

/// A proposal over weighted products ([`allocations`] of them): under `id` when a draft is
/// being revised, else a new id; `alignment` (how it answers the brief) cut to the schema's
/// 2,000 characters. `None` when no product has a positive weight. The runtime records it as
/// a draft (or, for a manager that does not finalize, committed).
pub fn plan<'a>(
    ctx: &Ctx,
    id: Option<&str>,
    name: &str,
    weighted: impl IntoIterator<Item = (&'a Product, f64)>,
    alignment: &str,
) -> Option<Proposal> {
    let allocations = allocations(weighted);
    if allocations.is_empty() {
        return None;
    }
    let id = id.map_or_else(|| ctx.new_id("proposal"), str::to_owned);
    let mut p = Proposal::new(allocations, name, id);
    p.brief_alignment = Some(alignment.chars().take(2000).collect());
    Some(p)
}

fn store_error(e: &StoreError) -> AdcpError {
    tracing::error!(error = %e, "proposal store");
    AdcpError::internal("the proposal store is unavailable")
}

fn unable(proposal_id: &str, notes: &str) -> Applied {
    let mut a = AppliedProposal::new(proposal_id, AppliedStatus::Unable);
    a.notes = Some(notes.to_owned());
    Applied::Proposal(a)
}

fn now_ms() -> i64 {
    crate::time::millis(crate::time::now_ms())
}

/// `get_products` through the manager, with the ledger kept.
pub(crate) async fn get_products<P: crate::DecisioningPlatform>(
    manager: &dyn ProposalManager,
    store: &Arc<dyn ProposalStore>,
    ctx: &Ctx,
    args: &Value,
) -> AdcpResult<Outcome> {
    let ledger = store.as_ref();
    let req: GetProductsRequest = adcp_wire::decode(args.clone())
        .map_err(|e| AdcpError::invalid_request(e.path, e.message))?;
    let caps = manager.capabilities();
    let scope = ctx.scope();
    let refine = req.refine.as_deref().unwrap_or_default();
    let mode = req.buying_mode;
    if !caps.refine && mode == BuyingMode::Refine {
        return Err(AdcpError::new(
            codes::UNSUPPORTED_FEATURE,
            "this seller does not support: buying_mode refine",
        )
        .with_field("buying_mode"));
    }
    if !refine.is_empty() && mode != BuyingMode::Refine {
        return Err(AdcpError::invalid_request(
            "refine",
            "refine is only valid with buying_mode refine",
        ));
    }
    // Entries the runtime answers, by position; drafts the manager is given; finalized ones.
    let mut decided: Vec<Option<Applied>> = vec![None; refine.len()];
    let mut drafts = Vec::new();
    let mut finalized: Vec<Proposal> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    let mut pending: Vec<(usize, ProposalRecord, TaskHandoff<Proposal>)> = Vec::new();
    for (i, entry) in refine.iter().enumerate() {
        let GetProductsRequestRefineItem::Proposal(p) = entry else {
            continue;
        };
        let id = p.proposal_id.as_str();
        let Some(record) = ledger.get(scope, id).await.map_err(|e| store_error(&e))? else {
            decided[i] = Some(unable(id, "no such proposal for this account"));
            continue;
        };
        let draft = record.state == crate::store::ProposalState::Draft;
        match p.action {
            // Omitted: not revised, not answered; it lapses on its own.
            Some(ProposalAction::Omit) => {
                dropped.push(id);
                decided[i] = Some(Applied::Proposal(AppliedProposal::new(
                    id,
                    AppliedStatus::Applied,
                )));
            }
            Some(ProposalAction::Finalize) if !caps.finalize => {
                decided[i] = Some(unable(id, "this seller's proposals are not finalized"));
            }
            Some(ProposalAction::Finalize) if !draft => {
                decided[i] = Some(unable(id, "the proposal is committed already"));
                finalized.extend(decode_proposal(&record));
            }
            // A finalize the manager refuses is that entry's answer, not the request's.
            Some(ProposalAction::Finalize) => {
                let answer = manager.finalize(ctx, &record).await;
                match answer {
                    Ok(Hybrid::Now(p)) => {
                        match commit_finalized(ledger, ctx, &record, p, caps).await {
                            Ok(proposal) => {
                                decided[i] = Some(applied(id));
                                finalized.push(proposal);
                            }
                            Err(e) => decided[i] = Some(unable(id, e.message())),
                        }
                    }
                    Ok(Hybrid::Later(h)) => pending.push((i, record, h)),
                    Err(e) => decided[i] = Some(unable(id, e.message())),
                }
            }
            _ if !draft => {
                decided[i] = Some(unable(
                    id,
                    "a committed proposal is not refined; discover a new one",
                ));
            }
            _ => drafts.push(record),
        }
    }
    let finalize_only = !refine.is_empty()
        && refine.iter().all(|r| {
            matches!(r, GetProductsRequestRefineItem::Proposal(p)
                if p.action == Some(ProposalAction::Finalize))
        });
    let mut resp = if finalize_only {
        GetProductsResponse::new(Vec::new())
    } else {
        manager.get_products(ctx, &req, &drafts).await?
    };
    // Omitted products are not answered, whoever answered.
    let before: Vec<String> = resp.products.iter().map(|p| p.product_id.clone()).collect();
    let gone = omitted(&req);
    resp.products
        .retain(|p| !gone.contains(&p.product_id.as_str()));
    for p in &resp.products {
        if let Err(e) = within_wire::<P>(p) {
            tracing::error!(product = %p.product_id, error = %e, "a product's recipe offers what the product does not");
            return Err(AdcpError::internal("the products could not be answered"));
        }
    }
    let now = now_ms();
    let mut answered = Vec::new();
    // Wholesale answers carry no proposals (AdCP: they are omitted); omitted ones are gone.
    let given = resp
        .proposals
        .take()
        .filter(|_| mode != BuyingMode::Wholesale);
    for p in given.unwrap_or_default() {
        if finalized.iter().any(|f| f.proposal_id == p.proposal_id)
            || dropped.contains(&p.proposal_id.as_str())
        {
            continue;
        }
        answered.push(record_answer(ledger, ctx, p, caps, now).await?);
    }
    answered.extend(finalized);
    if mode != BuyingMode::Wholesale {
        resp.proposals = Some(answered);
    }
    let observed = observe(manager, ctx, refine, &before, &resp).await?;
    let finish = move |mut resp: GetProductsResponse, decided, refine: &[_]| {
        if !refine.is_empty() {
            let reported = resp.refinement_applied.take();
            resp.refinement_applied = Some(merge(decided, reported, observed, refine));
        }
        serde_json::to_value(resp).map_err(|e| AdcpError::internal(e.to_string()))
    };
    if pending.is_empty() {
        return finish(resp, decided, refine).map(Outcome::Done);
    }
    // A finalize handed off (a human review): the call's task completes once every handed-off
    // finalize has answered and been committed.
    let (status, message) = (pending[0].2.status(), pending[0].2.message_text());
    let (store, ctx, refine) = (store.clone(), ctx.clone(), refine.to_vec());
    let work = async move {
        let mut decided = decided;
        for (i, record, h) in pending {
            let id = record.proposal_id.clone();
            let done = match h
                .erase(|p| serde_json::to_value(p).map_err(|e| AdcpError::internal(e.to_string())))
                .work
            {
                Work::Spawn(w) => w.await.and_then(|v| {
                    serde_json::from_value::<Proposal>(v)
                        .map_err(|e| AdcpError::internal(e.to_string()))
                }),
                _ => {
                    tracing::error!(proposal = %id, "a finalize hand-off must be TaskHandoff::spawn");
                    Err(AdcpError::internal("the proposal could not be finalized"))
                }
            };
            let committed = match done {
                Ok(p) => commit_finalized(store.as_ref(), &ctx, &record, p, caps).await,
                Err(e) => Err(e),
            };
            match committed {
                Ok(p) => {
                    decided[i] = Some(applied(&id));
                    resp.proposals.get_or_insert_with(Vec::new).push(p);
                }
                Err(e) => decided[i] = Some(unable(&id, e.message())),
            }
        }
        finish(resp, decided, &refine)
    };
    Ok(Outcome::Handoff(Handoff {
        status,
        message,
        work: Work::Spawn(Box::pin(work)),
    }))
}

fn applied(proposal_id: &str) -> Applied {
    Applied::Proposal(AppliedProposal::new(proposal_id, AppliedStatus::Applied))
}

/// A proposal the manager answered or finalized is one AdCP allows: at least one allocation,
/// each share within 0 to 100, summing to 100 (within 0.01). Otherwise an adopter bug, logged.
fn valid(p: &Proposal) -> AdcpResult<()> {
    let shares = p.allocations.iter().map(|a| a.allocation_percentage);
    let sum: f64 = shares.clone().sum();
    let each = shares
        .clone()
        .all(|x| x.is_finite() && (0.0..=100.0).contains(&x));
    let whole = (sum - 100.0).abs() <= 0.01;
    if p.allocations.is_empty() || !each || !whole {
        tracing::error!(proposal = %p.proposal_id, sum, "a proposal's allocations are not shares summing to 100");
        return Err(AdcpError::internal("the proposals could not be answered"));
    }
    Ok(())
}

/// Records one proposal the manager answered: a draft (finalize-capable managers), or
/// committed at once with its hold (managers whose proposals are ready to buy). A proposal
/// id another account holds is never overwritten: the manager must mint ids per proposal.
async fn record_answer(
    ledger: &dyn ProposalStore,
    ctx: &Ctx,
    mut p: Proposal,
    caps: ProposalCapabilities,
    now: i64,
) -> AdcpResult<Proposal> {
    let scope = ctx.scope();
    valid(&p)?;
    if let Some(existing) = ledger
        .get(scope, &p.proposal_id)
        .await
        .map_err(|e| store_error(&e))?
        && existing.state != crate::store::ProposalState::Draft
    {
        // Answered again after it was committed: the committed terms stand.
        return Ok(decode_proposal(&existing).unwrap_or(p));
    }
    p.proposal_status = Some(ProposalStatus::Draft);
    let body = serde_json::to_value(&p).map_err(|e| AdcpError::internal(e.to_string()))?;
    let draft = ProposalRecord::draft(p.proposal_id.clone(), scope, body, now);
    match ledger.save_draft(&draft).await {
        Ok(()) => {}
        Err(StoreError::Exists(_)) => {} // committed between the two reads: it stands
        Err(e) => return Err(store_error(&e)),
    }
    if !caps.finalize {
        return commit(ledger, ctx, &draft, p, caps).await;
    }
    Ok(p)
}

/// A finalized proposal checked and committed with its hold.
async fn commit_finalized(
    ledger: &dyn ProposalStore,
    ctx: &Ctx,
    draft: &ProposalRecord,
    proposal: Proposal,
    caps: ProposalCapabilities,
) -> AdcpResult<Proposal> {
    valid(&proposal)?;
    if proposal.proposal_id != draft.proposal_id {
        tracing::error!(asked = %draft.proposal_id, answered = %proposal.proposal_id, "finalize answered another proposal");
        return Err(AdcpError::internal("the proposal could not be finalized"));
    }
    commit(ledger, ctx, draft, proposal, caps).await
}

/// Draft to committed, with its hold.
async fn commit(
    ledger: &dyn ProposalStore,
    ctx: &Ctx,
    draft: &ProposalRecord,
    mut proposal: Proposal,
    caps: ProposalCapabilities,
) -> AdcpResult<Proposal> {
    let now = crate::time::now_ms();
    let hold = time::Duration::try_from(caps.hold).unwrap_or(time::Duration::DAY);
    let expires = match proposal.expires_at.as_deref() {
        Some(t) => crate::time::parse("expires_at", t).map_err(|_| {
            tracing::error!(proposal = %proposal.proposal_id, expires_at = t, "a finalized proposal's expires_at is not RFC 3339");
            AdcpError::internal("the proposal could not be finalized")
        })?,
        None => now + hold,
    };
    proposal.proposal_status = Some(ProposalStatus::Committed);
    proposal.expires_at = Some(crate::time::rfc3339(expires));
    let body = serde_json::to_value(&proposal).map_err(|e| AdcpError::internal(e.to_string()))?;
    let at = crate::time::millis(now);
    match ledger
        .commit(
            ctx.scope(),
            &draft.proposal_id,
            &body,
            crate::time::millis(expires),
            at,
        )
        .await
        .map_err(|e| store_error(&e))?
    {
        Commit::Committed(_) => Ok(proposal),
        // A concurrent finalize won: its terms stand.
        Commit::Already(r) => Ok(decode_proposal(&r).unwrap_or(proposal)),
        Commit::NotFound => Err(AdcpError::internal("the proposal vanished while finalized")),
    }
}

fn decode_proposal(r: &ProposalRecord) -> Option<Proposal> {
    serde_json::from_value(r.proposal.clone())
        .map_err(|e| tracing::error!(proposal = %r.proposal_id, error = %e, "a stored proposal does not decode"))
        .ok()
}

/// The `refinement_applied` answer: one entry per `refine` entry, in order; the runtime's
/// where it decided, the manager's elsewhere (or, where the manager reported nothing, a
/// `partial` saying so).
fn merge(
    decided: Vec<Option<Applied>>,
    reported: Option<Vec<Applied>>,
    observed: Vec<Option<Applied>>,
    refine: &[GetProductsRequestRefineItem],
) -> Vec<Applied> {
    let reported = reported.filter(|r| r.len() == refine.len());
    decided
        .into_iter()
        .zip(observed)
        .enumerate()
        .map(|(i, (d, o))| {
            // A report is taken only where it echoes its entry's scope and id.
            let report = reported
                .as_ref()
                .and_then(|r| r.get(i).cloned())
                .filter(|a| echoes(a, &refine[i]));
            d.or(report).or(o).unwrap_or_else(|| unreported(&refine[i]))
        })
        .collect()
}

fn echoes(a: &Applied, entry: &GetProductsRequestRefineItem) -> bool {
    match (a, entry) {
        (Applied::Request(_), GetProductsRequestRefineItem::Request(_)) => true,
        (Applied::Product(a), GetProductsRequestRefineItem::Product(e)) => {
            a.product_id == e.product_id
        }
        (Applied::Proposal(a), GetProductsRequestRefineItem::Proposal(e)) => {
            a.proposal_id == e.proposal_id
        }
        _ => false,
    }
}

/// What the runtime can tell of entries the manager did not report on: a product entry
/// naming a product the account cannot see is `unable`; an omitted or included one that is
/// known is `applied` (omitted products are removed from every answer); a draft answered
/// again under its id is `applied`.
async fn observe(
    manager: &dyn ProposalManager,
    ctx: &Ctx,
    refine: &[GetProductsRequestRefineItem],
    answered: &[String],
    resp: &GetProductsResponse,
) -> AdcpResult<Vec<Option<Applied>>> {
    let proposals = resp.proposals.as_deref();
    use adcp_wire::GetProductsRequestRefineItemProductAction as ProductAction;
    use adcp_wire::GetProductsResponseRefinementAppliedItemProduct as AppliedProduct;
    use adcp_wire::GetProductsResponseRefinementAppliedItemProductStatus as ProductStatus;
    let mut out = Vec::with_capacity(refine.len());
    for entry in refine {
        out.push(match entry {
            GetProductsRequestRefineItem::Product(p) => {
                let id = &p.product_id;
                let known = answered.contains(id) || manager.product(ctx, id).await?.is_some();
                // Omitted: known is enough (it was removed); included: it must be answered.
                let definite = match p.action {
                    Some(ProductAction::Omit) => true,
                    Some(ProductAction::MoreLikeThis) => false,
                    _ => resp.products.iter().any(|x| &x.product_id == id),
                };
                match (known, definite) {
                    (false, _) => {
                        let mut a = AppliedProduct::new(id.clone(), ProductStatus::Unable);
                        a.notes = Some("no such product for this account".into());
                        Some(Applied::Product(a))
                    }
                    (true, true) => Some(Applied::Product(AppliedProduct::new(
                        id.clone(),
                        ProductStatus::Applied,
                    ))),
                    (true, false) => None,
                }
            }
            GetProductsRequestRefineItem::Proposal(p)
                if proposals
                    .is_some_and(|ps| ps.iter().any(|x| x.proposal_id == p.proposal_id)) =>
            {
                Some(Applied::Proposal(AppliedProposal::new(
                    p.proposal_id.clone(),
                    AppliedStatus::Applied,
                )))
            }
            _ => None,
        });
    }
    Ok(out)
}

/// The products a refine request omits (`{"scope": "product", "action": "omit"}`): the
/// runtime removes them from the answer; a manager planning proposals leaves them out.
pub fn omitted(req: &GetProductsRequest) -> Vec<&str> {
    use adcp_wire::GetProductsRequestRefineItemProductAction as ProductAction;
    req.refine
        .iter()
        .flatten()
        .filter_map(|r| match r {
            GetProductsRequestRefineItem::Product(p) if p.action == Some(ProductAction::Omit) => {
                Some(p.product_id.as_str())
            }
            _ => None,
        })
        .collect()
}

/// The buyer's free-text asks of a refine request (request-scoped, then proposal-scoped), in
/// order.
pub fn asks(req: &GetProductsRequest) -> Vec<&str> {
    let refine = req.refine.iter().flatten();
    let request = refine.clone().filter_map(|r| match r {
        GetProductsRequestRefineItem::Request(r) => Some(r.ask.as_str()),
        _ => None,
    });
    let proposal = refine.filter_map(|r| match r {
        GetProductsRequestRefineItem::Proposal(p) if p.action != Some(ProposalAction::Omit) => {
            p.ask.as_deref()
        }
        _ => None,
    });
    request.chain(proposal).collect()
}

fn unreported(entry: &GetProductsRequestRefineItem) -> Applied {
    let notes = Some("considered; the seller reported no detail".to_owned());
    match entry {
        GetProductsRequestRefineItem::Request(_) => {
            let mut a = AppliedRequest::new(RequestStatus::Partial);
            a.notes = notes;
            Applied::Request(a)
        }
        GetProductsRequestRefineItem::Product(p) => {
            let mut a = adcp_wire::GetProductsResponseRefinementAppliedItemProduct::new(
                p.product_id.clone(),
                adcp_wire::GetProductsResponseRefinementAppliedItemProductStatus::Partial,
            );
            a.notes = notes;
            Applied::Product(a)
        }
        GetProductsRequestRefineItem::Proposal(p) => {
            let mut a = AppliedProposal::new(p.proposal_id.clone(), AppliedStatus::Partial);
            a.notes = notes;
            Applied::Proposal(a)
        }
    }
}

/// What a `create_media_buy` naming `proposal_id` is run with: the consumed proposal, and the
/// request with its packages derived when it gave none.
pub(crate) struct Accepted {
    pub(crate) record: ProposalRecord,
    pub(crate) claim: String,
    pub(crate) args: Value,
}

/// Consumes the proposal a `create_media_buy` names, for `claim` (the create's idempotency
/// claim), before the platform sees the request.
pub(crate) async fn accept(
    manager: &dyn ProposalManager,
    ledger: &dyn ProposalStore,
    scope: &str,
    claim: String,
    args: &Map<String, Value>,
) -> AdcpResult<Option<Accepted>> {
    let Some(id) = args.get("proposal_id").and_then(Value::as_str) else {
        return Ok(None);
    };
    let refused = |code: &'static str, why: &str| {
        AdcpError::new(code, why.to_owned()).with_field("proposal_id")
    };
    let grace = i64::try_from(manager.capabilities().grace.as_millis()).unwrap_or(i64::MAX);
    let record = match ledger
        .consume(scope, id, &claim, now_ms().saturating_sub(grace))
        .await
        .map_err(|e| store_error(&e))?
    {
        Consume::Consumed(r) | Consume::Again(r) => r,
        Consume::NotFound => {
            return Err(refused(
                codes::REFERENCE_NOT_FOUND,
                "no such proposal for this account; discover one with get_products",
            ));
        }
        Consume::NotCommitted(_) => {
            return Err(refused(
                codes::PROPOSAL_NOT_COMMITTED,
                "the proposal is a draft: finalize it with get_products (buying_mode refine, action finalize)",
            ));
        }
        Consume::Expired(_) => {
            return Err(refused(
                codes::PROPOSAL_EXPIRED,
                "the proposal's hold has lapsed; finalize it again or discover a new one",
            ));
        }
        Consume::Taken => {
            return Err(refused(
                codes::CONFLICT,
                "the proposal has been accepted by another media buy",
            ));
        }
    };
    let mut args = args.clone();
    if args.get("packages").is_none() {
        let derived = (|| {
            let proposal: Proposal = serde_json::from_value(record.proposal.clone())
                .map_err(|e| AdcpError::internal(e.to_string()))?;
            let budget: CreateMediaBuyRequestTotalBudget = args
                .get("total_budget")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| AdcpError::invalid_request("total_budget", e.to_string()))?
                .ok_or_else(|| {
                    AdcpError::invalid_request(
                        "total_budget",
                        "a media buy from a proposal needs total_budget",
                    )
                })?;
            manager.packages(&proposal, &budget)
        })();
        match derived {
            Ok(packages) => {
                args.insert("packages".into(), json!(packages));
            }
            Err(e) => {
                let _ = ledger.release(scope, id, &claim).await;
                return Err(e);
            }
        }
    }
    Ok(Some(Accepted {
        record,
        claim,
        args: Value::Object(args),
    }))
}

/// After the platform answered a create that accepted a proposal: a booked buy is attached to
/// it; a refusal gives the proposal back for another attempt.
pub(crate) async fn settle(
    ledger: &dyn ProposalStore,
    scope: &str,
    accepted: &Accepted,
    booked: Option<&str>,
) {
    let id = &accepted.record.proposal_id;
    let r = match booked {
        Some(buy) => ledger.attach(scope, id, &accepted.claim, buy).await,
        None => ledger.release(scope, id, &accepted.claim).await,
    };
    if let Err(e) = r {
        tracing::error!(proposal = %id, error = %e, "settling a consumed proposal");
    }
}

/// The packages of a `create_media_buy` (`packages`) or `update_media_buy` (`new_packages`),
/// checked against their products' recipes before the platform runs: a pricing model, a
/// targeting dimension or a delivery type outside the recipe's capability overlap is
/// `INVALID_REQUEST` naming the package's field. Answers each package's product, in order,
/// for [`Ctx::products`] and [`Ctx::recipes`].
pub(crate) async fn gate<P: crate::DecisioningPlatform>(
    manager: &dyn ProposalManager,
    ctx: &Ctx,
    args: &Value,
) -> AdcpResult<Vec<Option<Product>>> {
    let (field, packages) = match ctx.task().name {
        "create_media_buy" => ("packages", args.get("packages")),
        "update_media_buy" => ("new_packages", args.get("new_packages")),
        _ => return Ok(Vec::new()),
    };
    let packages = packages
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut products = Vec::with_capacity(packages.len());
    for (i, pkg) in packages.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        let Some(product_id) = pkg.get("product_id").and_then(Value::as_str) else {
            products.push(None);
            continue;
        };
        let Some(product) = manager.product(ctx, product_id).await? else {
            products.push(None);
            continue;
        };
        let overlap = match product
            .extra
            .get("implementation_config")
            .and_then(P::decode_recipe)
        {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(o))) => Some(o),
            Some(Err(e)) => {
                tracing::error!(product = product_id, error = %e, "a product's recipe does not decode");
                return Err(AdcpError::internal(
                    "the product cannot be booked as it stands",
                ));
            }
        };
        if let Some(o) = overlap {
            check(&o, &product, pkg, &at)?;
        }
        products.push(Some(product));
    }
    Ok(products)
}

/// A product's recipe exposes no more than the product declares on the wire: its overlap's
/// pricing models are among the product's pricing options, its delivery types the product's.
/// (Targeting dimensions have no per-product wire declaration to compare with.)
fn within_wire<P: crate::DecisioningPlatform>(product: &Product) -> Result<(), String> {
    let overlap = match product
        .extra
        .get("implementation_config")
        .and_then(P::decode_recipe)
    {
        None | Some(Ok(None)) => return Ok(()),
        Some(Ok(Some(o))) => o,
        Some(Err(e)) => return Err(format!("implementation_config does not decode: {e}")),
    };
    let models: Vec<String> = product
        .pricing_options
        .iter()
        .map(|p| p.pricing_model().to_string())
        .collect();
    if let Some(m) = overlap
        .pricing_models
        .iter()
        .flatten()
        .find(|m| !models.contains(m))
    {
        return Err(format!(
            "the overlap's pricing model `{m}` is not among the product's pricing options ({})",
            models.join(", ")
        ));
    }
    let delivery = product.delivery_type.to_string();
    if let Some(t) = overlap
        .delivery_types
        .iter()
        .flatten()
        .find(|t| **t != delivery)
    {
        return Err(format!(
            "the overlap's delivery type `{t}` is not the product's (`{delivery}`)"
        ));
    }
    Ok(())
}

/// The product of each package of a booked buy, by media buy id: kept by the runtime (ids
/// only; products and recipes stay the manager's) so calls on the buy later are hydrated too.
const BOOKED: crate::state::Collection<Vec<Booked>> =
    crate::state::Collection::new("adcp:booked_products");

/// One package of a booked buy and its product.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Booked {
    package_id: Option<String>,
    product_id: String,
}

/// After a `create_media_buy` booked a buy (with a manager composed): its packages' products.
pub(crate) async fn remember(state: &crate::state::State<'_>, body: &Value) {
    let Some(id) = body.get("media_buy_id").and_then(Value::as_str) else {
        return;
    };
    let text = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    let products: Vec<Booked> = body
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Booked {
                package_id: text(p, "package_id"),
                product_id: text(p, "product_id")?,
            })
        })
        .collect();
    if let Err(e) = state.put(BOOKED, id, &products).await {
        tracing::warn!(media_buy = id, error = %e, "the booked products were not recorded");
    }
}

/// The products of the buys a call names (`media_buy_id` or `media_buy_ids`), each once, in
/// order: for `update_media_buy` and the delivery and read tasks.
pub(crate) async fn booked(
    manager: &dyn ProposalManager,
    ctx: &Ctx,
    state: &crate::state::State<'_>,
    args: &Value,
) -> AdcpResult<Vec<Option<Product>>> {
    let one = args.get("media_buy_id").and_then(Value::as_str);
    let many = args.get("media_buy_ids").and_then(Value::as_array);
    let buys = one
        .into_iter()
        .chain(many.into_iter().flatten().filter_map(Value::as_str))
        .take(crate::page::MAX_PAGE);
    let mut ids: Vec<String> = Vec::new();
    for buy in buys {
        for b in state.get(BOOKED, buy).await?.unwrap_or_default() {
            if !ids.contains(&b.product_id) {
                ids.push(b.product_id);
            }
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in &ids {
        out.push(manager.product(ctx, id).await?);
    }
    Ok(out)
}

/// Recipes are the seller's own configuration, never the buyer's to read: removed from every
/// product a `get_products` answers, whoever answered it.
pub(crate) fn strip_recipes(body: &mut Value) {
    let products = body.get_mut("products").and_then(Value::as_array_mut);
    for p in products.into_iter().flatten() {
        if let Some(p) = p.as_object_mut() {
            p.remove("implementation_config");
        }
    }
}

/// `update_media_buy`'s changes to existing packages (`packages[]`, by `package_id`): a new
/// `targeting_overlay` is checked against the recipe of the product the package was booked
/// with.
pub(crate) async fn gate_existing<P: crate::DecisioningPlatform>(
    manager: &dyn ProposalManager,
    ctx: &Ctx,
    state: &crate::state::State<'_>,
    args: &Value,
) -> AdcpResult<()> {
    let Some(buy) = args.get("media_buy_id").and_then(Value::as_str) else {
        return Ok(());
    };
    let changes = args.get("packages").and_then(Value::as_array);
    let changes = changes.map_or(&[][..], Vec::as_slice);
    if changes.iter().all(|c| c.get("targeting_overlay").is_none()) {
        return Ok(());
    }
    let booked = state.get(BOOKED, buy).await?.unwrap_or_default();
    for (i, change) in changes.iter().enumerate() {
        let package = change.get("package_id").and_then(Value::as_str);
        let Some(b) = booked.iter().find(|b| b.package_id.as_deref() == package) else {
            continue;
        };
        let Some(product) = manager.product(ctx, &b.product_id).await? else {
            continue;
        };
        let config = product.extra.get("implementation_config");
        if let Some(Ok(Some(o))) = config.and_then(P::decode_recipe) {
            let targeting = json!({"targeting_overlay": change.get("targeting_overlay")});
            let at = |f: &str| format!("packages[{i}].{f}");
            let o = crate::CapabilityOverlap {
                pricing_models: None,
                delivery_types: None,
                ..o
            };
            check(&o, &product, &targeting, &at)?;
        }
    }
    Ok(())
}

/// One package against a recipe's capability overlap.
fn check(
    o: &crate::CapabilityOverlap,
    product: &Product,
    pkg: &Value,
    at: &dyn Fn(&str) -> String,
) -> AdcpResult<()> {
    let outside = |field: String, what: &str, value: &str, allowed: &[String]| {
        AdcpError::invalid_request(
            field,
            format!(
                "{what} `{value}` is not offered on this product (offered: {})",
                allowed.join(", ")
            ),
        )
        .with_details(json!({"allowed": allowed}))
    };
    if let Some(models) = &o.pricing_models {
        let option = pkg
            .get("pricing_option_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let model = product
            .pricing_options
            .iter()
            .find(|p| p.pricing_option_id() == option)
            .map(|p| p.pricing_model().to_string());
        if let Some(model) = model
            && !models.contains(&model)
        {
            return Err(outside(
                at("pricing_option_id"),
                "the pricing model",
                &model,
                models,
            ));
        }
    }
    if let Some(types) = &o.delivery_types {
        let t = product.delivery_type.to_string();
        if !types.contains(&t) {
            return Err(outside(at("product_id"), "the delivery type", &t, types));
        }
    }
    if let (Some(dims), Some(Value::Object(targeting))) =
        (&o.targeting_dimensions, pkg.get("targeting_overlay"))
        && let Some(dim) = targeting.keys().find(|k| !dims.contains(k))
    {
        return Err(outside(
            at(&format!("targeting_overlay.{dim}")),
            "targeting on",
            dim,
            dims,
        ));
    }
    Ok(())
}
