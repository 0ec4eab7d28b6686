//! What a handler knows about the request it serves.

use std::sync::Arc;

use adcp_wire::{BillingParty, TaskSpec};
use time::OffsetDateTime;

use crate::accounts::AccountMode;
use crate::accounts::{Accounts, Resolved, Resolver};
use crate::error::{AdcpError, AdcpResult};
use crate::state::State;
use crate::store::{
    Account, AccountStore, IdKey, MemoryAccountStore, MemoryStateStore, Principal, StateStore,
};
use crate::tasks::TaskRegistry;

/// Checks a [`Purchase`](crate::governance::Purchase) against the plan the platform keeps for the buyer's brand, through
/// the platform's own `check_governance` (object-safe, so a [`Ctx`] holds it).
pub(crate) trait Governor: Send + Sync {
    fn govern<'a>(
        &'a self,
        ctx: &'a Ctx,
        purchase: &'a crate::governance::Purchase,
    ) -> crate::store::BoxFuture<'a, AdcpResult<Option<crate::governance::Decision>>>;

    fn purchased<'a>(
        &'a self,
        ctx: &'a Ctx,
        decision: &'a crate::governance::Decision,
        purchase: &'a crate::governance::Purchase,
        reference: &'a str,
    ) -> crate::store::BoxFuture<'a, ()>;
}

/// The scope of [`Ctx::shared_state`].
pub const SHARED_SCOPE: &str = "shared";

/// What every context of a server shares: its registries and stores.
#[derive(Clone)]
pub(crate) struct Services {
    pub(crate) tasks: TaskRegistry,
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) accounts: Resolver,
    pub(crate) supported_billing: Arc<[BillingParty]>,
    /// The tenant whose stores these are (empty on a single-tenant server).
    pub(crate) tenant: Arc<str>,
    /// The webhook outbox (`None` for contexts built outside a server).
    pub(crate) outbox: Option<Arc<dyn crate::store::Outbox>>,
    /// Where webhooks may go.
    pub(crate) webhook_policy: crate::ssrf::Policy,
    /// The server's clock: a handler's `now` (a test's manual clock moves it).
    pub(crate) clock: crate::time::Clock,
    /// The key approvals are attested with ([`Ctx::attest_governance`]).
    pub(crate) governance_key: Option<Arc<crate::signing::SigningKey>>,
    /// The server's own governance of purchases ([`Ctx::govern`]), set once it exists.
    pub(crate) governor: Arc<std::sync::OnceLock<Arc<dyn Governor>>>,
}

impl Services {
    /// In-memory services, for contexts built outside a server.
    pub(crate) fn memory(mode: AccountMode, compliance_testing: bool) -> Self {
        Services {
            tasks: TaskRegistry::default(),
            state: Arc::new(MemoryStateStore::default()),
            accounts: Resolver {
                store: Arc::new(MemoryAccountStore::default()),
                ids: IdKey::random(),
                mode,
                compliance_testing,
                singleton_base: "default".into(),
            },
            supported_billing: Arc::from(Vec::new()),
            tenant: "".into(),
            outbox: None,
            webhook_policy: crate::ssrf::Policy {
                allow_private: false,
            },
            clock: crate::time::Clock::system(),
            governance_key: None,
            governor: Arc::default(),
        }
    }
}

/// A request's context, handed to every handler. Cheap to clone into a task hand-off.
///
/// It says who calls ([`Ctx::principal`]), for which account ([`Ctx::account`], resolved and
/// checked before the handler runs), and gives that account's documents ([`Ctx::state`]).
///
/// ```
/// use adcp_runtime::{AdcpResult, Collection, Ctx};
/// use adcp_runtime::wire::CreateMediaBuySuccess;
///
/// const BUYS: Collection<CreateMediaBuySuccess> = Collection::new("media_buys");
///
/// async fn book(ctx: &Ctx) -> AdcpResult<CreateMediaBuySuccess> {
///     let buy = CreateMediaBuySuccess::new(ctx.new_id("mb"), Vec::new());
///     ctx.state().put(BUYS, &buy.media_buy_id, &buy).await?;
///     tracing::info!(account = %ctx.account().id, sandbox = ctx.sandbox(), "booked");
///     Ok(buy)
/// }
/// ```
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

struct Inner {
    task: &'static TaskSpec,
    principal: Option<Principal>,
    account: Account,
    scope: String,
    agent_url: String,
    idempotency_key: Option<String>,
    task_id: Option<String>,
    now: OffsetDateTime,
    services: Services,
    proposal: Option<crate::store::ProposalRecord>,
    /// Each requested package's recipe, set by the runtime's overlap check.
    products: std::sync::OnceLock<Vec<Option<adcp_wire::Product>>>,
    /// Where state writes are copied too: a sandbox's seeds, for a controller `seed_*` call.
    seeds: Option<String>,
    /// The buyer's governance agents' decision on this call, when the runtime asked them.
    governance: Option<crate::governance::Decision>,
    /// The grant the call came with, if any.
    grant: Option<crate::grants::Grant>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("task", &self.0.task.name)
            .field("principal", &self.0.principal)
            .field("account", &self.0.account.id)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Ctx`] (the runtime does this; tests may too).
pub struct CtxBuilder {
    task: &'static TaskSpec,
    principal: Option<Principal>,
    resolved: Option<Resolved>,
    account: Option<Account>,
    agent_url: String,
    idempotency_key: Option<String>,
    task_id: Option<String>,
    now: Option<OffsetDateTime>,
    services: Option<Services>,
    proposal: Option<crate::store::ProposalRecord>,
    tasks: Option<TaskRegistry>,
    state: Option<Arc<dyn StateStore>>,
    account_store: Option<Arc<dyn AccountStore>>,
    seeding: bool,
    governance: Option<crate::governance::Decision>,
    grant: Option<crate::grants::Grant>,
}

impl CtxBuilder {
    /// A context for `task`.
    pub fn new(task: &'static TaskSpec) -> Self {
        CtxBuilder {
            task,
            principal: None,
            resolved: None,
            account: None,
            agent_url: "http://127.0.0.1".into(),
            idempotency_key: None,
            task_id: None,
            now: None,
            services: None,
            proposal: None,
            tasks: None,
            state: None,
            account_store: None,
            seeding: false,
            governance: None,
            grant: None,
        }
    }

    /// The governance agents' decision on the call (set by the runtime after it asked them).
    pub fn governance_decision(mut self, d: Option<crate::governance::Decision>) -> Self {
        self.governance = d;
        self
    }

    /// A controller `seed_*` call under compliance testing: its state writes are the
    /// sandbox's seeds, copied where the sandbox's fixture sandboxes read them.
    pub(crate) fn seeding(mut self, seeding: bool) -> Self {
        self.seeding = seeding;
        self
    }

    /// The committed proposal a `create_media_buy` accepts (consumed for it by the runtime).
    pub fn proposal(mut self, p: Option<crate::store::ProposalRecord>) -> Self {
        self.proposal = p;
        self
    }

    /// The caller.
    pub fn principal(mut self, p: Option<Principal>) -> Self {
        self.principal = p;
        self
    }

    /// The account (its data scope is derived from it).
    pub fn account(mut self, a: Account) -> Self {
        self.account = Some(a);
        self
    }

    /// The account and its scope, as the runtime resolved them.
    pub(crate) fn resolved(mut self, r: Resolved) -> Self {
        self.resolved = Some(r);
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

    /// When the request arrived.
    pub fn now(mut self, now: OffsetDateTime) -> Self {
        self.now = Some(now);
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

    /// The account store.
    pub fn account_store(mut self, store: Arc<dyn AccountStore>) -> Self {
        self.account_store = Some(store);
        self
    }

    pub(crate) fn services(mut self, services: Services) -> Self {
        self.services = Some(services);
        self
    }

    /// The grant the call came with.
    pub fn grant(mut self, grant: Option<crate::grants::Grant>) -> Self {
        self.grant = grant;
        self
    }

    /// The context.
    pub fn build(self) -> Ctx {
        let mut services = self
            .services
            .unwrap_or_else(|| Services::memory(AccountMode::Explicit, false));
        if let Some(t) = self.tasks {
            services.tasks = t;
        }
        if let Some(s) = self.state {
            services.state = s;
        }
        if let Some(a) = self.account_store {
            services.accounts.store = a;
        }
        let principal_id = crate::accounts::principal_id(self.principal.as_ref()).to_owned();
        let resolved = match (self.resolved, self.account) {
            (Some(r), _) => r,
            (None, account) => {
                let account = account.unwrap_or_else(|| {
                    Account::new(format!("acc_test_{principal_id}"), principal_id.clone())
                });
                Resolved {
                    scope: services.accounts.scope_of(&account),
                    account,
                }
            }
        };
        let seeds = (self.seeding && !crate::accounts::is_fixture_scope(&resolved.scope))
            .then(|| crate::accounts::seed_scope(&resolved.scope));
        Ctx(Arc::new(Inner {
            seeds,
            grant: self.grant,
            governance: self.governance,
            task: self.task,
            principal: self.principal,
            account: resolved.account,
            scope: resolved.scope,
            agent_url: self.agent_url,
            idempotency_key: self.idempotency_key,
            task_id: self.task_id,
            now: self.now.unwrap_or_else(|| services.clock.instant()),
            services,
            proposal: self.proposal,
            products: std::sync::OnceLock::new(),
        }))
    }
}

impl Ctx {
    /// The task being served.
    pub fn task(&self) -> &'static TaskSpec {
        self.0.task
    }

    /// The recipes of [`Ctx::products`], decoded as the platform's recipe union `U`, in the
    /// same order (`None` for a product without one). On `create_media_buy` and
    /// `update_media_buy` every new package has been checked against its recipe's capability
    /// overlap before the handler runs.
    pub fn recipes<U: crate::RecipeUnion + serde::de::DeserializeOwned>(&self) -> Vec<Option<U>> {
        self.products()
            .iter()
            .map(|p| {
                p.as_ref()
                    .and_then(|p| p.extra.get("implementation_config"))
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
            })
            .collect()
    }

    /// With a proposal manager composed, the products a call is about, as the manager holds
    /// them (recipe included; `None` where it does not know one): on `create_media_buy`, each
    /// package's, in package order; on `update_media_buy`, each of `new_packages`, in order,
    /// then those the buy was booked with; on `get_media_buy_delivery`, those of the buys
    /// named. The platform books and reports from these rather than from a catalogue of its
    /// own.
    pub fn products(&self) -> &[Option<adcp_wire::Product>] {
        self.0.products.get().map(Vec::as_slice).unwrap_or_default()
    }

    /// The product a package of this request names, hydrated by the runtime (see
    /// [`Ctx::products`]).
    pub fn product(&self, product_id: &str) -> Option<&adcp_wire::Product> {
        self.products()
            .iter()
            .flatten()
            .find(|p| p.product_id == product_id)
    }

    pub(crate) fn set_products(&self, products: Vec<Option<adcp_wire::Product>>) {
        let _ = self.0.products.set(products);
    }

    /// On a `create_media_buy` naming `proposal_id`: the committed proposal it accepts, already
    /// consumed for this call (its packages are in the request, derived from its allocations).
    pub fn proposal(&self) -> Option<&crate::store::ProposalRecord> {
        self.0.proposal.as_ref()
    }

    /// The authenticated caller, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.principal.as_ref()
    }

    /// The account the request acts for, resolved (and checked against the caller) before
    /// the handler runs.
    pub fn account(&self) -> &Account {
        &self.0.account
    }

    /// The tenant the request was routed to (empty on a single-tenant server). Every store
    /// the context reaches is already that tenant's alone.
    pub fn tenant(&self) -> &str {
        &self.0.services.tenant
    }

    /// The data scope of the account: every store partitions by it.
    pub fn scope(&self) -> &str {
        &self.0.scope
    }

    /// Whether the request acts for a sandbox account.
    pub fn sandbox(&self) -> bool {
        self.0.account.sandbox
    }

    /// Refuses, with `not_found`, a resource stored for another account: `owner` is the
    /// scope the resource was stored under ([`Ctx::scope`] when it was created). For data a
    /// platform keeps outside the runtime's state (an upstream platform, its own tables), so
    /// another account's resource answers exactly as one that does not exist.
    pub fn require_account_match(
        &self,
        owner: &str,
        not_found: impl FnOnce() -> AdcpError,
    ) -> AdcpResult<()> {
        if self.owns(owner) {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    /// Whether a resource stored under `owner` (a [`Ctx::scope`]) belongs to this request's
    /// account (a compliance fixture sandbox also owns what its sandbox seeded).
    pub fn owns(&self, owner: &str) -> bool {
        owner == self.0.scope
            || crate::accounts::seeds_under(&self.0.scope)
                .is_some_and(|seeds| seeds == crate::accounts::seed_scope(owner))
    }

    /// The services it was built over.
    pub(crate) fn services(&self) -> &Services {
        &self.0.services
    }

    /// The account's governance agents (registered with `sync_governance`), and
    /// `check_governance` against them for an action the platform governs itself (the runtime
    /// checks `create_media_buy` and `update_media_buy`): see [`crate::governance`].
    pub fn governance(&self) -> crate::governance::Governance<'_> {
        crate::governance::Governance {
            state: self.state(),
            caller: &self.0.agent_url,
            policy: self.0.services.webhook_policy,
        }
    }

    /// The buyer's governance agents' decision on this call, when the runtime asked them
    /// before it (a `create_media_buy` naming a plan, a spend change of a governed buy):
    /// `approved` or `conditions`, with the conditions a platform applies what it can of.
    pub fn governance_decision(&self) -> Option<&crate::governance::Decision> {
        self.0.governance.as_ref()
    }

    /// Under compliance testing, whether the account is a fixture sandbox: an account id the
    /// runner provisioned for a storyboard (`acct_pagination_integrity`), holding exactly what
    /// the controller seeded and what was written through it. A platform lists no default
    /// inventory (its built-in catalogue, formats) there, so a storyboard sees its fixtures
    /// alone.
    pub fn fixtures_only(&self) -> bool {
        crate::accounts::is_fixture_scope(&self.0.scope)
    }

    /// The caller's accounts.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts {
            resolver: &self.0.services.accounts,
            principal: crate::accounts::principal_id(self.0.principal.as_ref()),
            supported_billing: &self.0.services.supported_billing,
        }
    }

    /// A grant on one of the account's resources, for a third party: a bearer token that
    /// lets its holder make `task` calls whose `field` is `value` (`get_property_list` with
    /// `list_id` = the list), served as this caller's on this account, and nothing else
    /// ([`crate::Grant`]). Shown once: only its hash is kept.
    pub async fn grant(&self, task: &str, field: &str, value: &str) -> AdcpResult<String> {
        let grant = crate::grants::Grant {
            principal: crate::accounts::principal_id(self.0.principal.as_ref()).to_owned(),
            account_id: self.0.account.id.clone(),
            task: task.to_owned(),
            field: field.to_owned(),
            value: value.to_owned(),
        };
        crate::grants::issue(&self.shared_state(), &grant).await
    }

    /// Ends this account's grants on `task` for `value` (the resource is gone): the number
    /// ended.
    pub async fn revoke_grants(&self, task: &str, value: &str) -> AdcpResult<usize> {
        crate::grants::revoke(&self.shared_state(), &self.0.account.id, task, value).await
    }

    /// Hosts a preview page this agent rendered, until `ttl` from now: its URL
    /// (`<agent>/previews/<id>`), for a render's `preview_url`. The id is random (122 bits):
    /// the URL is the capability, served without credentials, as buyers' tools open it. The
    /// page is kept in the agent's shared store and served sandboxed (a
    /// `Content-Security-Policy` allowing no scripts, frames or connections; images, media,
    /// fonts and inline styles) until it expires, then 404.
    pub async fn host_preview(
        &self,
        html: String,
        ttl: crate::time::Duration,
    ) -> AdcpResult<String> {
        self.host(html, "text/html; charset=utf-8", ttl, crate::previews::PATH)
            .await
    }

    /// Hosts an asset this agent generated (an SVG image, a caption file), until `ttl` from
    /// now: its URL (`<agent>/assets/<id>`), for a manifest's asset `url`. As
    /// [`Ctx::host_preview`]: unguessable, no credentials, sandboxed. `content_type` is one
    /// of `image/svg+xml`, `text/plain`, `text/vtt`; any other is refused.
    pub async fn host_asset(
        &self,
        body: String,
        content_type: &str,
        ttl: crate::time::Duration,
    ) -> AdcpResult<String> {
        if !crate::previews::ASSET_TYPES.contains(&content_type) {
            return Err(AdcpError::internal(format!(
                "an asset is not hosted as `{content_type}`"
            )));
        }
        self.host(body, content_type, ttl, crate::previews::ASSETS)
            .await
    }

    async fn host(
        &self,
        body: String,
        content_type: &str,
        ttl: crate::time::Duration,
        path: &str,
    ) -> AdcpResult<String> {
        let id = self.new_id("h");
        let expires = (self.now() + ttl).unix_timestamp();
        crate::previews::host(&self.shared_state(), &id, body, content_type, expires).await?;
        let base = self
            .agent_url()
            .strip_suffix("/mcp")
            .unwrap_or(self.agent_url())
            .trim_end_matches('/');
        Ok(format!("{base}{path}/{id}"))
    }

    /// The grant this call came with: a third party acting on one resource, not the
    /// account's principal.
    pub fn granted(&self) -> Option<&crate::grants::Grant> {
        self.0.grant.as_ref()
    }

    /// A fresh id for a resource the platform creates: `prefix`, `_` and 26 base32 characters,
    /// the millisecond it was made and then 80 random bits. Ids sort in the order they were
    /// made, so the store's indexes grow at one edge (a batch of bookings writes a few pages,
    /// not a random page of every index each); they say nothing of how many exist and cannot be
    /// guessed from another account's (`mb_1`, `mb_2`, ... could).
    pub fn new_id(&self, prefix: &str) -> String {
        crate::store::accounts::ordered_id(prefix)
    }

    /// Decides a purchase the platform is about to make (a signal activation, a rights
    /// licence) with the buyer's plan, before any spend: when this agent keeps its buyers'
    /// plans itself (it serves `sync_plans` and `check_governance`) and the caller synced one
    /// here for the account's brand (the one whose flight holds the purchase's start, or the
    /// latest for an undated purchase), the platform's own `check_governance` decides it.
    /// `Ok(None)`: no plan governs it. A denial is `GOVERNANCE_DENIED` with the findings, to
    /// answer as is.
    ///
    /// A platform prices the purchase (`total`): the plan's budget is weighed against it.
    pub async fn govern(
        &self,
        purchase: &crate::governance::Purchase,
    ) -> AdcpResult<Option<crate::governance::Decision>> {
        match self.0.services.governor.get() {
            Some(g) => g.govern(self, purchase).await,
            None => Ok(None),
        }
    }

    /// Tells the buyer's plan what a purchase [`Ctx::govern`] approved committed, once it is
    /// made (`reference`: the platform's id for it): the plan's budget then counts it. Best
    /// effort; a failure is logged.
    pub async fn purchased(
        &self,
        decision: &crate::governance::Decision,
        purchase: &crate::governance::Purchase,
        reference: &str,
    ) {
        if let Some(g) = self.0.services.governor.get() {
            g.purchased(self, decision, purchase, reference).await;
        }
    }

    /// A governance agent's `governance_context` for an approval: a compact JWS attesting
    /// the decision ([`crate::signing::governance`]), signed with
    /// [`Config::governance_signing_key`](crate::Config::governance_signing_key), issued by
    /// this agent, now, with a fresh `jti`. `None` without a key.
    pub fn attest_governance(
        &self,
        attestation: crate::signing::governance::Attestation<'_>,
    ) -> Option<String> {
        let key = self.0.services.governance_key.as_ref()?;
        Some(attestation.sign(key, &self.new_id("jti")))
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
        &self.0.services.tasks
    }

    /// In a durable job, the task it completes.
    pub fn task_id(&self) -> Option<&str> {
        self.0.task_id.as_deref()
    }

    /// The request's account's documents in the server's store (memory, SQLite or
    /// PostgreSQL): what the platform keeps there survives restarts, is shared by replicas, and
    /// is never seen by another account.
    ///
    /// ```
    /// # use adcp_runtime::{AdcpResult, Collection, Ctx};
    /// # #[derive(Default, serde::Serialize, serde::Deserialize)] struct Buy { paused: bool }
    /// const BUYS: Collection<Buy> = Collection::new("media_buys");
    ///
    /// async fn pause(ctx: &Ctx, id: &str) -> AdcpResult<()> {
    ///     let missing = || adcp_runtime::AdcpError::new("MEDIA_BUY_NOT_FOUND", "no such buy");
    ///     ctx.state().modify(BUYS, id, missing, |b| Ok(b.paused = true)).await
    /// }
    /// ```
    pub fn state(&self) -> State<'_> {
        State::new(self.0.services.state.as_ref(), &self.0.scope)
            .publishing(self.events())
            .mirroring(self.0.seeds.clone())
    }

    /// Documents shared by every account of this server (a catalogue the platform seeds,
    /// rate cards): the scope `shared`.
    pub fn shared_state(&self) -> State<'_> {
        State::new(self.0.services.state.as_ref(), SHARED_SCOPE)
    }

    /// The server's status-change bus: publish what changed, for subscribers on every replica.
    pub fn events(&self) -> &crate::events::Bus {
        self.0.services.tasks.bus()
    }

    /// Restates a past period of one of this account's buys to a buyer who asked for delivery
    /// reports (`reporting_webhook`): the next report covers `start`..`end` again, marked
    /// `adjusted` (corrected data, same measurement window) or `window_update` (a wider
    /// window, such as C3 after live), with the platform's `get_media_buy_delivery` for that
    /// period. `false`: the buyer asked for no reports, or the final one was sent.
    pub async fn restate_delivery(
        &self,
        media_buy_id: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        kind: crate::Restated,
    ) -> crate::AdcpResult<bool> {
        crate::reporting::restate(
            self.0.services.state.as_ref(),
            self.0.services.tasks.bus(),
            &self.0.scope,
            media_buy_id,
            start,
            end,
            kind,
        )
        .await
    }

    /// Sends `payload` to `url` as a webhook of this account, through the server's outbox: the
    /// same as the runtime's own (its `idempotency_key` added and kept across retries, the
    /// SSRF guard, retries with backoff and the receiver's `Retry-After`, signed with the
    /// server's webhook key, or with the buyer's `authentication` (`{schemes, credentials}`:
    /// `Bearer` or `HMAC-SHA256`) when given). Written before this returns, so a crash after
    /// it loses nothing. Returns the webhook's `idempotency_key`.
    pub async fn emit_webhook(
        &self,
        url: &str,
        payload: serde_json::Value,
        authentication: Option<&serde_json::Value>,
    ) -> crate::AdcpResult<String> {
        let Some(outbox) = &self.0.services.outbox else {
            return Err(crate::AdcpError::internal(
                "this context has no webhook outbox (it was built outside a server)",
            ));
        };
        if let Err(refused) = self.0.services.webhook_policy.check_url(url) {
            return Err(crate::AdcpError::invalid_request(
                "url",
                format!("the webhook URL is refused: {refused}"),
            ));
        }
        if !payload.is_object() {
            return Err(crate::AdcpError::invalid_request(
                "payload",
                "a webhook payload is a JSON object (its idempotency_key is added to it)",
            ));
        }
        let auth = match authentication {
            None => None,
            Some(a) => Some(crate::store::PushAuth::from_adcp(a).ok_or_else(|| {
                crate::AdcpError::invalid_request(
                    "authentication",
                    "expected {schemes: [\"Bearer\" | \"HMAC-SHA256\"], credentials}",
                )
            })?),
        };
        let mut d = crate::store::Delivery::new(url, payload, auth, None);
        d.scope = self.0.scope.clone();
        outbox
            .enqueue(std::slice::from_ref(&d))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "enqueueing a webhook");
                crate::AdcpError::internal("the webhook could not be queued")
            })?;
        self.events()
            .publish(crate::events::Event::webhook_queued(&d.id, &self.0.scope));
        Ok(d.idempotency_key)
    }
}
