//! Accounts: which account a call acts for, and whether its caller may act for it.
//!
//! Every call is resolved to one [`Account`] before adopter code runs, and every stored thing
//! (tasks, idempotency records, adopter state, webhooks) is keyed by that account's data
//! scope. How the account is found is the platform's [`AccountMode`]:
//!
//! | mode | the request names | resolves to | a name the caller may not use |
//! |---|---|---|---|
//! | `explicit` | `account: {account_id}` | that account, if the caller owns it | `ACCOUNT_NOT_FOUND` |
//! | `explicit` | `account: {brand, operator, sandbox?}` | the caller's account with that natural key: the one `sync_accounts` declared, else an implicit account derived from the key | never refused: another caller's key is a different account |
//! | `explicit` | nothing | the caller's default account | — |
//! | `from_auth` | anything or nothing | the caller's account (the store's mapping, else one derived from the principal) | `account_id` of another account: `ACCOUNT_NOT_FOUND` |
//! | `singleton` | anything or nothing | `<base>:<principal>`: one platform account, its data per caller | `account_id` other than `<base>` or `<base>:<principal>`: `ACCOUNT_NOT_FOUND` |
//!
//! Under compliance testing ([`Config::compliance_testing`](crate::Config)), in every mode: a
//! call that names no account, and a natural key whose brand and operator are test identities
//! (`*.example`, RFC 2606) unless it says `"sandbox": false`, act for the caller's sandbox
//! account; every sandbox account of a caller shares one data scope, so fixtures the runner
//! seeds through one test identity are seen through the others, and `list_accounts` leaves
//! such aliases out once the caller has declared an account of another name. An `account_id`
//! that names none of the caller's accounts is one the runner provisioned for a storyboard
//! (`acct_pagination_integrity`): a *fixture sandbox* of the caller's, with a scope of its own
//! that holds what is written through that id and reads through to what the controller seeded
//! in the sandbox (`seed_*` scenarios are copied there), and nothing the caller's other
//! identities wrote; a platform lists no default inventory there ([`Ctx::fixtures_only`]).
//! Without compliance testing a sandbox account (`"sandbox": true`) is an account of its own
//! like any other.
//!
//! [`Ctx::fixtures_only`]: crate::Ctx::fixtures_only
//!
//! "Does not exist" and "is not yours" are the same answer, byte for byte, so accounts cannot
//! be enumerated; account ids the runtime allocates are derived with a key only the store
//! knows, so they cannot be guessed either.

use std::sync::Arc;

use adcp_wire::{
    AccountRef, AccountStatus, BillingParty, BrandRef, ListAccountsRequest, ListAccountsResponse,
    SyncAccountsRequest, SyncAccountsSuccess, SyncAccountsSuccessAccountsItem,
    SyncAccountsSuccessAccountsItemAction,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{AdcpError, AdcpResult, codes};
use crate::store::{Account, AccountStore, IdKey, NaturalKey, Principal, Reference, StoreError};

/// How the account a request acts for is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountMode {
    /// The request names it (`account: {account_id}` or `{brand, operator}`).
    Explicit,
    /// The authenticated principal determines it.
    FromAuth,
    /// There is one account.
    Singleton,
}

impl AccountMode {
    /// The name used in the macro attribute and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountMode::Explicit => "explicit",
            AccountMode::FromAuth => "from_auth",
            AccountMode::Singleton => "singleton",
        }
    }
}

/// The principal of calls that present no credential (a server without authentication).
pub const ANONYMOUS: &str = "anonymous";

impl Account {
    /// An active account `id` owned by `owner`.
    pub fn new(id: impl Into<String>, owner: impl Into<String>) -> Self {
        let id = id.into();
        Account {
            name: id.clone(),
            id,
            status: AccountStatus::Active,
            brand: None,
            operator: None,
            billing: None,
            payment_terms: None,
            sandbox: false,
            owner: owner.into(),
            declared: false,
            metadata: Map::new(),
        }
    }

    /// The adopter metadata, decoded as `T` (`T::default()` when there is none).
    pub fn metadata<T: DeserializeOwned + Default>(&self) -> AdcpResult<T> {
        if self.metadata.is_empty() {
            return Ok(T::default());
        }
        serde_json::from_value(Value::Object(self.metadata.clone())).map_err(|e| {
            tracing::error!(account = %self.id, error = %e, "account metadata does not decode");
            AdcpError::internal("the account's data does not decode")
        })
    }

    /// Replaces the adopter metadata with `value` (which must encode as a JSON object).
    pub fn set_metadata<T: Serialize>(&mut self, value: &T) -> AdcpResult<()> {
        match serde_json::to_value(value) {
            Ok(Value::Object(m)) => {
                self.metadata = m;
                Ok(())
            }
            Ok(_) => Err(AdcpError::internal(
                "account metadata must encode as a JSON object",
            )),
            Err(e) => Err(AdcpError::internal(e.to_string())),
        }
    }

    /// The natural key, for accounts named by one.
    pub fn natural_key(&self) -> Option<NaturalKey> {
        Some(NaturalKey {
            domain: self.brand.as_ref()?.domain.clone(),
            brand_id: self.brand.as_ref()?.brand_id.clone(),
            operator: self.operator.clone()?,
            sandbox: self.sandbox,
        })
    }

    /// The account on the wire (`core/account.json`).
    pub fn to_wire(&self) -> adcp_wire::Account {
        let mut w = adcp_wire::Account::new(self.id.clone(), self.name.clone(), self.status);
        w.brand.clone_from(&self.brand);
        w.operator.clone_from(&self.operator);
        w.billing = self.billing;
        w.payment_terms = self.payment_terms;
        w.sandbox = Some(self.sandbox);
        w
    }

    /// Whether the account may serve `task` in its status: `closed` and `rejected` accounts
    /// act for nothing (`ACCOUNT_NOT_FOUND`, as for an account that does not exist);
    /// `suspended` ones only read (`ACCOUNT_SUSPENDED`); `pending_approval` ones only read
    /// (`ACCOUNT_SETUP_REQUIRED`); `payment_required` ones take no new spend
    /// (`ACCOUNT_PAYMENT_REQUIRED` on `create_media_buy` and on `update_media_buy` adding
    /// packages).
    pub fn gate(&self, task: &adcp_wire::TaskSpec, args: &Map<String, Value>) -> AdcpResult<()> {
        let code = match self.status {
            AccountStatus::Active => return Ok(()),
            AccountStatus::Closed | AccountStatus::Rejected => return Err(not_found()),
            AccountStatus::Suspended if task.mutating => codes::ACCOUNT_SUSPENDED,
            AccountStatus::PendingApproval if task.mutating => codes::ACCOUNT_SETUP_REQUIRED,
            AccountStatus::PaymentRequired
                if task.name == "create_media_buy"
                    || (task.name == "update_media_buy" && args.contains_key("new_packages")) =>
            {
                codes::ACCOUNT_PAYMENT_REQUIRED
            }
            _ => return Ok(()),
        };
        Err(AdcpError::new(
            code,
            format!("the account is {} and cannot do this", self.status),
        )
        .with_field("account")
        .with_details(json!({"status": self.status})))
    }
}

/// `ACCOUNT_NOT_FOUND`: the one answer for an account that does not exist and for one the
/// caller may not act for. It names the field, never the id.
pub fn not_found() -> AdcpError {
    AdcpError::new(
        codes::ACCOUNT_NOT_FOUND,
        "no such account for this caller; see list_accounts, or declare it with sync_accounts",
    )
    .with_field("account")
}

/// A resolved call: the account and the data scope every store keys its things by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// The account.
    pub account: Account,
    /// Its data scope.
    pub scope: String,
}

/// The suffix of a sandbox scope naming where the controller's seeds are copied.
const SEEDS: &str = "#seeds";
/// The infix of a fixture sandbox's scope (`<sandbox scope>#fixture:<id>`).
const FIXTURE: &str = "#fixture:";

/// A fixture sandbox's scope as its two derived halves (`acct:acc_<key>`, `fx_<key>`): only
/// the resolver makes such a scope, from HMAC-derived ids, so no principal's or adopter's
/// account id can pass for one (`acct:base:alice#fixture:x` is not).
fn fixture_parts(scope: &str) -> Option<(&str, &str)> {
    let (sandbox, key) = scope.split_once(FIXTURE)?;
    let derived = |s: &str, prefix: &str| {
        s.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
    };
    (derived(sandbox, "acct:acc_") && derived(key, "fx_")).then_some((sandbox, key))
}

/// The scope a fixture sandbox's documents read through to (its sandbox's seeds), for a
/// fixture sandbox's scope; `None` for every other scope.
pub(crate) fn seeds_under(scope: &str) -> Option<String> {
    let (sandbox, _) = fixture_parts(scope)?;
    Some(format!("{sandbox}{SEEDS}"))
}

/// Whether `scope` is a fixture sandbox's (see the module docs).
pub(crate) fn is_fixture_scope(scope: &str) -> bool {
    fixture_parts(scope).is_some()
}

/// Where the controller's seeds in a sandbox `scope` are copied for its fixture sandboxes.
pub(crate) fn seed_scope(scope: &str) -> String {
    format!("{scope}{SEEDS}")
}

/// Resolves calls to accounts: the account mode, the store and the id key.
#[derive(Clone)]
pub(crate) struct Resolver {
    pub(crate) store: Arc<dyn AccountStore>,
    pub(crate) ids: IdKey,
    pub(crate) mode: AccountMode,
    pub(crate) compliance_testing: bool,
    pub(crate) singleton_base: String,
}

fn store_error(e: &StoreError) -> AdcpError {
    tracing::error!(error = %e, "account store");
    AdcpError::internal("the account store is unavailable")
}

/// The principal id a call acts as.
pub(crate) fn principal_id(p: Option<&Principal>) -> &str {
    p.map_or(ANONYMOUS, |p| p.id.as_str())
}

impl Resolver {
    /// The data scope of an account (see the module docs for sandbox accounts).
    pub(crate) fn scope_of(&self, account: &Account) -> String {
        if self.compliance_testing && account.sandbox {
            format!("acct:{}", self.sandbox_id(&account.owner))
        } else {
            format!("acct:{}", account.id)
        }
    }

    fn resolved(&self, account: Account) -> Resolved {
        Resolved {
            scope: self.scope_of(&account),
            account,
        }
    }

    /// The fixture sandbox of an account id the compliance runner provisioned (one naming
    /// none of the caller's accounts): the caller's sandbox account under the id it named,
    /// with a scope of its own that reads through to the sandbox's seeds.
    fn fixture(&self, principal: &str, named: &str) -> Resolved {
        let mut account = self.sandbox_account(principal);
        let sandbox = self.scope_of(&account);
        let key = self.ids.derive("fx_", &[principal, "fixture", named]);
        account.id = named.to_owned();
        account.name = format!("compliance fixture sandbox {named}");
        Resolved {
            scope: format!("{sandbox}{FIXTURE}{key}"),
            account,
        }
    }

    fn sandbox_id(&self, principal: &str) -> String {
        self.ids.derive("acc_", &[principal, "sandbox"])
    }

    /// The account of a principal's calls that name none.
    fn default_account(&self, principal: &str) -> Account {
        if self.compliance_testing {
            return self.sandbox_account(principal);
        }
        let mut a = Account::new(self.ids.derive("acc_", &[principal, "default"]), principal);
        a.name = format!("default account of {principal}");
        a
    }

    fn sandbox_account(&self, principal: &str) -> Account {
        let mut a = Account::new(self.sandbox_id(principal), principal);
        a.name = format!("sandbox account of {principal}");
        a.sandbox = true;
        a
    }

    fn key_account(&self, principal: &str, key: &NaturalKey, brand: &BrandRef) -> Account {
        let sandbox = if key.sandbox { "1" } else { "0" };
        let id = self.ids.derive(
            "acc_",
            &[
                principal,
                "key",
                &key.domain,
                key.brand_id.as_deref().unwrap_or(""),
                &key.operator,
                sandbox,
            ],
        );
        let mut a = Account::new(id, principal);
        a.name = format!("{} via {}", key.domain, key.operator);
        a.brand = Some(brand.clone());
        a.operator = Some(key.operator.clone());
        a.sandbox = key.sandbox;
        a
    }

    fn auth_account(&self, principal: &str) -> Account {
        let mut a = Account::new(self.ids.derive("acc_", &[principal, "auth"]), principal);
        a.name = format!("account of {principal}");
        a
    }

    fn singleton_account(&self, principal: &str) -> Account {
        let mut a = Account::new(format!("{}:{principal}", self.singleton_base), principal);
        a.name.clone_from(&self.singleton_base);
        a
    }

    /// The accounts the runtime derives for a principal, by id.
    fn synthetic(&self, principal: &str, id: &str) -> Option<Account> {
        [
            self.default_account(principal),
            self.sandbox_account(principal),
            self.auth_account(principal),
            self.singleton_account(principal),
        ]
        .into_iter()
        .find(|a| a.id == id)
    }

    /// The stored copy of an account the runtime derived (its status, metadata and
    /// declaration live in the store once set), else the account as derived.
    async fn stored(&self, principal: &str, derived: Account) -> AdcpResult<Account> {
        if derived.declared {
            return Ok(derived);
        }
        let stored = self
            .store
            .resolve(principal, &Reference::Id(derived.id.clone()))
            .await
            .map_err(|e| store_error(&e))?;
        Ok(stored.unwrap_or(derived))
    }

    /// An account by id, if `principal` may act for it: the store's, else one the runtime
    /// derives for the principal.
    pub(crate) async fn by_id(&self, principal: &str, id: &str) -> AdcpResult<Option<Account>> {
        let stored = self
            .store
            .resolve(principal, &Reference::Id(id.to_owned()))
            .await
            .map_err(|e| store_error(&e))?;
        Ok(stored.or_else(|| self.synthetic(principal, id)))
    }

    /// The account a call acts for. `request` is the validated request object.
    pub(crate) async fn resolve(
        &self,
        principal: Option<&Principal>,
        request: &Map<String, Value>,
    ) -> AdcpResult<Resolved> {
        let principal = principal_id(principal);
        let reference = match request.get("account") {
            None | Some(Value::Null) => None,
            Some(v) => Some(AccountRef::deserialize(v).map_err(|e| {
                AdcpError::invalid_request("account", format!("not an account reference: {e}"))
            })?),
        };
        // Under compliance testing an account id naming none of the caller's accounts is one
        // the runner provisioned: its fixture sandbox.
        if self.compliance_testing
            && let Some(AccountRef::AccountId(r)) = &reference
            && self.by_id(principal, &r.account_id).await?.is_none()
            && !self.aliases(principal).contains(&r.account_id)
            && !self.is_own_by_auth(principal, &r.account_id).await?
        {
            return Ok(self.fixture(principal, &r.account_id));
        }
        let account = match self.mode {
            AccountMode::Explicit => self.explicit(principal, reference.as_ref()).await?,
            AccountMode::FromAuth => {
                let mine = match self
                    .store
                    .for_principal(principal)
                    .await
                    .map_err(|e| store_error(&e))?
                {
                    Some(a) => a,
                    None => self.auth_account(principal),
                };
                self.only(principal, reference.as_ref(), mine, &[])?
            }
            AccountMode::Singleton => {
                let mine = self.singleton_account(principal);
                let base = self.singleton_base.clone();
                self.only(principal, reference.as_ref(), mine, &[base])?
            }
        };
        Ok(self.resolved(self.stored(principal, account).await?))
    }

    /// In `from_auth` mode, whether `id` is the account the store maps the principal to.
    async fn is_own_by_auth(&self, principal: &str, id: &str) -> AdcpResult<bool> {
        if self.mode != AccountMode::FromAuth {
            return Ok(false);
        }
        let mine = self
            .store
            .for_principal(principal)
            .await
            .map_err(|e| store_error(&e))?;
        Ok(mine.is_some_and(|a| a.id == id))
    }

    /// Account ids a principal may name besides its accounts' own (the singleton's base).
    fn aliases(&self, _principal: &str) -> Vec<String> {
        match self.mode {
            AccountMode::Singleton => vec![self.singleton_base.clone()],
            AccountMode::Explicit | AccountMode::FromAuth => Vec::new(),
        }
    }

    /// Modes with one account per principal: a named account other than it (or the aliases)
    /// is refused; a natural key or no reference is the principal's account.
    fn only(
        &self,
        principal: &str,
        reference: Option<&AccountRef>,
        mine: Account,
        aliases: &[String],
    ) -> AdcpResult<Account> {
        match reference {
            Some(AccountRef::AccountId(r)) if r.account_id != mine.id => {
                if aliases.contains(&r.account_id) {
                    Ok(mine)
                } else if self.compliance_testing {
                    Ok(self.sandbox_account(principal))
                } else {
                    Err(not_found())
                }
            }
            Some(AccountRef::BrandOperator(r)) if self.compliance_testing => {
                if self.effective_key(&r.brand, &r.operator, r.sandbox).sandbox {
                    Ok(self.sandbox_account(principal))
                } else {
                    Ok(mine)
                }
            }
            None if self.compliance_testing => Ok(self.sandbox_account(principal)),
            _ => Ok(mine),
        }
    }

    async fn explicit(
        &self,
        principal: &str,
        reference: Option<&AccountRef>,
    ) -> AdcpResult<Account> {
        match reference {
            None => Ok(self.default_account(principal)),
            // (Under compliance testing an unknown id is a fixture sandbox: see `resolve`.)
            Some(AccountRef::AccountId(r)) => self
                .by_id(principal, &r.account_id)
                .await?
                .ok_or_else(not_found),
            Some(AccountRef::BrandOperator(r)) => {
                let key = self.effective_key(&r.brand, &r.operator, r.sandbox);
                let declared = self
                    .store
                    .resolve(principal, &Reference::Key(key.clone()))
                    .await
                    .map_err(|e| store_error(&e))?;
                Ok(match declared {
                    Some(a) => a,
                    // The caller's one sandbox, seen as the brand and operator it named.
                    None if self.compliance_testing && key.sandbox => {
                        let mut a = self.sandbox_account(principal);
                        a.brand = Some(r.brand.clone());
                        a.operator = Some(r.operator.clone());
                        a
                    }
                    None => self.key_account(principal, &key, &r.brand),
                })
            }
        }
    }

    /// The natural key a reference names: under compliance testing a key of test identities
    /// is a sandbox key unless it says `"sandbox": false` (the runner drops the flag after
    /// `sync_accounts`, and its seeded fixtures are in the sandbox).
    fn effective_key(&self, brand: &BrandRef, operator: &str, sandbox: Option<bool>) -> NaturalKey {
        let mut key = NaturalKey::of(brand, operator, sandbox);
        if self.compliance_testing && key.is_test_identity() && sandbox != Some(false) {
            key.sandbox = true;
        }
        key
    }

    /// The account `sync_accounts` declares for one entry (existing or new), not yet stored.
    pub(crate) async fn declared(
        &self,
        principal: &str,
        brand: &BrandRef,
        operator: &str,
        sandbox: Option<bool>,
    ) -> AdcpResult<(Option<Account>, Account)> {
        let key = self.effective_key(brand, operator, sandbox);
        let existing = self
            .store
            .resolve(principal, &Reference::Key(key.clone()))
            .await
            .map_err(|e| store_error(&e))?;
        let base = existing
            .clone()
            .unwrap_or_else(|| self.key_account(principal, &key, brand));
        Ok((existing, base))
    }

    /// Every account `list_accounts` shows a principal: those it declared, or, before it
    /// declares any, the account its calls without a reference act for.
    pub(crate) async fn listed(&self, principal: &str) -> AdcpResult<Vec<Account>> {
        let declared = self
            .store
            .list(principal)
            .await
            .map_err(|e| store_error(&e))?;
        // Under compliance testing a test identity's account is the caller's sandbox seen by
        // another name, not an account of its own: listed only while it is all the caller
        // declared (the runner counts the accounts a storyboard syncs, after earlier ones
        // synced test identities in the same run).
        let (aliases, own): (Vec<Account>, Vec<Account>) = declared.into_iter().partition(|a| {
            self.compliance_testing
                && a.sandbox
                && a.natural_key().is_some_and(|k| k.is_test_identity())
        });
        if !own.is_empty() {
            return Ok(own);
        }
        if !aliases.is_empty() {
            return Ok(aliases);
        }
        let fallback = match self.mode {
            AccountMode::Explicit => self.default_account(principal),
            AccountMode::FromAuth => match self
                .store
                .for_principal(principal)
                .await
                .map_err(|e| store_error(&e))?
            {
                Some(a) => a,
                None => self.auth_account(principal),
            },
            AccountMode::Singleton => self.singleton_account(principal),
        };
        // A status the controller or an operator set is kept in the store.
        Ok(vec![
            self.by_id(principal, &fallback.id)
                .await?
                .unwrap_or(fallback),
        ])
    }

    pub(crate) async fn upsert(&self, account: &Account) -> AdcpResult<()> {
        self.store
            .upsert(account)
            .await
            .map_err(|e| store_error(&e))
    }
}

/// Accounts as a handler sees them: its caller's, through the server's store. From
/// [`Ctx::accounts`](crate::Ctx::accounts).
pub struct Accounts<'a> {
    pub(crate) resolver: &'a Resolver,
    pub(crate) principal: &'a str,
    /// The billing parties the seller supports (`account.supported_billing`).
    pub(crate) supported_billing: &'a [BillingParty],
}

impl Accounts<'_> {
    /// One of the caller's accounts by id; `None` for one that does not exist or that the
    /// caller may not act for.
    pub async fn get(&self, id: &str) -> AdcpResult<Option<Account>> {
        self.resolver.by_id(self.principal, id).await
    }

    /// The accounts `list_accounts` shows the caller.
    pub async fn list(&self) -> AdcpResult<Vec<Account>> {
        self.resolver.listed(self.principal).await
    }

    /// Stores one of the caller's accounts (its `owner` is set to the caller).
    pub async fn put(&self, mut account: Account) -> AdcpResult<Account> {
        self.principal.clone_into(&mut account.owner);
        self.resolver.upsert(&account).await?;
        Ok(account)
    }

    /// Moves one of the caller's accounts to `status`, if the account lifecycle allows it
    /// (`INVALID_TRANSITION` otherwise, as a controller scenario answers); `None` when the
    /// caller has no such account. Returns the status before.
    pub async fn set_status(
        &self,
        id: &str,
        status: AccountStatus,
    ) -> AdcpResult<Option<AccountStatus>> {
        let Some(mut account) = self.get(id).await? else {
            return Ok(None);
        };
        let previous = account.status;
        crate::lifecycle::ACCOUNT.force(&mut account.status, status)?;
        self.resolver.upsert(&account).await?;
        Ok(Some(previous))
    }
}

impl Accounts<'_> {
    /// `sync_accounts` served from the account store: each entry declares (or updates) the
    /// caller's account with that natural key; billing parties the seller does not support
    /// (`account.supported_billing` in the capabilities) fail their row with
    /// `BILLING_NOT_SUPPORTED`; `delete_missing` closes the caller's other declared accounts;
    /// `dry_run` writes nothing. A platform that implements `sync_accounts` itself may call this
    /// (`ctx.accounts().sync(&req)`) and adjust the answer.
    pub async fn sync(&self, req: &SyncAccountsRequest) -> AdcpResult<SyncAccountsSuccess> {
        use SyncAccountsSuccessAccountsItemAction as Action;
        let resolver = self.resolver;
        let principal = self.principal;
        let dry_run = req.dry_run.unwrap_or(false);
        let supported = self.supported_billing;
        let mut items = Vec::with_capacity(req.accounts.len());
        let mut kept = Vec::with_capacity(req.accounts.len());
        for (i, entry) in req.accounts.iter().enumerate() {
            let (existing, mut account) = resolver
                .declared(principal, &entry.brand, &entry.operator, entry.sandbox)
                .await?;
            let sandbox_echo = entry.sandbox.or(account.sandbox.then_some(true));
            kept.push(account.id.clone());
            if !supported.is_empty() && !supported.contains(&entry.billing) {
                let e = AdcpError::new(
                    "BILLING_NOT_SUPPORTED",
                    format!("this seller does not invoice the {} party", entry.billing),
                )
                .with_field(format!("accounts[{i}].billing"))
                .with_recovery(crate::Recovery::Correctable);
                let mut item = SyncAccountsSuccessAccountsItem::new(
                    Action::Failed,
                    entry.brand.clone(),
                    entry.operator.clone(),
                    existing
                        .as_ref()
                        .map_or(AccountStatus::Rejected, |a| a.status)
                        .to_string()
                        .parse::<adcp_wire::SyncAccountsSuccessAccountsItemStatus>()
                        .map_err(|_| AdcpError::internal("an account status has no sync status"))?,
                );
                item.account_id = existing.map(|a| a.id);
                item.errors = Some(vec![e.to_wire()]);
                item.sandbox = sandbox_echo;
                items.push(item);
                continue;
            }
            let before = account.clone();
            account.billing = Some(entry.billing);
            if entry.payment_terms.is_some() {
                account.payment_terms = entry.payment_terms;
            }
            account.declared = true;
            let action = match &existing {
                None => Action::Created,
                Some(_) if before == account => Action::Unchanged,
                Some(_) => Action::Updated,
            };
            if !dry_run && action != Action::Unchanged {
                resolver.upsert(&account).await?;
            }
            items.push(sync_item(&account, action, sandbox_echo)?);
        }
        if req.delete_missing == Some(true) {
            for mut other in resolver.listed(principal).await? {
                if !other.declared || kept.contains(&other.id) {
                    continue;
                }
                if crate::lifecycle::ACCOUNT.allows(other.status, AccountStatus::Closed) {
                    other.status = AccountStatus::Closed;
                    if !dry_run {
                        resolver.upsert(&other).await?;
                    }
                    items.push(sync_item(
                        &other,
                        Action::Updated,
                        other.sandbox.then_some(true),
                    )?);
                }
            }
        }
        let mut resp = SyncAccountsSuccess::new(items);
        if dry_run {
            resp.dry_run = Some(true);
        }
        Ok(resp)
    }

    /// `list_accounts` served from the account store: the caller's accounts (see
    /// [`Accounts::list`]), filtered by `status` and `sandbox`, a page at a time.
    pub async fn list_page(&self, req: &ListAccountsRequest) -> AdcpResult<ListAccountsResponse> {
        let status = req.status.map(|s| s.to_string());
        let all: Vec<adcp_wire::Account> = self
            .list()
            .await?
            .iter()
            .filter(|a| status.as_deref().is_none_or(|s| a.status.to_string() == s))
            .filter(|a| req.sandbox.is_none_or(|s| a.sandbox == s))
            .map(Account::to_wire)
            .collect();
        let (accounts, pagination) = crate::page::Page::take(req.pagination.as_ref(), all)?;
        let mut resp = ListAccountsResponse::new(accounts);
        resp.pagination = Some(pagination);
        Ok(resp)
    }
}

fn sync_item(
    account: &Account,
    action: SyncAccountsSuccessAccountsItemAction,
    sandbox: Option<bool>,
) -> AdcpResult<SyncAccountsSuccessAccountsItem> {
    let (Some(brand), Some(operator)) = (account.brand.clone(), account.operator.clone()) else {
        return Err(AdcpError::internal("a declared account has no natural key"));
    };
    let status = account
        .status
        .to_string()
        .parse::<adcp_wire::SyncAccountsSuccessAccountsItemStatus>()
        .map_err(|_| AdcpError::internal("an account status has no sync status"))?;
    let mut item = SyncAccountsSuccessAccountsItem::new(action, brand, operator, status);
    item.account_id = Some(account.id.clone());
    item.name = Some(account.name.clone());
    item.billing = account.billing;
    item.payment_terms = account.payment_terms;
    item.sandbox = sandbox;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryAccountStore;
    use crate::store::accounts::base32;

    fn resolver(mode: AccountMode, compliance_testing: bool) -> Resolver {
        Resolver {
            store: Arc::new(MemoryAccountStore::default()),
            ids: IdKey::new([7; 32]),
            mode,
            compliance_testing,
            singleton_base: "default".into(),
        }
    }

    fn req(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn p(id: &str) -> Principal {
        Principal { id: id.into() }
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32(b"f"), "my");
    }

    #[test]
    fn ordered_ids_sort_as_made_and_are_not_guessable() {
        let first = crate::store::accounts::ordered_id("mb");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let made: Vec<String> = (0..1000)
            .map(|_| crate::store::accounts::ordered_id("mb"))
            .collect();
        let sorted = |id: &str| {
            id.strip_prefix("mb_").is_some_and(|t| {
                t.len() == 26
                    && t.bytes()
                        .all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b))
            })
        };
        assert!(
            sorted(&first) && made.iter().all(|id| sorted(id)),
            "{first}"
        );
        // A later millisecond sorts after; within one, the 80 random bits differ.
        assert!(made.iter().all(|id| *id > first));
        let distinct: std::collections::HashSet<&str> = made.iter().map(|id| &id[13..]).collect();
        assert_eq!(distinct.len(), made.len());
        // The leading ten characters are the milliseconds since the epoch.
        let ms = first[3..13].bytes().fold(0u128, |acc, b| {
            let digit = b"0123456789abcdefghjkmnpqrstvwxyz"
                .iter()
                .position(|&c| c == b)
                .unwrap_or_default();
            (acc << 5) | digit as u128
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(now.abs_diff(ms) < 60_000, "{ms} vs {now}");
    }

    #[tokio::test]
    async fn natural_keys_are_per_principal_and_ids_are_not_guessable() {
        let r = resolver(AccountMode::Explicit, false);
        let nk =
            req(json!({"account": {"brand": {"domain": "acme.com"}, "operator": "agency.com"}}));
        let a = r.resolve(Some(&p("buyer1")), &nk).await.unwrap();
        let b = r.resolve(Some(&p("buyer2")), &nk).await.unwrap();
        assert_ne!(a.scope, b.scope);
        assert!(a.account.id.starts_with("acc_") && a.account.id.len() == 30);
        assert_eq!(a, r.resolve(Some(&p("buyer1")), &nk).await.unwrap());
        // buyer2 naming buyer1's id, and a random id: the same refusal.
        let theirs = req(json!({"account": {"account_id": a.account.id}}));
        let random = req(json!({"account": {"account_id": "acc_nothing"}}));
        let e1 = r.resolve(Some(&p("buyer2")), &theirs).await.unwrap_err();
        let e2 = r.resolve(Some(&p("buyer2")), &random).await.unwrap_err();
        assert_eq!(e1.to_json(), e2.to_json());
        assert_eq!(e1.code(), codes::ACCOUNT_NOT_FOUND);
        // `sandbox: false` is honoured, and a sandbox key is another account.
        let sb = req(
            json!({"account": {"brand": {"domain": "acme.com"}, "operator": "agency.com", "sandbox": true}}),
        );
        let s = r.resolve(Some(&p("buyer1")), &sb).await.unwrap();
        assert!(s.account.sandbox);
        assert_ne!(s.scope, a.scope);
        assert!(!a.account.sandbox);
    }

    #[tokio::test]
    async fn test_identities_share_a_sandbox_per_principal_under_compliance_testing() {
        let r = resolver(AccountMode::Explicit, true);
        let runner = req(
            json!({"account": {"brand": {"domain": "test.example"}, "operator": "test.example", "sandbox": true}}),
        );
        let kit = req(
            json!({"account": {"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example"}}),
        );
        let none = req(json!({}));
        let unknown_id = req(json!({"account": {"account_id": "acct_pagination_integrity"}}));
        let declined = req(
            json!({"account": {"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example", "sandbox": false}}),
        );
        let me = Some(p("runner"));
        let scope = r.resolve(me.as_ref(), &runner).await.unwrap().scope;
        for other in [&kit, &none] {
            let got = r.resolve(me.as_ref(), other).await.unwrap();
            assert_eq!(got.scope, scope);
            assert!(got.account.sandbox);
        }
        // An account id the caller does not have is a fixture sandbox of the caller's: a
        // scope of its own, reading through to the sandbox's seeds, under the id it named.
        let fixture = r.resolve(me.as_ref(), &unknown_id).await.unwrap();
        assert_ne!(fixture.scope, scope);
        assert!(fixture.account.sandbox);
        assert_eq!(fixture.account.id, "acct_pagination_integrity");
        assert_eq!(seeds_under(&fixture.scope), Some(seed_scope(&scope)));
        assert_eq!(seeds_under(&scope), None);
        // A scope made of a principal's or adopter's names cannot pass for a fixture's.
        for forged in [
            "acct:default:alice#fixture:fx_x",
            "acct:acc_abc#fixture:fx_x#fixture:fx_y",
            "acct:ACC_X#fixture:fx_y",
            "acct:acc_x#fixture:",
        ] {
            assert!(!is_fixture_scope(forged), "{forged}");
        }
        let real = r.resolve(me.as_ref(), &declined).await.unwrap();
        assert!(!real.account.sandbox);
        assert_ne!(real.scope, scope);
        // Another principal has its own sandbox.
        let theirs = r.resolve(Some(&p("other")), &runner).await.unwrap();
        assert_ne!(theirs.scope, scope);
    }

    /// A fixture sandbox sees what the controller seeded in its sandbox and what was written
    /// through it, not what the caller's other identities wrote; the sandbox is unchanged by
    /// the fixture sandbox's writes; another caller's fixture sandbox of the same id is not it.
    #[tokio::test]
    async fn a_fixture_sandbox_holds_the_seeds_and_its_own_writes() {
        use crate::state::{Collection, State};
        use crate::store::MemoryStateStore;
        const DOCS: Collection<String> = Collection::new("docs");
        let r = resolver(AccountMode::Explicit, true);
        let store = MemoryStateStore::default();
        let me = Some(p("runner"));
        let sandbox = r.resolve(me.as_ref(), &req(json!({}))).await.unwrap().scope;
        let named = req(json!({"account": {"account_id": "acct_pagination_integrity"}}));
        let fixture = r.resolve(me.as_ref(), &named).await.unwrap().scope;
        let theirs = r.resolve(Some(&p("other")), &named).await.unwrap().scope;
        assert_ne!(theirs, fixture);

        // Seeds (written by the controller, mirrored) and a task's write in the sandbox.
        let seeding = State::new(&store, &sandbox).mirroring(Some(seed_scope(&sandbox)));
        for id in ["a", "b", "c"] {
            seeding
                .put(DOCS, id, &format!("seeded {id}"))
                .await
                .unwrap();
        }
        let sandbox_state = State::new(&store, &sandbox);
        sandbox_state
            .put(DOCS, "probe", &"written".to_owned())
            .await
            .unwrap();
        assert_eq!(sandbox_state.list(DOCS).await.unwrap().len(), 4);

        let view = State::new(&store, &fixture);
        assert_eq!(
            view.list(DOCS).await.unwrap(),
            ["seeded a", "seeded b", "seeded c"]
        );
        assert_eq!(view.get(DOCS, "probe").await.unwrap(), None);
        // A change copies the seed in; the sandbox's copy stays as seeded.
        view.update(DOCS, "b", |d: &mut String| {
            d.push_str(", changed");
            Ok(())
        })
        .await
        .unwrap();
        view.put(DOCS, "d", &"own".to_owned()).await.unwrap();
        assert_eq!(
            view.list(DOCS).await.unwrap(),
            ["seeded a", "seeded b, changed", "seeded c", "own"]
        );
        assert_eq!(
            sandbox_state.get(DOCS, "b").await.unwrap().as_deref(),
            Some("seeded b")
        );
        assert_eq!(sandbox_state.get(DOCS, "d").await.unwrap(), None);
        assert!(
            State::new(&store, &theirs)
                .list(DOCS)
                .await
                .unwrap()
                .is_empty()
        );
    }

    fn accounts_of<'a>(r: &'a Resolver, principal: &'a str) -> Accounts<'a> {
        Accounts {
            resolver: r,
            principal,
            supported_billing: &[BillingParty::Operator],
        }
    }

    fn entry(domain: &str, billing: &str) -> Value {
        json!({"brand": {"domain": domain}, "operator": "agency.com", "billing": billing})
    }

    fn sync_req(entries: &[Value], extra: Value) -> SyncAccountsRequest {
        let mut v = json!({"idempotency_key": "k-0000000000000000", "accounts": entries});
        if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
            m.extend(x);
        }
        adcp_wire::decode(v).unwrap()
    }

    /// The runner syncs its own identity (`test.example`) in one storyboard and counts the
    /// accounts another storyboard syncs: the alias is listed only while it is all there is.
    #[tokio::test]
    async fn test_identities_are_listed_only_while_nothing_else_is_declared() {
        let sandboxed = |domain: &str, operator: &str| json!({"brand": {"domain": domain}, "operator": operator, "billing": "operator", "sandbox": true});
        for compliance_testing in [true, false] {
            let r = resolver(AccountMode::Explicit, compliance_testing);
            let ctx = accounts_of(&r, "b1");
            let runner = [sandboxed("test.example", "test.example")];
            ctx.sync(&sync_req(&runner, json!({}))).await.unwrap();
            let listed = r.listed("b1").await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].operator.as_deref(), Some("test.example"));
            let three = [
                sandboxed("acme-corp.com", "pinnacle-media.com"),
                sandboxed("nova-brands.com", "pinnacle-media.com"),
                sandboxed("pinnacle-media.com", "pinnacle-media.com"),
            ];
            ctx.sync(&sync_req(&three, json!({}))).await.unwrap();
            let listed = r.listed("b1").await.unwrap();
            let expected = if compliance_testing { 3 } else { 4 };
            assert_eq!(
                listed.len(),
                expected,
                "compliance testing: {compliance_testing}"
            );
            if compliance_testing {
                assert!(
                    listed
                        .iter()
                        .all(|a| a.operator.as_deref() != Some("test.example"))
                );
            }
        }
    }

    #[tokio::test]
    async fn sync_declares_and_the_status_gates_every_account() {
        use SyncAccountsSuccessAccountsItemAction as Action;
        let r = resolver(AccountMode::Explicit, false);
        let ctx = accounts_of(&r, "b1");
        // A dry run writes nothing.
        let dry = ctx
            .sync(&sync_req(
                &[entry("a.com", "operator")],
                json!({"dry_run": true}),
            ))
            .await
            .unwrap();
        assert_eq!(dry.accounts[0].action, Action::Created);
        assert!(r.listed("b1").await.unwrap()[0].id != dry.accounts[0].account_id.clone().unwrap());
        let first = ctx
            .sync(&sync_req(
                &[entry("a.com", "operator"), entry("b.com", "operator")],
                json!({}),
            ))
            .await
            .unwrap();
        let a = first.accounts[0].account_id.clone().unwrap();
        assert_eq!(first.accounts[0].action, Action::Created);
        // An unsupported billing party fails its row only; delete_missing closes what is not
        // named, but never the account of a failed row.
        let second = ctx
            .sync(&sync_req(
                &[entry("a.com", "advertiser")],
                json!({"delete_missing": true}),
            ))
            .await
            .unwrap();
        assert_eq!(second.accounts[0].action, Action::Failed);
        assert_eq!(
            second.accounts[0].errors.as_ref().unwrap()[0].code,
            "BILLING_NOT_SUPPORTED"
        );
        assert_eq!(second.accounts.len(), 2, "{second:?}");
        assert_eq!(second.accounts[1].status.to_string(), "closed");
        let listed = r.listed("b1").await.unwrap();
        assert_eq!(
            listed.iter().find(|x| x.id == a).unwrap().status,
            AccountStatus::Active
        );
        // Status gates: the default account (derived, never declared) once closed is gone.
        let default = r.resolve(Some(&p("b1")), &req(json!({}))).await.unwrap();
        let mut closed = default.account.clone();
        closed.status = AccountStatus::Closed;
        r.upsert(&closed).await.unwrap();
        let again = r.resolve(Some(&p("b1")), &req(json!({}))).await.unwrap();
        let create = adcp_wire::task("create_media_buy").unwrap();
        assert_eq!(
            again
                .account
                .gate(create, &Map::new())
                .unwrap_err()
                .to_json(),
            not_found().to_json()
        );
        let mut suspended = default.account;
        suspended.status = AccountStatus::Suspended;
        let e = suspended.gate(create, &Map::new()).unwrap_err();
        assert_eq!(e.code(), codes::ACCOUNT_SUSPENDED);
        assert!(
            suspended
                .gate(adcp_wire::task("get_media_buys").unwrap(), &Map::new())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn accounts_synced_with_test_identities_are_the_sandbox_under_compliance_testing() {
        let r = resolver(AccountMode::Explicit, true);
        let ctx = accounts_of(&r, "runner");
        let synced = ctx.sync(
            &sync_req(
                &[json!({"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example", "billing": "operator"})],
                json!({}),
            ),
        )
        .await
        .unwrap();
        assert_eq!(synced.accounts[0].sandbox, Some(true));
        let id = synced.accounts[0].account_id.clone().unwrap();
        let by_id = r
            .resolve(
                Some(&p("runner")),
                &req(json!({"account": {"account_id": id}})),
            )
            .await
            .unwrap();
        let by_key = r
            .resolve(
                Some(&p("runner")),
                &req(json!({"account": {"brand": {"domain": "acmeoutdoor.example"}, "operator": "pinnacle-agency.example"}})),
            )
            .await
            .unwrap();
        let sandbox = r
            .resolve(Some(&p("runner")), &req(json!({})))
            .await
            .unwrap();
        assert!(by_id.account.sandbox);
        assert_eq!(by_id.account.id, id);
        assert_eq!(
            (&by_id.scope, &by_key.scope),
            (&sandbox.scope, &sandbox.scope)
        );
    }

    #[tokio::test]
    async fn one_account_modes() {
        let r = resolver(AccountMode::Singleton, false);
        let a = r.resolve(Some(&p("b1")), &req(json!({}))).await.unwrap();
        let b = r.resolve(Some(&p("b2")), &req(json!({}))).await.unwrap();
        assert_eq!(a.account.id, "default:b1");
        assert_ne!(a.scope, b.scope);
        let base = req(json!({"account": {"account_id": "default"}}));
        assert_eq!(r.resolve(Some(&p("b1")), &base).await.unwrap(), a);
        let theirs = req(json!({"account": {"account_id": "default:b2"}}));
        assert_eq!(
            r.resolve(Some(&p("b1")), &theirs).await.unwrap_err().code(),
            codes::ACCOUNT_NOT_FOUND
        );
        let r = resolver(AccountMode::FromAuth, false);
        let a = r.resolve(Some(&p("b1")), &req(json!({}))).await.unwrap();
        let named = req(json!({"account": {"account_id": a.account.id}}));
        assert_eq!(r.resolve(Some(&p("b1")), &named).await.unwrap(), a);
        assert_eq!(
            r.resolve(Some(&p("b2")), &named).await.unwrap_err().code(),
            codes::ACCOUNT_NOT_FOUND
        );
    }
}
