//! Catalogues and conversions on the platform: the reference seller keeps the buyer's
//! catalogues and event sources (reviewing items, answering syncs); [`Garden`] uploads each
//! catalogue to the platform's catalogue manager, makes a pixel for each event source, and
//! sends logged events to its conversions API, matched on hashed email or phone.

use adcp_runtime::wire::{
    Catalog, Event, LogEventSuccessPartialFailuresItem as Failure,
    SyncEventSourcesRequestEventSourcesItem as Wanted,
};
use adcp_runtime::{AdcpResult, Ctx};
use sales_non_guaranteed::{
    BoxFuture, CatalogPlatform, ConversionPlatform, EventSource, RegisteredSource, Tracked,
};
use serde_json::{Value, json};

use crate::garden::{self, Garden};

impl CatalogPlatform for Garden {
    fn upload<'a>(
        &'a self,
        ctx: &'a Ctx,
        catalog: &'a Catalog,
        platform_id: Option<&'a str>,
    ) -> BoxFuture<'a, AdcpResult<String>> {
        Box::pin(async move {
            let Some(adv) = self.advertiser(ctx).await? else {
                return Ok(ctx.new_id("cat"));
            };
            let catalog_id = catalog.catalog_id.as_deref().unwrap_or_default();
            let id = match platform_id {
                Some(id) => id.to_owned(),
                None => {
                    let body = json!({
                        "name": catalog.name.as_deref().unwrap_or(catalog_id),
                        "vertical": catalog.r#type,
                    });
                    self.make(ctx, &adv.advertiser_id, "catalog", catalog_id, body, "")
                        .await?
                        .id("catalog_id")?
                }
            };
            // The platform adds what it is sent: the whole set again on a change.
            let items: Vec<Value> = catalog
                .items
                .iter()
                .flatten()
                .cloned()
                .map(Value::Object)
                .collect();
            if !items.is_empty() {
                self.upload_items(&adv.advertiser_id, &id, &items)
                    .await?
                    .map_err(|r| garden::refused("items", &r))?;
            }
            Ok(id)
        })
    }
}

/// The platform's form of an event: its name, time in epoch seconds and hashed identifiers;
/// `None` when it has none the platform matches on.
fn platform_event(e: &Event) -> Option<Value> {
    let at = adcp_runtime::time::parse("event_time", &e.event_time).ok()?;
    let m = e.user_match.as_ref()?;
    let mut user = serde_json::Map::new();
    if let Some(h) = &m.hashed_email {
        user.insert("email_sha256".into(), json!(h));
    }
    if let Some(h) = &m.hashed_phone {
        user.insert("phone_sha256".into(), json!(h));
    }
    if user.is_empty() {
        return None;
    }
    let mut event = json!({
        "event_name": e.event_type,
        "event_time": at.unix_timestamp(),
        "event_id": e.event_id,
        "user_data": user,
    });
    if let Some(data) = &e.custom_data {
        event["custom_data"] = serde_json::to_value(data).unwrap_or(Value::Null);
    }
    Some(event)
}

impl ConversionPlatform for Garden {
    fn register<'a>(
        &'a self,
        ctx: &'a Ctx,
        w: &'a Wanted,
    ) -> BoxFuture<'a, AdcpResult<RegisteredSource>> {
        Box::pin(async move {
            let Some(adv) = self.advertiser(ctx).await? else {
                return Ok(RegisteredSource {
                    platform_id: ctx.new_id("px"),
                    scope: None,
                });
            };
            let name = w.name.as_deref().unwrap_or(&w.event_source_id);
            let mut body = json!({"name": name});
            if let Some(domain) = w.allowed_domains.iter().flatten().next() {
                body["domain"] = json!(domain);
            }
            let made = self
                .make(
                    ctx,
                    &adv.advertiser_id,
                    "pixel",
                    &w.event_source_id,
                    body,
                    "",
                )
                .await?;
            Ok(RegisteredSource {
                platform_id: made.id("pixel_id")?,
                scope: Some(adv.advertiser_id),
            })
        })
    }

    fn snippet(&self, source: &EventSource) -> String {
        format!(
            "<script async src=\"https://pixel.{}/{}.js\"></script>",
            garden::PLATFORM_DOMAIN,
            source.platform_id
        )
    }

    fn track<'a>(
        &'a self,
        _ctx: &'a Ctx,
        source: &'a EventSource,
        events: &'a [Event],
    ) -> BoxFuture<'a, AdcpResult<Tracked>> {
        Box::pin(async move {
            let mut tracked = Tracked::default();
            let mut sent = Vec::new();
            for e in events {
                match platform_event(e) {
                    Some(v) => sent.push(v),
                    None => tracked.failures.push(Failure::new(
                        "NO_MATCH_KEY",
                        e.event_id.clone(),
                        "the platform matches conversions on a hashed email or phone \
                         (user_match), and the event has neither",
                    )),
                }
            }
            // A source kept by the seller alone (a sandbox account with no advertiser).
            let Some(adv) = &source.platform_scope else {
                tracked.processed = sent.len() as i64;
                return Ok(tracked);
            };
            if sent.is_empty() {
                return Ok(tracked);
            }
            match self.track_events(adv, &source.platform_id, &sent).await? {
                Ok(t) => {
                    if t.events_dropped > 0 {
                        tracked.warnings.push(format!(
                            "the platform could not match {} of the events sent",
                            t.events_dropped
                        ));
                    }
                    tracked.processed = t.events_received;
                }
                Err(r) if r.status == 400 => tracked.warnings.push(format!(
                    "the platform took none of the events: {}",
                    r.message
                )),
                Err(r) => return Err(garden::refused("event_source_id", &r)),
            }
            Ok(tracked)
        })
    }
}
