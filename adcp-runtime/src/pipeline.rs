//! The request pipeline, shared by every transport: one tool call in, one AdCP response out.
//!
//! For each call: check `adcp_major_version`; validate the arguments against the task's
//! request schema (so adopter code only ever sees valid requests); resolve the account (and
//! gate on its status); claim the idempotency key of a mutating task; run the handler (or the
//! runtime's own task); register a hand-off as a task; and wrap the answer in the envelope
//! (`status`, `context` and `sandbox` echoed, errors as `adcp_error` + `errors[]`).

use adcp_wire::TaskSpec;
use serde::Serialize;
use serde_json::{Value, json};

use crate::accounts::{self, Resolved};
use crate::config::{Call, MAJOR_VERSION, Reply};
use crate::ctx::CtxBuilder;
use crate::error::{AdcpError, codes};
use crate::handoff::JobContext;
use crate::idempotency::{self, Admission};
use crate::platform::{DecisioningPlatform, HandoffStatus, Outcome, Work};
use crate::server::Server;
use crate::store::IdemKey;
use crate::store::TaskStatus;
use crate::tasks::NewTask;
use crate::{controller, envelope, tasks, validate};

/// A number per call, unique in this process (for the call's span; cheaper than a UUID).
fn next_request_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<P: DecisioningPlatform> Server<P> {
    /// Serves one call: the AdCP answer, envelope included (errors too: a call always gets an
    /// answer).
    pub async fn call(&self, call: Call) -> Reply {
        use tracing::Instrument as _;
        self.start();
        let began = std::time::Instant::now();
        let task_name = call.tool.clone();
        // One span per call: what it is and for whom, never its credentials or arguments.
        let span = tracing::info_span!(
            "call",
            task = %task_name,
            tenant = %self.tenant(),
            principal = %accounts::principal_id(call.principal.as_ref()),
            account = tracing::field::Empty,
            request_id = next_request_id(),
        );
        let context = call.args.get("context").cloned();
        let result = async {
            tracing::debug!(args = %envelope::redacted(&call.args), "call");
            self.run(call).await
        }
        .instrument(span.clone())
        .await;
        // Nothing is answered before what the call wrote is on disk (SQLite's group commit:
        // the calls answered together share one fsync).
        let durable = crate::store::commit::durable(self.inner.commits.as_deref()).await;
        let result = match durable {
            Ok(()) => result,
            Err(e) => {
                tracing::error!(error = %e, "syncing the store's log");
                Err(AdcpError::new(
                    codes::SERVICE_UNAVAILABLE,
                    "the store could not make this call's changes durable; retry with the \
                     same idempotency key",
                ))
            }
        };
        let mut reply = match result {
            Ok(reply) => reply,
            Err(e) => Reply {
                body: envelope::error(&e),
                is_error: true,
            },
        };
        envelope::echo_context(&mut reply.body, context);
        if self.inner.config.validate_responses && !reply.is_error {
            validate::check_response(&task_name, &reply.body);
        }
        let code = reply
            .is_error
            .then(|| {
                reply
                    .body
                    .pointer("/adcp_error/code")
                    .and_then(Value::as_str)
            })
            .flatten();
        self.inner.metrics.record(&task_name, code, began.elapsed());
        span.in_scope(|| {
            tracing::debug!(is_error = reply.is_error, body = %envelope::redacted(&reply.body), "reply");
        });
        reply
    }

    async fn run(&self, mut call: Call) -> Result<Reply, AdcpError> {
        // A grant serves one call as its issuer's, on its account: the account it names
        // replaces any the request names. Capabilities are anyone's.
        if let Some(g) = call
            .grant
            .as_ref()
            .filter(|_| call.tool != "get_adcp_capabilities")
        {
            match call.args.as_object_mut() {
                Some(args) if g.covers(&call.tool, args) => {
                    args.insert(
                        "account".into(),
                        json!({"account_id": g.account_id.clone()}),
                    );
                    call.principal = Some(g.issuer());
                }
                _ => return Err(crate::grants::not_covered()),
            }
        }
        self.inner
            .limiter
            .admit(call.principal.as_ref(), call.peer)?;
        let Some(spec) = adcp_wire::task(&call.tool) else {
            return Err(envelope::unknown_task(&call.tool, "tool"));
        };
        let Value::Object(args) = &call.args else {
            return Err(AdcpError::invalid_request(
                "",
                "the arguments must be a JSON object",
            ));
        };
        if let Some(v) = args.get("adcp_major_version")
            && v.as_i64() != Some(MAJOR_VERSION)
        {
            return Err(AdcpError::new(
                codes::VERSION_UNSUPPORTED,
                format!("this agent speaks AdCP major version {MAJOR_VERSION}"),
            )
            .with_field("adcp_major_version")
            .with_details(json!({"supported_versions": [MAJOR_VERSION]})));
        }
        let descriptor = P::descriptor();
        if spec.name == "comply_test_controller" {
            if !self.serves_controller() {
                return Err(envelope::unknown_task(spec.name, "tool"));
            }
            return controller::handle(self.platform(), &self.inner.services, &call).await;
        }
        if !self.serves(descriptor, spec.name) {
            return Err(envelope::unknown_task(spec.name, "tool"));
        }
        // Test mode lets a governance agent be a loopback receiver over http, as webhooks may.
        let test_mode = self.inner.config.allow_private_webhooks;
        validate::validate_request_except(spec, &call.args, |issue| {
            test_mode && crate::governance::loopback_agent_url(spec.name, &call.args, issue)
        })?;
        self.check_push_urls(&call)?;
        if matches!(spec.name, "create_media_buy" | "update_media_buy") {
            crate::reporting::check(
                args,
                self.webhook_policy(),
                descriptor.implements("get_media_buy_delivery"),
            )?;
        }
        if spec.name == "get_adcp_capabilities" {
            return Ok(Reply {
                body: self.capabilities(),
                is_error: false,
            });
        }
        // The account, before anything is read or written for the call: a caller that may not
        // act for the account it names learns nothing and leaves nothing behind.
        let resolved = self
            .inner
            .services
            .accounts
            .resolve(call.principal.as_ref(), args)
            .await?;
        let principal = accounts::principal_id(call.principal.as_ref());
        tracing::Span::current().record("account", resolved.scope.as_str());
        match spec.name {
            "tasks_get" | "tasks_list" => {
                let registry = &self.inner.services.tasks;
                let owner = tasks::owner_of(&resolved.scope, principal, args);
                let body = if spec.name == "tasks_get" {
                    tasks::serve_get(registry, owner, args).await?
                } else {
                    tasks::serve_list(registry, owner, args).await?
                };
                return Ok(Reply {
                    body,
                    is_error: false,
                });
            }
            "sync_accounts" | "list_accounts" | "sync_governance" => {}
            _ => resolved.account.gate(spec, args)?,
        }
        let key = args
            .get("idempotency_key")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let in_flight = match (&key, spec.mutating) {
            (Some(k), true) => {
                // Keys are per account and per caller: one caller never replays another's.
                let idem = IdemKey {
                    key: k.clone(),
                    scope: format!("{}|{}|{principal}", resolved.scope, principal.len()),
                    task: spec.name.to_owned(),
                };
                let store = &self.inner.idempotency;
                match idempotency::admit(store, idem, &call.args, self.inner.config.replay_ttl)
                    .await?
                {
                    Admission::Run(f) => Some(f),
                    Admission::Replay(body) => {
                        self.inner.metrics.replay();
                        return Ok(Reply {
                            body,
                            is_error: false,
                        });
                    }
                }
            }
            _ => None,
        };
        // A governance-aware seller asks the buyer's governance agents before spend is
        // confirmed: a denial books nothing.
        let agent_url = self.agent_url(&call);
        // A create of a buyer whose plan is kept by the platform itself (a seller that is also
        // its buyers' governance agent): checked against it (see `own_governance`).
        let mut own = None;
        let governed = if descriptor.specialisms.contains(&"governance_aware_seller") {
            let gov = crate::governance::Governance {
                state: self.state(&resolved.scope),
                caller: &agent_url,
                policy: self.webhook_policy(),
            };
            // The account's registered agents are asked of a create naming its plan; one naming
            // none is checked against the plan the caller synced here for its brand.
            if spec.name == "create_media_buy"
                && self.governs_itself()
                && (!args.contains_key("plan_id") || gov.agents().await?.is_empty())
            {
                // The buy's brand is its resolved account's (an account named by id too).
                let brand = resolved
                    .account
                    .brand
                    .as_ref()
                    .map(|b| b.domain.as_str())
                    .or_else(|| {
                        args.get("account")
                            .and_then(|a| a["brand"]["domain"].as_str())
                    });
                own = crate::governance::own_plan(
                    self.inner.services.state.as_ref(),
                    call.principal.as_ref(),
                    brand,
                    args,
                    self.inner.config.clock.now(),
                )
                .await?;
                // A plan named that this agent does not keep for the caller and brand, on an
                // account with no other agent to ask: not found, rather than booked unchecked.
                if own.is_none() && args.contains_key("plan_id") && gov.agents().await?.is_empty() {
                    return Err(AdcpError::not_found(
                        codes::PLAN_NOT_FOUND,
                        "plan_id",
                        "plan",
                    ));
                }
            }
            match &own {
                Some(plan) => Some(self.check_own(plan, &call, args).await?),
                None => {
                    let lenient = self.inner.config.compliance_testing && resolved.account.sandbox;
                    crate::governance::before(&gov, spec.name, args, lenient).await?
                }
            }
        } else {
            None
        };
        // A proposal the create accepts is consumed now, once, for this call's claim.
        let accepted = match (spec.name, self.proposal_manager()) {
            ("create_media_buy", Some(m)) => {
                let claim = match &key {
                    Some(k) => format!("{}|{principal}|{k}", resolved.scope),
                    None => crate::store::accounts::random_id("claim"),
                };
                crate::proposals::accept(
                    m.as_ref(),
                    self.inner.ledger.as_ref(),
                    &resolved.scope,
                    claim,
                    args,
                )
                .await?
            }
            ("create_media_buy", None) if args.contains_key("proposal_id") => {
                return Err(AdcpError::new(
                    crate::error::codes::UNSUPPORTED_FEATURE,
                    "this seller makes no proposals: name packages instead",
                )
                .with_field("proposal_id"));
            }
            _ => None,
        };
        let handler_args = accepted.as_ref().map_or(&call.args, |a| &a.args);
        let ctx = CtxBuilder::new(spec)
            .governance_decision(governed.as_ref().map(|c| c.decision.clone()))
            .proposal(accepted.as_ref().map(|a| a.record.clone()))
            .principal(call.principal.clone())
            .grant(call.grant.clone())
            .resolved(resolved.clone())
            .agent_url(self.agent_url(&call))
            .idempotency_key(key.clone())
            .services(self.inner.services.clone())
            .build();
        // The measurement windows of the call's products, for its delivery reports.
        let mut windows = Vec::new();
        // Packages outside their products' recipes never reach the platform.
        if let Some(m) = self.proposal_manager()
            && matches!(spec.name, "create_media_buy" | "update_media_buy")
        {
            let gated = match crate::proposals::gate::<P>(m.as_ref(), &ctx, handler_args).await {
                // An update also sees the products the buy was booked with.
                Ok(mut products) if spec.name == "update_media_buy" => {
                    let state = self.state(&resolved.scope);
                    let existing = crate::proposals::gate_existing::<P>(
                        m.as_ref(),
                        &ctx,
                        &state,
                        handler_args,
                    )
                    .await;
                    let booked = match existing {
                        Ok(()) => {
                            crate::proposals::booked(m.as_ref(), &ctx, &state, handler_args).await
                        }
                        Err(e) => Err(e),
                    };
                    booked.map(|booked| {
                        for b in booked {
                            let id = b.as_ref().map(|p| p.product_id.as_str());
                            let seen = products
                                .iter()
                                .flatten()
                                .any(|p| Some(p.product_id.as_str()) == id);
                            if !seen {
                                products.push(b);
                            }
                        }
                        products
                    })
                }
                other => other,
            };
            // What the products declare about reporting, against the buyer's webhook.
            let gated = gated.and_then(|p| {
                crate::reporting::check_products(args, &p)?;
                Ok(p)
            });
            match gated {
                Ok(products) => {
                    windows = crate::reporting::windows(&products);
                    ctx.set_products(products);
                }
                Err(e) => {
                    if let Some(a) = &accepted {
                        crate::proposals::settle(
                            self.inner.ledger.as_ref(),
                            &resolved.scope,
                            a,
                            None,
                        )
                        .await;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(m) = self.proposal_manager()
            && spec.name == "get_media_buy_delivery"
        {
            let state = self.state(&resolved.scope);
            ctx.set_products(crate::proposals::booked(m.as_ref(), &ctx, &state, &call.args).await?);
        }
        let forced = controller::take_forced_arm(
            &self.state(&resolved.scope),
            spec,
            self.inner.config.compliance_testing,
        )
        .await?;
        let outcome = match forced {
            Some(arm) => Ok(Outcome::Handoff(crate::platform::Handoff {
                status: match arm.arm.as_str() {
                    "input-required" => HandoffStatus::InputRequired,
                    "working" => HandoffStatus::Working,
                    _ => HandoffStatus::Submitted,
                },
                message: arm.message,
                work: Work::External,
            }))
            .map(|o| (o, arm.task_id)),
            None => match (
                spec.name,
                self.proposal_manager(),
                descriptor.handler(spec.name),
            ) {
                ("get_products", Some(m), _) => crate::proposals::get_products::<P>(
                    m.as_ref(),
                    &self.inner.ledger,
                    &ctx,
                    &call.args,
                )
                .await
                .map(|o| (o, None)),
                (_, _, Some(h)) => (h.call)(&self.inner.platform, ctx, handler_args.clone())
                    .await
                    .map(|o| (o, None)),
                (_, _, None) => account_task(spec.name, &ctx, &call.args)
                    .await
                    .map(|o| (o, None)),
            },
        };
        let mut outcome = outcome;
        match (&mut outcome, spec.name) {
            (Ok((Outcome::Done(body), _)), "get_products") => {
                crate::proposals::strip_recipes(body);
            }
            (Ok((Outcome::Done(body), _)), "create_media_buy")
                if self.proposal_manager().is_some() =>
            {
                crate::proposals::remember(&self.state(&resolved.scope), body).await;
            }
            _ => {}
        }
        if let Some(a) = &accepted {
            // Booked: the buy is the proposal's. Refused: the proposal is given back. Handed
            // off: it stays consumed by this call's claim (a retry finds it again).
            let booked = match &outcome {
                Ok((Outcome::Done(body), _)) => {
                    Some(body.get("media_buy_id").and_then(Value::as_str))
                }
                Ok((Outcome::Handoff(_), _)) => None,
                Err(_) => Some(None),
            };
            if let Some(buy) = booked {
                crate::proposals::settle(self.inner.ledger.as_ref(), &resolved.scope, a, buy).await;
            }
        }
        let body = match outcome {
            Ok((Outcome::Done(mut body), _)) => {
                if let Some(checked) = &governed {
                    crate::governance::after(&self.state(&resolved.scope), checked, &mut body)
                        .await;
                    if let Some(plan) = &own {
                        self.commit_own(plan, &call, checked, &body).await;
                    }
                }
                if spec.name == "sync_plans" && self.governs_itself() {
                    crate::governance::keep_own(
                        self.inner.services.state.as_ref(),
                        call.principal.as_ref(),
                        &resolved,
                        &call.args,
                        &body,
                    )
                    .await;
                }
                envelope::completed(&mut body, key.as_deref());
                envelope::echo_sandbox(&mut body, spec, resolved.account.sandbox);
                self.notify_sync_completion(spec, &resolved, &call, &body)
                    .await;
                if matches!(spec.name, "create_media_buy" | "update_media_buy") {
                    self.subscribe_reporting(&resolved, &call, &body, &windows)
                        .await;
                }
                body
            }
            Ok((Outcome::Handoff(h), task_id)) => {
                let job = JobContext {
                    resolved: &resolved,
                    principal: call.principal.as_ref(),
                    agent_url: self.agent_url(&call),
                    key: key.as_deref(),
                    a2a_push: call.a2a_push.as_ref(),
                };
                let mut body = self.hand_off(spec, args, h, task_id, &job).await?;
                if let Some(checked) = &governed {
                    let state = self.state(&resolved.scope);
                    crate::governance::handed_off(&state, checked, &mut body).await;
                }
                if spec.name == "create_media_buy" {
                    self.subscribe_reporting(&resolved, &call, &body, &windows)
                        .await;
                }
                body
            }
            Err(e) => return Err(e), // errors are not stored: the in-flight key is released
        };
        if let Some(f) = in_flight
            && let Err(e) = f.complete(&body).await
        {
            tracing::error!(error = %e, "storing an idempotent response");
        }
        Ok(Reply {
            body,
            is_error: false,
        })
    }

    pub(crate) fn agent_url(&self, call: &Call) -> String {
        self.inner
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| call.agent_url.clone())
    }

    /// Registers the completed task of a call that finished in its response, when the buyer
    /// asked for webhooks: its one webhook goes out with the registration.
    async fn notify_sync_completion(
        &self,
        spec: &TaskSpec,
        resolved: &Resolved,
        call: &Call,
        body: &Value,
    ) {
        let push = call
            .args
            .get("push_notification_config")
            .filter(|p| p.get("url").is_some());
        let a2a_push = call.a2a_push.as_ref().filter(|p| p.get("url").is_some());
        if !self.inner.config.webhooks_on_sync_completion || (push.is_none() && a2a_push.is_none())
        {
            return;
        }
        let mut new = NewTask::new(spec.name, spec.protocol, &resolved.scope);
        new.principal = Some(accounts::principal_id(call.principal.as_ref()).to_owned());
        new.status = TaskStatus::Completed;
        new.result = Some(body.clone());
        new.push = push.cloned();
        new.a2a_push.clone_from(&call.a2a_push);
        new.context = call.args.get("context").cloned();
        if let Err(e) = self.inner.services.tasks.create(new).await {
            tracing::error!(task = spec.name, error = %e, "registering a completed task for its webhook");
        }
    }

    /// Refuses, before anything runs, a webhook URL the dispatcher would never call (not
    /// http(s), credentials in it, a literal non-public address), so the buyer learns now
    /// rather than never hearing back. Names that resolve to a non-public address are refused
    /// when delivered, since the answer can change.
    fn check_push_urls(&self, call: &Call) -> crate::AdcpResult<()> {
        let policy = self.webhook_policy();
        let urls = [
            (
                "push_notification_config.url",
                call.args.pointer("/push_notification_config/url"),
            ),
            (
                "configuration.pushNotificationConfig.url",
                call.a2a_push.as_ref().and_then(|p| p.get("url")),
            ),
        ];
        for (field, url) in urls {
            if let Some(url) = url.and_then(Value::as_str)
                && let Err(refused) = policy.check_url(url)
            {
                return Err(AdcpError::invalid_request(
                    field,
                    format!("the webhook URL is refused: {refused}"),
                ));
            }
        }
        Ok(())
    }
}

/// The account tasks the runtime serves from its store.
async fn account_task(task: &str, ctx: &crate::Ctx, args: &Value) -> crate::AdcpResult<Outcome> {
    fn encode<T: Serialize>(r: T) -> crate::AdcpResult<Outcome> {
        serde_json::to_value(r)
            .map(Outcome::Done)
            .map_err(|e| AdcpError::internal(e.to_string()))
    }
    let decode_err = |e: adcp_wire::DecodeError| AdcpError::invalid_request(e.path, e.message);
    match task {
        "sync_accounts" => {
            let req = adcp_wire::decode(args.clone()).map_err(decode_err)?;
            encode(ctx.accounts().sync(&req).await?)
        }
        "list_accounts" => {
            let req = adcp_wire::decode(args.clone()).map_err(decode_err)?;
            encode(ctx.accounts().list_page(&req).await?)
        }
        "sync_governance" => {
            let services = ctx.services();
            let store = services.state.as_ref();
            let policy = services.webhook_policy;
            crate::governance::sync(&services.accounts, store, policy, ctx.principal(), args)
                .await
                .map(Outcome::Done)
        }
        other => Err(envelope::unknown_task(other, "tool")),
    }
}
