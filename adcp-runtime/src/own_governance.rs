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

/// The purchase tasks besides media buys that a buyer's plan governs; a platform checks them
/// with [`Ctx::govern`](crate::Ctx::govern).
pub(crate) const GOVERNED_PURCHASES: &[&str] = &["activate_signal", "acquire_rights"];

impl<P: DecisioningPlatform> Server<P> {
    /// Reports to the platform's own plan what a purchase it decided committed. Best effort:
    /// a failure is logged.
    pub(crate) async fn commit_purchase(
        &self,
        ctx: &crate::Ctx,
        d: &crate::governance::Decision,
        p: &crate::governance::Purchase,
        reference: &str,
    ) {
        let (true, Some(context)) = (self.governs_itself(), d.governance_context.as_deref()) else {
            return;
        };
        if P::descriptor().handler("report_plan_outcome").is_none() {
            return;
        }
        let mut named = Map::new();
        named.insert("plan_id".into(), json!(d.plan_id));
        let store = self.inner.services.state.as_ref();
        let now = self.inner.config.clock.now();
        let own = match crate::governance::own_plan(store, ctx.principal(), None, &named, now).await
        {
            Ok(Some(own)) => own,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, plan_id = %d.plan_id, "finding the plan a purchase was checked against");
                return;
            }
        };
        let mut args = Map::new();
        args.insert(
            "idempotency_key".into(),
            json!(format!("adcp-own-outcome-{}", d.check_id)),
        );
        args.insert("plan_id".into(), json!(d.plan_id));
        args.insert("governance_context".into(), json!(context));
        args.insert("outcome".into(), json!("completed"));
        args.insert("check_id".into(), json!(d.check_id));
        let mut response = json!({"seller_reference": reference});
        if let Some(t) = p.total {
            response["committed_budget"] = json!(t);
        }
        args.insert("seller_response".into(), response);
        let reported = self
            .own_task_as(
                "report_plan_outcome",
                &own,
                ctx.principal().cloned(),
                ctx.agent_url().to_owned(),
                args,
            )
            .await;
        if let Err(e) = reported {
            tracing::error!(error = %e, reference, "reporting a purchase to the platform's own plan");
        }
    }

    /// See [`crate::Ctx::govern`].
    pub(crate) async fn govern_purchase(
        &self,
        ctx: &crate::Ctx,
        p: &crate::governance::Purchase,
    ) -> AdcpResult<Option<crate::governance::Decision>> {
        // The account's registered governance agents decide a purchase that names their plan.
        let named = p.payload.get("plan_id").and_then(Value::as_str);
        let gov = ctx.governance();
        if let Some(plan_id) = named
            && !gov.agents().await?.is_empty()
        {
            let check = crate::governance::Check {
                plan_id: plan_id.to_owned(),
                phase: "purchase".into(),
                purchase_type: Some(p.purchase_type.clone()),
                planned_delivery: Some(Value::Object(
                    [
                        ("total_budget", p.total.map(|t| json!(t))),
                        ("start_time", p.start.as_ref().map(|s| json!(s))),
                        ("end_time", p.end.as_ref().map(|s| json!(s))),
                    ]
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                    .collect(),
                )),
                governance_context: p
                    .payload
                    .get("governance_context")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                ..crate::governance::Check::default()
            };
            return gov.check(&check).await;
        }
        if !self.governs_itself() {
            return Ok(None);
        }
        // The brand bought for: the account's, else the one the request names (its account,
        // its buyer's brand). A buyer naming itself by its agency's domain buys for the brand
        // of its account here that the agency operates, when there is one such brand.
        let named = |k: &str, path: &[&str]| {
            let mut v = p.payload.get(k)?;
            for seg in path {
                v = v.get(*seg)?;
            }
            v.as_str().map(str::to_owned)
        };
        let mut brands: Vec<String> = [
            ctx.account().brand.as_ref().map(|b| b.domain.clone()),
            named("account", &["brand", "domain"]),
            named("buyer", &["domain"]),
            named("buyer_brand", &["domain"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        let accounts = self
            .inner
            .services
            .accounts
            .store
            .list(crate::accounts::principal_id(ctx.principal()))
            .await
            .unwrap_or_default();
        for agency in brands.clone() {
            let operated: std::collections::BTreeSet<&str> = accounts
                .iter()
                .filter(|a| {
                    a.operator
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(&agency))
                })
                .filter_map(|a| a.brand.as_ref().map(|b| b.domain.as_str()))
                .collect();
            if let [only] = operated.into_iter().collect::<Vec<_>>()[..] {
                brands.push(only.to_owned());
            }
        }
        let mut dated = Map::new();
        if let Some(s) = &p.start {
            dated.insert("start_time".into(), json!(s));
        }
        let store = self.inner.services.state.as_ref();
        let now = self.inner.config.clock.now();
        let mut own = None;
        for brand in &brands {
            own = crate::governance::own_plan(store, ctx.principal(), Some(brand), &dated, now)
                .await?;
            // An undated purchase is the brand's latest plan's to decide, whose flight its
            // check weighs.
            if own.is_none() && p.start.is_none() {
                own =
                    crate::governance::latest_own_plan(store, ctx.principal(), Some(brand)).await?;
            }
            if own.is_some() {
                break;
            }
        }
        let Some(own) = own else {
            return Ok(None);
        };
        let mut payload = p.payload.clone();
        for k in ["idempotency_key", "context", "ext", "adcp_major_version"] {
            payload.remove(k);
        }
        if let Some(t) = p.total {
            payload.insert("total_budget".into(), json!(t));
        }
        for (k, v) in [("start_time", &p.start), ("end_time", &p.end)] {
            if let Some(v) = v {
                payload.insert(k.into(), json!(v));
            }
        }
        let check = crate::governance::Check {
            plan_id: own.plan_id.clone(),
            phase: "purchase".into(),
            purchase_type: Some(p.purchase_type.clone()),
            governance_context: p
                .payload
                .get("governance_context")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..crate::governance::Check::default()
        };
        let mut arguments = crate::governance::check_arguments(&check, ctx.agent_url());
        arguments.insert("tool".into(), json!(p.tool));
        arguments.insert("payload".into(), Value::Object(payload));
        let answer = self
            .own_task_as(
                "check_governance",
                &own,
                ctx.principal().cloned(),
                ctx.agent_url().to_owned(),
                arguments,
            )
            .await?;
        match crate::governance::decision(&answer, &check) {
            Ok(Ok(d)) => Ok(Some(d)),
            Ok(Err(denied)) => Err(denied),
            Err(why) => Err(AdcpError::internal(format!(
                "the platform's check_governance {why}"
            ))),
        }
    }

    /// Whether the platform governs its buyers' plans itself: it keeps plans and decides
    /// checks (`sync_plans`, `check_governance`), and it sells what a plan governs (a
    /// governance-aware seller's buys, signal activations, rights licences).
    pub(crate) fn governs_itself(&self) -> bool {
        let d = P::descriptor();
        d.handler("sync_plans").is_some()
            && d.handler("check_governance").is_some()
            && (d.specialisms.contains(&"governance_aware_seller")
                || GOVERNED_PURCHASES.iter().any(|t| d.implements(t)))
    }

    /// Calls the platform's `task` for `own`'s account.
    async fn own_task(
        &self,
        task: &str,
        own: &OwnPlan,
        call: &crate::Call,
        args: Map<String, Value>,
    ) -> AdcpResult<Value> {
        self.own_task_as(
            task,
            own,
            call.principal.clone(),
            self.agent_url(call),
            args,
        )
        .await
    }

    /// Calls the platform's `task` for `own`'s account, as `principal` at `agent_url`.
    async fn own_task_as(
        &self,
        task: &str,
        own: &OwnPlan,
        principal: Option<crate::store::Principal>,
        agent_url: String,
        args: Map<String, Value>,
    ) -> AdcpResult<Value> {
        let d = P::descriptor();
        let (Some(h), Some(spec)) = (d.handler(task), adcp_wire::task(task)) else {
            return Err(AdcpError::internal(format!(
                "the platform serves no {task}"
            )));
        };
        let ctx = CtxBuilder::new(spec)
            .principal(principal)
            .resolved(Resolved {
                account: own.account.clone(),
                scope: own.scope.clone(),
            })
            .agent_url(agent_url)
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
