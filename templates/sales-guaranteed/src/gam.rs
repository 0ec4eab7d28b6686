//! The ad server this seller wraps: a GAM-shaped platform over HTTP (the official SDK's
//! `mock-server sales-guaranteed`, or a real one with the same API).
//!
//! - Networks: `GET /_lookup/network?adcp_publisher=D` says which network sells for a brand or
//!   operator domain; every other call names it (`X-Network-Code`).
//! - Products: `GET /v1/products`, mapped to AdCP products with a fixed CPM (guaranteed) or a
//!   floor (non-guaranteed).
//! - Booking: `POST /v1/orders` opens an order whose IO waits for the publisher's signature
//!   (`approval_task_id`); `GET /v1/tasks/{id}` follows it until it is signed (or declined);
//!   `GET /v1/orders/{id}` then reads the approved order, and each package becomes a line item
//!   (`POST /v1/orders/{id}/lineitems`). Every create carries a `client_request_id` derived
//!   from the buy, so booking the same buy again (the job run again after a crash) finds the
//!   order and line items it made before.
//! - Creatives: `POST /v1/creatives` registers one in the network's library, `POST
//!   /v1/orders/{o}/lineitems/{li}/creative-attach` puts it on a line item.
//! - Delivery: `GET /v1/orders/{id}/delivery`, by line item.
//!
//! What the ad server cannot hold stays the seller's: the media-buy lifecycle (pauses,
//! cancellations: the API has no route to change an order), targeting lists and measurement
//! terms, seeded fixtures, and buys of accounts no network sells to (a sandbox test identity),
//! which are booked in the seller's store alone.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use adcp_runtime::upstream::Upstream;
use adcp_runtime::wire::Product;
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes};
use sales_non_guaranteed::{AdServer, BoxFuture, Creative, Delivered, MediaBuy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A network of the ad server, as its lookup answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Network {
    network_code: String,
    adcp_publisher: String,
}

/// A product as the ad server lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Listed {
    product_id: String,
    name: String,
    network_code: String,
    delivery_type: String,
    channel: String,
    format_ids: Vec<String>,
    ad_unit_ids: Vec<String>,
    pricing: Pricing,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pricing {
    cpm: f64,
    currency: String,
    #[serde(default)]
    min_spend: Option<f64>,
}

/// An order as the ad server answers.
#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    status: String,
    #[serde(default)]
    approval_task_id: Option<String>,
    #[serde(default)]
    rejection_reason: Option<String>,
}

/// The IO approval task of an order.
#[derive(Debug, Deserialize)]
struct ApprovalTask {
    status: String,
    #[serde(default)]
    result: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Id {
    #[serde(alias = "line_item_id", alias = "creative_id")]
    id: String,
}

/// The networks the account's brand and operator have been found to buy on (a sandbox's test
/// identities share them).
const NETWORKS: Collection<Vec<Network>> = Collection::new("gam:networks");
/// Each product the ad server listed for the account: its network and ad units.
const LISTED: Collection<Listed> = Collection::new("gam:products");
/// A creative's id in a network's library, by `<network>/<creative_id>@<version>` (a creative
/// synced again with other content is registered again: the library's entries do not change).
const REGISTERED: Collection<String> = Collection::new("gam:creatives");

/// How often an IO still out for signature is looked at again, at most.
const SIGNATURE_POLL: Duration = Duration::from_secs(5);

/// The ad server: see the module docs.
pub struct Gam {
    upstream: Upstream,
    /// Buys of at least this much wait for the publisher to sign their IO (a durable hand-off);
    /// smaller sandbox buys are approved while the buyer waits.
    io_approval_limit: f64,
    /// `domain -> network` lookups, kept for the process (a network does not move).
    lookups: Mutex<HashMap<String, Option<Network>>>,
}

impl Gam {
    /// The ad server at `upstream`; buys of at least `io_approval_limit` (every buy of a live
    /// account) wait for a signed IO.
    pub fn new(upstream: Upstream, io_approval_limit: f64) -> Self {
        Gam {
            upstream,
            io_approval_limit,
            lookups: Mutex::default(),
        }
    }

    /// The networks that sell to the request's account.
    async fn networks(&self, ctx: &Ctx) -> AdcpResult<Vec<Network>> {
        let mut known = ctx.state().get(NETWORKS, "all").await?.unwrap_or_default();
        let a = ctx.account();
        let domains = a.brand.iter().map(|b| b.domain.as_str());
        let mut found = false;
        for domain in domains.chain(a.operator.as_deref()) {
            let cached = self
                .lookups
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(domain)
                .cloned();
            let network = match cached {
                Some(n) => n,
                None => {
                    let lookup = self.upstream.get("/_lookup/network");
                    let n: Option<Network> =
                        lookup.query("adcp_publisher", domain).send_opt().await?;
                    self.lookups
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(domain.to_owned(), n.clone());
                    n
                }
            };
            if let Some(n) = network.filter(|n| !known.contains(n)) {
                known.push(n);
                found = true;
            }
        }
        if found {
            ctx.state().put(NETWORKS, "all", &known).await?;
        }
        Ok(known)
    }

    /// The network a buy is booked on: its first package's product's, else the account's.
    async fn network_for(&self, ctx: &Ctx, buy: &MediaBuy) -> AdcpResult<Option<String>> {
        for p in &buy.packages {
            if let Some(l) = ctx.state().get(LISTED, &p.product_id).await? {
                return Ok(Some(l.network_code));
            }
        }
        Ok(self
            .networks(ctx)
            .await?
            .first()
            .map(|n| n.network_code.clone()))
    }

    /// Waits until the order's IO is signed (or declined), looking at its approval task.
    async fn signed(&self, network: &str, task_id: &str) -> AdcpResult<()> {
        let mut wait = Duration::from_millis(250);
        loop {
            let path = format!("/v1/tasks/{task_id}");
            let task: Option<ApprovalTask> = self
                .upstream
                .get(&path)
                .header("X-Network-Code", network)
                .send_opt()
                .await?;
            let Some(task) = task else {
                return Err(AdcpError::new(
                    codes::SERVICE_UNAVAILABLE,
                    "the ad server no longer knows the IO's approval; book the buy again",
                ));
            };
            let outcome = task
                .result
                .as_ref()
                .and_then(|r| r["outcome"].as_str())
                .unwrap_or_default();
            match (task.status.as_str(), outcome) {
                ("completed", "approved") | ("approved", _) => return Ok(()),
                ("rejected", _) | ("completed", "rejected") => {
                    let note = task
                        .result
                        .as_ref()
                        .and_then(|r| r["reviewer_note"].as_str())
                        .unwrap_or("the publisher declined the IO");
                    return Err(declined(note));
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(SIGNATURE_POLL);
        }
    }
}

fn declined(note: &str) -> AdcpError {
    AdcpError::new(
        codes::TERMS_REJECTED,
        format!("the publisher declined the IO: {note}"),
    )
}

/// The AdCP product for a listed one.
fn product(agent_url: &str, l: &Listed, publisher: &str) -> AdcpResult<Product> {
    let guaranteed = l.delivery_type == "guaranteed";
    let mut option = json!({
        "pricing_option_id": if guaranteed { "cpm_guaranteed_fixed" } else { "cpm_auction" },
        "pricing_model": "cpm", "currency": l.pricing.currency,
    });
    option[if guaranteed {
        "fixed_price"
    } else {
        "floor_price"
    }] = json!(l.pricing.cpm);
    if let Some(min) = l.pricing.min_spend {
        option["min_spend_per_package"] = json!(min);
    }
    let channel = match l.channel.as_str() {
        "video" => "olv",
        other => other,
    };
    let format_ids: Vec<Value> = l.format_ids.iter().map(|f| json!({"id": f})).collect();
    sales_non_guaranteed::product(
        agent_url,
        &json!({
            "product_id": l.product_id,
            "name": l.name,
            "description": format!("{} ({}), booked as a line item of the publisher's ad server", l.name, l.delivery_type),
            "publisher_properties": [{"publisher_domain": publisher, "selection_type": "all"}],
            "channels": [channel],
            "format_ids": format_ids,
            "delivery_type": l.delivery_type,
            "pricing_options": [option],
        }),
    )
}

impl AdServer for Gam {
    fn products<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, AdcpResult<Vec<Product>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for n in self.networks(ctx).await? {
                #[derive(Deserialize)]
                struct Products {
                    products: Vec<Listed>,
                }
                let listed: Products = self
                    .upstream
                    .get("/v1/products")
                    .header("X-Network-Code", &n.network_code)
                    .send()
                    .await?;
                for l in listed.products {
                    if ctx.state().get(LISTED, &l.product_id).await?.is_none() {
                        ctx.state().put(LISTED, &l.product_id, &l).await?;
                    }
                    match product(ctx.agent_url(), &l, &n.adcp_publisher) {
                        Ok(p) => out.push(p),
                        Err(e) => {
                            tracing::warn!(product = %l.product_id, error = %e.message(), "an upstream product that is not an AdCP one")
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    fn needs_io_approval(&self, ctx: &Ctx, buy: &MediaBuy) -> bool {
        !ctx.sandbox() || buy.total_budget() >= self.io_approval_limit
    }

    fn book<'a>(&'a self, ctx: &'a Ctx, buy: &'a mut MediaBuy) -> BoxFuture<'a, AdcpResult<()>> {
        Box::pin(async move {
            let Some(network) = self.network_for(ctx, buy).await? else {
                // No network sells to this account (a sandbox test identity): the seller's
                // own store is all there is.
                tracing::info!(media_buy_id = %buy.media_buy_id, "no ad-server network for the account: booked by the seller alone");
                return Ok(());
            };
            let advertiser = ctx
                .account()
                .brand
                .as_ref()
                .map_or_else(|| ctx.account().id.clone(), |b| b.domain.clone());
            let order: Order = self
                .upstream
                .post(
                    "/v1/orders",
                    &json!({
                        "name": format!("AdCP {}", buy.media_buy_id),
                        "advertiser_id": advertiser,
                        "currency": buy.currency,
                        "budget": buy.total_budget(),
                        "client_request_id": buy.media_buy_id,
                    }),
                )
                .header("X-Network-Code", &network)
                .send()
                .await?;
            if order.status == "rejected" {
                return Err(declined(
                    order.rejection_reason.as_deref().unwrap_or("declined"),
                ));
            }
            if let Some(task) = &order.approval_task_id {
                self.signed(&network, task).await?;
            }
            // Read once signed: the ad server moves the order on when it is read.
            let path = format!("/v1/orders/{}", order.order_id);
            let approved: Order = self
                .upstream
                .get(&path)
                .header("X-Network-Code", &network)
                .send()
                .await?;
            if approved.status == "rejected" {
                let why = approved.rejection_reason.as_deref().unwrap_or("declined");
                return Err(declined(why));
            }
            let mut line_items = serde_json::Map::new();
            for p in buy.packages.iter().filter(|p| !p.canceled) {
                let ad_units = ctx
                    .state()
                    .get(LISTED, &p.product_id)
                    .await?
                    .map(|l| l.ad_unit_ids)
                    .unwrap_or_default();
                let li: Id = self
                    .upstream
                    .post(
                        &format!("/v1/orders/{}/lineitems", order.order_id),
                        &json!({
                            "product_id": p.product_id,
                            "budget": p.budget,
                            "ad_unit_targeting": ad_units,
                            "client_request_id": format!("{}:{}", buy.media_buy_id, p.package_id),
                        }),
                    )
                    .header("X-Network-Code", &network)
                    .send()
                    .await?;
                line_items.insert(p.package_id.clone(), json!(li.id));
            }
            buy.booking.insert("network_code".into(), json!(network));
            buy.booking.insert("order_id".into(), json!(order.order_id));
            buy.booking
                .insert("line_items".into(), Value::Object(line_items));
            Ok(())
        })
    }

    fn delivery<'a>(
        &'a self,
        _ctx: &'a Ctx,
        buy: &'a MediaBuy,
    ) -> BoxFuture<'a, AdcpResult<Vec<Delivered>>> {
        Box::pin(async move {
            let (Some(network), Some(order)) = (
                buy.booking.get("network_code").and_then(Value::as_str),
                buy.booking.get("order_id").and_then(Value::as_str),
            ) else {
                return Ok(Vec::new());
            };
            #[derive(Deserialize)]
            struct Report {
                #[serde(default)]
                line_item_breakdown: Vec<LineDelivery>,
                #[serde(default)]
                totals: Value,
            }
            #[derive(Deserialize)]
            struct LineDelivery {
                line_item_id: String,
                impressions: f64,
                spend: f64,
            }
            let report: Report = self
                .upstream
                .get(&format!("/v1/orders/{order}/delivery"))
                .header("X-Network-Code", network)
                .send()
                .await?;
            let total_imps = report.totals["impressions"].as_f64().unwrap_or(0.0);
            let total_clicks = report.totals["clicks"].as_f64().unwrap_or(0.0);
            let package_of = |li: &str| {
                buy.booking
                    .get("line_items")
                    .and_then(Value::as_object)
                    .and_then(|m| m.iter().find(|(_, v)| v.as_str() == Some(li)))
                    .map(|(k, _)| k.clone())
            };
            Ok(report
                .line_item_breakdown
                .iter()
                .filter_map(|l| {
                    let package_id = package_of(&l.line_item_id)?;
                    // Clicks come only as a total: shared out as impressions are.
                    let clicks = if total_imps > 0.0 {
                        (total_clicks * l.impressions / total_imps).round()
                    } else {
                        0.0
                    };
                    Some(Delivered {
                        package_id,
                        impressions: l.impressions,
                        clicks,
                        spend: l.spend,
                    })
                })
                .collect())
        })
    }

    fn attach<'a>(
        &'a self,
        ctx: &'a Ctx,
        buy: &'a MediaBuy,
        package_id: &'a str,
        creative: &'a Creative,
    ) -> BoxFuture<'a, AdcpResult<()>> {
        Box::pin(async move {
            let (Some(network), Some(order), Some(line_item)) = (
                buy.booking.get("network_code").and_then(Value::as_str),
                buy.booking.get("order_id").and_then(Value::as_str),
                buy.booking
                    .get("line_items")
                    .and_then(|m| m.get(package_id))
                    .and_then(Value::as_str),
            ) else {
                return Ok(());
            };
            let version = creative.updated.unix_timestamp_nanos();
            let key = format!("{network}/{}@{version}", creative.creative_id);
            let upstream_id = match ctx.state().get(REGISTERED, &key).await? {
                Some(id) => id,
                None => {
                    let snippet = creative
                        .asset
                        .as_ref()
                        .and_then(|a| serde_json::to_value(&a.assets).ok())
                        .and_then(|a| {
                            a.as_object()?
                                .values()
                                .find_map(|v| v["url"].as_str().map(str::to_owned))
                        });
                    let advertiser = ctx
                        .account()
                        .brand
                        .as_ref()
                        .map_or_else(|| ctx.account().id.clone(), |b| b.domain.clone());
                    let mut body = json!({
                        "name": creative.name,
                        "format_id": creative.format_id.id,
                        "advertiser_id": advertiser,
                        "client_request_id": format!("creative:{}:{version}", creative.creative_id),
                    });
                    if let Some(s) = snippet {
                        body["snippet"] = json!(s);
                    }
                    let made: Id = self
                        .upstream
                        .post("/v1/creatives", &body)
                        .header("X-Network-Code", network)
                        .send()
                        .await?;
                    ctx.state().put(REGISTERED, &key, &made.id).await?;
                    made.id
                }
            };
            let _: Value = self
                .upstream
                .post(
                    &format!("/v1/orders/{order}/lineitems/{line_item}/creative-attach"),
                    &json!({"creative_id": upstream_id}),
                )
                .header("X-Network-Code", network)
                .send()
                .await?;
            Ok(())
        })
    }
}
