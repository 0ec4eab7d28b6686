//! Escalations: actions a person must approve (a reallocation above the plan's threshold, or
//! any action on a plan requiring human review).
//!
//! An escalated check is denied, and hands the buyer a `governance_context` naming the
//! escalation. The escalation is kept in the buyer's account, and queued for the agency's
//! reviewers across accounts. A reviewer decides it from the command line, against the same
//! store as the running agent (`governance review list|approve|reject`): both are durable,
//! and survive a restart of either. The buyer's next check naming the escalation gets the
//! decision:
//! - pending: denied again, same context;
//! - approved: the person's approval stands in for the automatic limit. The action is
//!   decided on everything else, with the reviewer's conditions added, for up to the amount
//!   reviewed;
//! - rejected: denied, with the reviewer's reason.

use adcp_runtime::store::StateStore;
use adcp_runtime::time;
use adcp_runtime::{AdcpResult, Collection, Ctx, SHARED_SCOPE, State};
use serde::{Deserialize, Serialize};

/// The escalations of an account, by id.
pub(crate) const ESCALATIONS: Collection<Escalation> = Collection::new("escalations");

/// The reviewers' queue: every account's escalations, by id.
const QUEUE: Collection<Queued> = Collection::new("review_queue");

/// What a reviewer decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Review {
    /// Waiting for a person.
    Pending,
    /// Approved, on these conditions.
    Approved {
        /// Who approved.
        reviewer: String,
        /// When.
        at: String,
        /// `(field, requirement)` the action must meet.
        conditions: Vec<(String, String)>,
    },
    /// Rejected.
    Rejected {
        /// Who rejected.
        reviewer: String,
        /// When.
        at: String,
        /// Why.
        reason: String,
    },
}

/// An action waiting for, or decided by, a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Escalation {
    /// Its id: the `governance_context` the buyer re-checks with.
    pub escalation_id: String,
    /// The plan.
    pub plan_id: String,
    /// The check that escalated it.
    pub check_id: String,
    /// The approval the escalated action modified, if it was a modification.
    pub context: Option<String>,
    /// The amount the action commits, as reviewed.
    pub amount: Option<f64>,
    /// Why it needs a person.
    pub reasons: Vec<String>,
    /// When it was escalated.
    pub at: String,
    /// The decision.
    pub review: Review,
}

/// An escalation in the reviewers' queue, and the account it is in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Queued {
    /// The escalation.
    pub escalation: Escalation,
    /// The account's store scope.
    pub scope: String,
}

/// Keeps a new escalation in the caller's account and queues it for review.
pub(crate) async fn escalate(ctx: &Ctx, e: &Escalation) -> AdcpResult<()> {
    ctx.state().put(ESCALATIONS, &e.escalation_id, e).await?;
    let queued = Queued {
        escalation: e.clone(),
        scope: ctx.scope().to_owned(),
    };
    ctx.shared_state()
        .put(QUEUE, &e.escalation_id, &queued)
        .await
}

/// The caller's escalation `id` on `plan_id`, if it has one.
pub(crate) async fn find(ctx: &Ctx, id: &str, plan_id: &str) -> AdcpResult<Option<Escalation>> {
    Ok(ctx
        .state()
        .get(ESCALATIONS, id)
        .await?
        .filter(|e| e.plan_id == plan_id))
}

/// The queue, oldest first; only the pending ones unless `all`.
pub async fn queue(store: &dyn StateStore, all: bool) -> AdcpResult<Vec<Queued>> {
    let mut q: Vec<Queued> = State::new(store, SHARED_SCOPE).list(QUEUE).await?;
    q.retain(|q| all || q.escalation.review == Review::Pending);
    q.sort_by(|a, b| a.escalation.at.cmp(&b.escalation.at));
    Ok(q)
}

/// What a reviewer decides.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Approve, on `(field, requirement)` conditions.
    Approve(Vec<(String, String)>),
    /// Reject, for a reason.
    Reject(String),
}

/// Records `reviewer`'s decision on escalation `id`, in the buyer's account (where the next
/// check reads it) and in the queue. A decided escalation is not decided again.
pub async fn decide(
    store: &dyn StateStore,
    id: &str,
    reviewer: &str,
    decision: Decision,
) -> Result<Escalation, String> {
    let shared = State::new(store, SHARED_SCOPE);
    let Some(queued) = shared.get(QUEUE, id).await.map_err(|e| e.to_string())? else {
        return Err(format!("no escalation {id}"));
    };
    let at = time::rfc3339(time::now());
    let review = match decision {
        Decision::Approve(conditions) => Review::Approved {
            reviewer: reviewer.to_owned(),
            at,
            conditions,
        },
        Decision::Reject(reason) => Review::Rejected {
            reviewer: reviewer.to_owned(),
            at,
            reason,
        },
    };
    let account = State::new(store, &queued.scope);
    let decided = account
        .modify(
            ESCALATIONS,
            id,
            || adcp_runtime::AdcpError::internal("the escalation is queued but not kept"),
            |e| {
                if e.review != Review::Pending {
                    return Err(adcp_runtime::AdcpError::internal(
                        "the escalation is already decided",
                    ));
                }
                e.review = review.clone();
                Ok(e.clone())
            },
        )
        .await
        .map_err(|e| format!("{id}: {}", e.message()))?;
    let queued = Queued {
        escalation: decided.clone(),
        scope: queued.scope,
    };
    shared
        .put(QUEUE, id, &queued)
        .await
        .map_err(|e| e.to_string())?;
    Ok(decided)
}
