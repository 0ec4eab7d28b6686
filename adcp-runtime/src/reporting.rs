//! Reporting webhooks: a buyer's `reporting_webhook` on `create_media_buy` or
//! `update_media_buy`, honoured.
//!
//! A subscription is kept per media buy in the store (its URL and authentication, frequency,
//! requested metrics, flight, the last `sequence_number` and the end of the last period
//! reported). A loop on every replica sends what is due: it asks the platform's own
//! `get_media_buy_delivery` for the period and posts the answer, in the MCP webhook envelope
//! the spec gives delivery reports (`task_type: media_buy_delivery`, the report under
//! `result`), through the webhook outbox (SSRF guard, the buyer's `Bearer` / `HMAC-SHA256`,
//! retries).
//!
//! - `scheduled`: at each period's end (the top of the hour, midnight UTC, the first of the
//!   month), and at once when the compliance controller simulates delivery or forces a status.
//! - `final`: the period that reaches the flight's end, or the first report after the buy is
//!   completed, canceled or rejected; nothing follows it. When the buy's products declare
//!   measurement windows (`reporting_capabilities.measurement_windows`: live, C3, C7), that
//!   report is `scheduled` instead, and `final` follows the last window: the whole flight, as
//!   measured at last.
//! - `window_update`: each period again when each wider measurement window's data is expected
//!   (the period's end plus the window's `expected_availability_days`), its packages'
//!   `supersedes_window` naming the window before it.
//! - `delayed`: the platform could not answer (an error, or a hand-off); the period stays open
//!   and is reported with the next one.
//! - `adjusted` / `window_update`: a past period the adopter restates
//!   ([`crate::Ctx::restate_delivery`]).
//!
//! Each report is sent once: its delivery id and `idempotency_key` come from the subscription
//! and its sequence number, the outbox keeps the first delivery queued under an id, and the
//! subscription moves on only after its report is queued. A crash between the two sends the
//! same report again under the same id, which the outbox ignores.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::error::{AdcpError, AdcpResult};
use crate::events::Bus;
use crate::state::{Collection, State};
use crate::store::{Account, Principal, PushAuth, StateStore};
use crate::time::{from_millis, millis};

/// The scope the runtime keeps subscriptions in (one per server's stores, so per tenant).
pub(crate) const SCOPE: &str = "adcp:reporting";
pub(crate) const SUBSCRIPTIONS: Collection<Subscription> = Collection::new("subscriptions");

/// How often a buyer asked for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Frequency {
    Hourly,
    Daily,
    Monthly,
}

impl Frequency {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hourly" => Frequency::Hourly,
            "daily" => Frequency::Daily,
            "monthly" => Frequency::Monthly,
            _ => return None,
        })
    }

    /// The first period boundary after `t` (UTC).
    pub(crate) fn next_boundary(self, t: OffsetDateTime) -> OffsetDateTime {
        let t = t.to_offset(time::UtcOffset::UTC);
        let hour =
            t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT));
        match self {
            Frequency::Hourly => hour + Duration::HOUR,
            Frequency::Daily => t.date().midnight().assume_utc() + Duration::DAY,
            Frequency::Monthly => {
                let (y, m) = (t.year(), t.month());
                let (y, m) = if m == time::Month::December {
                    (y + 1, time::Month::January)
                } else {
                    (y, m.next())
                };
                time::Date::from_calendar_date(y, m, 1)
                    .map_or(t + Duration::days(31), |d| d.midnight().assume_utc())
            }
        }
    }
}

/// A past period reported again: restated by the adopter, or due in a wider measurement window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Restatement {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) kind: Restated,
    /// When it is due (0: at once).
    #[serde(default)]
    pub(crate) due: i64,
    /// The measurement window it reports, and the one that reported the period before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) supersedes: Option<String>,
}

/// A measurement window of a buy's products: its data for a period is expected `after`
/// milliseconds after the period ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Window {
    pub(crate) id: String,
    pub(crate) after: i64,
}

/// The measurement windows `products` declare, the earliest available first; a window two
/// products declare counts with the later availability.
pub(crate) fn windows(products: &[Option<adcp_wire::Product>]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    let declared = products
        .iter()
        .flatten()
        .filter_map(|p| p.reporting_capabilities.measurement_windows.as_ref())
        .flatten();
    for w in declared {
        let days = w
            .expected_availability_days
            .unwrap_or(w.duration_days)
            .max(0);
        let after = millis_of(Duration::days(days));
        match out.iter_mut().find(|o| o.id == w.window_id) {
            Some(o) => o.after = o.after.max(after),
            None => out.push(Window {
                id: w.window_id.clone(),
                after,
            }),
        }
    }
    out.sort_by_key(|w| w.after);
    out
}

/// The restatements a period ending at `end`, reported at `now`, will have: its last day (of
/// the flight `flight`) again in each window whose data is expected later, each superseding
/// the window before it. Delivery is asked for by dates, so the day is the unit: an hourly
/// buy's periods of one day share its restatements.
pub(crate) fn window_updates(
    windows: &[Window],
    flight: (i64, i64),
    end: i64,
    now: i64,
) -> Vec<Restatement> {
    let day = millis_of(Duration::DAY);
    let day_end = (end - 1)
        .div_euclid(day)
        .saturating_add(1)
        .saturating_mul(day);
    let (start, end) = ((day_end - day).max(flight.0), day_end.min(flight.1));
    windows
        .iter()
        .enumerate()
        .filter(|(_, w)| day_end.saturating_add(w.after) > now)
        .map(|(i, w)| Restatement {
            start,
            end,
            kind: Restated::WindowUpdate,
            due: day_end.saturating_add(w.after),
            window: Some(w.id.clone()),
            supersedes: i.checked_sub(1).map(|p| windows[p].id.clone()),
        })
        .collect()
}

/// Why a period is reported again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restated {
    /// Corrected data for the same measurement window (`adjusted`).
    Adjusted,
    /// A wider measurement window supersedes an earlier one (`window_update`).
    WindowUpdate,
}

/// One media buy's reporting webhook, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Subscription {
    /// Random, so that keys of a buy's reports never repeat another's.
    pub(crate) id: String,
    pub(crate) scope: String,
    pub(crate) media_buy_id: String,
    pub(crate) account: Account,
    pub(crate) principal: Option<Principal>,
    pub(crate) agent_url: String,
    pub(crate) url: String,
    pub(crate) auth: Option<PushAuth>,
    pub(crate) token: Option<String>,
    pub(crate) frequency: Frequency,
    pub(crate) metrics: Option<Vec<String>>,
    /// The flight, in milliseconds.
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// The end of the last period reported (the flight's start before the first).
    pub(crate) reported_to: i64,
    /// When the next report is due.
    pub(crate) next_due: i64,
    /// The last `sequence_number` sent.
    pub(crate) sequence: u64,
    /// The currency of the last report.
    pub(crate) currency: Option<String>,
    /// Periods to report again, in the order they are due.
    pub(crate) restatements: Vec<Restatement>,
    /// The measurement windows of the buy's products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) windows: Vec<Window>,
    /// The flight is reported to its end; `final` goes once no window is left to report.
    #[serde(default)]
    pub(crate) settling: bool,
    pub(crate) closed: bool,
    /// The task of a create that was handed off: the subscription waits for its buy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) task_id: Option<String>,
}

pub(crate) fn key(scope: &str, media_buy_id: &str) -> String {
    format!("{scope}\u{1f}{media_buy_id}")
}

/// Where subscriptions are kept.
pub(crate) fn store(state: &dyn StateStore) -> State<'_> {
    State::new(state, SCOPE)
}

/// Wakes the report loops (on every replica).
pub(crate) fn wake(bus: &Bus, scope: &str, media_buy_id: &str) {
    bus.publish(crate::events::Event::new(
        "reporting",
        media_buy_id,
        scope,
        "due",
    ));
}

/// Checks a request's `reporting_webhook` before the handler runs: a URL the outbox would
/// refuse, or a platform that cannot report delivery, is the buyer's to know now.
pub(crate) fn check(
    args: &Map<String, Value>,
    policy: crate::ssrf::Policy,
    reports: bool,
) -> AdcpResult<()> {
    let Some(hook) = args.get("reporting_webhook") else {
        return Ok(());
    };
    if !reports {
        return Err(AdcpError::new(
            crate::error::codes::UNSUPPORTED_FEATURE,
            "this seller does not report delivery, so it cannot send delivery reports",
        )
        .with_field("reporting_webhook"));
    }
    if let Some(url) = hook.get("url").and_then(Value::as_str)
        && let Err(refused) = policy.check_url(url)
    {
        return Err(AdcpError::invalid_request(
            "reporting_webhook.url",
            format!("the webhook URL is refused: {refused}"),
        ));
    }
    if hook
        .get("authentication")
        .is_some_and(|a| PushAuth::from_adcp(a).is_none())
    {
        return Err(AdcpError::invalid_request(
            "reporting_webhook.authentication",
            "expected {schemes: [\"Bearer\" | \"HMAC-SHA256\"], credentials}",
        ));
    }
    Ok(())
}

/// Checks a `reporting_webhook` against what the products of the call's packages declare
/// (`reporting_capabilities`): webhooks supported, the frequency offered by every one, the
/// requested metrics available.
pub(crate) fn check_products(
    args: &Map<String, Value>,
    products: &[Option<adcp_wire::Product>],
) -> AdcpResult<()> {
    let Some(hook) = args.get("reporting_webhook") else {
        return Ok(());
    };
    let frequency = hook.get("reporting_frequency").and_then(Value::as_str);
    let metrics: Vec<&str> = hook
        .get("requested_metrics")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for p in products.iter().flatten() {
        let Ok(product) = serde_json::to_value(p) else {
            continue;
        };
        let Some(caps) = product.get("reporting_capabilities") else {
            continue;
        };
        let id = product["product_id"].as_str().unwrap_or_default();
        let listed = |k: &str, v: &str| {
            caps.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(v)))
        };
        if caps.get("supports_webhooks") == Some(&Value::Bool(false)) {
            return Err(AdcpError::new(
                crate::error::codes::UNSUPPORTED_FEATURE,
                format!("product `{id}` sends no reporting webhooks"),
            )
            .with_field("reporting_webhook"));
        }
        if let Some(f) = frequency
            && !listed("available_reporting_frequencies", f)
        {
            return Err(AdcpError::invalid_request(
                "reporting_webhook.reporting_frequency",
                format!("product `{id}` does not report `{f}`"),
            ));
        }
        if let Some(m) = metrics.iter().find(|m| !listed("available_metrics", m)) {
            return Err(AdcpError::invalid_request(
                "reporting_webhook.requested_metrics",
                format!("product `{id}` does not report `{m}`"),
            ));
        }
    }
    Ok(())
}

/// The flight a create or update names, where it names one.
pub(crate) fn flight(args: &Map<String, Value>, now: OffsetDateTime) -> (Option<i64>, Option<i64>) {
    let start = match args.get("start_time") {
        Some(Value::String(s)) if s == "asap" => Some(millis(now)),
        Some(Value::String(s)) => crate::time::parse("start_time", s).ok().map(millis),
        _ => None,
    };
    let end = args
        .get("end_time")
        .and_then(Value::as_str)
        .and_then(|s| crate::time::parse("end_time", s).ok())
        .map(millis);
    (start, end)
}

pub(crate) fn millis_of(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}

/// When `s`'s next scheduled report is due: its period's end, or the flight's.
pub(crate) fn next_due(s: &Subscription) -> i64 {
    let boundary = millis(s.frequency.next_boundary(from_millis(s.reported_to)));
    boundary.min(s.end)
}

/// The last period end of `s` at or before `now` (the flight's end at the latest).
pub(crate) fn last_boundary(s: &Subscription, now: i64) -> i64 {
    let mut end = next_due(s);
    loop {
        let next = millis(s.frequency.next_boundary(from_millis(end))).min(s.end);
        if next > now || next <= end {
            return end;
        }
        end = next;
    }
}

/// Makes the report of `scope`'s `media_buy_id` due now (the compliance controller simulated
/// its delivery or forced its status), if a buyer asked for reports.
pub(crate) async fn due_now(state: &dyn StateStore, bus: &Bus, scope: &str, media_buy_id: &str) {
    let marked = store(state)
        .entry(SUBSCRIPTIONS, &key(scope, media_buy_id), |slot| {
            Ok(match slot.as_mut() {
                Some(s) if !s.closed => {
                    // Due whatever the clock says: the loop reports up to its now.
                    s.next_due = 0;
                    true
                }
                _ => false,
            })
        })
        .await;
    match marked {
        Ok(true) => wake(bus, scope, media_buy_id),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "marking a delivery report due"),
    }
}

/// Queues a restatement of a past period of `scope`'s `media_buy_id` (see
/// [`crate::Ctx::restate_delivery`]). `false`: the buyer asked for no reports, or the last
/// one was sent.
pub(crate) async fn restate(
    state: &dyn StateStore,
    bus: &Bus,
    scope: &str,
    media_buy_id: &str,
    start: OffsetDateTime,
    end: OffsetDateTime,
    kind: Restated,
) -> AdcpResult<bool> {
    if end <= start {
        return Err(AdcpError::invalid_request(
            "end",
            "a restated period ends after it starts",
        ));
    }
    let queued = store(state)
        .entry(SUBSCRIPTIONS, &key(scope, media_buy_id), |slot| {
            Ok(match slot.as_mut() {
                Some(s) if !s.closed => {
                    s.restatements.push(Restatement {
                        start: millis(start),
                        end: millis(end),
                        kind,
                        due: 0,
                        window: None,
                        supersedes: None,
                    });
                    // Due at once: before the windows still to come, after those restated first.
                    s.restatements.sort_by_key(|r| r.due);
                    true
                }
                _ => false,
            })
        })
        .await?;
    if queued {
        wake(bus, scope, media_buy_id);
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, windows: &Value) -> Option<adcp_wire::Product> {
        let p = serde_json::json!({
            "product_id": id, "name": id, "description": id, "delivery_type": "guaranteed",
            "publisher_properties": [{"publisher_domain": "tv.example", "selection_type": "all"}],
            "format_ids": [{"agent_url": "https://tv.example", "id": "spot_30s"}],
            "pricing_options": [{"pricing_option_id": "unit", "pricing_model": "flat_rate", "currency": "USD", "fixed_price": 4500.0}],
            "reporting_capabilities": {"available_reporting_frequencies": ["daily"], "expected_delay_minutes": 1440,
                "timezone": "UTC", "supports_webhooks": true, "available_metrics": ["impressions"],
                "date_range_support": "date_range", "measurement_windows": windows},
        });
        Some(serde_json::from_value(p).expect("a valid product"))
    }

    #[test]
    fn windows_are_ordered_by_availability_and_merged_across_products() {
        let a = product(
            "a",
            &serde_json::json!([
                {"window_id": "c7", "duration_days": 7, "expected_availability_days": 8},
                {"window_id": "live", "duration_days": 0, "expected_availability_days": 1},
                {"window_id": "c3", "duration_days": 3},
            ]),
        );
        let b = product(
            "b",
            &serde_json::json!([{"window_id": "c3", "duration_days": 3, "expected_availability_days": 5}]),
        );
        let day = millis_of(Duration::DAY);
        let w = windows(&[a, None, b]);
        let ids: Vec<(&str, i64)> = w.iter().map(|w| (w.id.as_str(), w.after / day)).collect();
        // c3 falls back to its duration on `a`, and takes `b`'s later availability.
        assert_eq!(ids, [("live", 1), ("c3", 5), ("c7", 8)]);

        // A period reported two days after its end: live is in, c3 and c7 are still to come.
        let (start, end) = (0, day);
        // One ending mid-day has its windows from the day's end.
        let partial = window_updates(&w, (start, 10 * day), day / 3, end);
        let dues: Vec<i64> = partial.iter().map(|r| r.due / day).collect();
        assert_eq!(dues, [2, 6, 9]);
        let updates = window_updates(&w, (start, 10 * day), end, end + 2 * day);
        let got: Vec<(Option<&str>, Option<&str>, i64)> = updates
            .iter()
            .map(|r| (r.window.as_deref(), r.supersedes.as_deref(), r.due / day))
            .collect();
        assert_eq!(
            got,
            [(Some("c3"), Some("live"), 6), (Some("c7"), Some("c3"), 9)]
        );
        assert!(updates.iter().all(|r| r.kind == Restated::WindowUpdate));
        assert!(window_updates(&[], (start, 10 * day), end, end).is_empty());
        // A period of the day's middle is restated as the day, within the flight.
        let hour = millis_of(Duration::HOUR);
        let noon = window_updates(&w, (9 * hour, 10 * day), 12 * hour, 0);
        assert!(noon.iter().all(|r| (r.start, r.end) == (9 * hour, day)));
    }
}
