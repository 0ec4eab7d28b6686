//! What every seller needs and no seller should write twice: the lifecycle state machines of
//! media buys, creatives and accounts (the graphs the compliance runner's `status.monotonic`
//! invariant enforces), and pagination.

use std::ops::Range;

use serde_json::{Value, json};

use crate::error::{AdcpError, AdcpResult, codes};

/// A lifecycle graph: which status may follow which.
#[derive(Debug)]
pub struct Lifecycle {
    /// The resource, for messages (`media buy`).
    pub resource: &'static str,
    /// `(from, allowed next statuses)`.
    pub edges: &'static [(&'static str, &'static [&'static str])],
}

impl Lifecycle {
    /// Whether `to` may follow `from` (a status never follows itself).
    pub fn allows(&self, from: &str, to: &str) -> bool {
        from != to
            && self
                .edges
                .iter()
                .any(|(f, next)| *f == from && next.contains(&to))
    }

    /// Whether `status` has no way out.
    pub fn is_terminal(&self, status: &str) -> bool {
        self.edges
            .iter()
            .any(|(f, next)| *f == status && next.is_empty())
    }

    /// Whether `status` is part of this lifecycle.
    pub fn knows(&self, status: &str) -> bool {
        self.edges.iter().any(|(f, _)| *f == status)
    }

    /// `Ok` when the move is allowed; `INVALID_STATE` naming both statuses otherwise (or
    /// `NOT_CANCELLABLE` when the move is a cancellation).
    pub fn check(&self, from: &str, to: &str) -> AdcpResult<()> {
        if self.allows(from, to) {
            return Ok(());
        }
        let code = if to == "canceled" {
            codes::NOT_CANCELLABLE
        } else {
            codes::INVALID_STATE
        };
        Err(AdcpError::new(
            code,
            format!("a {} cannot go from `{from}` to `{to}`", self.resource),
        )
        .with_details(json!({"current_state": from, "requested_state": to})))
    }
}

/// Media buys (`enums/media-buy-status.json`): `active` and `paused` alternate; `completed`,
/// `rejected` and `canceled` are terminal.
pub static MEDIA_BUY: Lifecycle = Lifecycle {
    resource: "media buy",
    edges: &[
        (
            "pending_creatives",
            &["pending_start", "active", "paused", "canceled", "rejected"],
        ),
        (
            "pending_start",
            &["active", "paused", "canceled", "rejected"],
        ),
        ("active", &["paused", "completed", "canceled"]),
        ("paused", &["active", "completed", "canceled"]),
        ("completed", &[]),
        ("rejected", &[]),
        ("canceled", &[]),
    ],
};

/// Creatives (`enums/creative-status.json`): review produces `approved`; nothing is terminal,
/// since a re-sync can always start over.
pub static CREATIVE: Lifecycle = Lifecycle {
    resource: "creative",
    edges: &[
        ("processing", &["pending_review", "rejected"]),
        ("pending_review", &["approved", "rejected"]),
        ("approved", &["archived", "rejected"]),
        ("archived", &["approved"]),
        ("rejected", &["processing", "pending_review"]),
    ],
};

/// Accounts (`enums/account-status.json`): `rejected` and `closed` are terminal.
pub static ACCOUNT: Lifecycle = Lifecycle {
    resource: "account",
    edges: &[
        ("pending_approval", &["active", "rejected"]),
        ("active", &["suspended", "payment_required", "closed"]),
        ("suspended", &["active", "payment_required", "closed"]),
        ("payment_required", &["active", "suspended", "closed"]),
        ("rejected", &[]),
        ("closed", &[]),
    ],
};

/// The buyer actions a media buy in `status` accepts (`valid_actions`).
pub fn media_buy_valid_actions(status: &str) -> &'static [&'static str] {
    match status {
        "pending_creatives" | "pending_start" => &[
            "pause",
            "cancel",
            "update_budget",
            "update_dates",
            "update_packages",
            "add_packages",
            "sync_creatives",
        ],
        "active" => &[
            "pause",
            "cancel",
            "update_budget",
            "update_dates",
            "update_packages",
            "add_packages",
            "sync_creatives",
        ],
        "paused" => &[
            "resume",
            "cancel",
            "update_budget",
            "update_dates",
            "update_packages",
            "add_packages",
            "sync_creatives",
        ],
        _ => &[],
    }
}

/// Default and largest page sizes (`core/pagination-request.json`).
pub const DEFAULT_PAGE: usize = 50;
/// Largest page.
pub const MAX_PAGE: usize = 100;

/// One page of a list, from the request's `pagination` (`max_results`, `cursor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    start: usize,
    end: usize,
    total: usize,
}

impl Page {
    /// The page a request asks for, over `total` items. A cursor this server did not issue is an
    /// `INVALID_REQUEST` on `pagination.cursor`.
    pub fn from_request(pagination: Option<&Value>, total: usize) -> AdcpResult<Page> {
        let max = pagination
            .and_then(|p| p.get("max_results"))
            .and_then(Value::as_u64)
            .map_or(DEFAULT_PAGE, |m| {
                usize::try_from(m).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE)
            });
        let start = match pagination
            .and_then(|p| p.get("cursor"))
            .and_then(Value::as_str)
        {
            None => 0,
            Some(c) => c
                .strip_prefix("o:")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= total)
                .ok_or_else(|| {
                    AdcpError::invalid_request(
                        "pagination.cursor",
                        "this cursor was not issued by this agent, or has expired",
                    )
                })?,
        };
        Ok(Page {
            start,
            end: (start + max).min(total),
            total,
        })
    }

    /// The items on this page.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The response's `pagination` object (`has_more`, `cursor` when there is more,
    /// `total_count`).
    pub fn response(&self) -> Value {
        let has_more = self.end < self.total;
        let mut v = json!({"has_more": has_more, "total_count": self.total});
        if has_more {
            v["cursor"] = json!(format!("o:{}", self.end));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycles() {
        assert!(MEDIA_BUY.allows("pending_creatives", "active"));
        assert!(!MEDIA_BUY.allows("completed", "active"));
        assert_eq!(
            MEDIA_BUY.check("canceled", "canceled").unwrap_err().code(),
            codes::NOT_CANCELLABLE
        );
        assert_eq!(
            MEDIA_BUY.check("canceled", "paused").unwrap_err().code(),
            codes::INVALID_STATE
        );
        assert!(!CREATIVE.allows("processing", "approved"));
        assert!(CREATIVE.allows("archived", "approved"));
        assert!(ACCOUNT.is_terminal("closed"));
    }

    #[test]
    fn pages() {
        let p = Page::from_request(Some(&json!({"max_results": 2})), 5).unwrap();
        assert_eq!(p.range(), 0..2);
        assert_eq!(
            p.response(),
            json!({"has_more": true, "total_count": 5, "cursor": "o:2"})
        );
        let p = Page::from_request(Some(&json!({"max_results": 2, "cursor": "o:4"})), 5).unwrap();
        assert_eq!(p.range(), 4..5);
        assert_eq!(p.response(), json!({"has_more": false, "total_count": 5}));
        let e = Page::from_request(Some(&json!({"cursor": "zzz"})), 5).unwrap_err();
        assert_eq!(e.field(), Some("pagination.cursor"));
    }
}
