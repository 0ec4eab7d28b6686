//! The request pipeline, shared by every transport: one tool call in, one AdCP response out.
//!
//! For each call: check `adcp_major_version`; validate the arguments against the task's
//! request schema (so adopter code only ever sees valid requests); claim the idempotency key of
//! a mutating task; resolve the account; run the handler (or the runtime's own task); register
//! a hand-off as a task; and wrap the answer in the envelope (`status`, `context` echoed, errors
//! as `adcp_error` + `errors[]`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use adcp_wire::TaskSpec;
use serde_json::{Map, Value, json};

use crate::ctx::{Account, CtxBuilder, Principal};
use crate::error::{AdcpError, codes};
use crate::idempotency::{self, Claim, IdemKey, IdempotencyStore, MemoryIdempotencyStore};
use crate::platform::{DecisioningPlatform, HandoffStatus, Outcome};
use crate::tasks::{TaskRegistry, TaskStatus};
use crate::validate::schemas;
use crate::{capabilities, controller, envelope};

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

/// A forced `create_media_buy` arm, set through `comply_test_controller`.
#[derive(Clone, Debug)]
pub(crate) struct ForcedArm {
    pub(crate) arm: HandoffStatus,
    pub(crate) task_id: Option<String>,
    pub(crate) message: Option<String>,
}

pub(crate) struct Inner<P> {
    pub(crate) platform: P,
    pub(crate) config: Config,
    pub(crate) tasks: TaskRegistry,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) forced_arms: Mutex<HashMap<String, ForcedArm>>,
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
        Server::with_stores(
            platform,
            config,
            TaskRegistry::default(),
            Arc::new(MemoryIdempotencyStore::default()),
        )
    }

    /// A server over the given stores.
    pub fn with_stores(
        platform: P,
        config: Config,
        tasks: TaskRegistry,
        idempotency: Arc<dyn IdempotencyStore>,
    ) -> Self {
        Server {
            inner: Arc::new(Inner {
                platform,
                config,
                tasks,
                idempotency,
                forced_arms: Mutex::new(HashMap::new()),
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
        &self.inner.tasks
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
                n => d.implements(n),
            })
            .collect()
    }

    /// The `get_adcp_capabilities` response body.
    pub fn capabilities(&self) -> Value {
        capabilities::derive(self)
    }

    /// Serves one call.
    pub async fn call(&self, call: Call) -> Reply {
        tracing::debug!(tool = %call.tool, args = %call.args, "call");
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
        tracing::debug!(tool = %task_name, is_error = reply.is_error, body = %reply.body, "reply");
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
        if !RUNTIME_TASKS.contains(&spec.name) && !descriptor.implements(spec.name) {
            return Err(crate::platform::unknown_task(spec.name));
        }
        validate_request(spec, &call.args)?;
        let account = Account::resolve(
            descriptor.accounts,
            &call.args,
            call.principal.as_ref(),
            self.inner.config.compliance_testing,
        );
        match spec.name {
            "get_adcp_capabilities" => {
                return Ok(Reply {
                    body: self.capabilities(),
                    is_error: false,
                });
            }
            "tasks_get" => return self.tasks_get(&account, args).await,
            "tasks_list" => return self.tasks_list(&account, args).await,
            _ => {}
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
                let idem = IdemKey {
                    key: k.clone(),
                    scope: account.scope.clone(),
                    task: spec.name.to_owned(),
                };
                match idempotency::claim(&self.inner.idempotency, idem, hash)
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
                }
            }
            _ => None,
        };
        let ctx = CtxBuilder::new(spec)
            .principal(call.principal.clone())
            .account(account.clone())
            .agent_url(self.agent_url(&call))
            .idempotency_key(key.clone())
            .tasks(self.inner.tasks.clone())
            .build();
        let outcome = match self.forced_arm(spec, &account) {
            Some(arm) => Ok(Outcome::Handoff(crate::platform::Handoff {
                status: arm.arm,
                message: arm.message,
                work: None,
            }))
            .map(|o| (o, arm.task_id)),
            None => match descriptor.handler(spec.name) {
                Some(h) => (h.call)(&self.inner.platform, ctx, call.args.clone())
                    .await
                    .map(|o| (o, None)),
                None => Err(crate::platform::unknown_task(spec.name)),
            },
        };
        let body = match outcome {
            Ok((Outcome::Done(mut body), _)) => {
                envelope::completed(&mut body, key.as_deref());
                body
            }
            Ok((Outcome::Handoff(h), task_id)) => {
                self.hand_off(spec, &account, args, h, task_id, key.as_deref())
                    .await?
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

    fn forced_arm(&self, spec: &TaskSpec, account: &Account) -> Option<ForcedArm> {
        if spec.name != "create_media_buy" {
            return None;
        }
        self.inner
            .forced_arms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&account.scope)
    }

    /// Registers a task for a hand-off, starts its work, and answers with the async arm.
    async fn hand_off(
        &self,
        spec: &'static TaskSpec,
        account: &Account,
        args: &Map<String, Value>,
        h: crate::platform::Handoff,
        task_id: Option<String>,
        key: Option<&str>,
    ) -> Result<Value, AdcpError> {
        let status = match h.status {
            HandoffStatus::Submitted => TaskStatus::Submitted,
            HandoffStatus::Working => TaskStatus::Working,
            HandoffStatus::InputRequired => TaskStatus::InputRequired,
        };
        let record = self
            .inner
            .tasks
            .create(
                task_id,
                spec.name,
                spec.protocol,
                &account.scope,
                status,
                h.message.clone(),
                args.get("push_notification_config").cloned(),
                args.get("context").cloned(),
            )
            .await?;
        if let Some(work) = h.work {
            let tasks = self.inner.tasks.clone();
            let id = record.task_id.clone();
            tokio::spawn(async move {
                let r = match work.await {
                    Ok(mut body) => {
                        envelope::completed(&mut body, None);
                        tasks.complete(&id, body).await
                    }
                    Err(e) => tasks.fail(&id, &e).await,
                };
                if let Err(e) = r {
                    tracing::error!(task_id = %id, error = %e, "finishing a handed-off task");
                }
            });
        }
        let mut body = Map::new();
        body.insert("status".into(), json!(h.status.as_str()));
        body.insert("task_id".into(), json!(record.task_id));
        if let Some(m) = &h.message {
            body.insert("message".into(), json!(m));
        }
        if let Some(k) = key {
            body.insert("idempotency_key".into(), json!(k));
        }
        Ok(Value::Object(body))
    }

    async fn tasks_get(
        &self,
        account: &Account,
        args: &Map<String, Value>,
    ) -> Result<Reply, AdcpError> {
        let id = args
            .get("task_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self.inner.tasks.get(&account.scope, id).await? {
            Some(t) => {
                let mut body = t.to_get_response();
                if let Some(Value::Object(m)) = Some(&mut body) {
                    m.remove("context"); // the caller's own context is echoed instead
                }
                Ok(Reply {
                    body,
                    is_error: false,
                })
            }
            None => Err(
                AdcpError::new(codes::REFERENCE_NOT_FOUND, format!("no task `{id}`"))
                    .with_field("task_id"),
            ),
        }
    }

    async fn tasks_list(
        &self,
        account: &Account,
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
            .tasks
            .list(&account.scope)
            .await?
            .into_iter()
            .filter(|t| statuses.is_empty() || statuses.iter().any(|s| s == t.status.as_str()))
            .filter(|t| types.is_empty() || types.contains(&t.task_type))
            .filter(|t| ids.is_empty() || ids.contains(&t.task_id))
            .collect();
        let page = crate::lifecycle::Page::from_request(args.get("pagination"), all.len())?;
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
