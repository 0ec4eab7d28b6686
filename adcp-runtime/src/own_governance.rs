//! A seller that is also its buyers' governance agent (it claims `governance_aware_seller` and
//! serves `sync_plans` and `check_governance`): a buyer that synced a plan here has its creates
//! checked against that plan, by the platform's own `check_governance`, before spend is
//! confirmed, with the same answers as an
//! agent asked over the network (`GOVERNANCE_DENIED` with the findings; an approval's context
//! and conditions on the buy). What a booked create committed is reported to the platform's
//! `report_plan_outcome`, so the plan's budget counts it.
//!
//! The plan is the one the create names (`plan_id`: when the account has no governance agent
//! registered with `sync_governance`, which is asked instead), else the latest the caller
//! synced for the account's brand whose flight holds the buy's start (registered agents need
//! the plan named; a buy outside every such plan's flight is not governed by them); it is
//! checked in the account it was synced under, and is never another caller's.

use serde_json::{Map, Value, json};

use crate::accounts::Resolved;
use crate::ctx::CtxBuilder;
use crate::error::{AdcpError, AdcpResult};
use crate::governance::{Checked, OwnPlan};
use crate::platform::{DecisioningPlatform, Outcome};
use crate::server::Server;

impl<P: DecisioningPlatform> Server<P> {
    /// Whether the platform governs its buyers' plans itself.
    pub(crate) fn governs_itself(&self) -> bool {
        let d = P::descriptor();
        d.specialisms.contains(&"governance_aware_seller")
            && d.handler("sync_plans").is_some()
            && d.handler("check_governance").is_some()
    }

    /// Calls the platform's `task` for `own`'s account.
    async fn own_task(
        &self,
        task: &str,
        own: &OwnPlan,
        call: &crate::Call,
        args: Map<String, Value>,
    ) -> AdcpResult<Value> {
        let d = P::descriptor();
        let (Some(h), Some(spec)) = (d.handler(task), adcp_wire::task(task)) else {
            return Err(AdcpError::internal(format!(
                "the platform serves no {task}"
            )));
        };
        let ctx = CtxBuilder::new(spec)
            .principal(call.principal.clone())
            .resolved(Resolved {
                account: own.account.clone(),
                scope: own.scope.clone(),
            })
            .agent_url(self.agent_url(call))
            .services(self.inner.services.clone())
            .build();
        match (h.call)(&self.inner.platform, ctx, Value::Object(args)).await? {
            Outcome::Done(body) => Ok(body),
            Outcome::Handoff(_) => Err(AdcpError::internal(format!(
                "the platform's {task} handed off; its own governance must answer at once"
            ))),
        }
    }

    /// Checks a `create_media_buy` against `own`.
    pub(crate) async fn check_own(
        &self,
        own: &OwnPlan,
        call: &crate::Call,
        args: &Map<String, Value>,
    ) -> AdcpResult<Checked> {
        let (check, budgets, total) = crate::governance::create_check(args, &own.plan_id);
        let mut arguments = crate::governance::check_arguments(&check, &self.agent_url(call));
        let mut payload = args.clone();
        for k in ["idempotency_key", "context", "ext", "adcp_major_version"] {
            payload.remove(k);
        }
        arguments.insert("tool".into(), json!("create_media_buy"));
        arguments.insert("payload".into(), Value::Object(payload));
        let answer = self
            .own_task("check_governance", own, call, arguments)
            .await?;
        match crate::governance::decision(&answer, &check) {
            Ok(Ok(d)) => Ok(Checked::new(own.plan_id.clone(), d, budgets, total)),
            Ok(Err(denied)) => Err(denied),
            Err(why) => Err(AdcpError::internal(format!(
                "the platform's check_governance {why}"
            ))),
        }
    }

    /// Reports to the platform what a create booked under `checked` committed. Best effort
    /// after the answer is made: a failure is logged.
    pub(crate) async fn commit_own(
        &self,
        own: &OwnPlan,
        call: &crate::Call,
        checked: &Checked,
        body: &Value,
    ) {
        let (Some(buy), Some(context)) = (
            body.get("media_buy_id").and_then(Value::as_str),
            checked.decision.governance_context.as_deref(),
        ) else {
            return;
        };
        if P::descriptor().handler("report_plan_outcome").is_none() {
            return;
        }
        let mut args = Map::new();
        args.insert(
            "idempotency_key".into(),
            json!(format!("adcp-own-outcome-{}", checked.decision.check_id)),
        );
        args.insert("plan_id".into(), json!(own.plan_id));
        args.insert("governance_context".into(), json!(context));
        args.insert("outcome".into(), json!("completed"));
        args.insert("check_id".into(), json!(checked.decision.check_id));
        args.insert(
            "seller_response".into(),
            json!({"seller_reference": buy, "committed_budget": checked.total()}),
        );
        if let Err(e) = self.own_task("report_plan_outcome", own, call, args).await {
            tracing::error!(error = %e, media_buy_id = buy, "reporting a buy to the platform's own plan");
        }
    }
}
