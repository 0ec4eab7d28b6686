//! What the seller keeps, in the runtime's state store (memory, SQLite under `--data-dir`, or
//! PostgreSQL shared by replicas). `ctx.state()` is the request's account's: every account's
//! media buys, creatives and seeded fixtures are its own. One document per entity, changed by
//! compare-and-set.

use adcp_runtime::Collection;
use adcp_runtime::wire::{
    CanceledBy, CreativeAsset, CreativeStatus, Format, FormatId,
    GetMediaBuysResponseMediaBuysItemCancellation as Cancellation, MediaBuyStatus, PricingModel,
    Product, Targeting,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Products seeded by the compliance controller (the default catalogue is not stored).
pub(crate) const PRODUCTS: Collection<Product> = Collection::new("products");
/// Creative formats seeded by the controller (replacing the default ones).
pub(crate) const FORMATS: Collection<Format> = Collection::new("formats");
pub(crate) const MEDIA_BUYS: Collection<MediaBuy> = Collection::new("media_buys");
pub(crate) const CREATIVES: Collection<Creative> = Collection::new("creatives");
/// Plans seeded by the controller, kept as given.
pub(crate) const PLANS: Collection<Map<String, Value>> = Collection::new("plans");

/// A package of a media buy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PackageState {
    pub(crate) package_id: String,
    pub(crate) product_id: String,
    pub(crate) pricing_option_id: String,
    pub(crate) pricing_model: PricingModel,
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
    /// The data scope of the account that booked it (`Ctx::scope`): a buy answers only to it.
    pub(crate) owner: String,
    pub(crate) status: MediaBuyStatus,
    pub(crate) currency: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) start_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) end_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) revision: i64,
    pub(crate) packages: Vec<PackageState>,
    /// Who canceled the buy, when and why; set when it is canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cancellation: Option<Cancellation>,
}

impl MediaBuy {
    /// Its status as the wire writes it: what the audit trail records (`State::*_recorded`).
    pub(crate) fn status_text(&self) -> String {
        self.status.to_string()
    }

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

    /// Records who canceled the buy at `at` (its status already `canceled`), and cancels its
    /// packages.
    pub(crate) fn mark_canceled(
        &mut self,
        at: OffsetDateTime,
        by: CanceledBy,
        reason: Option<String>,
    ) {
        let mut c = Cancellation::new(adcp_runtime::time::rfc3339(at), by);
        c.reason = reason;
        self.cancellation = Some(c);
        for p in &mut self.packages {
            p.canceled = true;
        }
    }

    /// The status a buy takes once creatives are assigned.
    pub(crate) fn running_status(&self) -> MediaBuyStatus {
        if self.start_time > adcp_runtime::time::now() {
            MediaBuyStatus::PendingStart
        } else {
            MediaBuyStatus::Active
        }
    }
}

/// A creative in the library.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Creative {
    pub(crate) creative_id: String,
    pub(crate) name: String,
    pub(crate) format_id: FormatId,
    pub(crate) status: CreativeStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated: OffsetDateTime,
    /// The creative as synced, kept to tell `updated` from `unchanged` (none when seeded).
    pub(crate) asset: Option<CreativeAsset>,
}
