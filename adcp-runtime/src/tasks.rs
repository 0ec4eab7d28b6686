//! The task registry: every hand-off becomes a task with an id, a status and, once finished, a
//! result or an error, readable through `tasks_get` and `tasks_list` by the account that
//! created it. Stores implement [`TaskStore`]; the in-memory one is the default.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;

use crate::error::{AdcpError, codes};
use crate::platform::BoxFuture;

/// A task's status (the spec's `enums/task-status.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// The buyer's `push_notification_config`, when given.
    pub push: Option<Value>,
    /// The buyer's `context`, echoed on `tasks_get` and webhooks.
    pub context: Option<Value>,
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
        m.insert("has_webhook".into(), json!(self.push.is_some()));
        m
    }
}

/// RFC 3339 timestamp text.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such task.
    #[error("no task `{0}`")]
    NotFound(String),
    /// The task already exists.
    #[error("task `{0}` already exists")]
    Exists(String),
    /// The backend failed.
    #[error("task store: {0}")]
    Backend(String),
}

/// Where tasks live.
pub trait TaskStore: Send + Sync + 'static {
    /// Stores a new task.
    fn insert(&self, task: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Replaces a task (by `task_id`).
    fn update(&self, task: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// A task by id, whatever its scope.
    fn get(&self, task_id: &str) -> BoxFuture<'_, Result<Option<TaskRecord>, StoreError>>;
    /// Every task of a scope, newest first.
    fn list(&self, scope: &str) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>>;
}

/// Tasks in memory: lost on restart.
#[derive(Default)]
pub struct MemoryTaskStore {
    tasks: Mutex<HashMap<String, TaskRecord>>,
}

impl TaskStore for MemoryTaskStore {
    fn insert(&self, task: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let r = if tasks.contains_key(&task.task_id) {
            Err(StoreError::Exists(task.task_id))
        } else {
            tasks.insert(task.task_id.clone(), task);
            Ok(())
        };
        Box::pin(async move { r })
    }

    fn update(&self, task: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let r = match tasks.get_mut(&task.task_id) {
            Some(slot) => {
                *slot = task;
                Ok(())
            }
            None => Err(StoreError::NotFound(task.task_id)),
        };
        Box::pin(async move { r })
    }

    fn get(&self, task_id: &str) -> BoxFuture<'_, Result<Option<TaskRecord>, StoreError>> {
        let r = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(task_id)
            .cloned();
        Box::pin(async move { Ok(r) })
    }

    fn list(&self, scope: &str) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
        let mut r: Vec<TaskRecord> = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|t| t.scope == scope)
            .cloned()
            .collect();
        r.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.task_id.cmp(&b.task_id))
        });
        Box::pin(async move { Ok(r) })
    }
}

/// A status change of a task, published to subscribers (webhooks, other replicas).
#[derive(Clone, Debug)]
pub struct TaskEvent {
    /// The task after the change.
    pub task: TaskRecord,
}

/// The registry handlers and the runtime share.
#[derive(Clone)]
pub struct TaskRegistry {
    store: Arc<dyn TaskStore>,
    events: broadcast::Sender<TaskEvent>,
}

impl Default for TaskRegistry {
    fn default() -> Self {
        TaskRegistry::new(Arc::new(MemoryTaskStore::default()))
    }
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskRegistry")
    }
}

fn store_error(e: &StoreError) -> AdcpError {
    tracing::error!(error = %e, "task store");
    AdcpError::internal("the task store is unavailable")
}

impl TaskRegistry {
    /// A registry over a store.
    pub fn new(store: Arc<dyn TaskStore>) -> Self {
        let (events, _) = broadcast::channel(1024);
        TaskRegistry { store, events }
    }

    /// Subscribes to status changes.
    pub fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.events.subscribe()
    }

    /// Registers a task. `task_id` is generated unless given.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        task_id: Option<String>,
        task_type: &str,
        protocol: &str,
        scope: &str,
        status: TaskStatus,
        message: Option<String>,
        push: Option<Value>,
        context: Option<Value>,
    ) -> Result<TaskRecord, AdcpError> {
        let now = OffsetDateTime::now_utc();
        let record = TaskRecord {
            task_id: task_id.unwrap_or_else(|| format!("task_{}", uuid::Uuid::new_v4().simple())),
            task_type: task_type.to_owned(),
            protocol: protocol.to_owned(),
            scope: scope.to_owned(),
            status,
            message,
            created_at: now,
            updated_at: now,
            result: None,
            error: None,
            push,
            context,
        };
        match self.store.insert(record.clone()).await {
            Ok(()) => Ok(record),
            Err(StoreError::Exists(id)) => Err(AdcpError::new(
                codes::CONFLICT,
                format!("task `{id}` already exists"),
            )),
            Err(e) => Err(store_error(&e)),
        }
    }

    /// A task by id, only if it belongs to `scope`.
    pub async fn get(&self, scope: &str, task_id: &str) -> Result<Option<TaskRecord>, AdcpError> {
        let t = self.store.get(task_id).await.map_err(|e| store_error(&e))?;
        Ok(t.filter(|t| t.scope == scope))
    }

    /// Every task of a scope, newest first.
    pub async fn list(&self, scope: &str) -> Result<Vec<TaskRecord>, AdcpError> {
        self.store.list(scope).await.map_err(|e| store_error(&e))
    }

    async fn transition(
        &self,
        task_id: &str,
        f: impl FnOnce(&mut TaskRecord) -> Result<(), AdcpError>,
    ) -> Result<TaskRecord, AdcpError> {
        let mut t = self
            .store
            .get(task_id)
            .await
            .map_err(|e| store_error(&e))?
            .ok_or_else(|| {
                AdcpError::new("NOT_FOUND", format!("no task `{task_id}`")).with_field("task_id")
            })?;
        f(&mut t)?;
        t.updated_at = OffsetDateTime::now_utc();
        self.store
            .update(t.clone())
            .await
            .map_err(|e| store_error(&e))?;
        let _ = self.events.send(TaskEvent { task: t.clone() });
        Ok(t)
    }

    fn ensure_open(t: &TaskRecord) -> Result<(), AdcpError> {
        if t.status.is_final() {
            Err(AdcpError::new(
                codes::INVALID_STATE,
                format!("task `{}` is already {}", t.task_id, t.status.as_str()),
            )
            .with_field("task_id"))
        } else {
            Ok(())
        }
    }

    /// Completes a task with its response.
    pub async fn complete(&self, task_id: &str, result: Value) -> Result<TaskRecord, AdcpError> {
        self.transition(task_id, |t| {
            Self::ensure_open(t)?;
            t.status = TaskStatus::Completed;
            t.result = Some(result);
            Ok(())
        })
        .await
    }

    /// Fails a task.
    pub async fn fail(&self, task_id: &str, error: &AdcpError) -> Result<TaskRecord, AdcpError> {
        self.transition(task_id, |t| {
            Self::ensure_open(t)?;
            t.status = TaskStatus::Failed;
            t.error = Some(error.to_json());
            Ok(())
        })
        .await
    }

    /// Moves a task to a non-final status.
    pub async fn set_status(
        &self,
        task_id: &str,
        status: TaskStatus,
        message: Option<String>,
    ) -> Result<TaskRecord, AdcpError> {
        self.transition(task_id, |t| {
            Self::ensure_open(t)?;
            t.status = status;
            if message.is_some() {
                t.message = message;
            }
            Ok(())
        })
        .await
    }

    /// Cancels a task.
    pub async fn cancel(&self, scope: &str, task_id: &str) -> Result<TaskRecord, AdcpError> {
        self.transition(task_id, |t| {
            if t.scope != scope {
                return Err(AdcpError::new("NOT_FOUND", format!("no task `{task_id}`"))
                    .with_field("task_id"));
            }
            Self::ensure_open(t)?;
            t.status = TaskStatus::Canceled;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_are_scoped_and_final_states_are_final() {
        let reg = TaskRegistry::default();
        let t = reg
            .create(
                None,
                "create_media_buy",
                "media-buy",
                "a",
                TaskStatus::Submitted,
                None,
                None,
                None,
            )
            .await
            .unwrap();
        assert!(reg.get("b", &t.task_id).await.unwrap().is_none());
        let done = reg
            .complete(&t.task_id, json!({"media_buy_id": "mb1"}))
            .await
            .unwrap();
        assert_eq!(done.status, TaskStatus::Completed);
        let again = reg.complete(&t.task_id, json!({})).await.unwrap_err();
        assert_eq!(again.code(), codes::INVALID_STATE);
        let got = reg
            .get("a", &t.task_id)
            .await
            .unwrap()
            .unwrap()
            .to_get_response();
        assert_eq!(got["result"]["media_buy_id"], "mb1");
        assert_eq!(got["status"], "completed");
    }
}
