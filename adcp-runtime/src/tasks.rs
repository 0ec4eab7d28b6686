//! The task registry: every hand-off becomes a task with an id, a status and, once finished, a
//! result or an error, readable through `tasks_get` and `tasks_list` by the account that
//! created it, on any replica sharing the store.
//!
//! Every change is a compare-and-set on the task's `revision`, so two replicas (or a worker and
//! the test controller) cannot both finish a task. The webhooks a change owes are written to
//! the outbox in the same store operation as the change, so a change is never acknowledged
//! without its notifications, nor notified twice. Work running on a replica holds a lease on its
//! task; a task whose lease lapses (its replica died) is adopted by another replica: a durable
//! job runs again there, in-process work is reported failed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::{AdcpError, codes};
use crate::events::{Bus, Event};
use crate::store::{
    JobSpec, Owner, StoreError, TaskCursor, TaskQuery, TaskRecord, TaskStatus, TaskStore,
};
use crate::time::now_ms;
use crate::webhooks;

/// A task to register.
#[derive(Clone, Debug)]
pub struct NewTask {
    /// Its id; generated when `None`.
    pub task_id: Option<String>,
    /// The task name.
    pub task_type: String,
    /// Its protocol.
    pub protocol: String,
    /// The account scope.
    pub scope: String,
    /// The principal that created it.
    pub principal: Option<String>,
    /// Its first status.
    pub status: TaskStatus,
    /// A message for the buyer.
    pub message: Option<String>,
    /// The result, for a task registered already completed.
    pub result: Option<Value>,
    /// `push_notification_config`.
    pub push: Option<Value>,
    /// The A2A push notification config.
    pub a2a_push: Option<Value>,
    /// The buyer's `context`.
    pub context: Option<Value>,
    /// A durable job that completes it.
    pub job: Option<JobSpec>,
    /// Whether this replica runs its work now (takes the lease).
    pub run_here: bool,
}

impl NewTask {
    /// A task of `task_type` in `protocol` for `scope`, submitted.
    pub fn new(
        task_type: impl Into<String>,
        protocol: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        NewTask {
            task_id: None,
            task_type: task_type.into(),
            protocol: protocol.into(),
            scope: scope.into(),
            principal: None,
            status: TaskStatus::Submitted,
            message: None,
            result: None,
            push: None,
            a2a_push: None,
            context: None,
            job: None,
            run_here: false,
        }
    }
}

/// The registry handlers and the runtime share. Cheap to clone.
#[derive(Clone)]
pub struct TaskRegistry {
    store: Arc<dyn TaskStore>,
    bus: Bus,
    lease: Duration,
}

impl Default for TaskRegistry {
    fn default() -> Self {
        TaskRegistry::new(
            Arc::new(crate::store::MemoryStore::default()),
            Bus::default(),
            DEFAULT_LEASE,
        )
    }
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("replica", &self.bus.origin())
            .finish_non_exhaustive()
    }
}

/// How long a replica's hold on a running task lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

fn store_error(e: &StoreError) -> AdcpError {
    tracing::error!(error = %e, "task store");
    AdcpError::internal("the task store is unavailable")
}

/// No task by that id in the caller's account. The id is not echoed: one that exists in another
/// account and one that exists nowhere get the same answer.
pub(crate) fn not_found() -> AdcpError {
    AdcpError::new(codes::REFERENCE_NOT_FOUND, "no such task in this account").with_field("task_id")
}

/// Who may change a task.
#[derive(Clone, Copy)]
enum Actor<'a> {
    /// Anyone (the adopter, the test controller, an operator).
    Anyone,
    /// Only the replica that owns it (its work finishing).
    Owner(&'a str),
}

impl TaskRegistry {
    /// A registry over a store, publishing changes on `bus`; work holds `lease`.
    pub fn new(store: Arc<dyn TaskStore>, bus: Bus, lease: Duration) -> Self {
        TaskRegistry { store, bus, lease }
    }

    /// The status-change bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// This replica's id (the owner of the work it runs).
    pub fn replica(&self) -> &str {
        self.bus.origin()
    }

    pub(crate) fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }

    fn lease_until(&self) -> OffsetDateTime {
        now_ms() + self.lease
    }

    fn publish(&self, t: &TaskRecord) {
        self.bus.publish(Event {
            resource: "task".into(),
            id: t.task_id.clone(),
            scope: t.scope.clone(),
            status: t.status.as_str().into(),
            data: json!({"task_type": t.task_type}),
            origin: String::new(),
            tenant: String::new(),
        });
    }

    /// Registers a task, with the webhook its registration owes (a task registered already
    /// completed notifies at once).
    pub async fn create(&self, new: NewTask) -> Result<TaskRecord, AdcpError> {
        let now = now_ms();
        let record = TaskRecord {
            task_id: new
                .task_id
                .unwrap_or_else(|| format!("task_{}", uuid::Uuid::new_v4().simple())),
            task_type: new.task_type,
            protocol: new.protocol,
            scope: new.scope,
            principal: new.principal,
            status: new.status,
            message: new.message,
            created_at: now,
            updated_at: now,
            result: new.result,
            error: None,
            push: new.push,
            a2a_push: new.a2a_push,
            context: new.context,
            job: new.job,
            owner: new.run_here.then(|| self.replica().to_owned()),
            revision: 1,
        };
        let deliveries = if record.status.is_final() {
            webhooks::deliveries(&record)
        } else {
            Vec::new()
        };
        let lease = record.owner.is_some().then(|| self.lease_until());
        match self.store.insert(&record, lease, &deliveries).await {
            Ok(()) => {
                self.publish(&record);
                Ok(record)
            }
            Err(StoreError::Exists(id)) => Err(AdcpError::new(
                codes::CONFLICT,
                format!("task `{id}` already exists"),
            )
            .with_field("task_id")),
            Err(e) => Err(store_error(&e)),
        }
    }

    /// A task by id, only if `by` owns it.
    pub async fn get(&self, by: Owner<'_>, task_id: &str) -> Result<Option<TaskRecord>, AdcpError> {
        let t = self.store.get(task_id).await.map_err(|e| store_error(&e))?;
        Ok(t.filter(|t| by.owns(t)))
    }

    /// Every task `by` owns, newest first.
    pub async fn list(&self, by: Owner<'_>) -> Result<Vec<TaskRecord>, AdcpError> {
        self.store.list(by).await.map_err(|e| store_error(&e))
    }

    /// A page of the tasks `q` asks for, newest first (see [`TaskStore::page`]).
    pub async fn page(
        &self,
        q: &TaskQuery<'_>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, AdcpError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        self.store.page(q, limit).await.map_err(|e| store_error(&e))
    }

    /// How many tasks `q` matches, counting no further than `cap`.
    pub async fn count(&self, q: &TaskQuery<'_>, cap: u32) -> Result<u64, AdcpError> {
        self.store.count(q, cap).await.map_err(|e| store_error(&e))
    }

    /// Applies `f` to a task and stores it, retrying on a concurrent change. `Ok(None)` when the
    /// actor may no longer change it.
    async fn transition(
        &self,
        task_id: &str,
        actor: Actor<'_>,
        mut f: impl FnMut(&mut TaskRecord) -> Result<(), AdcpError>,
    ) -> Result<Option<TaskRecord>, AdcpError> {
        for _ in 0..32 {
            let Some(mut t) = self.store.get(task_id).await.map_err(|e| store_error(&e))? else {
                return Err(not_found());
            };
            if let Actor::Owner(me) = actor
                && t.owner.as_deref() != Some(me)
            {
                return Ok(None);
            }
            let before = t.status;
            let expected = t.revision;
            f(&mut t)?;
            t.updated_at = now_ms();
            t.revision = expected + 1;
            if t.status.is_final() {
                t.owner = None;
            }
            let deliveries = if t.status == before && !t.status.is_final() {
                Vec::new()
            } else {
                webhooks::deliveries(&t)
            };
            if self
                .store
                .update(&t, expected, &deliveries)
                .await
                .map_err(|e| store_error(&e))?
            {
                self.publish(&t);
                return Ok(Some(t));
            }
        }
        Err(AdcpError::new(
            codes::CONFLICT,
            format!("task `{task_id}` kept changing; try again"),
        )
        .with_recovery(crate::Recovery::Transient))
    }

    async fn change(
        &self,
        task_id: &str,
        f: impl FnMut(&mut TaskRecord) -> Result<(), AdcpError>,
    ) -> Result<TaskRecord, AdcpError> {
        self.transition(task_id, Actor::Anyone, f)
            .await?
            .ok_or_else(not_found)
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

    fn set_outcome(t: &mut TaskRecord, outcome: &Result<Value, AdcpError>) {
        match outcome {
            Ok(result) => {
                t.status = TaskStatus::Completed;
                t.result = Some(result.clone());
            }
            Err(e) => {
                t.status = TaskStatus::Failed;
                t.error = Some(e.to_json());
            }
        }
    }

    /// Completes a task with its response.
    pub async fn complete(&self, task_id: &str, result: Value) -> Result<TaskRecord, AdcpError> {
        let outcome = Ok(result);
        self.change(task_id, |t| {
            Self::ensure_open(t)?;
            Self::set_outcome(t, &outcome);
            Ok(())
        })
        .await
    }

    /// Fails a task.
    pub async fn fail(&self, task_id: &str, error: &AdcpError) -> Result<TaskRecord, AdcpError> {
        let outcome = Err(error.clone());
        self.change(task_id, |t| {
            Self::ensure_open(t)?;
            Self::set_outcome(t, &outcome);
            Ok(())
        })
        .await
    }

    /// Records the outcome of work this replica ran, unless the task was finished or adopted
    /// by another replica meanwhile (then the outcome is dropped: `Ok(None)`).
    pub(crate) async fn finish_work(
        &self,
        task_id: &str,
        outcome: Result<Value, AdcpError>,
    ) -> Result<Option<TaskRecord>, AdcpError> {
        let me = self.replica().to_owned();
        self.transition(task_id, Actor::Owner(&me), |t| {
            Self::ensure_open(t)?;
            Self::set_outcome(t, &outcome);
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
        if status.is_final() {
            return Err(AdcpError::internal(
                "set_status takes an unfinished status; use complete or fail",
            ));
        }
        self.change(task_id, |t| {
            Self::ensure_open(t)?;
            t.status = status;
            if message.is_some() {
                t.message.clone_from(&message);
            }
            Ok(())
        })
        .await
    }

    /// Cancels a task.
    pub async fn cancel(&self, scope: &str, task_id: &str) -> Result<TaskRecord, AdcpError> {
        self.change(task_id, |t| {
            if t.scope != scope {
                return Err(not_found());
            }
            Self::ensure_open(t)?;
            t.status = TaskStatus::Canceled;
            Ok(())
        })
        .await
    }

    /// Extends this replica's leases.
    pub(crate) async fn renew(&self) -> Result<u64, StoreError> {
        self.store.renew(self.replica(), self.lease_until()).await
    }

    /// Adopts the tasks whose replica stopped renewing its lease; returns them, now owned here.
    pub(crate) async fn adopt_orphans(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut adopted = Vec::new();
        for mut t in self.store.orphans(now_ms(), 100).await? {
            if self
                .store
                .adopt(&t.task_id, t.revision, self.replica(), self.lease_until())
                .await?
            {
                t.revision += 1;
                t.owner = Some(self.replica().to_owned());
                adopted.push(t);
            }
        }
        Ok(adopted)
    }
}

/// `tasks_get`, served from the registry: the task, if `owner` owns it.
pub(crate) async fn serve_get(
    registry: &TaskRegistry,
    owner: Owner<'_>,
    args: &Map<String, Value>,
) -> Result<Value, AdcpError> {
    let id = args
        .get("task_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match registry.get(owner, id).await? {
        Some(t) => {
            let mut body = t.to_get_response();
            if let Value::Object(m) = &mut body {
                m.remove("context"); // the caller's own context is echoed instead
            }
            Ok(body)
        }
        None => Err(not_found()),
    }
}

/// `tasks_list`, served from the registry: the tasks `owner` owns, filtered, a page at a time.
pub(crate) async fn serve_list(
    registry: &TaskRegistry,
    owner: Owner<'_>,
    args: &Map<String, Value>,
) -> Result<Value, AdcpError> {
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
    let (statuses, task_types, task_ids) = (
        wanted("status", "statuses"),
        wanted("task_type", "task_types"),
        wanted("", "task_ids"),
    );
    let pagination: Option<adcp_wire::PaginationRequest> = args
        .get("pagination")
        .map(|p| adcp_wire::decode(p.clone()))
        .transpose()
        .map_err(|e| AdcpError::invalid_request(format!("pagination.{}", e.path), e.message))?;
    let limit = crate::page::page_size(pagination.as_ref());
    let after = match pagination.as_ref().and_then(|p| p.cursor.as_deref()) {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            AdcpError::invalid_request(
                "pagination.cursor",
                "this cursor was not issued by this agent for tasks_list",
            )
        })?),
    };
    let query = TaskQuery {
        by: owner,
        statuses: &statuses,
        task_types: &task_types,
        task_ids: &task_ids,
        after,
    };
    // One more than the page: whether there is a next.
    let mut page = registry.page(&query, limit + 1).await?;
    let has_more = page.len() > limit;
    page.truncate(limit);
    // Counted from the index, and no further than COUNTED: beyond, the total is left out
    // (the schema makes it optional) rather than a page costing the account's size.
    let total = registry.count(&query, COUNTED + 1).await?;
    let total = (total <= u64::from(COUNTED)).then_some(total);
    let mut pagination = adcp_wire::PaginationResponse::new(has_more);
    pagination.total_count = total.and_then(|t| i64::try_from(t).ok());
    if has_more {
        pagination.cursor = page.last().map(|t| encode_cursor(&TaskCursor::of(t)));
    }
    let tasks: Vec<Value> = page.iter().map(|t| Value::Object(t.summary())).collect();
    let mut summary = json!({"returned": tasks.len()});
    if let Some(total) = total {
        summary["total_matching"] = json!(total);
    }
    Ok(json!({
        "query_summary": summary,
        "tasks": tasks,
        "pagination": pagination,
    }))
}

/// How far `tasks_list` counts the tasks that match.
const COUNTED: u32 = 1000;

const CURSOR_PREFIX: &str = "adcp.tasks.v1:";

/// A `tasks_list` cursor: where the next page starts (after this task), opaque to the buyer.
fn encode_cursor(c: &TaskCursor) -> String {
    crate::page::seal_cursor(CURSOR_PREFIX, &format!("{}:{}", c.created_ms, c.task_id))
}

fn decode_cursor(cursor: &str) -> Option<TaskCursor> {
    let position = crate::page::open_cursor(CURSOR_PREFIX, cursor)?;
    let (ms, task_id) = position.split_once(':')?;
    Some(TaskCursor {
        created_ms: ms.parse().ok()?,
        task_id: task_id.to_owned(),
    })
}

/// Whose tasks a `tasks_get` or `tasks_list` sees: those of the account it names, or, naming
/// none, those its caller created in any of its accounts.
pub(crate) fn owner_of<'a>(
    scope: &'a str,
    principal: &'a str,
    args: &Map<String, Value>,
) -> Owner<'a> {
    if args.contains_key("account") {
        Owner::Scope(scope)
    } else {
        Owner::Principal(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_list_pages_by_cursor_and_refuses_a_forged_one() {
        let reg = TaskRegistry::default();
        let mut made = Vec::new();
        for _ in 0..5 {
            made.push(
                reg.create(NewTask::new("create_media_buy", "media-buy", "a"))
                    .await
                    .unwrap(),
            );
        }
        reg.create(NewTask::new("create_media_buy", "media-buy", "b"))
            .await
            .unwrap();
        made.sort_by(|x, y| TaskCursor::of(y).cmp(&TaskCursor::of(x)));
        let mut args = json!({"pagination": {"max_results": 2}});
        let mut seen = Vec::new();
        for round in 0..3 {
            let body = serve_list(&reg, Owner::Scope("a"), args.as_object().unwrap())
                .await
                .unwrap();
            assert_eq!(body["query_summary"]["total_matching"], 5, "{body}");
            assert_eq!(body["pagination"]["total_count"], 5, "{body}");
            for t in body["tasks"].as_array().unwrap() {
                seen.push(t["task_id"].as_str().unwrap().to_owned());
            }
            assert_eq!(body["pagination"]["has_more"], round < 2, "{body}");
            args["pagination"]["cursor"] = body["pagination"]["cursor"].clone();
        }
        let expected: Vec<String> = made.iter().map(|t| t.task_id.clone()).collect();
        assert_eq!(seen, expected, "every task once, newest first");

        let forged = json!({"pagination": {"cursor": "not-a-cursor"}});
        let e = serve_list(&reg, Owner::Scope("a"), forged.as_object().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::INVALID_REQUEST);
        assert_eq!(e.field(), Some("pagination.cursor"));
    }

    #[tokio::test]
    async fn tasks_are_scoped_and_final_states_are_final() {
        let reg = TaskRegistry::default();
        let t = reg
            .create(NewTask::new("create_media_buy", "media-buy", "a"))
            .await
            .unwrap();
        assert!(
            reg.get(Owner::Scope("b"), &t.task_id)
                .await
                .unwrap()
                .is_none()
        );
        let done = reg
            .complete(&t.task_id, json!({"media_buy_id": "mb1"}))
            .await
            .unwrap();
        assert_eq!(done.status, TaskStatus::Completed);
        assert_eq!(done.revision, 2);
        let again = reg.complete(&t.task_id, json!({})).await.unwrap_err();
        assert_eq!(again.code(), codes::INVALID_STATE);
        let got = reg
            .get(Owner::Scope("a"), &t.task_id)
            .await
            .unwrap()
            .unwrap()
            .to_get_response();
        assert_eq!(got["result"]["media_buy_id"], "mb1");
        assert_eq!(got["status"], "completed");
    }

    #[tokio::test]
    async fn work_of_an_adopted_task_is_dropped() {
        let reg = TaskRegistry::default();
        let mut new = NewTask::new("create_media_buy", "media-buy", "a");
        new.run_here = true;
        let t = reg.create(new).await.unwrap();
        assert_eq!(t.owner.as_deref(), Some(reg.replica()));
        // Another replica adopts it.
        assert!(
            reg.store()
                .adopt(&t.task_id, t.revision, "other", now_ms())
                .await
                .unwrap()
        );
        let r = reg.finish_work(&t.task_id, Ok(json!({}))).await.unwrap();
        assert!(r.is_none());
        let stored = reg
            .get(Owner::Scope("a"), &t.task_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, TaskStatus::Submitted);
        assert_eq!(stored.owner.as_deref(), Some("other"));
    }
}
