//! The platform this seller wraps: a walled garden's marketing API over HTTP (the official
//! SDK's `mock-server sales-social`, or a real one with the same API).
//!
//! - Credentials: an OAuth 2.0 client (`client_credentials` at `POST /oauth/token`); the
//!   runtime's [`Upstream`] keeps the access token and fetches another when it expires.
//! - Advertisers: `GET /_lookup/advertiser?adcp_advertiser=D` says which advertiser a brand
//!   domain is; every other call is under `/v1.3/advertiser/{id}/`, and `GET .../info` gives
//!   its currency and time zone.
//! - Audiences: `custom_audience/create`, then `custom_audience/upload` of SHA-256 hashed
//!   identifiers, one identifier type per upload.
//! - Catalogues: `catalog/create`, `catalog/upload` of items.
//! - Creatives: `creative/create` (the platform reviews them).
//! - Event sources: `pixel/create`; conversions: `event/track`.
//!
//! Every create carries a `client_request_id` derived from the account, the buyer's id and the
//! content, so a sync run again after a crash between the platform's answer and the seller's
//! write finds what it made before instead of making it twice.
//!
//! Who may use which advertiser is the seller's to decide: the OAuth client reaches every
//! advertiser the platform gave the seller, while a buyer names its account's brand freely
//! ([`Grants`]: the operator says which callers act for which brands). Sandbox accounts reach
//! the platform only when it is itself a test platform ([`Garden::sandbox_platform`]).
//!
//! What the platform cannot hold stays the seller's: the buyer's ids (the platform assigns
//! its own), catalogue items (the platform counts them but does not give them back),
//! deletions (it has no delete routes), and everything of sandbox accounts kept off the
//! platform, in the seller's store alone.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use adcp_runtime::upstream::{Refusal, Upstream};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The domain the platform's inventory is sold as (its apps and site).
pub(crate) const PLATFORM_DOMAIN: &str = "social-platform.example";

/// The token endpoint of the platform's OAuth server.
pub(crate) const TOKEN_PATH: &str = "/oauth/token";

/// An advertiser of the platform, as its lookup and `info` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advertiser {
    /// The platform's id (`adv_...`).
    pub advertiser_id: String,
    /// Its display name.
    #[serde(default)]
    pub display_name: String,
    /// Its billing currency (ISO 4217), once `info` was read.
    #[serde(default)]
    pub currency: Option<String>,
    /// Its time zone (IANA), once `info` was read.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Which callers act for which brands' advertisers: pairs of a principal (`*`: any caller,
/// unauthenticated ones included) and a brand domain (`*`: any brand).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(Vec<(String, String)>);

impl Grants {
    /// No caller acts for any advertiser.
    pub fn none() -> Self {
        Grants::default()
    }

    /// `principal` may act for `domain`'s advertiser.
    #[must_use]
    pub fn grant(mut self, principal: &str, domain: &str) -> Self {
        self.0
            .push((principal.to_owned(), domain.to_ascii_lowercase()));
        self
    }

    /// Grants from `PRINCIPAL=DOMAIN[,DOMAIN...]`.
    pub fn parse(mut self, entry: &str) -> Result<Self, String> {
        let (principal, domains) = entry
            .split_once('=')
            .filter(|(p, d)| !p.trim().is_empty() && !d.trim().is_empty())
            .ok_or_else(|| format!("`{entry}`: expected PRINCIPAL=DOMAIN[,DOMAIN...]"))?;
        for d in domains.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            self = self.grant(principal.trim(), d);
        }
        Ok(self)
    }

    /// Whether `principal` (`None`: unauthenticated) may act for `domain`'s advertiser.
    pub fn allows(&self, principal: Option<&str>, domain: &str) -> bool {
        self.0.iter().any(|(p, d)| {
            (p == "*" || Some(p.as_str()) == principal)
                && (d == "*" || d.eq_ignore_ascii_case(domain))
        })
    }
}

/// The platform's marketing API.
#[derive(Debug)]
pub struct Garden {
    api: Upstream,
    /// Which callers act for which advertisers.
    grants: Grants,
    /// The platform is a test platform: sandbox accounts use it.
    sandbox: bool,
    /// Brand domain to advertiser, as looked up (a brand without one is looked up again:
    /// the platform may make it any time).
    lookups: Mutex<HashMap<String, Advertiser>>,
}

impl Garden {
    /// The platform at `url`, authenticated as the OAuth client `client_id`; no caller acts
    /// for any advertiser until granted ([`Garden::grants`]).
    pub fn new(url: &str, client_id: &str, client_secret: &str) -> Self {
        Garden::over(Upstream::new(url).client_credentials(TOKEN_PATH, client_id, client_secret))
    }

    /// The platform behind `api` (its credential already set).
    pub fn over(api: Upstream) -> Self {
        Garden {
            api,
            grants: Grants::none(),
            sandbox: false,
            lookups: Mutex::new(HashMap::new()),
        }
    }

    /// Which callers act for which brands' advertisers.
    #[must_use]
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// The platform is a test platform (the SDK's mock, a platform's sandbox): sandbox
    /// accounts use it. Otherwise they never reach it, and are kept in the seller's store.
    #[must_use]
    pub fn sandbox_platform(mut self, sandbox: bool) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// The advertiser the request's account is on the platform: its brand's, when the caller
    /// is granted that brand. `None` for a sandbox account kept off the platform (a live
    /// platform, or a brand without an advertiser the caller may use). A live account without
    /// one cannot use the platform: one answer, whether the brand has an advertiser or the
    /// caller may not use it, so a caller learns nothing of others' advertisers.
    pub async fn advertiser(&self, ctx: &Ctx) -> AdcpResult<Option<Advertiser>> {
        let account = ctx.account();
        if account.sandbox && !self.sandbox {
            return Ok(None);
        }
        let principal = ctx.principal().map(|p| p.id.as_str());
        let domain = account
            .brand
            .as_ref()
            .map(|b| b.domain.as_str())
            .filter(|d| self.grants.allows(principal, d));
        let found = match domain {
            Some(d) => self.lookup(d).await?,
            None => None,
        };
        match found {
            Some(a) => Ok(Some(a)),
            None if account.sandbox => Ok(None),
            None => Err(AdcpError::new(
                codes::ACCOUNT_SETUP_REQUIRED,
                "this account has no advertiser on the platform that this caller may use",
            )
            .with_field("account")
            .with_suggestion(
                "name the account by its brand's domain; the seller's operator links callers \
                 to the brands whose advertisers they act for",
            )),
        }
    }

    /// The advertiser of `domain`, if the platform has one.
    async fn lookup(&self, domain: &str) -> AdcpResult<Option<Advertiser>> {
        let key = domain.to_ascii_lowercase();
        let cached = self
            .lookups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let lookup = self.api.get("/_lookup/advertiser");
        let found: Option<Advertiser> = lookup.query("adcp_advertiser", domain).send_opt().await?;
        if let Some(a) = &found {
            self.lookups
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, a.clone());
        }
        Ok(found)
    }

    /// The advertiser with its currency and time zone (`GET .../info`, read once).
    pub async fn info(&self, advertiser: &Advertiser) -> AdcpResult<Advertiser> {
        if advertiser.currency.is_some() && advertiser.timezone.is_some() {
            return Ok(advertiser.clone());
        }
        let path = format!("/v1.3/advertiser/{}/info", advertiser.advertiser_id);
        let info: Advertiser = self.api.get(&path).send().await?;
        let mut lookups = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
        for a in lookups.values_mut() {
            if a.advertiser_id == info.advertiser_id {
                *a = info.clone();
            }
        }
        Ok(info)
    }

    /// Makes an object of the advertiser (`kind`: `custom_audience`, `catalog`, `creative`,
    /// `pixel`) from `body`, for the buyer's `buyer_id` in the request's account. Its
    /// `client_request_id` is derived from the account, the buyer's id and the content: made
    /// again (a sync run again after a crash) it finds the first; different content (a changed
    /// creative, an audience re-made after a delete) is a new object. A refusal is an error on
    /// `field`.
    pub(crate) async fn make(
        &self,
        ctx: &Ctx,
        advertiser: &str,
        kind: &str,
        buyer_id: &str,
        mut body: Value,
        field: &str,
    ) -> AdcpResult<Made> {
        body["client_request_id"] = json!(request_id(ctx, kind, buyer_id, &body.to_string()));
        let path = format!("/v1.3/advertiser/{advertiser}/{kind}/create");
        self.api
            .post(&path, &body)
            .try_send()
            .await?
            .map_err(|r| refused(field, &r))
    }

    /// Adds members (hashed identifiers of one type) to an audience.
    pub(crate) async fn upload_members(
        &self,
        advertiser: &str,
        audience_id: &str,
        identifier_type: &str,
        members: &[&str],
    ) -> AdcpResult<Result<Uploaded, Refusal>> {
        let path = format!("/v1.3/advertiser/{advertiser}/custom_audience/upload");
        let body = json!({
            "audience_id": audience_id,
            "identifier_type": identifier_type,
            "members": members,
        });
        self.api.post(&path, &body).try_send().await
    }

    /// Adds items to a catalogue.
    pub(crate) async fn upload_items(
        &self,
        advertiser: &str,
        catalog_id: &str,
        items: &[Value],
    ) -> AdcpResult<Result<Value, Refusal>> {
        let path = format!("/v1.3/advertiser/{advertiser}/catalog/upload");
        let body = json!({"catalog_id": catalog_id, "items": items});
        self.api.post(&path, &body).try_send().await
    }

    /// Sends conversion events to a pixel.
    pub(crate) async fn track_events(
        &self,
        advertiser: &str,
        pixel_id: &str,
        events: &[Value],
    ) -> AdcpResult<Result<Tracked, Refusal>> {
        let path = format!("/v1.3/advertiser/{advertiser}/event/track");
        let body = json!({"pixel_id": pixel_id, "events": events});
        self.api.post(&path, &body).try_send().await
    }
}

/// An object the platform made: its id under the field the kind names (`audience_id`,
/// `catalog_id`, `creative_id`, `pixel_id`), and its status.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Made {
    /// The whole answer.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

impl Made {
    /// The platform's id of it, under `field`.
    pub(crate) fn id(&self, field: &str) -> AdcpResult<String> {
        self.fields
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| AdcpError::internal(format!("the platform's answer has no {field}")))
    }

    /// Its status, if the platform gave one.
    pub(crate) fn status(&self) -> Option<&str> {
        self.fields.get("status").and_then(Value::as_str)
    }
}

/// The platform's answer to an audience upload.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Uploaded {
    /// The audience's status after it (`active` once it has members).
    pub status: String,
}

/// The platform's answer to conversion events.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Tracked {
    /// Events it took.
    pub events_received: i64,
    /// Events it dropped (no identifier it could match).
    #[serde(default)]
    pub events_dropped: i64,
}

/// A platform refusal as an item's AdCP error: the platform's message (it speaks to the
/// buyer's data, not the seller's configuration), on `field`.
///
/// The platform's reason is the buyer's to read (a field it rejects), so it is passed on, cut
/// to one short line. A 409 is a conflict with what the platform holds, not a concurrent
/// change a retry would get past (`CONFLICT`): `VALIDATION_ERROR`.
pub(crate) fn refused(field: &str, r: &Refusal) -> AdcpError {
    let code = match r.status {
        404 => codes::REFERENCE_NOT_FOUND,
        _ => codes::VALIDATION_ERROR,
    };
    let reason: String = r
        .message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    AdcpError::new(code, format!("the platform refused it: {reason}")).with_field(field)
}

/// The `client_request_id` of the platform object the buyer's `id` (of `kind`) is in the
/// request's account; `version` tells apart creates of changed content.
fn request_id(ctx: &Ctx, kind: &str, id: &str, version: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}\n{kind}\n{id}\n{version}", ctx.scope()));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("adcp-{kind}-{hex}")
}
