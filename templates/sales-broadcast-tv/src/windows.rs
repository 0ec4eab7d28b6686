//! Measurement windows: linear TV audiences are counted live, then again as viewers play the
//! spot back, three days on (C3) and seven (C7, what the station guarantees and bills). Each
//! window's ratings reach the station a day after it closes.
//!
//! The station's delivery answer says which window a period's figures are in: the widest
//! whose ratings are in for the period's last day, `is_final` once that is C7. A period that
//! ended before its live ratings came in is `reporting_delayed`, with the time they are
//! expected. The runtime does the rest from the windows the products declare: a buyer with a
//! `reporting_webhook` gets each period again in each wider window (`window_update`), then
//! `final` once C7 is in for the whole flight.

use adcp_runtime::wire::{
    GetMediaBuyDeliveryResponse, GetMediaBuyDeliveryResponseMediaBuyDeliveriesItemStatus as Status,
};
use adcp_runtime::{AdcpResult, time};
use serde_json::{Value, json};

/// A measurement window of the station's ratings.
pub(crate) struct Window {
    pub(crate) id: &'static str,
    /// Days of playback counted after the airing.
    pub(crate) duration_days: i64,
    /// Days after the airing the ratings arrive.
    pub(crate) available_days: i64,
    pub(crate) description: &'static str,
}

/// Live, C3 and C7, narrowest first; the last is the guarantee's basis.
pub(crate) const WINDOWS: [Window; 3] = [
    Window {
        id: "live",
        duration_days: 0,
        available_days: 1,
        description: "Live and same-day playback, in the overnights the next morning",
    },
    Window {
        id: "c3",
        duration_days: 3,
        available_days: 4,
        description: "Commercial minute ratings with three days of playback",
    },
    Window {
        id: "c7",
        duration_days: 7,
        available_days: 8,
        description: "Commercial minute ratings with seven days of playback: the guarantee and billing basis",
    },
];

/// Persons 25-54 in the station group's markets: the universe a rating point is a percent of.
pub(crate) const UNIVERSE: f64 = 2_400_000.0;

/// What every product of the station reports: daily, with its measurement windows.
pub(crate) fn reporting_capabilities() -> Value {
    let last = WINDOWS.len() - 1;
    let windows: Vec<Value> = WINDOWS
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({"window_id": w.id, "duration_days": w.duration_days,
                   "expected_availability_days": w.available_days,
                   "is_guarantee_basis": i == last, "description": w.description})
        })
        .collect();
    json!({
        "available_reporting_frequencies": ["daily"],
        "expected_delay_minutes": WINDOWS[0].available_days * 24 * 60,
        "timezone": "UTC",
        "supports_webhooks": true,
        "available_metrics": ["impressions", "spend", "grps", "reach", "frequency"],
        "date_range_support": "date_range",
        "measurement_windows": windows,
    })
}

/// Labels a delivery answer with the window its figures are in at `now`, and their rating
/// points. `dated`: the buyer asked for a period that has ended (a report), not the flight to
/// date, whose latest day is never rated yet.
pub(crate) fn label(
    resp: &mut GetMediaBuyDeliveryResponse,
    dated: bool,
    now: time::OffsetDateTime,
) -> AdcpResult<()> {
    let end = time::parse("reporting_period.end", &resp.reporting_period.end)?;
    let rated = |w: &Window| end + time::Duration::days(w.available_days) <= now;
    let window = WINDOWS.iter().rposition(rated);
    for d in &mut resp.media_buy_deliveries {
        let mut points = 0.0;
        for p in &mut d.by_package {
            let grps = p.impressions.unwrap_or_default() / UNIVERSE * 100.0;
            points += grps;
            p.grps = Some(grps);
            p.measurement_window = window.map(|i| WINDOWS[i].id.to_owned());
            p.is_final = Some(window == Some(WINDOWS.len() - 1));
        }
        d.totals.grps = Some(points);
        // A buy that ended keeps its status (a report of it closes its reports); its figures
        // are still not final.
        let aired = matches!(d.status, Status::Active | Status::Paused);
        if window.is_none() && dated && aired {
            d.status = Status::ReportingDelayed;
            d.expected_availability = Some(time::rfc3339(
                end + time::Duration::days(WINDOWS[0].available_days),
            ));
        }
    }
    Ok(())
}
