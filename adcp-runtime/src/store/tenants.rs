//! The tenant registry's records: what each tenant is (its [`TenantSpec`]) and how healthy it
//! is ([`Health`]), kept in the store so every replica serves the same tenants.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BoxFuture, StoreError};

/// What a tenant is: where it is reached, which platform serves it, and the keys it is known
/// by. Persisted as JSON; unknown fields are refused so a typo is an error, not a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    /// The tenant's id: lowercase letters, digits and `-` (1 to 63 characters).
    pub id: String,
    /// Which of the registry's platform builders serves it (see
    /// [`TenantRegistryBuilder::platform`](crate::TenantRegistryBuilder::platform)).
    pub platform: String,
    /// The URL buyers reach it at (`https://acme.seller.example` or
    /// `https://seller.example/acme`): its agent card, capabilities and every URL it hands out
    /// are made from this, never from a request's `Host`. Required: empty is refused at
    /// registration (a tenants file may leave it for its reader to fill in).
    #[serde(default)]
    pub public_url: String,
    /// Host names routed to it (`acme.seller.example`), without port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// A path prefix routed to it (`/acme`): the longest matching prefix wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// The tenant's published keys (a JWKS URL, or the JWKS inline): validation checks that
    /// they hold the public half of the key its webhooks are signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksSource>,
    /// A file holding the private JWK its webhooks are signed with (each replica reads its
    /// own copy; the key itself is never stored in the registry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_signing_key_file: Option<String>,
    /// API keys, by their SHA-256 (hex), each with the principal it authenticates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<ApiKeySpec>,
    /// Buyers whose RFC 9421 request signatures this tenant verifies, each with its keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_signers: Vec<SignerSpec>,
    /// Operations that must be signed (RFC 9421) when the caller has no other credential.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_required_for: Vec<String>,
    /// The platform's own settings (its catalogue, its upstream, ...), read by its builder.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub settings: Value,
}

/// Where a JWKS is: fetched from a URL (through the SSRF guard) or given inline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JwksSource {
    /// `https://..../.well-known/jwks.json`.
    Url(String),
    /// `{"keys": [...]}`.
    Inline(Value),
}

/// An API key of a tenant: its SHA-256 and the principal it stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    /// The principal the key authenticates.
    pub principal: String,
    /// The SHA-256 of the key, 64 hex digits.
    pub sha256: String,
}

/// A buyer whose signed requests a tenant verifies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerSpec {
    /// The principal a verified signature authenticates.
    pub principal: String,
    /// The buyer's published keys (its `jwks_uri`, or inline).
    pub jwks: JwksSource,
}

/// Whether a tenant's keys have been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Registered, never validated: not served.
    Pending,
    /// The last validation succeeded.
    Healthy,
    /// Validated once, but the last recheck failed: still served, and reported.
    Unverified,
}

/// A tenant's health: verification and the operator's gate, independent of each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether its keys have been checked.
    pub verification: Verification,
    /// The operator's gate: a disabled tenant is not served, whatever its verification.
    pub enabled: bool,
    /// When it was last checked (unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<i64>,
    /// Why the last check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Health {
    /// A tenant just registered: pending, enabled.
    pub fn pending() -> Self {
        Health {
            verification: Verification::Pending,
            enabled: true,
            checked_at: None,
            last_error: None,
        }
    }

    /// Whether requests are served: enabled, and validated at least once.
    pub fn serves(&self) -> bool {
        self.enabled && self.verification != Verification::Pending
    }
}

/// One tenant as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// What it is.
    pub spec: TenantSpec,
    /// How healthy it is.
    pub health: Health,
    /// Bumped by every write: a write names the revision it read, so that concurrent writers
    /// (two replicas, two operators) never overwrite each other unseen.
    #[serde(default)]
    pub revision: i64,
}

/// Where the tenant registry is kept.
pub trait TenantStore: Send + Sync + 'static {
    /// Every tenant, by id.
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, StoreError>>;
    /// Writes `record` if the stored revision is still `record.revision` (0: the tenant must
    /// not exist); answers the new revision. A stale revision is `StoreError::Exists`.
    fn put<'a>(&'a self, record: &'a TenantRecord) -> BoxFuture<'a, Result<i64, StoreError>>;
    /// Removes a tenant; whether it existed.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// The tenant registry in memory.
#[derive(Debug, Default)]
pub struct MemoryTenantStore {
    records: Mutex<HashMap<String, TenantRecord>>,
}

impl TenantStore for MemoryTenantStore {
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, StoreError>> {
        let records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<TenantRecord> = records.values().cloned().collect();
        all.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        Box::pin(async move { Ok(all) })
    }

    fn put<'a>(&'a self, record: &'a TenantRecord) -> BoxFuture<'a, Result<i64, StoreError>> {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = records.get(&record.spec.id).map_or(0, |r| r.revision);
        let result = if stored == record.revision {
            let mut next = record.clone();
            next.revision = stored + 1;
            records.insert(next.spec.id.clone(), next);
            Ok(stored + 1)
        } else {
            Err(StoreError::Exists(record.spec.id.clone()))
        };
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let removed = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id)
            .is_some();
        Box::pin(async move { Ok(removed) })
    }
}
