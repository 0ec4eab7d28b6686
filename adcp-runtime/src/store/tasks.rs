//! Tasks as stored: the record, its status, the durable job it may carry, and the store that
//! keeps them (with the outbox, so a change and the webhooks it owes are written together).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::accounts::{Account, Principal};
use super::outbox::Delivery;
use super::{BoxFuture, StoreError};
use crate::time::rfc3339;

/// A task's status (the spec's `enums/task-status.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// Queued.
    Submitted,
    /// In progress.
    Working,
    /// Waiting for the buyer.
    InputRequired,
    /// Finished with a result.
    Completed,
    /// Canceled.
    Canceled,
    /// Finished with an error.
    Failed,
    /// Refused.
    Rejected,
}

impl TaskStatus {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Submitted => "submitted",
            TaskStatus::Working => "working",
            TaskStatus::InputRequired => "input-required",
            TaskStatus::Completed => "completed",
            TaskStatus::Canceled => "canceled",
            TaskStatus::Failed => "failed",
            TaskStatus::Rejected => "rejected",
        }
    }

    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "submitted" => TaskStatus::Submitted,
            "working" => TaskStatus::Working,
            "input-required" => TaskStatus::InputRequired,
            "completed" => TaskStatus::Completed,
            "canceled" => TaskStatus::Canceled,
            "failed" => TaskStatus::Failed,
            "rejected" => TaskStatus::Rejected,
            _ => return None,
        })
    }

    /// Whether the task is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed
                | TaskStatus::Canceled
                | TaskStatus::Failed
                | TaskStatus::Rejected
        )
    }
}

/// A durable job: what a hand-off made with `TaskHandoff::job` persists so that any replica can
/// run it, again after a crash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's name (the `#[adcp(job)]` method).
    pub name: String,
    /// Its input, as JSON.
    pub input: Value,
    /// The account the request acted for.
    pub account: Account,
    /// Its data scope.
    #[serde(default)]
    pub scope: String,
    /// The caller.
    pub principal: Option<Principal>,
    /// The agent URL the caller reached.
    pub agent_url: String,
    /// The request's idempotency key.
    pub idempotency_key: Option<String>,
}

/// One task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Its id.
    pub task_id: String,
    /// The task name (`create_media_buy`).
    pub task_type: String,
    /// Its protocol (`media-buy`).
    pub protocol: String,
    /// The data scope of the account that created it.
    pub scope: String,
    /// The principal that created it (`None` for tasks stored before principals were kept).
    pub principal: Option<String>,
    /// Current status.
    pub status: TaskStatus,
    /// A message for the buyer.
    pub message: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
    /// The response, once completed.
    pub result: Option<Value>,
    /// The error, once failed.
    pub error: Option<Value>,
    /// The buyer's `push_notification_config` (AdCP webhooks), when given.
    pub push: Option<Value>,
    /// The A2A push notification config of the message that created the task (A2A-shaped
    /// webhooks), with its `contextId`.
    pub a2a_push: Option<Value>,
    /// The buyer's `context`, echoed on webhooks.
    pub context: Option<Value>,
    /// The durable job that completes the task, if any.
    pub job: Option<JobSpec>,
    /// The replica running the task's work, while it runs.
    pub owner: Option<String>,
    /// Incremented on every change.
    pub revision: i64,
}

impl TaskRecord {
    /// The `tasks_get` response body.
    pub fn to_get_response(&self) -> Value {
        let mut m = self.summary();
        m.insert("protocol".into(), json!(self.protocol));
        if let Some(msg) = &self.message {
            m.insert("message".into(), json!(msg));
        }
        if let Some(e) = &self.error {
            m.insert("error".into(), e.clone());
        }
        if let Some(r) = &self.result {
            m.insert("result".into(), r.clone());
        }
        Value::Object(m)
    }

    /// The `tasks_list` entry.
    pub fn summary(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("task_id".into(), json!(self.task_id));
        m.insert("task_type".into(), json!(self.task_type));
        m.insert("domain".into(), json!(self.protocol));
        m.insert("status".into(), json!(self.status.as_str()));
        m.insert("created_at".into(), json!(rfc3339(self.created_at)));
        m.insert("updated_at".into(), json!(rfc3339(self.updated_at)));
        if self.status.is_final() {
            m.insert("completed_at".into(), json!(rfc3339(self.updated_at)));
        }
        m.insert(
            "has_webhook".into(),
            // An A2A call's record keeps its `contextId` even without a webhook URL.
            json!(
                [&self.push, &self.a2a_push]
                    .iter()
                    .any(|p| p.as_ref().is_some_and(|p| p.get("url").is_some()))
            ),
        );
        m
    }
}

/// Where tasks live. Implementations keep the outbox too, so that a change and the webhooks it
/// owes are written together.
pub trait TaskStore: Send + Sync + 'static {
    /// Stores a new task and its deliveries. `lease_until` is set when `task.owner` runs its
    /// work.
    fn insert<'a>(
        &'a self,
        task: &'a TaskRecord,
        lease_until: Option<OffsetDateTime>,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Replaces a task and stores its deliveries, if its stored revision is still `expected`;
    /// `Ok(false)` when it is not.
    fn update<'a>(
        &'a self,
        task: &'a TaskRecord,
        expected: i64,
        deliveries: &'a [Delivery],
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// A task by id, whatever its scope.
    fn get<'a>(&'a self, task_id: &'a str)
    -> BoxFuture<'a, Result<Option<TaskRecord>, StoreError>>;
    /// Every task of an account scope, or of a principal, newest first.
    fn list<'a>(&'a self, by: Owner<'a>) -> BoxFuture<'a, Result<Vec<TaskRecord>, StoreError>>;
    /// A page of `tasks_list`: the tasks `q` matches, newest first (by `created_at`, then
    /// `task_id`, both descending), after `q.after`, at most `limit`.
    ///
    /// The SQL stores answer from an index, reading the page's rows only; this default (for a
    /// store that does not) filters [`list`](TaskStore::list).
    fn page<'a>(
        &'a self,
        q: &'a TaskQuery<'a>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<TaskRecord>, StoreError>> {
        Box::pin(async move {
            let mut all: Vec<TaskRecord> = self
                .list(q.by)
                .await?
                .into_iter()
                .filter(|t| q.matches(t) && q.after.as_ref().is_none_or(|c| c.is_before(t)))
                .collect();
            all.sort_by(|a, b| TaskCursor::of(b).cmp(&TaskCursor::of(a)));
            all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            Ok(all)
        })
    }
    /// How many tasks `q` matches (whatever its `after`), counting no further than `cap`.
    fn count<'a>(
        &'a self,
        q: &'a TaskQuery<'a>,
        cap: u32,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let n = self
                .list(q.by)
                .await?
                .iter()
                .filter(|t| q.matches(t))
                .count();
            Ok(u64::try_from(n).unwrap_or(u64::MAX).min(u64::from(cap)))
        })
    }
    /// Extends the leases `owner` holds on unfinished tasks to `until`; returns how many.
    fn renew<'a>(
        &'a self,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// Unfinished tasks whose owner's lease ran out before `now`.
    fn orphans(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>>;
    /// Makes `owner` the owner of an orphan still at revision `expected` (and bumps its
    /// revision, fencing off the previous owner); `Ok(false)` when another replica was faster.
    fn adopt<'a>(
        &'a self,
        task_id: &'a str,
        expected: i64,
        owner: &'a str,
        until: OffsetDateTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// How many tasks are unfinished (`/metrics`); `None` when the store does not count them.
    fn open_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
}

/// Which tasks `tasks_list` asks for, and where its page starts.
#[derive(Clone, Debug)]
pub struct TaskQuery<'a> {
    /// Whose.
    pub by: Owner<'a>,
    /// Any of these statuses (none: any status).
    pub statuses: &'a [String],
    /// Any of these task types (none: any type).
    pub task_types: &'a [String],
    /// Any of these ids (none: any id).
    pub task_ids: &'a [String],
    /// The last task of the previous page: the page holds the tasks listed after it.
    pub after: Option<TaskCursor>,
}

impl TaskQuery<'_> {
    /// Whether `t` is one of the tasks asked for (whatever the page).
    pub fn matches(&self, t: &TaskRecord) -> bool {
        self.by.owns(t)
            && (self.statuses.is_empty() || self.statuses.iter().any(|s| s == t.status.as_str()))
            && (self.task_types.is_empty() || self.task_types.contains(&t.task_type))
            && (self.task_ids.is_empty() || self.task_ids.contains(&t.task_id))
    }
}

/// A task's place in `tasks_list`'s order (newest first): its creation time in unix
/// milliseconds, then its id. Ordered as the list is read backwards: a greater cursor is a
/// newer task.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskCursor {
    /// `created_at`, unix milliseconds.
    pub created_ms: i64,
    /// `task_id`.
    pub task_id: String,
}

impl TaskCursor {
    /// Where `t` is.
    pub fn of(t: &TaskRecord) -> Self {
        TaskCursor {
            created_ms: crate::time::millis(t.created_at),
            task_id: t.task_id.clone(),
        }
    }

    /// Whether `t` comes after this cursor in the list (is older).
    pub fn is_before(&self, t: &TaskRecord) -> bool {
        TaskCursor::of(t) < *self
    }
}

/// Whose tasks to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The tasks of an account's data scope.
    Scope(&'a str),
    /// The tasks a principal created, in any of its accounts.
    Principal(&'a str),
}

impl Owner<'_> {
    /// Whether `t` is one of these tasks.
    pub fn owns(&self, t: &TaskRecord) -> bool {
        match *self {
            Owner::Scope(s) => t.scope == s,
            Owner::Principal(p) => t.principal.as_deref() == Some(p),
        }
    }
}
