//! What runs after the answer: a hand-off becomes a task, its work runs here (in-process
//! work) or wherever the task's lease is held (a durable job), and its outcome finishes the
//! task (and so sends the buyer's webhook).

use adcp_wire::TaskSpec;
use serde_json::{Map, Value, json};

use crate::accounts::{self, Resolved};
use crate::ctx::CtxBuilder;
use crate::envelope;
use crate::error::AdcpError;
use crate::platform::{DecisioningPlatform, HandoffStatus, Work};
use crate::server::Server;
use crate::store::{JobSpec, Principal, TaskRecord, TaskStatus};
use crate::tasks::NewTask;

/// What a hand-off's job needs to know about its request.
pub(crate) struct JobContext<'a> {
    pub(crate) resolved: &'a Resolved,
    pub(crate) principal: Option<&'a Principal>,
    pub(crate) agent_url: String,
    pub(crate) key: Option<&'a str>,
    pub(crate) a2a_push: Option<&'a Value>,
}

impl<P: DecisioningPlatform> Server<P> {
    /// Registers a task for a hand-off, starts its work, and answers with the async arm.
    pub(crate) async fn hand_off(
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
            let scope = job.resolved.scope.clone();
            self.run_work(record.task_id.clone(), spec, sandbox, scope, work);
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

    /// Runs a task's work here and records its outcome; a panic fails the task. A create's
    /// booked buy takes over the governance check its task was handed off under.
    pub(crate) fn run_work(
        &self,
        task_id: String,
        spec: &'static TaskSpec,
        sandbox: bool,
        scope: String,
        work: crate::store::BoxFuture<'static, crate::AdcpResult<Value>>,
    ) {
        let tasks = self.inner.services.tasks.clone();
        let state = self.inner.services.state.clone();
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
            if let (Ok(body), "create_media_buy") = (&outcome, spec.name) {
                let state = crate::state::State::new(state.as_ref(), &scope);
                crate::governance::bind_task(&state, &task_id, body).await;
            }
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
    pub(crate) fn run_job(&self, record: TaskRecord) {
        let Some(spec) = record.job.clone() else {
            return;
        };
        let server = self.clone();
        let task_id = record.task_id.clone();
        let sandbox = spec.account.sandbox;
        let scope = spec.scope.clone();
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
            Some(task) => self.run_work(task_id, task, sandbox, scope, Box::pin(work)),
            None => tracing::error!(task_id, "a stored task of a type this agent does not know"),
        }
    }
}
