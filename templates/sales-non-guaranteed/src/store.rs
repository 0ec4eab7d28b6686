//! The seller's state, partitioned by account scope (`Ctx::scope`): every account's media buys,
//! creatives and accounts are its own; the sandbox scope of a compliance run is one partition.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use adcp_runtime::wire::{BrandRef, Product, Targeting};
use serde_json::Value;
use time::OffsetDateTime;

/// A package of a media buy.
#[derive(Clone, Debug)]
pub(crate) struct PackageState {
    pub(crate) package_id: String,
    pub(crate) product_id: String,
    pub(crate) pricing_option_id: String,
    pub(crate) pricing_model: adcp_runtime::wire::PricingModel,
    pub(crate) rate: f64,
    pub(crate) budget: f64,
    pub(crate) bid_price: Option<f64>,
    pub(crate) paused: bool,
    pub(crate) canceled: bool,
    pub(crate) targeting_overlay: Option<Targeting>,
    pub(crate) creative_ids: Vec<String>,
    pub(crate) impressions: f64,
    pub(crate) clicks: f64,
    pub(crate) spend: f64,
}

/// A media buy.
#[derive(Clone, Debug)]
pub(crate) struct MediaBuy {
    pub(crate) media_buy_id: String,
    pub(crate) status: String,
    pub(crate) currency: String,
    pub(crate) start_time: String,
    pub(crate) end_time: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) revision: i64,
    pub(crate) packages: Vec<PackageState>,
}

impl MediaBuy {
    pub(crate) fn total_budget(&self) -> f64 {
        self.packages
            .iter()
            .filter(|p| !p.canceled)
            .map(|p| p.budget)
            .sum()
    }

    pub(crate) fn has_creatives(&self) -> bool {
        self.packages.iter().any(|p| !p.creative_ids.is_empty())
    }
}

/// A creative in the library.
#[derive(Clone, Debug)]
pub(crate) struct Creative {
    pub(crate) creative_id: String,
    pub(crate) name: String,
    pub(crate) format_id: adcp_runtime::wire::FormatId,
    pub(crate) status: String,
    pub(crate) created: OffsetDateTime,
    pub(crate) updated: OffsetDateTime,
    /// The creative as synced, kept to tell `updated` from `unchanged`.
    pub(crate) body: Value,
}

/// An account this seller keeps.
#[derive(Clone, Debug)]
pub(crate) struct AccountState {
    pub(crate) account_id: String,
    pub(crate) brand: BrandRef,
    pub(crate) operator: String,
    pub(crate) billing: String,
    pub(crate) status: String,
    pub(crate) sandbox: bool,
}

/// One scope's data.
#[derive(Default)]
pub(crate) struct Scope {
    /// Products added by seeding, over the default catalogue.
    pub(crate) products: BTreeMap<String, Product>,
    pub(crate) media_buys: BTreeMap<String, MediaBuy>,
    pub(crate) creatives: BTreeMap<String, Creative>,
    pub(crate) accounts: Vec<AccountState>,
    pub(crate) governance: Vec<Value>,
    pub(crate) plans: BTreeMap<String, Value>,
    /// Formats seeded for this scope; when any are, they are the scope's format list.
    pub(crate) formats: BTreeMap<String, adcp_runtime::wire::Format>,
    next_id: u64,
}

impl Scope {
    /// A fresh id with a prefix (`mb_3`).
    pub(crate) fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{}", self.next_id)
    }
}

/// All scopes.
#[derive(Default)]
pub(crate) struct Store {
    scopes: Mutex<HashMap<String, Scope>>,
}

impl Store {
    /// Runs `f` on a scope's data, creating it on first use.
    pub(crate) fn with<R>(&self, scope: &str, f: impl FnOnce(&mut Scope) -> R) -> R {
        let mut g: MutexGuard<'_, HashMap<String, Scope>> =
            self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        f(g.entry(scope.to_owned()).or_default())
    }
}
