//! The platform model: what `#[decisioning_platform]` derives from an adopter's impl block, and
//! what a handler may return.

use std::future::Future;
use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value;

pub(crate) use crate::accounts::AccountMode;
use crate::ctx::Ctx;
use crate::error::AdcpResult;
pub use crate::scenario::{ControllerCode, ControllerReply, ScenarioParams};
pub use crate::store::BoxFuture;

/// One task's entry in a platform's dispatch table.
pub struct Handler<P: 'static> {
    /// The task's wire name.
    pub task: &'static str,
    /// Decodes the request, calls the adopter's method, encodes the answer.
    pub call: for<'a> fn(&'a P, Ctx, Value) -> BoxFuture<'a, AdcpResult<Outcome>>,
}

/// One `comply_test_controller` scenario the platform implements.
pub struct ScenarioHandler<P: 'static> {
    /// The scenario (`seed_product`, `force_media_buy_status`, ...).
    pub scenario: &'static str,
    /// Calls the adopter's method.
    pub call: for<'a> fn(&'a P, Ctx, ScenarioParams) -> BoxFuture<'a, AdcpResult<ControllerReply>>,
}

/// One durable job kind (an `#[adcp(job)]` method) in a platform's dispatch table.
pub struct JobHandler<P: 'static> {
    /// The job's name: the method's.
    pub name: &'static str,
    /// Decodes the stored input, calls the adopter's method, encodes the result.
    pub call: for<'a> fn(&'a P, Ctx, Value) -> BoxFuture<'a, AdcpResult<Value>>,
}

/// What `#[decisioning_platform]` knows about a platform.
pub struct Descriptor<P: 'static> {
    /// The type's name.
    pub name: &'static str,
    /// Claimed specialisms, as manifest ids (`sales_non_guaranteed`).
    pub specialisms: &'static [&'static str],
    /// How accounts are resolved.
    pub accounts: AccountMode,
    /// Task handlers, one per implemented task.
    pub handlers: &'static [Handler<P>],
    /// Implemented controller scenarios.
    pub scenarios: &'static [ScenarioHandler<P>],
    /// Durable job kinds.
    pub jobs: &'static [JobHandler<P>],
    /// Declared recipe kinds (`recipe_kind` values).
    pub recipe_kinds: &'static [&'static str],
}

impl<P> Descriptor<P> {
    /// The handler for a task.
    pub fn handler(&self, task: &str) -> Option<&Handler<P>> {
        self.handlers.iter().find(|h| h.task == task)
    }

    /// Whether the platform implements a task.
    pub fn implements(&self, task: &str) -> bool {
        self.handler(task).is_some()
    }

    /// A durable job kind by name.
    pub fn job(&self, name: &str) -> Option<&JobHandler<P>> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// An adopter's platform. Implemented by `#[decisioning_platform]`; not by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an AdCP decisioning platform",
    note = "annotate its impl block with `#[adcp_runtime::decisioning_platform(...)]`"
)]
pub trait DecisioningPlatform: Send + Sync + Sized + 'static {
    /// The derived description and dispatch tables.
    fn descriptor() -> &'static Descriptor<Self>;

    /// Decodes a product's `implementation_config` as one of the declared recipes (its
    /// capability overlap), so boot validation can check the catalogue and the runtime can
    /// gate packages before adopter code; `None` when no recipes are declared.
    fn decode_recipe(_config: &Value) -> Option<Result<Option<CapabilityOverlap>, String>> {
        None
    }
}

/// What a handler produced, encoded.
pub enum Outcome {
    /// The response, now.
    Done(Value),
    /// The work continues after the response: answer `submitted` (or `working`) with a task id.
    Handoff(Handoff),
}

/// The status a hand-off answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffStatus {
    /// Queued.
    Submitted,
    /// Started.
    Working,
    /// Waiting for the buyer.
    InputRequired,
}

impl HandoffStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffStatus::Submitted => "submitted",
            HandoffStatus::Working => "working",
            HandoffStatus::InputRequired => "input-required",
        }
    }
}

/// A hand-off, encoded.
pub struct Handoff {
    /// The status to answer with now.
    pub status: HandoffStatus,
    /// A message for the buyer.
    pub message: Option<String>,
    /// What completes the task.
    pub work: Work,
}

/// What completes a handed-off task.
pub enum Work {
    /// A future run on this replica; lost if the replica dies (the task then fails).
    Spawn(BoxFuture<'static, AdcpResult<Value>>),
    /// A durable job: persisted with the task, run by whichever replica holds its lease, run
    /// again after a crash.
    Job {
        /// The job's name.
        name: &'static str,
        /// Its input (or why it did not encode).
        input: Result<Value, String>,
    },
    /// Something else completes it through the task registry (an operator, the test
    /// controller).
    External,
}

/// A task's answer: the response now, or a hand-off. Only tasks with async arms may hand off.
pub enum Hybrid<T> {
    /// The response, now.
    Now(T),
    /// The work continues after the response.
    Later(TaskHandoff<T>),
}

impl<T> From<T> for Hybrid<T> {
    fn from(value: T) -> Self {
        Hybrid::Now(value)
    }
}

/// A durable job kind: `#[adcp(job)] async fn review(&self, ctx: &Ctx, input: I) ->
/// AdcpResult<O>` in a `#[decisioning_platform]` block gives the platform an associated
/// constant `REVIEW: Job<I, O>`, which [`TaskHandoff::job`] takes. Jobs are found by name when
/// they run, so renaming a job's method strands the jobs persisted under the old name (they
/// fail).
pub struct Job<I, O> {
    name: &'static str,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> Clone for Job<I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for Job<I, O> {}

impl<I, O> std::fmt::Debug for Job<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Job").field(&self.name).finish()
    }
}

impl<I, O> Job<I, O> {
    #[doc(hidden)]
    pub const fn __new(name: &'static str) -> Self {
        Job {
            name,
            _types: PhantomData,
        }
    }

    /// The job's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// Work that finishes after the response.
///
/// ```
/// use adcp_runtime::wire::{CreateMediaBuySuccess, Package};
/// use adcp_runtime::{AdcpResult, Hybrid, TaskHandoff};
///
/// fn queue(id: String) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
///     // Answers `submitted` with a task id now; the task completes with this future's answer.
///     let handoff = TaskHandoff::spawn(async move {
///         Ok(CreateMediaBuySuccess::new(id, Vec::<Package>::new()))
///     })
///     .message("queued for review");
///     Ok(Hybrid::Later(handoff))
/// }
/// ```
///
/// Work that finishes after the response. The runtime registers a task, answers `submitted`
/// with its `task_id`, runs the work off the request path, stores the result for `tasks_get`
/// and notifies the buyer's webhook.
pub struct TaskHandoff<T> {
    status: HandoffStatus,
    message: Option<String>,
    work: Pending<T>,
}

enum Pending<T> {
    Spawn(BoxFuture<'static, AdcpResult<T>>),
    Job {
        name: &'static str,
        input: Result<Value, String>,
    },
    External,
}

impl<T: Send + 'static> TaskHandoff<T> {
    /// Runs `work` on this replica, in the background; its result completes the task. If the
    /// replica dies first the task fails (use [`TaskHandoff::job`] for work that must survive).
    pub fn spawn(work: impl Future<Output = AdcpResult<T>> + Send + 'static) -> Self {
        TaskHandoff {
            status: HandoffStatus::Submitted,
            message: None,
            work: Pending::Spawn(Box::pin(work)),
        }
    }

    /// Runs a durable job with `input`: the input is stored with the task, and the job runs on
    /// whichever replica holds the task, again after a crash, until it finishes. Jobs should
    /// therefore be safe to run twice (decide ids before handing off; write with upserts).
    pub fn job<I: Serialize>(job: Job<I, T>, input: I) -> Self {
        TaskHandoff {
            status: HandoffStatus::Submitted,
            message: None,
            work: Pending::Job {
                name: job.name,
                input: serde_json::to_value(input).map_err(|e| e.to_string()),
            },
        }
    }

    /// A task completed later through the task registry (an approval queue, a human).
    pub fn external() -> Self {
        TaskHandoff {
            status: HandoffStatus::Submitted,
            message: None,
            work: Pending::External,
        }
    }

    /// Answer `working` rather than `submitted`.
    pub fn working(mut self) -> Self {
        self.status = HandoffStatus::Working;
        self
    }

    /// Answer `input-required`: the buyer must act before the work continues.
    pub fn input_required(mut self) -> Self {
        self.status = HandoffStatus::InputRequired;
        self
    }

    /// A message for the buyer.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub(crate) fn status(&self) -> HandoffStatus {
        self.status
    }

    pub(crate) fn message_text(&self) -> Option<String> {
        self.message.clone()
    }

    pub(crate) fn erase(self, encode: fn(T) -> AdcpResult<Value>) -> Handoff {
        Handoff {
            status: self.status,
            message: self.message,
            work: match self.work {
                Pending::Spawn(w) => Work::Spawn(Box::pin(async move { w.await.and_then(encode) })),
                Pending::Job { name, input } => Work::Job { name, input },
                Pending::External => Work::External,
            },
        }
    }
}

/// Which buyer-configurable wire capabilities a product exposes; requests outside it are
/// rejected before adopter code runs. `None` on an axis means "not gated".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilityOverlap {
    /// Pricing models the buyer may choose.
    pub pricing_models: Option<Vec<String>>,
    /// Targeting dimensions the buyer may set (`geo_countries`, `device_type`, ...).
    pub targeting_dimensions: Option<Vec<String>>,
    /// Delivery types offered.
    pub delivery_types: Option<Vec<String>>,
}

/// A typed `implementation_config`: the contract between the proposal side that attaches it to
/// products and the decisioning side that executes it. Declared with
/// `#[decisioning_platform(recipes(kind = Type, ..))]`, which derives the platform's recipe
/// union tagged `recipe_kind`.
pub trait Recipe {
    /// Which buyer-configurable capabilities products with this recipe expose.
    fn capability_overlap(&self) -> Option<CapabilityOverlap> {
        None
    }
}

/// A platform's recipe union (derived by the macro).
pub trait RecipeUnion: Sized {
    /// Every declared `recipe_kind`.
    const KINDS: &'static [&'static str];
    /// This value's kind.
    fn kind(&self) -> &'static str;
    /// The recipe's capability overlap.
    fn capability_overlap(&self) -> Option<CapabilityOverlap>;
}
