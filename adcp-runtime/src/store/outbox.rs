//! The webhook outbox as stored: each delivery with its exact body, how it authenticates, and
//! where it stands; and the store that claims due deliveries for one replica at a time.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{BoxFuture, StoreError};

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; will be tried at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryState {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => return None,
        })
    }
}

/// How a delivery authenticates to the receiver, as the buyer asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case")]
pub enum PushAuth {
    /// Legacy AdCP HMAC-SHA256: `X-ADCP-Signature: sha256=<hex>` over `<ts>.<body>`, with
    /// `X-ADCP-Timestamp`.
    HmacSha256 {
        /// The shared secret.
        secret: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// A2A's `X-A2A-Notification-Token`.
    A2aToken {
        /// The token.
        token: String,
    },
}

/// One webhook to deliver.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Its id.
    pub id: String,
    /// The task it reports on.
    pub task_id: Option<String>,
    /// The data scope of the account it reports to.
    pub scope: String,
    /// Where to.
    pub url: String,
    /// The exact body sent on every attempt.
    pub body: String,
    /// How to authenticate.
    pub auth: Option<PushAuth>,
    /// The payload's `idempotency_key`.
    pub idempotency_key: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When to try next.
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
}

/// Where deliveries wait. Every task store is one.
pub trait Outbox: Send + Sync + 'static {
    /// Adds deliveries not tied to a task change. A delivery whose id is already queued is
    /// left as it was (so one made under a deterministic id is queued once).
    fn enqueue<'a>(&'a self, deliveries: &'a [Delivery]) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Claims up to `limit` pending deliveries due at `now` for `owner` until `until`.
    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, StoreError>>;
    /// Records an attempt's outcome (`state`, `attempts`, `next_attempt_at`, `last_error`) and
    /// releases the claim, if `owner` still holds it.
    fn record<'a>(
        &'a self,
        delivery: &'a Delivery,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The deliveries of a task, oldest first.
    fn for_task<'a>(&'a self, task_id: &'a str)
    -> BoxFuture<'a, Result<Vec<Delivery>, StoreError>>;
    /// How many deliveries wait (`/metrics`); `None` when the store does not count them.
    fn pending_count(&self) -> BoxFuture<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
}
