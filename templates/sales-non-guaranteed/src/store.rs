//! The seller's state, kept in the runtime's state store (memory, SQLite under `--data-dir`, or
//! PostgreSQL shared by replicas) and partitioned by account scope (`Ctx::scope`): every
//! account's media buys, creatives and accounts are its own; the sandbox scope of a compliance
//! run is one partition. One document per entity, changed by compare-and-set.

use adcp_runtime::wire::Targeting;
use adcp_runtime::{AdcpError, AdcpResult, Ctx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// Collections.
pub(crate) const PRODUCTS: &str = "products";
pub(crate) const FORMATS: &str = "formats";
pub(crate) const MEDIA_BUYS: &str = "media_buys";
pub(crate) const CREATIVES: &str = "creatives";
pub(crate) const GOVERNANCE: &str = "governance";
pub(crate) const PLANS: &str = "plans";

/// A package of a media buy.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MediaBuy {
    pub(crate) media_buy_id: String,
    /// The data scope of the account that booked it (`Ctx::scope`), checked on every read
    /// with `Ctx::require_account_match`.
    pub(crate) owner: String,
    pub(crate) status: String,
    pub(crate) currency: String,
    pub(crate) start_time: String,
    pub(crate) end_time: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Creative {
    pub(crate) creative_id: String,
    pub(crate) name: String,
    pub(crate) format_id: adcp_runtime::wire::FormatId,
    pub(crate) status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated: OffsetDateTime,
    /// The creative as synced, kept to tell `updated` from `unchanged`.
    pub(crate) body: Value,
}

/// A document of the request's scope.
pub(crate) async fn get<T: DeserializeOwned>(
    ctx: &Ctx,
    collection: &str,
    id: &str,
) -> AdcpResult<Option<T>> {
    ctx.state().get(ctx.scope(), collection, id).await
}

/// Every document of a collection of the request's scope, by id.
pub(crate) async fn list<T: DeserializeOwned>(ctx: &Ctx, collection: &str) -> AdcpResult<Vec<T>> {
    ctx.state().list(ctx.scope(), collection).await
}

/// Writes a document of the request's scope.
pub(crate) async fn put<T: Serialize>(
    ctx: &Ctx,
    collection: &str,
    id: &str,
    value: &T,
) -> AdcpResult<()> {
    ctx.state().put(ctx.scope(), collection, id, value).await
}

/// Changes an existing document of the request's scope; `missing` when there is none.
pub(crate) async fn modify<T, R>(
    ctx: &Ctx,
    collection: &str,
    id: &str,
    missing: impl FnOnce() -> AdcpError,
    f: impl FnMut(&mut T) -> AdcpResult<R>,
) -> AdcpResult<R>
where
    T: Serialize + DeserializeOwned,
{
    ctx.state()
        .modify(ctx.scope(), collection, id, f)
        .await?
        .ok_or_else(missing)
}

/// A media buy of the request's account: one stored for another account (which the scoped
/// state never returns, but the buy says whose it is) is as absent as one that does not exist.
pub(crate) async fn media_buy(ctx: &Ctx, id: &str) -> AdcpResult<Option<MediaBuy>> {
    let buy: Option<MediaBuy> = get(ctx, MEDIA_BUYS, id).await?;
    Ok(buy.filter(|b| ctx.owns(&b.owner)))
}
