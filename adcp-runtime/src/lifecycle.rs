//! The lifecycle state machines of media buys, creatives and accounts, typed over the wire's
//! status enums: the graphs the compliance runner's `status.monotonic` invariant enforces, the
//! buyer actions each media-buy status accepts, and the one way a controller scenario forces a
//! status.
//!
//! ```
//! use adcp_runtime::lifecycle::MEDIA_BUY;
//! use adcp_runtime::wire::MediaBuyStatus::{Active, Canceled, Paused};
//!
//! assert!(MEDIA_BUY.allows(Active, Paused));
//! assert_eq!(MEDIA_BUY.check(Canceled, Canceled).unwrap_err().code(), "NOT_CANCELLABLE");
//! let mut status = Active;
//! let moved = MEDIA_BUY.force(&mut status, Paused).unwrap();
//! assert_eq!(status, Paused);
//! # let _ = moved;
//! ```

use std::fmt::Display;

use adcp_wire::{AccountStatus, CreativeStatus, MediaBuyStatus, MediaBuyValidAction};
use serde_json::json;

use crate::error::{AdcpError, AdcpResult, codes};
use crate::scenario::{ControllerCode, ControllerReply};

/// A lifecycle graph: which status may follow which.
#[derive(Debug)]
pub struct Lifecycle<S: 'static> {
    /// The resource, for messages (`media buy`).
    pub resource: &'static str,
    /// `(from, allowed next statuses)`.
    pub edges: &'static [(S, &'static [S])],
    /// The status a cancellation moves to, if the resource can be canceled (refusals of it
    /// are `NOT_CANCELLABLE`).
    pub canceled: Option<S>,
}

impl<S: Copy + PartialEq + Display> Lifecycle<S> {
    /// Whether `to` may follow `from` (a status never follows itself).
    pub fn allows(&self, from: S, to: S) -> bool {
        from != to
            && self
                .edges
                .iter()
                .any(|(f, next)| *f == from && next.contains(&to))
    }

    /// Whether `status` has no way out.
    pub fn is_terminal(&self, status: S) -> bool {
        self.edges
            .iter()
            .any(|(f, next)| *f == status && next.is_empty())
    }

    /// `Ok` when the move is allowed; otherwise `INVALID_STATE` naming both statuses, or
    /// `NOT_CANCELLABLE` when the move is a cancellation. For buyer requests.
    pub fn check(&self, from: S, to: S) -> AdcpResult<()> {
        if self.allows(from, to) {
            return Ok(());
        }
        let code = if Some(to) == self.canceled {
            codes::NOT_CANCELLABLE
        } else {
            codes::INVALID_STATE
        };
        Err(AdcpError::new(
            code,
            format!("a {} cannot go from `{from}` to `{to}`", self.resource),
        )
        .with_details(
            json!({"current_state": from.to_string(), "requested_state": to.to_string()}),
        ))
    }

    /// Moves `status` to `to` for a `force_*_status` controller scenario: the transition, or
    /// the controller's `INVALID_TRANSITION` with the current state (nothing changes then).
    pub fn force(&self, status: &mut S, to: S) -> AdcpResult<ControllerReply> {
        let previous = *status;
        if !self.allows(previous, to) {
            return Err(ControllerCode::InvalidTransition
                .error(format!(
                    "a {} cannot go from `{previous}` to `{to}`",
                    self.resource
                ))
                .with_details(json!({"current_state": previous.to_string()})));
        }
        *status = to;
        Ok(ControllerReply::Transition {
            previous: previous.to_string(),
            current: to.to_string(),
        })
    }
}

/// Media buys (`enums/media-buy-status.json`): `active` and `paused` alternate; `completed`,
/// `rejected` and `canceled` are terminal.
pub static MEDIA_BUY: Lifecycle<MediaBuyStatus> = {
    use MediaBuyStatus::*;
    Lifecycle {
        resource: "media buy",
        edges: &[
            (
                PendingCreatives,
                &[PendingStart, Active, Paused, Canceled, Rejected],
            ),
            (PendingStart, &[Active, Paused, Canceled, Rejected]),
            (Active, &[Paused, Completed, Canceled]),
            (Paused, &[Active, Completed, Canceled]),
            (Completed, &[]),
            (Rejected, &[]),
            (Canceled, &[]),
        ],
        canceled: Some(Canceled),
    }
};

/// Creatives (`enums/creative-status.json`): review produces `approved`; nothing is terminal,
/// since a re-sync can always start over.
pub static CREATIVE: Lifecycle<CreativeStatus> = {
    use CreativeStatus::*;
    Lifecycle {
        resource: "creative",
        edges: &[
            (Processing, &[PendingReview, Rejected]),
            (PendingReview, &[Approved, Rejected]),
            (Approved, &[Archived, Rejected]),
            (Archived, &[Approved]),
            (Rejected, &[Processing, PendingReview]),
        ],
        canceled: None,
    }
};

/// Accounts (`enums/account-status.json`): `rejected` and `closed` are terminal.
pub static ACCOUNT: Lifecycle<AccountStatus> = {
    use AccountStatus::*;
    Lifecycle {
        resource: "account",
        edges: &[
            (PendingApproval, &[Active, Rejected]),
            (Active, &[Suspended, PaymentRequired, Closed]),
            (Suspended, &[Active, PaymentRequired, Closed]),
            (PaymentRequired, &[Active, Suspended, Closed]),
            (Rejected, &[]),
            (Closed, &[]),
        ],
        canceled: None,
    }
};

/// The buyer actions a media buy in `status` accepts (`valid_actions`).
pub fn media_buy_valid_actions(status: MediaBuyStatus) -> Vec<MediaBuyValidAction> {
    use MediaBuyValidAction::*;
    let changes = [
        Cancel,
        UpdateBudget,
        UpdateDates,
        UpdatePackages,
        AddPackages,
        SyncCreatives,
    ];
    let first = match status {
        MediaBuyStatus::PendingCreatives
        | MediaBuyStatus::PendingStart
        | MediaBuyStatus::Active => Pause,
        MediaBuyStatus::Paused => Resume,
        _ => return Vec::new(),
    };
    std::iter::once(first).chain(changes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycles() {
        use MediaBuyStatus::*;
        assert!(MEDIA_BUY.allows(PendingCreatives, Active));
        assert!(!MEDIA_BUY.allows(Completed, Active));
        assert_eq!(
            MEDIA_BUY.check(Canceled, Paused).unwrap_err().code(),
            codes::INVALID_STATE
        );
        assert!(!CREATIVE.allows(CreativeStatus::Processing, CreativeStatus::Approved));
        assert!(CREATIVE.allows(CreativeStatus::Archived, CreativeStatus::Approved));
        assert!(ACCOUNT.is_terminal(AccountStatus::Closed));
        let mut s = Completed;
        let e = MEDIA_BUY.force(&mut s, Active).unwrap_err();
        assert_eq!(e.code(), "INVALID_TRANSITION");
        assert_eq!(e.details().unwrap()["current_state"], "completed");
        assert_eq!(s, Completed);
        assert_eq!(
            media_buy_valid_actions(Paused)[0],
            MediaBuyValidAction::Resume
        );
        assert!(media_buy_valid_actions(Canceled).is_empty());
    }
}
