//! Conversion tracking: the buyer's event sources and the events it logs to them. A seller
//! wrapping a platform with pixels and a conversions API registers each source there and sends
//! the events on ([`ConversionPlatform`]); without one the seller keeps the events itself,
//! counting each `event_id` of a source once, for attribution.

use adcp_runtime::wire::{
    ActionSource, Event, LogEventRequest, LogEventSuccess,
    LogEventSuccessPartialFailuresItem as Failure, SyncEventSourcesRequest,
    SyncEventSourcesRequestEventSourcesItem as Wanted, SyncEventSourcesSuccess,
    SyncEventSourcesSuccessEventSourcesItem as Item,
    SyncEventSourcesSuccessEventSourcesItemAction as Action,
    SyncEventSourcesSuccessEventSourcesItemManagedBy as ManagedBy,
    SyncEventSourcesSuccessEventSourcesItemSetup as Setup,
    SyncEventSourcesSuccessEventSourcesItemSetupSnippetType as SnippetType,
};
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{ConversionPlatform, Seller};

/// An event source as the seller keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventSource {
    /// The source as the buyer last sent it.
    pub source: Wanted,
    /// Its id on the platform the seller wraps (a pixel), or the seller's own.
    pub platform_id: String,
    /// What else the platform needs to find it (its advertiser, ...), if anything.
    #[serde(default)]
    pub platform_scope: Option<String>,
}

/// What a [`ConversionPlatform`] made of a new event source.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredSource {
    /// Its id there.
    pub platform_id: String,
    /// What else it needs to find it later.
    pub scope: Option<String>,
}

/// What a [`ConversionPlatform`] made of logged events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tracked {
    /// Events it took.
    pub processed: i64,
    /// Events it refused, each with why.
    pub failures: Vec<Failure>,
    /// What the buyer should know about the rest.
    pub warnings: Vec<String>,
}

pub(crate) const EVENT_SOURCES: Collection<EventSource> = Collection::new("event_sources");
/// Event sources by principal and id, so that `log_event` (whose request names no account)
/// finds the one its caller synced under any of its accounts. Kept in the tenant's shared
/// state; the key starts with the principal, so no caller sees another's.
const BY_PRINCIPAL: Collection<EventSource> = Collection::new("event_sources_by_principal");
/// Events kept by a seller without a conversion platform, by principal, source and
/// `event_id`, in the tenant's shared state: the same event logged with or without the
/// request naming an account is counted once.
const EVENTS: Collection<Event> = Collection::new("conversion_events");

fn principal_key(ctx: &Ctx, event_source_id: &str) -> String {
    let principal = ctx.principal().map_or("", |p| p.id.as_str());
    format!("{principal}\n{event_source_id}")
}

fn item(platform: Option<&dyn ConversionPlatform>, s: &EventSource, action: Action) -> Item {
    let mut item = Item::new(action, s.source.event_source_id.clone());
    item.name = s.source.name.clone();
    item.seller_id = Some(s.platform_id.clone());
    item.event_types = s.source.event_types.clone();
    item.managed_by = Some(ManagedBy::Buyer);
    let mut setup = Setup::new();
    match platform.map(|p| p.snippet(s)) {
        Some(snippet) => {
            item.action_source = Some(ActionSource::Website);
            setup.snippet = Some(snippet);
            setup.snippet_type = Some(SnippetType::Javascript);
            setup.instructions = Some(format!(
                "Put the snippet on every page of {}, or send events server to server with \
                 log_event (event_source_id `{}`).",
                s.source
                    .allowed_domains
                    .as_ref()
                    .map_or("the site".to_owned(), |d| d.join(", ")),
                s.source.event_source_id
            ));
        }
        None => {
            // No pixel: events come server to server; the snippet is the call to make.
            let call = json!({"event_source_id": s.source.event_source_id, "events": [
                {"event_id": "<unique per event>", "event_type": "purchase",
                 "event_time": "<RFC 3339>", "user_match": {"hashed_email": "<SHA-256>"}}]});
            setup.snippet = Some(format!("log_event {call}"));
            setup.snippet_type = Some(SnippetType::ServerOnly);
            setup.instructions = Some(
                "Send each conversion with log_event from your server, with a unique event_id \
                 (repeats are counted once) and a hashed email or phone where you have one."
                    .into(),
            );
        }
    }
    item.setup = Some(setup);
    item
}

pub(crate) async fn sync(
    seller: &Seller,
    ctx: &Ctx,
    req: SyncEventSourcesRequest,
) -> AdcpResult<SyncEventSourcesSuccess> {
    let platform = seller.conversion_platform();
    let kept: Vec<EventSource> = ctx.state().list(EVENT_SOURCES).await?;
    let Some(wanted) = &req.event_sources else {
        let items: Vec<_> = kept
            .iter()
            .map(|s| item(platform, s, Action::Unchanged))
            .collect();
        return Ok(SyncEventSourcesSuccess::new(items));
    };
    let mut items = Vec::with_capacity(wanted.len());
    for (i, w) in wanted.iter().enumerate() {
        match upsert(platform, ctx, &kept, w).await {
            Ok(item) => items.push(item),
            Err(e) if crate::fails_the_call(&e) => return Err(e),
            Err(e) => {
                let mut item = Item::new(Action::Failed, w.event_source_id.clone());
                item.errors = Some(vec![e.within(&format!("event_sources[{i}]")).to_wire()]);
                items.push(item);
            }
        }
    }
    if req.delete_missing == Some(true) {
        for s in kept.iter().filter(|s| {
            !wanted
                .iter()
                .any(|w| w.event_source_id == s.source.event_source_id)
        }) {
            let id = &s.source.event_source_id;
            ctx.state().delete(EVENT_SOURCES, id).await?;
            ctx.shared_state()
                .delete(BY_PRINCIPAL, &principal_key(ctx, id))
                .await?;
            items.push(Item::new(Action::Deleted, id.clone()));
        }
    }
    Ok(SyncEventSourcesSuccess::new(items))
}

async fn upsert(
    platform: Option<&dyn ConversionPlatform>,
    ctx: &Ctx,
    kept: &[EventSource],
    w: &Wanted,
) -> AdcpResult<Item> {
    let before = kept
        .iter()
        .find(|s| s.source.event_source_id == w.event_source_id);
    if let Some(b) = before {
        // The platform's source stays; what the buyer says about it is updated.
        let action = if b.source == *w {
            Action::Unchanged
        } else {
            Action::Updated
        };
        let mut s = b.clone();
        s.source = w.clone();
        if action == Action::Updated {
            save(ctx, &s).await?;
        }
        return Ok(item(platform, &s, action));
    }
    let registered = match platform {
        Some(p) => p.register(ctx, w).await?,
        None => RegisteredSource {
            platform_id: ctx.new_id("es"),
            scope: None,
        },
    };
    let s = EventSource {
        source: w.clone(),
        platform_id: registered.platform_id,
        platform_scope: registered.scope,
    };
    save(ctx, &s).await?;
    Ok(item(platform, &s, Action::Created))
}

async fn save(ctx: &Ctx, s: &EventSource) -> AdcpResult<()> {
    let id = &s.source.event_source_id;
    ctx.state().put(EVENT_SOURCES, id, s).await?;
    ctx.shared_state()
        .put(BY_PRINCIPAL, &principal_key(ctx, id), s)
        .await
}

/// Whether an event carries something a person can be matched on.
fn matchable(e: &Event) -> bool {
    e.user_match.as_ref().is_some_and(|m| {
        m.hashed_email.is_some()
            || m.hashed_phone.is_some()
            || m.uids.as_ref().is_some_and(|u| !u.is_empty())
            || m.click_id.is_some()
            || (m.client_ip.is_some() && m.client_user_agent.is_some())
    })
}

pub(crate) async fn log(
    seller: &Seller,
    ctx: &Ctx,
    req: LogEventRequest,
) -> AdcpResult<LogEventSuccess> {
    let source = match ctx.state().get(EVENT_SOURCES, &req.event_source_id).await? {
        Some(s) => Some(s),
        None => {
            ctx.shared_state()
                .get(BY_PRINCIPAL, &principal_key(ctx, &req.event_source_id))
                .await?
        }
    };
    let Some(source) = source else {
        return Err(AdcpError::not_found(
            codes::REFERENCE_NOT_FOUND,
            "event_source_id",
            "event source",
        )
        .with_suggestion("register it with sync_event_sources first"));
    };
    let received = req.events.len() as i64;
    // Times are checked here whatever takes the events.
    let mut failures = Vec::new();
    let mut valid = Vec::with_capacity(req.events.len());
    for e in &req.events {
        match adcp_runtime::time::parse("event_time", &e.event_time) {
            Ok(_) => valid.push(e.clone()),
            Err(_) => failures.push(Failure::new(
                "INVALID_EVENT_TIME",
                e.event_id.clone(),
                "event_time is not an RFC 3339 time",
            )),
        }
    }
    let matched = req.events.iter().filter(|e| matchable(e)).count();
    let tracked = match seller.conversion_platform() {
        Some(p) if !valid.is_empty() => p.track(ctx, &source, &valid).await?,
        Some(_) => Tracked::default(),
        None => keep(ctx, &source, &valid).await?,
    };
    failures.extend(tracked.failures);
    let mut resp = LogEventSuccess::new(tracked.processed, received);
    resp.match_quality = (received > 0).then(|| matched as f64 / received as f64);
    resp.partial_failures = (!failures.is_empty()).then_some(failures);
    resp.warnings = (!tracked.warnings.is_empty()).then_some(tracked.warnings);
    Ok(resp)
}

/// Keeps events in the seller's store: each `event_id` of a source once.
async fn keep(ctx: &Ctx, source: &EventSource, events: &[Event]) -> AdcpResult<Tracked> {
    let mut tracked = Tracked::default();
    let mut repeats = 0;
    for e in events {
        let key = principal_key(ctx, &format!("{}\n{}", source.platform_id, e.event_id));
        let new = ctx
            .shared_state()
            .entry(EVENTS, &key, |slot| {
                let new = slot.is_none();
                slot.get_or_insert_with(|| e.clone());
                Ok(new)
            })
            .await?;
        if new {
            tracked.processed += 1;
        } else {
            repeats += 1;
        }
    }
    if repeats > 0 {
        tracked.warnings.push(format!(
            "{repeats} event(s) repeated an event_id already logged to this source and were \
             counted once"
        ));
    }
    Ok(tracked)
}
