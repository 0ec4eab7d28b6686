//! What a handler knows about the request it serves.

use std::sync::Arc;

use adcp_wire::TaskSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::platform::AccountMode;
use crate::state::{MemoryStateStore, State, StateStore};
use crate::tasks::TaskRegistry;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// A stable identifier (never the credential itself).
    pub id: String,
}

/// The account a request acts for, and the data scope it maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `account.account_id`, when the request names one.
    pub account_id: Option<String>,
    /// `account.brand.domain`, when the request names a brand.
    pub brand: Option<String>,
    /// `account.operator`.
    pub operator: Option<String>,
    /// Whether the account is a sandbox account (`account.sandbox`, or a test identity while
    /// compliance testing is on).
    pub sandbox: bool,
    /// The partition key for this account's data. Every sandbox account of a compliance run
    /// shares one scope, so fixtures seeded for one test identity are seen by the others.
    pub scope: String,
}

impl Account {
    /// The scope shared by every sandbox account while compliance testing is on.
    pub const SANDBOX_SCOPE: &'static str = "sandbox";

    /// Resolves the account of a request (its `account`, or without one its top-level `brand`)
    /// under an account mode.
    pub(crate) fn resolve(
        mode: AccountMode,
        request: &Value,
        principal: Option<&Principal>,
        test_mode: bool,
    ) -> Account {
        let requested = request.get("account");
        let field = |path: &[&str]| -> Option<String> {
            let mut v = requested?;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str().map(str::to_owned)
        };
        let account_id = field(&["account_id"]);
        let brand = field(&["brand", "domain"]).or_else(|| {
            requested
                .is_none()
                .then(|| {
                    request
                        .get("brand")?
                        .get("domain")?
                        .as_str()
                        .map(str::to_owned)
                })
                .flatten()
        });
        let operator = field(&["operator"]);
        let flagged = requested
            .and_then(|a| a.get("sandbox"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // Compliance test identities use the reserved `.example` domains (RFC 2606).
        let test_identity = |d: &Option<String>| {
            d.as_deref()
                .is_some_and(|d| d == "example" || d.ends_with(".example"))
        };
        // Under compliance testing a request that names no account and no brand is a test
        // request too.
        let anonymous = account_id.is_none() && brand.is_none() && operator.is_none();
        let sandbox = flagged
            || (test_mode
                && (anonymous
                    || (test_identity(&brand)
                        && (operator.is_none() || test_identity(&operator)))));
        let scope = if sandbox && test_mode {
            Account::SANDBOX_SCOPE.to_owned()
        } else {
            match mode {
                AccountMode::Singleton => "default".to_owned(),
                AccountMode::FromAuth => principal
                    .map_or_else(|| "anonymous".to_owned(), |p| format!("principal:{}", p.id)),
                AccountMode::Explicit => match (&account_id, &brand, &operator) {
                    (Some(id), _, _) => format!("account:{id}"),
                    (None, Some(b), Some(o)) => format!("brand:{b}|operator:{o}"),
                    (None, Some(b), None) => format!("brand:{b}"),
                    _ => principal
                        .map_or_else(|| "anonymous".to_owned(), |p| format!("principal:{}", p.id)),
                },
            }
        };
        Account {
            account_id,
            brand,
            operator,
            sandbox,
            scope,
        }
    }
}

/// A request's context, handed to every handler. Cheap to clone into a task hand-off.
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

struct Inner {
    task: &'static TaskSpec,
    principal: Option<Principal>,
    account: Account,
    agent_url: String,
    idempotency_key: Option<String>,
    task_id: Option<String>,
    now: OffsetDateTime,
    tasks: TaskRegistry,
    state: Arc<dyn StateStore>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("task", &self.0.task.name)
            .field("principal", &self.0.principal)
            .field("account", &self.0.account)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Ctx`] (the runtime does this; tests may too).
pub struct CtxBuilder {
    task: &'static TaskSpec,
    principal: Option<Principal>,
    account: Option<Account>,
    agent_url: String,
    idempotency_key: Option<String>,
    task_id: Option<String>,
    now: Option<OffsetDateTime>,
    tasks: Option<TaskRegistry>,
    state: Option<Arc<dyn StateStore>>,
}

impl CtxBuilder {
    /// A context for `task`.
    pub fn new(task: &'static TaskSpec) -> Self {
        CtxBuilder {
            task,
            principal: None,
            account: None,
            agent_url: "http://127.0.0.1".into(),
            idempotency_key: None,
            task_id: None,
            now: None,
            tasks: None,
            state: None,
        }
    }

    /// The caller.
    pub fn principal(mut self, p: Option<Principal>) -> Self {
        self.principal = p;
        self
    }

    /// The account.
    pub fn account(mut self, a: Account) -> Self {
        self.account = Some(a);
        self
    }

    /// This agent's public URL.
    pub fn agent_url(mut self, url: impl Into<String>) -> Self {
        self.agent_url = url.into();
        self
    }

    /// The request's idempotency key.
    pub fn idempotency_key(mut self, key: Option<String>) -> Self {
        self.idempotency_key = key;
        self
    }

    /// The task whose work this context runs (durable jobs).
    pub fn task_id(mut self, id: Option<String>) -> Self {
        self.task_id = id;
        self
    }

    /// The task registry.
    pub fn tasks(mut self, tasks: TaskRegistry) -> Self {
        self.tasks = Some(tasks);
        self
    }

    /// The state store.
    pub fn state(mut self, state: Arc<dyn StateStore>) -> Self {
        self.state = Some(state);
        self
    }

    /// The context.
    pub fn build(self) -> Ctx {
        let account = self
            .account
            .unwrap_or_else(|| Account::resolve(AccountMode::Singleton, &Value::Null, None, false));
        Ctx(Arc::new(Inner {
            task: self.task,
            principal: self.principal,
            account,
            agent_url: self.agent_url,
            idempotency_key: self.idempotency_key,
            task_id: self.task_id,
            now: self.now.unwrap_or_else(OffsetDateTime::now_utc),
            tasks: self.tasks.unwrap_or_default(),
            state: self
                .state
                .unwrap_or_else(|| Arc::new(MemoryStateStore::default())),
        }))
    }
}

impl Ctx {
    /// The task being served.
    pub fn task(&self) -> &'static TaskSpec {
        self.0.task
    }

    /// The authenticated caller, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.principal.as_ref()
    }

    /// The account the request acts for.
    pub fn account(&self) -> &Account {
        &self.0.account
    }

    /// The data scope of the account: partition every store by it.
    pub fn scope(&self) -> &str {
        &self.0.account.scope
    }

    /// Whether the request acts for a sandbox account.
    pub fn sandbox(&self) -> bool {
        self.0.account.sandbox
    }

    /// This agent's public URL (for `format_ids[].agent_url` and the like).
    pub fn agent_url(&self) -> &str {
        &self.0.agent_url
    }

    /// The request's `idempotency_key`, on mutating tasks.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }

    /// When the request arrived.
    pub fn now(&self) -> OffsetDateTime {
        self.0.now
    }

    /// The task registry, to complete a hand-off made with `TaskHandoff::external()`.
    pub fn tasks(&self) -> &TaskRegistry {
        &self.0.tasks
    }

    /// In a durable job, the task it completes.
    pub fn task_id(&self) -> Option<&str> {
        self.0.task_id.as_deref()
    }

    /// Adopter state in the server's store (memory, SQLite or PostgreSQL): what the platform
    /// keeps there survives restarts and is shared by replicas.
    pub fn state(&self) -> State<'_> {
        State::new(self.0.state.as_ref())
    }

    /// The server's status-change bus: publish what changed, for subscribers on every replica.
    pub fn events(&self) -> &crate::events::Bus {
        self.0.tasks.bus()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_identities_share_the_sandbox_scope_only_in_test_mode() {
        let runner = json!({"brand": {"domain": "test.example"}, "operator": "test.example", "sandbox": true});
        let kit = json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example"});
        let real = json!({"brand": {"domain": "acme.com"}, "operator": "agency.com"});
        let scope = |v: &Value, test| {
            Account::resolve(AccountMode::Explicit, &json!({"account": v}), None, test).scope
        };
        assert_eq!(scope(&runner, true), "sandbox");
        assert_eq!(scope(&kit, true), "sandbox");
        assert_eq!(
            scope(&kit, false),
            "brand:acmeoutdoor.example|operator:pinnacle-agency.example"
        );
        assert_eq!(scope(&real, true), "brand:acme.com|operator:agency.com");
        let by_id = json!({"account_id": "acc_1"});
        assert_eq!(scope(&by_id, true), "account:acc_1");
        let brand_only = json!({"brand": {"domain": "test.example"}, "buying_mode": "brief"});
        assert_eq!(
            Account::resolve(AccountMode::Explicit, &brand_only, None, true).scope,
            "sandbox"
        );
    }
}
