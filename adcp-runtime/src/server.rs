//! The request pipeline, shared by every transport: one tool call in, one AdCP response out.
//!
//! For each call: check `adcp_major_version`; validate the arguments against the task's
//! request schema (so adopter code only ever sees valid requests); claim the idempotency key of
//! a mutating task; resolve the account; run the handler (or the runtime's own task); register
//! a hand-off as a task; and wrap the answer in the envelope (`status`, `context` echoed, errors
//! as `adcp_error` + `errors[]`).
//!
//! Off the request path, each server runs (see [`Server::start`]): the webhook dispatcher, the
//! lease keeper that renews this replica's hold on the work it runs and adopts the work of
//! replicas that died, the idempotency vacuum, and on PostgreSQL the event listener.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use adcp_wire::TaskSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::accounts::{self, Resolved, Resolver};
use crate::ctx::{CtxBuilder, Principal, Services};
use crate::error::{AdcpError, codes};
use crate::events::Bus;
use crate::idempotency::{self, Claim, IdemKey, IdempotencyStore};
use crate::platform::{DecisioningPlatform, HandoffStatus, Outcome, Work};
use crate::state::State;
use crate::store::Stores;
use crate::tasks::{JobSpec, NewTask, Owner, TaskRecord, TaskRegistry, TaskStatus};
use crate::validate::schemas;
use crate::webhooks::{Dispatcher, Outbox, Retry};
use crate::{capabilities, controller, envelope, ssrf};

/// The AdCP major version this runtime speaks.
pub const MAJOR_VERSION: i64 = 3;

/// Tasks the runtime serves itself.
pub(crate) const RUNTIME_TASKS: &[&str] = &[
    "get_adcp_capabilities",
    "tasks_get",
    "tasks_list",
    "comply_test_controller",
];

/// Server settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The agent's name (MCP `serverInfo.name`, A2A card).
    pub name: String,
    /// The agent's version.
    pub version: String,
    /// What the agent does, in a sentence.
    pub description: String,
    /// The public base URL (`https://seller.example`); derived from each request's `Host` when
    /// unset.
    pub public_url: Option<String>,
    /// Compliance testing: serves `comply_test_controller` to sandbox accounts, maps the
    /// runner's test identities to one sandbox scope, and lets webhooks reach loopback.
    pub compliance_testing: bool,
    /// Capability sections merged into the derived `get_adcp_capabilities` (`account`,
    /// `media_buy`, ...).
    pub capabilities: Value,
    /// How long idempotent replays are served.
    pub replay_ttl: Duration,
    /// Check every response against its schema and log the mismatches (on in debug builds).
    pub validate_responses: bool,
    /// Let webhooks reach loopback, private and plain-http destinations. Off by default (the
    /// SSRF guard); for tests against a local receiver only.
    pub allow_private_webhooks: bool,
    /// Send the webhook of a call with `push_notification_config` that completes in its
    /// response. AdCP 3.0 receivers (and its compliance runner) expect it; later AdCP text
    /// forbids it. On by default.
    pub webhooks_on_sync_completion: bool,
    /// How long this replica's hold on running work lasts without renewal; work held longer
    /// by a dead replica is adopted by another.
    pub task_lease: Duration,
    /// Webhook retry timing.
    pub webhook_retry: Retry,
    /// In `singleton` account mode, the platform account's id: each caller acts for
    /// `<base>:<principal>`.
    pub singleton_account: String,
    /// Authentication: `None` serves every task to anyone (development only).
    pub auth: Option<crate::auth::Auth>,
    /// RFC 9421 verification of signed requests: `None` ignores signatures.
    pub request_signing: Option<crate::signing::RequestSigning>,
    /// The key outbound webhooks are signed with (RFC 9421 webhook profile) when the buyer
    /// registered no `authentication`; published at `/.well-known/jwks.json`.
    pub webhook_signing_key: Option<Arc<crate::signing::SigningKey>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "adcp-rs agent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "An AdCP agent served by adcp-rs".into(),
            public_url: None,
            compliance_testing: false,
            capabilities: json!({}),
            replay_ttl: idempotency::DEFAULT_RETENTION,
            validate_responses: cfg!(debug_assertions),
            allow_private_webhooks: false,
            webhooks_on_sync_completion: true,
            task_lease: crate::tasks::DEFAULT_LEASE,
            webhook_retry: Retry::default(),
            singleton_account: "default".into(),
            auth: None,
            request_signing: None,
            webhook_signing_key: None,
        }
    }
}

/// One call, as a transport received it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The tool (task) name.
    pub tool: String,
    /// The arguments.
    pub args: Value,
    /// The authenticated caller.
    pub principal: Option<Principal>,
    /// This agent's URL as the caller reached it.
    pub agent_url: String,
    /// An A2A `pushNotificationConfig` (with the message's `contextId`), for A2A-shaped
    /// webhooks.
    pub a2a_push: Option<Value>,
}

impl Call {
    /// A call of `tool` with `args`.
    pub fn new(tool: impl Into<String>, args: Value) -> Self {
        Call {
            tool: tool.into(),
            args,
            principal: None,
            agent_url: "http://127.0.0.1/mcp".into(),
            a2a_push: None,
        }
    }
}

/// The answer to a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The response, envelope included.
    pub body: Value,
    /// Whether the call failed (MCP `isError`, A2A `failed`).
    pub is_error: bool,
}

impl Reply {
    /// The task status the body carries.
    pub fn status(&self) -> &str {
        self.body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("completed")
    }
}

/// A forced `create_media_buy` arm, set through `comply_test_controller`; kept in the state
/// store so that any replica honours it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ForcedArm {
    pub(crate) arm: String,
    pub(crate) task_id: Option<String>,
    pub(crate) message: Option<String>,
}

/// Where forced arms live in the state store.
/// (A taken arm leaves `null`, so taking is one compare-and-set.)
pub(crate) const FORCED_ARMS: crate::state::Collection<Option<ForcedArm>> =
    crate::state::Collection::new("adcp:forced_create_media_buy_arm");

pub(crate) struct Inner<P> {
    pub(crate) platform: P,
    pub(crate) config: Config,
    pub(crate) services: Services,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) nonces: Arc<dyn crate::signing::NonceStore>,
    outbox: Arc<dyn Outbox>,
    stores: String,
    postgres_url: Option<String>,
    started: AtomicBool,
    /// Background loops hold a weak reference and stop when the server is dropped.
    alive: Arc<()>,
}

/// A platform with its runtime state. Cheap to clone; transports share one.
pub struct Server<P> {
    pub(crate) inner: Arc<Inner<P>>,
}

impl<P> Clone for Server<P> {
    fn clone(&self) -> Self {
        Server {
            inner: self.inner.clone(),
        }
    }
}

impl<P: DecisioningPlatform> Server<P> {
    /// A server with in-memory stores.
    pub fn new(platform: P, config: Config) -> Self {
        Server::with_stores(platform, config, Stores::memory())
    }

    /// A server over the given stores. On PostgreSQL the status-change bus is relayed to the
    /// other replicas (this needs a Tokio runtime).
    pub fn with_stores(platform: P, config: Config, stores: Stores) -> Self {
        let Stores {
            tasks,
            outbox,
            idempotency,
            state,
            nonces,
            accounts,
            ids,
            postgres_url,
            description,
        } = stores;
        let relay = postgres_url.as_deref().and_then(crate::events::pg::relay);
        let tasks = TaskRegistry::new(tasks, Bus::new(relay), config.task_lease);
        let services = Services {
            tasks,
            state,
            accounts: Resolver {
                store: accounts,
                ids,
                mode: P::descriptor().accounts,
                compliance_testing: config.compliance_testing,
                singleton_base: config.singleton_account.clone(),
            },
            supported_billing: supported_billing(&config.capabilities).into(),
        };
        Server {
            inner: Arc::new(Inner {
                platform,
                config,
                services,
                idempotency,
                nonces,
                outbox,
                stores: description,
                postgres_url,
                started: AtomicBool::new(false),
                alive: Arc::new(()),
            }),
        }
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.inner.platform
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The task registry.
    pub fn tasks(&self) -> &TaskRegistry {
        &self.inner.services.tasks
    }

    /// The status-change bus.
    pub fn events(&self) -> &Bus {
        self.inner.services.tasks.bus()
    }

    /// Adopter state of one scope, in the server's store (a handler's is [`Ctx::state`]).
    ///
    /// [`Ctx::state`]: crate::Ctx::state
    pub fn state<'a>(&'a self, scope: &'a str) -> State<'a> {
        State::new(self.inner.services.state.as_ref(), scope)
    }

    /// The webhook outbox.
    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.inner.outbox
    }

    /// What the stores are (for logs).
    pub fn stores(&self) -> &str {
        &self.inner.stores
    }

    /// Whether `comply_test_controller` is served.
    pub fn serves_controller(&self) -> bool {
        self.inner.config.compliance_testing
    }

    /// Every tool this server answers, in catalogue order.
    pub fn tools(&self) -> Vec<&'static TaskSpec> {
        let d = P::descriptor();
        adcp_wire::catalog::TASKS
            .iter()
            .filter(|t| match t.name {
                "comply_test_controller" => self.serves_controller(),
                n if RUNTIME_TASKS.contains(&n) => true,
                n => d.implements(n) || self.serves_account_task(n),
            })
            .collect()
    }

    /// Whether the runtime serves an account task the platform does not implement:
    /// `list_accounts` always, `sync_accounts` in `explicit` account mode.
    fn serves_account_task(&self, task: &str) -> bool {
        let d = P::descriptor();
        match task {
            "list_accounts" => !d.implements(task),
            "sync_accounts" => !d.implements(task) && d.accounts == crate::AccountMode::Explicit,
            _ => false,
        }
    }

    /// The account store's view for server-side code (an operator's tools, tests): the
    /// accounts of `principal`.
    pub fn accounts_of<'a>(&'a self, principal: &'a str) -> accounts::Accounts<'a> {
        accounts::Accounts {
            resolver: &self.inner.services.accounts,
            principal,
        }
    }

    /// The data scope of one of the server's accounts.
    pub(crate) fn scope_of(&self, account: &accounts::Account) -> String {
        self.inner.services.accounts.scope_of(account)
    }

    /// The `get_adcp_capabilities` response body.
    pub fn capabilities(&self) -> Value {
        capabilities::derive(self)
    }

    /// Serves one call.
    pub async fn call(&self, call: Call) -> Reply {
        self.start();
        tracing::debug!(tool = %call.tool, args = %envelope::redacted(&call.args), "call");
        let context = call.args.get("context").cloned();
        let task_name = call.tool.clone();
        let result = self.run(call).await;
        let mut reply = match result {
            Ok(reply) => reply,
            Err(e) => Reply {
                body: envelope::error(&e),
                is_error: true,
            },
        };
        envelope::echo_context(&mut reply.body, context);
        if self.inner.config.validate_responses && !reply.is_error {
            check_response(&task_name, &reply.body);
        }
        tracing::debug!(tool = %task_name, is_error = reply.is_error, body = %envelope::redacted(&reply.body), "reply");
        reply
    }

    async fn run(&self, call: Call) -> Result<Reply, AdcpError> {
        let Some(spec) = adcp_wire::task(&call.tool) else {
            return Err(AdcpError::new(
                codes::UNSUPPORTED_FEATURE,
                format!("unknown tool `{}`", call.tool),
            )
            .with_field("tool")
            .with_recovery(crate::Recovery::Terminal));
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
            return controller::handle(self, &call).await;
        }
        if !RUNTIME_TASKS.contains(&spec.name)
            && !descriptor.implements(spec.name)
            && !self.serves_account_task(spec.name)
        {
            return Err(crate::platform::unknown_task(spec.name));
        }
        validate_request(spec, &call.args)?;
        self.check_push_urls(&call)?;
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
        match spec.name {
            "tasks_get" => return self.tasks_get(&resolved, principal, args).await,
            "tasks_list" => return self.tasks_list(&resolved, principal, args).await,
            "sync_accounts" | "list_accounts" => {}
            _ => resolved.account.gate(spec, args)?,
        }
        let key = args
            .get("idempotency_key")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let in_flight = match (&key, spec.mutating) {
            (Some(k), true) => {
                let hash = idempotency::request_hash(&call.args).map_err(|_| {
                    AdcpError::invalid_request("", "the request cannot be canonicalised")
                })?;
                // Keys are per account and per caller: one caller never replays another's.
                let idem = IdemKey {
                    key: k.clone(),
                    scope: format!("{}|{}|{principal}", resolved.scope, principal.len()),
                    task: spec.name.to_owned(),
                };
                match idempotency::claim(
                    &self.inner.idempotency,
                    idem,
                    hash,
                    self.inner.config.replay_ttl,
                )
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "idempotency store");
                    AdcpError::internal("the idempotency store is unavailable")
                })? {
                    Claim::Fresh(f) => Some(f),
                    Claim::Replay(mut body) => {
                        if let Value::Object(m) = &mut body {
                            m.insert("replayed".into(), json!(true));
                        }
                        return Ok(Reply {
                            body,
                            is_error: false,
                        });
                    }
                    Claim::Conflict => {
                        return Err(AdcpError::new(
                            codes::IDEMPOTENCY_CONFLICT,
                            "this idempotency_key was already used with a different request",
                        )
                        .with_field("idempotency_key"));
                    }
                    Claim::Expired => {
                        return Err(AdcpError::new(
                            codes::IDEMPOTENCY_EXPIRED,
                            "this idempotency_key was used, but its response is no longer kept; \
                             check whether the original request took effect before retrying \
                             with a new key",
                        )
                        .with_field("idempotency_key"));
                    }
                    Claim::Busy => {
                        return Err(AdcpError::new(
                            codes::CONFLICT,
                            "a request with this idempotency_key is still being processed",
                        )
                        .with_field("idempotency_key")
                        .with_recovery(crate::Recovery::Transient)
                        .with_retry_after(1));
                    }
                }
            }
            _ => None,
        };
        let ctx = CtxBuilder::new(spec)
            .principal(call.principal.clone())
            .resolved(resolved.clone())
            .agent_url(self.agent_url(&call))
            .idempotency_key(key.clone())
            .services(self.inner.services.clone())
            .build();
        let outcome = match self.forced_arm(spec, &resolved.scope).await? {
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
            None => match descriptor.handler(spec.name) {
                Some(h) => (h.call)(&self.inner.platform, ctx, call.args.clone())
                    .await
                    .map(|o| (o, None)),
                None => account_task(spec.name, &ctx, &call.args)
                    .await
                    .map(|o| (o, None)),
            },
        };
        let body = match outcome {
            Ok((Outcome::Done(mut body), _)) => {
                envelope::completed(&mut body, key.as_deref());
                envelope::echo_sandbox(&mut body, spec, resolved.account.sandbox);
                self.notify_sync_completion(spec, &resolved, &call, &body)
                    .await;
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
                self.hand_off(spec, args, h, task_id, &job).await?
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

    fn agent_url(&self, call: &Call) -> String {
        self.inner
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| call.agent_url.clone())
    }

    /// Takes the forced arm of the account, if any (once, across replicas).
    async fn forced_arm(
        &self,
        spec: &TaskSpec,
        scope: &str,
    ) -> Result<Option<ForcedArm>, AdcpError> {
        if spec.name != "create_media_buy" || !self.inner.config.compliance_testing {
            return Ok(None);
        }
        let state = self.state(scope);
        if state.get(FORCED_ARMS, spec.name).await?.flatten().is_none() {
            return Ok(None);
        }
        state
            .update(FORCED_ARMS, spec.name, |slot| Ok(slot.take()))
            .await
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
        if !self.inner.config.webhooks_on_sync_completion
            || (push.is_none() && call.a2a_push.is_none())
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

    /// Registers a task for a hand-off, starts its work, and answers with the async arm.
    async fn hand_off(
        &self,
        spec: &'static TaskSpec,
        args: &Map<String, Value>,
        h: crate::platform::Handoff,
        task_id: Option<String>,
        job: &JobContext<'_>,
    ) -> Result<Value, AdcpError> {
        let status = match h.status {
            HandoffStatus::Submitted => TaskStatus::Submitted,
            HandoffStatus::Working => TaskStatus::Working,
            HandoffStatus::InputRequired => TaskStatus::InputRequired,
        };
        let mut new = NewTask::new(spec.name, spec.protocol, &job.resolved.scope);
        new.principal = Some(accounts::principal_id(job.principal).to_owned());
        new.task_id = task_id;
        new.status = status;
        new.message.clone_from(&h.message);
        new.push = args.get("push_notification_config").cloned();
        new.a2a_push = job.a2a_push.cloned();
        new.context = args.get("context").cloned();
        let spawned = match h.work {
            Work::Spawn(f) => Some(f),
            Work::Job { name, input } => {
                let input = input.map_err(|e| {
                    tracing::error!(job = name, error = %e, "a job's input does not encode");
                    AdcpError::internal("the task could not be queued")
                })?;
                if P::descriptor().job(name).is_none() {
                    tracing::error!(
                        job = name,
                        "handed off to a job the platform does not declare"
                    );
                    return Err(AdcpError::internal("the task could not be queued"));
                }
                new.job = Some(JobSpec {
                    name: name.to_owned(),
                    input,
                    account: job.resolved.account.clone(),
                    scope: job.resolved.scope.clone(),
                    principal: job.principal.cloned(),
                    agent_url: job.agent_url.clone(),
                    idempotency_key: job.key.map(str::to_owned),
                });
                None
            }
            Work::External => None,
        };
        new.run_here = spawned.is_some() || new.job.is_some();
        let record = self.inner.services.tasks.create(new).await?;
        if let Some(work) = spawned {
            let sandbox = job.resolved.account.sandbox;
            self.run_work(record.task_id.clone(), spec, sandbox, work);
        } else if record.job.is_some() {
            self.run_job(record.clone());
        }
        let mut body = Map::new();
        body.insert("status".into(), json!(h.status.as_str()));
        body.insert("task_id".into(), json!(record.task_id));
        if let Some(m) = &h.message {
            body.insert("message".into(), json!(m));
        }
        if let Some(k) = job.key {
            body.insert("idempotency_key".into(), json!(k));
        }
        Ok(Value::Object(body))
    }

    /// Runs a task's work here and records its outcome; a panic fails the task.
    fn run_work(
        &self,
        task_id: String,
        spec: &'static TaskSpec,
        sandbox: bool,
        work: crate::platform::BoxFuture<'static, crate::AdcpResult<Value>>,
    ) {
        let tasks = self.inner.services.tasks.clone();
        tokio::spawn(async move {
            let outcome = match tokio::spawn(work).await {
                Ok(r) => r.map(|mut body| {
                    envelope::completed(&mut body, None);
                    envelope::echo_sandbox(&mut body, spec, sandbox);
                    body
                }),
                Err(e) => {
                    tracing::error!(task_id, error = %e, "a task's work panicked");
                    Err(AdcpError::internal("the task's work failed"))
                }
            };
            match tasks.finish_work(&task_id, outcome).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::info!(task_id, "task finished elsewhere; this outcome is dropped")
                }
                Err(e) => tracing::warn!(task_id, error = %e, "finishing a task"),
            }
        });
    }

    /// Runs a task's durable job here.
    fn run_job(&self, record: TaskRecord) {
        let Some(spec) = record.job.clone() else {
            return;
        };
        let server = self.clone();
        let task_id = record.task_id.clone();
        let sandbox = spec.account.sandbox;
        let task = adcp_wire::task(&record.task_type);
        let work = async move {
            let d = P::descriptor();
            let Some(handler) = d.job(&spec.name) else {
                tracing::error!(job = %spec.name, "a stored job the platform no longer declares");
                return Err(AdcpError::internal(
                    "the task's job is not known to this agent",
                ));
            };
            let task = adcp_wire::task(&record.task_type)
                .ok_or_else(|| AdcpError::internal("the task's type is not known to this agent"))?;
            let ctx = CtxBuilder::new(task)
                .principal(spec.principal)
                .resolved(Resolved {
                    account: spec.account,
                    scope: spec.scope,
                })
                .agent_url(spec.agent_url)
                .idempotency_key(spec.idempotency_key)
                .task_id(Some(record.task_id.clone()))
                .services(server.inner.services.clone())
                .build();
            tracing::debug!(task_id = %record.task_id, job = %spec.name, "running a job");
            (handler.call)(&server.inner.platform, ctx, spec.input).await
        };
        match task {
            Some(task) => self.run_work(task_id, task, sandbox, Box::pin(work)),
            None => tracing::error!(task_id, "a stored task of a type this agent does not know"),
        }
    }

    fn webhook_policy(&self) -> ssrf::Policy {
        ssrf::Policy {
            allow_private: self.inner.config.allow_private_webhooks,
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

    /// Starts the server's background work (once; later calls do nothing): the webhook
    /// dispatcher, the lease keeper (which also picks up work orphaned by a dead replica, at
    /// once), the idempotency vacuum and, on PostgreSQL, the event listener. Transports call
    /// it; so does the first call served.
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let c = &self.inner.config;
        let dispatcher = Arc::new(
            Dispatcher::new(
                self.inner.outbox.clone(),
                self.webhook_policy(),
                self.inner.services.tasks.replica().to_owned(),
                c.webhook_retry,
            )
            .signing_key(c.webhook_signing_key.clone()),
        );
        let alive = Arc::downgrade(&self.inner.alive);
        tokio::spawn(dispatcher.run(self.events().subscribe(), alive.clone()));
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(keep_leases(weak.clone(), c.task_lease));
        tokio::spawn(vacuum(weak, c.replay_ttl));
        if let Some(url) = &self.inner.postgres_url {
            crate::events::pg::listen(url, self.events().clone(), alive);
        }
    }
}

/// What a hand-off's job needs to know about its request.
struct JobContext<'a> {
    resolved: &'a Resolved,
    principal: Option<&'a Principal>,
    agent_url: String,
    key: Option<&'a str>,
    a2a_push: Option<&'a Value>,
}

/// Renews this replica's leases and adopts orphaned work: a job runs again here; in-process
/// work of a dead replica is lost, so its task fails (transiently: the buyer may resubmit).
async fn keep_leases<P: DecisioningPlatform>(weak: Weak<Inner<P>>, lease: Duration) {
    let period = (lease / 3).max(Duration::from_millis(100));
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let server = Server { inner };
        if let Err(e) = server.inner.services.tasks.renew().await {
            tracing::warn!(error = %e, "renewing task leases");
        }
        match server.inner.services.tasks.adopt_orphans().await {
            Ok(adopted) => {
                for t in adopted {
                    if t.job.is_some() {
                        tracing::info!(task_id = %t.task_id, "resuming the job of an orphaned task");
                        server.run_job(t);
                    } else {
                        tracing::warn!(task_id = %t.task_id, "an orphaned task's work was lost with its replica");
                        let e = AdcpError::new(
                            codes::SERVICE_UNAVAILABLE,
                            "the agent restarted while this task ran; submit the request again with a new idempotency_key",
                        )
                        .with_recovery(crate::Recovery::Transient);
                        let _ = server
                            .inner
                            .services
                            .tasks
                            .finish_work(&t.task_id, Err(e))
                            .await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for orphaned tasks"),
        }
        drop(server);
        tokio::time::sleep(period).await;
    }
}

/// Forgets idempotency keys (and finished deliveries) after twice the replay window, hourly.
async fn vacuum<P: DecisioningPlatform>(weak: Weak<Inner<P>>, ttl: Duration) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let before = time::OffsetDateTime::now_utc() - ttl.saturating_mul(2);
        match inner.idempotency.vacuum(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "idempotency vacuum"),
            Err(e) => tracing::warn!(error = %e, "idempotency vacuum"),
        }
        drop(inner);
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

impl<P: DecisioningPlatform> Server<P> {
    async fn tasks_get(
        &self,
        resolved: &Resolved,
        principal: &str,
        args: &Map<String, Value>,
    ) -> Result<Reply, AdcpError> {
        let id = args
            .get("task_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self
            .inner
            .services
            .tasks
            .get(task_owner(resolved, principal, args), id)
            .await?
        {
            Some(t) => {
                let mut body = t.to_get_response();
                if let Value::Object(m) = &mut body {
                    m.remove("context"); // the caller's own context is echoed instead
                }
                Ok(Reply {
                    body,
                    is_error: false,
                })
            }
            None => Err(crate::tasks::not_found()),
        }
    }

    async fn tasks_list(
        &self,
        resolved: &Resolved,
        principal: &str,
        args: &Map<String, Value>,
    ) -> Result<Reply, AdcpError> {
        let filters = args.get("filters");
        let wanted = |key: &str, plural: &str| -> Vec<String> {
            let mut v: Vec<String> = filters
                .and_then(|f| f.get(plural))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(one) = filters.and_then(|f| f.get(key)).and_then(Value::as_str) {
                v.push(one.to_owned());
            }
            v
        };
        let (statuses, types, ids) = (
            wanted("status", "statuses"),
            wanted("task_type", "task_types"),
            wanted("", "task_ids"),
        );
        let all: Vec<_> = self
            .inner
            .services
            .tasks
            .list(task_owner(resolved, principal, args))
            .await?
            .into_iter()
            .filter(|t| statuses.is_empty() || statuses.iter().any(|s| s == t.status.as_str()))
            .filter(|t| types.is_empty() || types.contains(&t.task_type))
            .filter(|t| ids.is_empty() || ids.contains(&t.task_id))
            .collect();
        let pagination: Option<adcp_wire::PaginationRequest> = args
            .get("pagination")
            .map(|p| adcp_wire::decode(p.clone()))
            .transpose()
            .map_err(|e| AdcpError::invalid_request(format!("pagination.{}", e.path), e.message))?;
        let page = crate::page::Page::new(pagination.as_ref(), all.len())?;
        let tasks: Vec<Value> = all[page.range()]
            .iter()
            .map(|t| Value::Object(t.summary()))
            .collect();
        let body = json!({
            "query_summary": {"total_matching": all.len(), "returned": tasks.len()},
            "tasks": tasks,
            "pagination": page.response(),
        });
        Ok(Reply {
            body,
            is_error: false,
        })
    }
}

/// Whose tasks a `tasks_get` or `tasks_list` sees: those of the account it names, or, naming
/// none, those its caller created in any of its accounts.
fn task_owner<'a>(
    resolved: &'a Resolved,
    principal: &'a str,
    args: &Map<String, Value>,
) -> Owner<'a> {
    if args.contains_key("account") {
        Owner::Scope(&resolved.scope)
    } else {
        Owner::Principal(principal)
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
            encode(accounts::sync_accounts(ctx, &req).await?)
        }
        "list_accounts" => {
            let req = adcp_wire::decode(args.clone()).map_err(decode_err)?;
            encode(accounts::list_accounts(ctx, &req).await?)
        }
        other => Err(crate::platform::unknown_task(other)),
    }
}

/// The billing parties the capabilities' `account.supported_billing` lists.
fn supported_billing(capabilities: &Value) -> Vec<adcp_wire::BillingParty> {
    capabilities
        .pointer("/account/supported_billing")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str()?.parse().ok())
        .collect()
}

/// Validates a request against its schema, as an `INVALID_REQUEST` naming the field.
pub(crate) fn validate_request(spec: &TaskSpec, args: &Value) -> Result<(), AdcpError> {
    schemas()
        .validate(spec.request_schema, args)
        .map_err(|issues| {
            let first = &issues[0];
            let details: Vec<Value> = issues
                .iter()
                .take(20)
                .map(|i| json!({"field": i.path, "message": i.message}))
                .collect();
            let message = if first.path.is_empty() {
                first.message.clone()
            } else {
                format!("{}: {}", first.path, first.message)
            };
            AdcpError::invalid_request(first.path.clone(), message)
                .with_details(json!({"issues": details}))
        })
}

fn check_response(task: &str, body: &Value) {
    let Some(spec) = adcp_wire::task(task) else {
        return;
    };
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("completed");
    let schema = match status {
        "completed" | "failed" => spec.response_schema,
        other => match spec.async_arms.iter().find(|a| a.status == other) {
            Some(a) => a.schema,
            None => spec.response_schema,
        },
    };
    if let Err(issues) = schemas().validate(schema, body) {
        for i in issues.iter().take(5) {
            tracing::warn!(task, field = %i.path, "response does not match {schema}: {}", i.message);
        }
    }
}
