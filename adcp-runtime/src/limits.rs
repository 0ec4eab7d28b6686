//! Rate limits, inside the pipeline so a refusal is an AdCP answer (`RATE_LIMITED` with
//! `retry_after`): calls per principal, and calls to the server as a whole (per tenant, since a
//! tenant is a server of its own). GCRA cells from `governor`, kept in this replica's memory:
//! with N replicas a caller gets up to N times the rate.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use serde_json::json;

use crate::error::{AdcpError, Recovery, codes};

/// A rate: `per_second` calls a second sustained, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls a second, sustained.
    pub per_second: NonZeroU32,
    /// Calls at once after a quiet spell (at least 1).
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// `n` calls a second, `n` at once; `None` for 0.
    pub fn per_second(n: u32) -> Option<RateLimit> {
        let n = NonZeroU32::new(n)?;
        Some(RateLimit {
            per_second: n,
            burst: n,
        })
    }

    /// The same rate with another burst (0 is read as 1).
    pub fn burst(self, burst: u32) -> RateLimit {
        RateLimit {
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
            ..self
        }
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The limiters of one server.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    principal: Option<(RateLimit, DefaultKeyedRateLimiter<String>)>,
    server: Option<(RateLimit, DefaultDirectRateLimiter)>,
}

impl Limiter {
    pub(crate) fn new(principal: Option<RateLimit>, server: Option<RateLimit>) -> Limiter {
        Limiter {
            principal: principal.map(|r| (r, governor::RateLimiter::keyed(r.quota()))),
            server: server.map(|r| (r, governor::RateLimiter::direct(r.quota()))),
        }
    }

    /// Admits one call of `principal` (callers without credentials by their address `peer`,
    /// or all together when it is unknown), or the `RATE_LIMITED` answer saying when to come
    /// back.
    pub(crate) fn admit(
        &self,
        principal: Option<&crate::store::Principal>,
        peer: Option<std::net::IpAddr>,
    ) -> Result<(), AdcpError> {
        if self.principal.is_none() && self.server.is_none() {
            return Ok(());
        }
        let clock = DefaultClock::default();
        if let Some((rate, cells)) = &self.principal {
            // Keys of principals and of addresses cannot collide: one has a prefix.
            let key = match (principal, peer) {
                (Some(p), _) => p.id.clone(),
                (None, Some(ip)) => format!("@{ip}"),
                (None, None) => "@".to_owned(),
            };
            if let Err(not_until) = cells.check_key(&key) {
                let wait = not_until.wait_time_from(clock.now());
                return Err(limited(*rate, wait, "account", "this caller"));
            }
        }
        if let Some((rate, cells)) = &self.server
            && let Err(not_until) = cells.check()
        {
            let wait = not_until.wait_time_from(clock.now());
            return Err(limited(*rate, wait, "global", "this agent"));
        }
        Ok(())
    }

    /// Forgets principals whose cells are full again (bounded memory with many callers).
    pub(crate) fn sweep(&self) {
        if let Some((_, cells)) = &self.principal {
            cells.retain_recent();
            cells.shrink_to_fit();
        }
    }
}

fn limited(rate: RateLimit, wait: std::time::Duration, scope: &str, whom: &str) -> AdcpError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AdcpError::new(
        codes::RATE_LIMITED,
        format!(
            "{whom} is limited to {} calls a second (bursts of {}); retry in {} s",
            rate.per_second,
            rate.burst,
            seconds.max(1)
        ),
    )
    .with_recovery(Recovery::Transient)
    .with_retry_after(seconds.max(1))
    .with_details(json!({"limit": rate.per_second.get(), "window_seconds": 1, "scope": scope}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_principal_is_limited_and_another_is_not() {
        let limiter = Limiter::new(RateLimit::per_second(1).map(|r| r.burst(3)), None);
        let flood = crate::store::Principal { id: "flood".into() };
        let calm = crate::store::Principal { id: "calm".into() };
        for _ in 0..3 {
            assert!(limiter.admit(Some(&flood), None).is_ok());
        }
        let e = limiter.admit(Some(&flood), None).unwrap_err();
        assert_eq!(e.code(), codes::RATE_LIMITED);
        assert_eq!(e.to_json()["retry_after"], 1);
        assert_eq!(e.to_json()["details"]["scope"], "account");
        assert!(limiter.admit(Some(&calm), None).is_ok());
        // Callers without credentials count by their address.
        let (a, b): (std::net::IpAddr, std::net::IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.admit(None, Some(a)).is_ok());
        }
        assert!(limiter.admit(None, Some(a)).is_err());
        assert!(limiter.admit(None, Some(b)).is_ok());

        let whole = Limiter::new(None, RateLimit::per_second(2));
        assert!(whole.admit(Some(&flood), None).is_ok() && whole.admit(None, Some(b)).is_ok());
        let e = whole.admit(Some(&calm), None).unwrap_err();
        assert_eq!(e.to_json()["details"]["scope"], "global");
    }
}
