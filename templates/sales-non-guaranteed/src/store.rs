//! What the seller keeps, in the runtime's state store (memory, SQLite under `--data-dir`, or
//! PostgreSQL shared by replicas). `ctx.state()` is the request's account's: every account's
//! media buys, creatives and seeded fixtures are its own. One document per entity, changed by
//! compare-and-set.

use adcp_runtime::Collection;
use adcp_runtime::wire::{
    CanceledBy, Catalog, CreativeAsset, CreativeStatus, Format, FormatId,
    GetMediaBuysResponseMediaBuysItemCancellation as Cancellation, MeasurementTerms,
    MediaBuyStatus, PricingModel, Product, Targeting,
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
/// Performance feedback on each media buy, as the buyer gave it (by buy id).
pub(crate) const FEEDBACK: Collection<Vec<Value>> = Collection::new("performance_feedback");
/// Plans seeded by the controller, kept as given.
pub(crate) const PLANS: Collection<Map<String, Value>> = Collection::new("plans");

/// A package of a media buy, as the seller keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageState {
    /// The seller's id of the package.
    pub package_id: String,
    /// The product bought.
    pub product_id: String,
    /// The pricing option bought.
    pub pricing_option_id: String,
    /// Its pricing model.
    pub pricing_model: PricingModel,
    /// The rate the package is bought at (the bid, or the fixed price).
    pub rate: f64,
    /// Its budget.
    pub budget: f64,
    /// The buyer's bid, for auctioned packages.
    pub bid_price: Option<f64>,
    /// Whether the buyer paused it.
    pub paused: bool,
    /// Whether it is canceled.
    pub canceled: bool,
    /// The buyer's targeting on top of the product's.
    pub targeting_overlay: Option<Targeting>,
    /// The creatives assigned to it.
    pub creative_ids: Vec<String>,
    /// Creatives the buyer assigned before syncing them (traffic instructions ahead of the
    /// materials): each is assigned when it is synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<String>,
    /// Impressions delivered (as the seller recorded them: simulated delivery).
    pub impressions: f64,
    /// Clicks delivered.
    pub clicks: f64,
    /// Spend delivered.
    pub spend: f64,
    /// The catalogues it promotes (a catalogue-driven package), as the buyer named them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogs: Option<Vec<Catalog>>,
    /// The measurement terms agreed for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_terms: Option<MeasurementTerms>,
    /// The buyer's agency estimate number for it (its own, else the buy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_estimate_number: Option<String>,
}

/// A media buy, as the seller keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MediaBuy {
    /// The seller's id of the buy.
    pub media_buy_id: String,
    /// The data scope of the account that booked it (`Ctx::scope`): a buy answers only to it.
    pub owner: String,
    /// Its status.
    pub status: MediaBuyStatus,
    /// The currency of every package.
    pub currency: String,
    /// When the flight starts.
    #[serde(with = "time::serde::rfc3339")]
    pub start_time: OffsetDateTime,
    /// When it ends.
    #[serde(with = "time::serde::rfc3339")]
    pub end_time: OffsetDateTime,
    /// When it was booked.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Its revision, one up with each change.
    pub revision: i64,
    /// Its packages.
    pub packages: Vec<PackageState>,
    /// Who canceled the buy, when and why; set when it is canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    /// What the ad server the seller wraps keeps of the buy (its order and line items), as
    /// the [`AdServer`](crate::AdServer) wrote it when it booked the buy.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub booking: Map<String, Value>,
}

impl MediaBuy {
    /// Its status as the wire writes it: what the audit trail records (`State::*_recorded`).
    pub(crate) fn status_text(&self) -> String {
        self.status.to_string()
    }

    /// The budget of its packages that are not canceled.
    pub fn total_budget(&self) -> f64 {
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
pub struct Creative {
    /// The buyer's id of the creative.
    pub creative_id: String,
    /// Its name.
    pub name: String,
    /// Its format.
    pub format_id: FormatId,
    /// Where it is in review.
    pub status: CreativeStatus,
    /// When it was first synced.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
    /// The creative as synced, kept to tell `updated` from `unchanged` (none when seeded).
    pub asset: Option<CreativeAsset>,
    /// The id of its current version on the platform that reviews and serves it (see
    /// [`CreativePlatform`](crate::CreativePlatform)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<String>,
}
