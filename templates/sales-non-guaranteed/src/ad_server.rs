//! Where the seller books what buyers buy. Without an [`AdServer`] the seller's own store is
//! its ad server: a buy is booked once it is stored. A seller wrapping an ad server gives one
//! (`templates/sales-guaranteed` wraps a GAM-shaped platform): the ad server's products are
//! sold beside the seller's own, each buy is booked there (after a person signs its IO when
//! the ad server asks for that, which the seller runs as a durable hand-off), its delivery is
//! read from there, and a creative assigned to a package is attached there.
//!
//! Everything else stays the seller's: validation against products and pricing, the media-buy
//! lifecycle, the creative library, what the compliance controller seeds and forces.

use std::future::Future;
use std::pin::Pin;

use adcp_runtime::wire::{
    Catalog, CreativeAsset, CreativeStatus, Event, Product, SyncEventSourcesRequestEventSourcesItem,
};
use adcp_runtime::{AdcpResult, Ctx};

use crate::conversions::{EventSource, RegisteredSource, Tracked};
use crate::store::{Creative, MediaBuy};

/// A future an [`AdServer`] answers with.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an ad server reports a package delivered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivered {
    /// The seller's package id.
    pub package_id: String,
    /// Impressions served.
    pub impressions: f64,
    /// Clicks.
    pub clicks: f64,
    /// Spend, in the buy's currency.
    pub spend: f64,
}

/// The ad server a seller wraps: see the module docs.
pub trait AdServer: Send + Sync + 'static {
    /// The products the ad server sells to the request's account.
    fn products<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, AdcpResult<Vec<Product>>>;

    /// Whether `buy` waits for a person to sign its IO before it is booked; the seller then
    /// answers `submitted` and books it in a durable job.
    fn needs_io_approval(&self, ctx: &Ctx, buy: &MediaBuy) -> bool;

    /// Books `buy` (an order and a line item per package), waiting until the ad server
    /// approves it, and records in `buy.booking` what it needs later. Called again for the same
    /// buy after a crash, it must find what it booked before (the ad server's idempotency keys).
    fn book<'a>(&'a self, ctx: &'a Ctx, buy: &'a mut MediaBuy) -> BoxFuture<'a, AdcpResult<()>>;

    /// What the ad server reports `buy` delivered, by package (none for a buy it never booked).
    fn delivery<'a>(
        &'a self,
        ctx: &'a Ctx,
        buy: &'a MediaBuy,
    ) -> BoxFuture<'a, AdcpResult<Vec<Delivered>>>;

    /// Attaches `creative` to the package `package_id` of the booked `buy` (registering it
    /// with the ad server first when it is new there).
    fn attach<'a>(
        &'a self,
        ctx: &'a Ctx,
        buy: &'a MediaBuy,
        package_id: &'a str,
        creative: &'a Creative,
    ) -> BoxFuture<'a, AdcpResult<()>>;
}

/// A platform that reviews and serves creatives (a social platform's ad library, a creative
/// ad server): each creative the buyer syncs, new or changed, is registered there before the
/// seller keeps it, with the status the platform gives it.
pub trait CreativePlatform: Send + Sync + 'static {
    /// Registers `creative` (a new one, or a new version of a changed one). An error fails
    /// that creative alone, but one about the call (a transient `SERVICE_UNAVAILABLE`, which
    /// the buyer retries, or an `ACCOUNT_*` code) fails the call.
    fn register<'a>(
        &'a self,
        ctx: &'a Ctx,
        creative: &'a CreativeAsset,
    ) -> BoxFuture<'a, AdcpResult<Registered>>;
}

/// What a [`CreativePlatform`] says of a creative it registered.
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    /// Its id there.
    pub platform_id: String,
    /// Where it is in the platform's review.
    pub status: CreativeStatus,
}

/// A platform that renders ads from the buyer's catalogues (a social platform's catalogue
/// manager, a retail media network's product feed): each new or changed catalogue is uploaded
/// there once the seller has reviewed its items.
pub trait CatalogPlatform: Send + Sync + 'static {
    /// Uploads `catalog` (its accepted items), making it there first when `platform_id` is
    /// `None`; answers its id there. An error fails that catalogue alone (one about the call,
    /// transient or `ACCOUNT_*`, fails the call); its field is relative to the catalogue
    /// (`items`).
    fn upload<'a>(
        &'a self,
        ctx: &'a Ctx,
        catalog: &'a Catalog,
        platform_id: Option<&'a str>,
    ) -> BoxFuture<'a, AdcpResult<String>>;
}

/// A platform with pixels and a conversions API: the buyer's event sources are registered
/// there, and the events it logs sent on.
pub trait ConversionPlatform: Send + Sync + 'static {
    /// Registers a new event source (a pixel). An error fails that source alone (one about the
    /// call, transient or `ACCOUNT_*`, fails the call).
    fn register<'a>(
        &'a self,
        ctx: &'a Ctx,
        source: &'a SyncEventSourcesRequestEventSourcesItem,
    ) -> BoxFuture<'a, AdcpResult<RegisteredSource>>;

    /// The snippet a site puts on its pages for `source` (a script loading its pixel).
    fn snippet(&self, source: &EventSource) -> String;

    /// Sends `events` (their times already checked) to `source`'s pixel; `ctx` is the
    /// `log_event` call's, whose account may not be the source's (the request names none).
    fn track<'a>(
        &'a self,
        ctx: &'a Ctx,
        source: &'a EventSource,
        events: &'a [Event],
    ) -> BoxFuture<'a, AdcpResult<Tracked>>;
}
