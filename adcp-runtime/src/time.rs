//! Time as AdCP writes it: RFC 3339 date-times, calendar days (`YYYY-MM-DD`), and the
//! millisecond precision every store keeps. One place for the runtime and for templates.
//!
//! ```
//! use adcp_runtime::time;
//!
//! let start = time::parse("start_time", "2031-06-01T00:00:00Z").unwrap();
//! assert_eq!(time::rfc3339(start), "2031-06-01T00:00:00Z");
//! let day = time::day("end_date", "2031-06-30").unwrap();
//! assert_eq!(time::rfc3339(time::end_of_day(day)), "2031-06-30T23:59:59Z");
//! assert_eq!(time::day("end_date", "2031-02-30").unwrap_err().field(), Some("end_date"));
//! ```

use ::time::format_description::well_known::Rfc3339;
pub use ::time::{Date, Duration, OffsetDateTime};

use crate::error::{AdcpError, AdcpResult};

/// Now, in UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Now, at the millisecond precision the stores keep (so a value reads back as written).
pub fn now_ms() -> OffsetDateTime {
    from_millis(millis(OffsetDateTime::now_utc()))
}

/// RFC 3339 text (`2031-06-01T00:00:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An RFC 3339 date-time from a request's `field`; `INVALID_REQUEST` naming the field
/// otherwise.
pub fn parse(field: &str, s: &str) -> AdcpResult<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
        AdcpError::invalid_request(field, format!("`{s}` is not an RFC 3339 date-time"))
    })
}

/// A calendar day (`YYYY-MM-DD`, a day that exists) from a request's `field`.
pub fn day(field: &str, s: &str) -> AdcpResult<Date> {
    Date::parse(
        s,
        ::time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        AdcpError::invalid_request(field, format!("`{s}` is not a calendar date (YYYY-MM-DD)"))
    })
}

/// The first second of a day, in UTC.
pub fn start_of_day(d: Date) -> OffsetDateTime {
    d.midnight().assume_utc()
}

/// The last second of a day, in UTC.
pub fn end_of_day(d: Date) -> OffsetDateTime {
    d.with_time(::time::macros::time!(23:59:59)).assume_utc()
}

/// A media buy's flight from its `start_time` (`"asap"` is now) and `end_time`; an end that
/// is not after the start is `INVALID_REQUEST` on `end_time`.
pub fn flight(
    start: &adcp_wire::StartTiming,
    end: &str,
) -> AdcpResult<(OffsetDateTime, OffsetDateTime)> {
    let start = match start {
        adcp_wire::StartTiming::Asap(_) => now(),
        adcp_wire::StartTiming::DateTime(s) => parse("start_time", s)?,
    };
    let end = parse("end_time", end)?;
    if end <= start {
        return Err(AdcpError::invalid_request(
            "end_time",
            "end_time must be after start_time",
        ));
    }
    Ok((start, end))
}

/// Unix milliseconds.
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// From unix milliseconds.
pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The clock delivery reports are scheduled by: the system's, or one a test moves.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<std::sync::Arc<std::sync::Mutex<OffsetDateTime>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands at `at` until moved.
    pub fn manual(at: OffsetDateTime) -> Self {
        Clock(Some(std::sync::Arc::new(std::sync::Mutex::new(at))))
    }

    /// Now, at the stores' millisecond precision.
    pub fn now(&self) -> OffsetDateTime {
        match &self.0 {
            None => now_ms(),
            Some(t) => *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Now, at full precision on the system clock.
    pub(crate) fn instant(&self) -> OffsetDateTime {
        match &self.0 {
            None => OffsetDateTime::now_utc(),
            Some(_) => self.now(),
        }
    }

    /// Moves a manual clock on by `by` (the system clock is not moved).
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.0 {
            *t.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += by;
        }
    }
}
