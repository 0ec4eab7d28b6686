//! Accounts as stored: who calls (the principal), the accounts principals act for, their
//! natural keys, and the store that resolves a reference for a principal. Account ids the
//! runtime derives come from a key kept in the store ([`IdKey`]).

use std::sync::Arc;

use adcp_wire::{AccountStatus, BillingParty, BrandRef, PaymentTerms};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{BoxFuture, StoreError};

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// A stable identifier (never the credential itself).
    pub id: String,
}

/// An account a call acts for: what the store keeps, and what handlers see on
/// [`Ctx::account`](crate::Ctx::account).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The seller-assigned id (`account_id` on the wire).
    pub id: String,
    /// A display name.
    #[serde(default)]
    pub name: String,
    /// Its status: `active` accounts transact; see [`Account::gate`] for the others.
    #[serde(default = "active")]
    pub status: AccountStatus,
    /// The advertiser, for accounts named by natural key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<BrandRef>,
    /// The operator (agency, or the brand itself), for accounts named by natural key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Who is invoiced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<BillingParty>,
    /// Payment terms agreed in `sync_accounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<PaymentTerms>,
    /// A sandbox account: nothing it does is real.
    #[serde(default)]
    pub sandbox: bool,
    /// The principal that owns it (the only one that may act for it, in the built-in stores).
    #[serde(default)]
    pub owner: String,
    /// Declared through `sync_accounts` (and so listed by `list_accounts`), rather than
    /// implied by a natural key or a default.
    #[serde(default)]
    pub declared: bool,
    /// The adopter's own data about the account (credit, upstream ids, ...): see
    /// [`Account::metadata`].
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

fn active() -> AccountStatus {
    AccountStatus::Active
}

/// The natural key of an implicit account: brand, operator and the sandbox flag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NaturalKey {
    /// `brand.domain`.
    pub domain: String,
    /// `brand.brand_id`, for a house of brands.
    pub brand_id: Option<String>,
    /// `operator`.
    pub operator: String,
    /// `sandbox` (false when absent).
    pub sandbox: bool,
}

impl NaturalKey {
    /// One string for the key, for indexes: never parsed back.
    pub fn canonical(&self) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.domain,
            self.brand_id.as_deref().unwrap_or(""),
            self.operator,
            u8::from(self.sandbox)
        )
    }

    /// Whether brand and operator are both reserved test names (`*.example`, RFC 2606), the
    /// identities of the compliance runner.
    pub fn is_test_identity(&self) -> bool {
        is_test_domain(&self.domain) && is_test_domain(&self.operator)
    }

    pub(crate) fn of(brand: &BrandRef, operator: &str, sandbox: Option<bool>) -> Self {
        NaturalKey {
            domain: brand.domain.clone(),
            brand_id: brand.brand_id.clone(),
            operator: operator.to_owned(),
            sandbox: sandbox.unwrap_or(false),
        }
    }
}

fn is_test_domain(d: &str) -> bool {
    d == "example" || d.ends_with(".example")
}

/// A reference to an account, as an [`AccountStore`] resolves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// `{account_id}`.
    Id(String),
    /// `{brand, operator, sandbox?}`.
    Key(NaturalKey),
}

/// Where accounts are kept: the built-in roster (memory, SQLite, PostgreSQL: see
/// [`Stores`](crate::Stores)), or an adopter's own database behind this trait.
///
/// A store answers only for the principal asking: an account the principal may not act for is
/// `None`, exactly as an account that does not exist.
pub trait AccountStore: Send + Sync + 'static {
    /// The account `reference` names, if `principal` may act for it.
    fn resolve<'a>(
        &'a self,
        principal: &'a str,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>>;
    /// The accounts `principal` declared (through `sync_accounts`), oldest first.
    fn list<'a>(&'a self, principal: &'a str) -> BoxFuture<'a, Result<Vec<Account>, StoreError>>;
    /// Creates or replaces `account` (owned by `account.owner`). An account of another owner
    /// is never replaced: that is `StoreError::Exists`.
    fn upsert<'a>(&'a self, account: &'a Account) -> BoxFuture<'a, Result<(), StoreError>>;
    /// In `from_auth` mode, the account a principal's credential stands for, when the store
    /// maps principals to accounts; `None` lets the runtime derive one per principal.
    fn for_principal<'a>(
        &'a self,
        _principal: &'a str,
    ) -> BoxFuture<'a, Result<Option<Account>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
}

/// Derives account ids: an HMAC of what the account is, under a key kept in the store, so an
/// id is stable across calls, restarts and replicas, and cannot be guessed.
#[derive(Clone)]
pub struct IdKey(Arc<[u8; 32]>);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(..)")
    }
}

/// 64 hex digits as the 32 bytes they spell.
pub(crate) fn bytes_of_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

impl IdKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        IdKey(Arc::new(bytes))
    }

    pub(crate) fn random() -> Self {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        b[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        IdKey::new(b)
    }

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_hex(hex: &str) -> Option<Self> {
        bytes_of_hex(hex).map(IdKey::new)
    }

    /// The key of one tenant's ids, derived from this one: equal principals and natural keys
    /// in two tenants get different account ids. The empty tenant (a single-tenant server)
    /// keeps this key, so its ids do not change.
    pub(crate) fn for_tenant(&self, tenant: &str) -> IdKey {
        if tenant.is_empty() {
            return self.clone();
        }
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"adcp-rs tenant id key\0");
        mac.update(tenant.as_bytes());
        IdKey::new(mac.finalize().into_bytes().into())
    }

    /// `prefix` + 26 base32 characters (130 bits) of HMAC-SHA256 over `parts`.
    pub(crate) fn derive(&self, prefix: &str, parts: &[&str]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        let tag = mac.finalize().into_bytes();
        format!(
            "{prefix}{}",
            base32(&tag[..17]).get(..26).unwrap_or_default()
        )
    }
}

/// `prefix_` and 26 random base32 characters (the 122 random bits of a v4 UUID).
pub(crate) fn random_id(prefix: &str) -> String {
    let bits = uuid::Uuid::new_v4().as_u128();
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    out.push_str(base32(&bits.to_be_bytes()).get(..26).unwrap_or_default());
    out
}

/// `prefix_` and 26 characters that sort in the order they were made: the millisecond since
/// the Unix epoch (50 bits) and then 80 random bits, in a base32 whose alphabet is in ASCII
/// order (Crockford's, lower case). A store's indexes then grow at their right edge, so the
/// writes of one batch share pages instead of touching a random leaf of every index; the 80
/// random bits still make an id unguessable from another's, and an id tells its creation time
/// (which the resources carrying one report anyway), not how many exist.
pub(crate) fn ordered_id(prefix: &str) -> String {
    const SORTED: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        & ((1 << 50) - 1);
    // A v4 UUID fixes six bits (the version in byte 6, the variant in byte 8): its bytes 0-2
    // and 9-15 are all random.
    let u = uuid::Uuid::new_v4().into_bytes();
    let random = u[..3]
        .iter()
        .chain(&u[9..])
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    let bits = (ms << 80) | random;
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    out.extend(
        (0..26)
            .rev()
            .map(|i| char::from(SORTED[((bits >> (5 * i)) & 31) as usize])),
    );
    out
}

/// Lowercase RFC 4648 base32 without padding.
pub(crate) fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}
