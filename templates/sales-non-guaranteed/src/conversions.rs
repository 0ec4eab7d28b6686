//! Conversion tracking: the buyer's event sources are the platform's pixels, and the events
//! it logs go to the platform's conversions API, matched on hashed email or phone.

use adcp_runtime::wire::{
    ActionSource, LogEventRequest, LogEventSuccess, LogEventSuccessPartialFailuresItem as Failure,
    SyncEventSourcesRequest, SyncEventSourcesRequestEventSourcesItem as Wanted,
    SyncEventSourcesSuccess, SyncEventSourcesSuccessEventSourcesItem as Item,
    SyncEventSourcesSuccessEventSourcesItemAction as Action,
    SyncEventSourcesSuccessEventSourcesItemManagedBy as ManagedBy,
    SyncEventSourcesSuccessEventSourcesItemSetup as Setup,
    SyncEventSourcesSuccessEventSourcesItemSetupSnippetType as SnippetType,
};
use adcp_runtime::{AdcpError, AdcpResult, Collection, Ctx, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::garden::{self, Advertiser, Garden, Made};

/// An event source as the seller keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventSource {
    /// The source as the buyer last sent it.
    pub source: Wanted,
    /// The platform's pixel (a local id for a sandbox account with no advertiser).
    pub pixel_id: String,
    /// The advertiser it belongs to (`None`: kept by the seller alone).
    pub advertiser_id: Option<String>,
}

pub(crate) const EVENT_SOURCES: Collection<EventSource> = Collection::new("event_sources");
/// Event sources by principal and id, so that `log_event` (whose request names no account)
/// finds the one its caller synced under any of its accounts. Kept in the tenant's shared
/// state; the key starts with the principal, so no caller sees another's.
const BY_PRINCIPAL: Collection<EventSource> = Collection::new("event_sources_by_principal");

fn principal_key(ctx: &Ctx, event_source_id: &str) -> String {
    let principal = ctx.principal().map_or("", |p| p.id.as_str());
    format!("{principal}\n{event_source_id}")
}

fn item(s: &EventSource, action: Action) -> Item {
    let mut item = Item::new(action, s.source.event_source_id.clone());
    item.name = s.source.name.clone();
    item.seller_id = Some(s.pixel_id.clone());
    item.event_types = s.source.event_types.clone();
    item.managed_by = Some(ManagedBy::Buyer);
    item.action_source = Some(ActionSource::Website);
    let mut setup = Setup::new();
    setup.snippet = Some(format!(
        "<script async src=\"https://pixel.platform.example/{}.js\"></script>",
        s.pixel_id
    ));
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
    item.setup = Some(setup);
    item
}

pub(crate) async fn sync(
    garden: &Garden,
    ctx: &Ctx,
    req: SyncEventSourcesRequest,
) -> AdcpResult<SyncEventSourcesSuccess> {
    let kept: Vec<EventSource> = ctx.state().list(EVENT_SOURCES).await?;
    let Some(wanted) = &req.event_sources else {
        let items: Vec<_> = kept.iter().map(|s| item(s, Action::Unchanged)).collect();
        return Ok(SyncEventSourcesSuccess::new(items));
    };
    let advertiser = garden.advertiser(ctx).await?;
    let mut items = Vec::with_capacity(wanted.len());
    for (i, w) in wanted.iter().enumerate() {
        let field = format!("event_sources[{i}]");
        match upsert(garden, ctx, advertiser.as_ref(), &kept, w, &field).await {
            Ok(item) => items.push(item),
            Err(e) if e.code() == codes::SERVICE_UNAVAILABLE => return Err(e),
            Err(e) => {
                let mut item = Item::new(Action::Failed, w.event_source_id.clone());
                item.errors = Some(vec![e.to_wire()]);
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
    garden: &Garden,
    ctx: &Ctx,
    advertiser: Option<&Advertiser>,
    kept: &[EventSource],
    w: &Wanted,
    field: &str,
) -> AdcpResult<Item> {
    let before = kept
        .iter()
        .find(|s| s.source.event_source_id == w.event_source_id);
    if let Some(b) = before {
        // The pixel stays; what the buyer says about the source is updated.
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
        return Ok(item(&s, action));
    }
    let (pixel_id, advertiser_id) = match advertiser {
        Some(adv) => {
            let mut body =
                json!({"name": w.name.clone().unwrap_or_else(|| w.event_source_id.clone())});
            if let Some(domain) = w.allowed_domains.iter().flatten().next() {
                body["domain"] = json!(domain);
            }
            let key = garden::request_id(ctx, "pixel", &w.event_source_id, "");
            let made: Made = garden
                .create(&adv.advertiser_id, "pixel", &key, body)
                .await?
                .map_err(|r| garden::refused(field, &r))?;
            (made.id("pixel_id")?, Some(adv.advertiser_id.clone()))
        }
        None => (ctx.new_id("px"), None),
    };
    let s = EventSource {
        source: w.clone(),
        pixel_id,
        advertiser_id,
    };
    save(ctx, &s).await?;
    Ok(item(&s, Action::Created))
}

async fn save(ctx: &Ctx, s: &EventSource) -> AdcpResult<()> {
    let id = &s.source.event_source_id;
    ctx.state().put(EVENT_SOURCES, id, s).await?;
    ctx.shared_state()
        .put(BY_PRINCIPAL, &principal_key(ctx, id), s)
        .await
}

/// The platform's form of an event: its name, time in epoch seconds and hashed identifiers;
/// `Err` says why it cannot be matched.
fn platform_event(e: &adcp_runtime::wire::Event) -> Result<Value, (&'static str, String)> {
    let at = adcp_runtime::time::parse("event_time", &e.event_time).map_err(|_| {
        (
            "INVALID_EVENT_TIME",
            "event_time is not an RFC 3339 time".to_owned(),
        )
    })?;
    let mut user = serde_json::Map::new();
    if let Some(m) = &e.user_match {
        if let Some(h) = &m.hashed_email {
            user.insert("email_sha256".into(), json!(h));
        }
        if let Some(h) = &m.hashed_phone {
            user.insert("phone_sha256".into(), json!(h));
        }
    }
    if user.is_empty() {
        return Err((
            "NO_MATCH_KEY",
            "the platform matches conversions on a hashed email or phone (user_match), and \
             the event has neither"
                .to_owned(),
        ));
    }
    let name = serde_json::to_value(e.event_type).unwrap_or(Value::Null);
    let mut event = json!({
        "event_name": name,
        "event_time": at.unix_timestamp(),
        "event_id": e.event_id,
        "user_data": user,
    });
    if let Some(data) = &e.custom_data {
        event["custom_data"] = serde_json::to_value(data).unwrap_or(Value::Null);
    }
    Ok(event)
}

pub(crate) async fn log(
    garden: &Garden,
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
    let mut failures = Vec::new();
    let mut sent = Vec::new();
    for e in &req.events {
        match platform_event(e) {
            Ok(v) => sent.push(v),
            Err((code, message)) => failures.push(Failure::new(code, e.event_id.clone(), message)),
        }
    }
    let received = req.events.len() as i64;
    let mut warnings = Vec::new();
    let processed = match (&source.advertiser_id, sent.is_empty()) {
        (_, true) => 0,
        (None, false) => sent.len() as i64,
        (Some(adv), false) => match garden.track(adv, &source.pixel_id, &sent).await? {
            Ok(t) => {
                if t.events_dropped > 0 {
                    warnings.push(format!(
                        "the platform could not match {} of the events sent",
                        t.events_dropped
                    ));
                }
                t.events_received
            }
            Err(r) if r.status == 400 => {
                warnings.push(format!(
                    "the platform took none of the events: {}",
                    r.message
                ));
                0
            }
            Err(r) => return Err(garden::refused("event_source_id", &r)),
        },
    };
    let mut resp = LogEventSuccess::new(processed, received);
    resp.partial_failures = (!failures.is_empty()).then_some(failures);
    resp.warnings = (!warnings.is_empty()).then_some(warnings);
    Ok(resp)
}
