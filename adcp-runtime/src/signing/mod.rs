//! RFC 9421 HTTP message signatures, AdCP profile: verifying signed requests (the seller's side)
//! and signed webhooks (the buyer's side), and signing outbound webhooks.
//!
//! The profile is narrow: components `@method`, `@target-uri` (canonicalised, see
//! [`canonicalize`]), `@authority`, `content-type` when there is a body and `content-digest` as
//! the verifier's policy says; parameters `created`, `expires` (at most 300 s later), `nonce`
//! (at least 128 bits, base64url), `keyid`, `alg` (`ed25519` or `ecdsa-p256-sha256`) and a
//! fixed `tag`. Verification runs the checklist in the specification's order and stops at the
//! first failure, whose stable code goes out as `WWW-Authenticate: Signature error="<code>"`.
//! Revocation and the per-key cap are checked before any signature arithmetic, so neither a
//! revoked key nor a flooding signer can make the verifier do expensive work; a nonce is
//! burned only once its signature has verified.

mod canonical;
pub mod governance;
mod header;
mod json;
mod keys;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

pub use crate::store::{MemoryNonceStore, NonceStore, Recorded};
pub use canonical::{Canonical, Malformed as TargetUriMalformed, canonicalize};
pub use keys::{KeyError, SigningKey};

use crate::store::Principal;

/// The `tag` of signed requests.
pub const REQUEST_TAG: &str = "adcp/request-signing/v1";
/// The `tag` of signed webhooks.
pub const WEBHOOK_TAG: &str = "adcp/webhook-signing/v1";
/// The longest a signature may be valid: `expires - created`.
pub const MAX_WINDOW_SECS: i64 = 300;
/// Clock skew tolerated either way.
pub const SKEW_SECS: i64 = 60;
/// Live nonces one key may hold (the specification's recommendation).
pub const DEFAULT_CAP: u64 = 1_000_000;

/// Whether signatures must, may or must not cover `content-digest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestPolicy {
    /// Every signed request with a body covers it (binds the body).
    Required,
    /// Either way.
    Either,
    /// Never (for transports that rewrite bodies; AdCP 3.0/3.1 only).
    Forbidden,
}

impl DigestPolicy {
    /// The capability value.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestPolicy::Required => "required",
            DigestPolicy::Either => "either",
            DigestPolicy::Forbidden => "forbidden",
        }
    }
}

impl std::str::FromStr for DigestPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "required" => Ok(DigestPolicy::Required),
            "either" => Ok(DigestPolicy::Either),
            "forbidden" => Ok(DigestPolicy::Forbidden),
            other => Err(format!("`{other}`: expected required, either or forbidden")),
        }
    }
}

/// Which signing profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Requests to an agent.
    Request,
    /// Webhooks from an agent.
    Webhook,
}

impl Profile {
    fn tag(self) -> &'static str {
        match self {
            Profile::Request => REQUEST_TAG,
            Profile::Webhook => WEBHOOK_TAG,
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            Profile::Request => "request",
            Profile::Webhook => "webhook",
        }
    }
}

/// Why a signature was refused, by checklist step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Unsigned where a signature is required (step 0).
    Required,
    /// `Signature`/`Signature-Input` missing one of the pair, or malformed (step 1).
    HeaderMalformed,
    /// The target URI or authority is malformed, or they disagree.
    TargetUriMalformed,
    /// A required parameter is absent (step 2).
    ParamsIncomplete,
    /// Wrong `tag` (step 3).
    TagInvalid,
    /// `alg` outside the allowlist (step 4).
    AlgNotAllowed,
    /// Expired, not yet valid or too long (step 5).
    WindowInvalid,
    /// A required component is not covered (step 6).
    ComponentsIncomplete,
    /// A component the policy forbids is covered (step 6).
    ComponentsUnexpected,
    /// No key with this `keyid` (step 7).
    KeyUnknown,
    /// The key is not for this purpose or algorithm (step 8).
    KeyPurposeInvalid,
    /// The key is revoked (step 9).
    KeyRevoked,
    /// The key holds its cap of live nonces (step 9a).
    RateAbuse,
    /// The signature does not verify (step 10).
    Invalid,
    /// `Content-Digest` does not match the body (step 11).
    DigestMismatch,
    /// The nonce was used already (step 12).
    Replayed,
    /// The body repeats an object key (step 14).
    BodyMalformed,
    /// The replay cache could not be reached (retry).
    Unavailable,
}

impl Failure {
    /// The stable code under `profile`, e.g. `request_signature_invalid`.
    pub fn code(self, profile: Profile) -> String {
        let p = profile.prefix();
        let tail = match self {
            Failure::Required => "signature_required",
            Failure::HeaderMalformed => "signature_header_malformed",
            Failure::TargetUriMalformed => "target_uri_malformed",
            Failure::ParamsIncomplete => "signature_params_incomplete",
            Failure::TagInvalid => "signature_tag_invalid",
            Failure::AlgNotAllowed => "signature_alg_not_allowed",
            Failure::WindowInvalid => "signature_window_invalid",
            Failure::ComponentsIncomplete => "signature_components_incomplete",
            Failure::ComponentsUnexpected => "signature_components_unexpected",
            Failure::KeyUnknown => "signature_key_unknown",
            Failure::KeyPurposeInvalid => "signature_key_purpose_invalid",
            Failure::KeyRevoked => "signature_key_revoked",
            Failure::RateAbuse => "signature_rate_abuse",
            Failure::Invalid => "signature_invalid",
            Failure::DigestMismatch => "signature_digest_mismatch",
            Failure::Replayed => "signature_replayed",
            Failure::BodyMalformed => "body_malformed",
            Failure::Unavailable => "signature_jwks_unavailable",
        };
        format!("{p}_{tail}")
    }
}

/// A refused signature: the failure, and a reason for the log (never sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// What failed.
    pub failure: Failure,
    /// Why, for the operator's log.
    pub reason: &'static str,
}

fn reject<T>(failure: Failure, reason: &'static str) -> Result<T, Rejection> {
    Err(Rejection { failure, reason })
}

/// The verified signer of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// The key that signed.
    pub keyid: String,
    /// Whom the key belongs to.
    pub principal: Principal,
}

/// A request (or webhook) as received.
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The absolute URL it was sent to: scheme, the `Host` authority, path and query.
    pub url: &'a str,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body bytes.
    pub body: &'a [u8],
}

#[derive(Clone, Debug)]
struct Trusted {
    key: keys::PublicKey,
    principal: Principal,
    cap: u64,
}

/// The keys a verifier trusts, the revoked ones among them, and the per-key nonce caps.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, Trusted>,
    revoked: HashSet<String>,
}

impl KeySet {
    /// Trusts every key of `jwks` (`{"keys": [...]}`) as `principal`'s, each holding at most
    /// `cap` live nonces. Members other than the public ones are ignored.
    pub fn add_jwks(
        &mut self,
        principal: &Principal,
        jwks: &Value,
        cap: u64,
    ) -> Result<(), KeyError> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::Invalid {
                kid: "?".into(),
                why: "a JWKS is an object with a `keys` array",
            })?;
        for jwk in keys {
            let key = keys::PublicKey::from_jwk(jwk)?;
            self.keys.insert(
                key.kid.clone(),
                Trusted {
                    key,
                    principal: principal.clone(),
                    cap,
                },
            );
        }
        Ok(())
    }

    /// Marks `kid` revoked: every signature it made is refused.
    pub fn revoke(&mut self, kid: impl Into<String>) {
        self.revoked.insert(kid.into());
    }

    /// The number of trusted keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Request-signing settings of an agent: whose keys to trust, what to require.
///
/// ```
/// use adcp_runtime::signing::{DigestPolicy, KeySet, RequestSigning};
/// use adcp_runtime::{Config, Principal};
///
/// let mut keys = KeySet::default();
/// let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
///     "kid": "buyer-2026", "use": "sig", "key_ops": ["verify"], "adcp_use": "request-signing",
///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
/// keys.add_jwks(&Principal { id: "buyer".into() }, &jwks, 1_000)?;
/// let signing = RequestSigning::new(keys)
///     .covers_content_digest(DigestPolicy::Required)
///     .require_for("create_media_buy");
/// let config = Config { request_signing: Some(signing), ..Config::default() };
/// # let _ = config;
/// # Ok::<_, adcp_runtime::signing::KeyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequestSigning {
    keys: KeySet,
    required_for: Vec<String>,
    digest: DigestPolicy,
}

impl Default for RequestSigning {
    fn default() -> Self {
        RequestSigning::new(KeySet::default())
    }
}

impl RequestSigning {
    /// Verifies signatures made by `keys`; content-digest coverage optional; nothing required.
    pub fn new(keys: KeySet) -> Self {
        RequestSigning {
            keys,
            required_for: Vec::new(),
            digest: DigestPolicy::Either,
        }
    }

    /// Refuses unsigned calls of `operation` from callers without another credential.
    pub fn require_for(mut self, operation: impl Into<String>) -> Self {
        self.required_for.push(operation.into());
        self
    }

    /// Sets the content-digest policy.
    pub fn covers_content_digest(mut self, policy: DigestPolicy) -> Self {
        self.digest = policy;
        self
    }

    /// The `request_signing` capability block; `served` names the agent's tasks.
    pub fn capability(&self, served: &[&str]) -> Value {
        let supported: Vec<&str> = served
            .iter()
            .copied()
            .filter(|t| *t != "get_adcp_capabilities")
            .collect();
        json!({
            "supported": true,
            "covers_content_digest": self.digest.as_str(),
            "required_for": self.required_for,
            "supported_for": supported,
        })
    }

    /// Checks a request for `operation` (when known). `Ok(None)`: unsigned and allowed (the
    /// caller's other credentials decide); `Ok(Some)`: a verified signer.
    pub async fn verify(
        &self,
        req: Incoming<'_>,
        operation: Option<&str>,
        otherwise_authenticated: bool,
        nonces: &dyn NonceStore,
        now: i64,
    ) -> Result<Option<Signer>, Rejection> {
        let has_input = req.headers.contains_key("signature-input");
        let has_sig = req.headers.contains_key("signature");
        if !has_input && !has_sig {
            if operation.is_some_and(|op| self.required_for.iter().any(|r| r == op))
                && !otherwise_authenticated
            {
                return reject(Failure::Required, "the operation requires a signature");
            }
            if registers_webhook_credentials(req.body) {
                return reject(
                    Failure::Required,
                    "a request carrying webhook credentials must be signed",
                );
            }
            return Ok(None);
        }
        let policy = Policy {
            profile: Profile::Request,
            digest: self.digest,
        };
        verify(policy, req, &self.keys, nonces, now).await.map(Some)
    }
}

/// Verifies a signed webhook (the buyer's side): content-digest always covered, the webhook
/// tag, keys published for request signing (or the deprecated webhook-signing purpose).
pub async fn verify_webhook(
    req: Incoming<'_>,
    keys: &KeySet,
    nonces: &dyn NonceStore,
    now: i64,
) -> Result<Signer, Rejection> {
    let policy = Policy {
        profile: Profile::Webhook,
        digest: DigestPolicy::Required,
    };
    verify(policy, req, keys, nonces, now).await
}

#[derive(Clone, Copy)]
struct Policy {
    profile: Profile,
    digest: DigestPolicy,
}

fn header_value(headers: &HeaderMap, name: &str) -> Result<Option<String>, Rejection> {
    let mut values = Vec::new();
    for v in headers.get_all(name) {
        match v.to_str() {
            Ok(s) => values.push(s.trim()),
            Err(_) => return reject(Failure::HeaderMalformed, "a header is not visible ASCII"),
        }
    }
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

fn malformed(e: header::Malformed) -> Rejection {
    Rejection {
        failure: Failure::HeaderMalformed,
        reason: e.0,
    }
}

async fn verify(
    policy: Policy,
    req: Incoming<'_>,
    keys: &KeySet,
    nonces: &dyn NonceStore,
    now: i64,
) -> Result<Signer, Rejection> {
    // Step 1: the pair, parsed strictly.
    let (Some(input), Some(sig)) = (
        header_value(req.headers, "signature-input")?,
        header_value(req.headers, "signature")?,
    ) else {
        return reject(
            Failure::HeaderMalformed,
            "Signature and Signature-Input come together",
        );
    };
    let input = header::signature_input(&input).map_err(malformed)?;
    let signature = header::signature(&sig, &input.label).map_err(malformed)?;
    if !req.url.is_ascii() {
        return reject(Failure::HeaderMalformed, "the host is not an A-label");
    }
    let covers = |c: &str| input.components.iter().any(|x| x == c);
    if covers("content-type")
        && header_value(req.headers, "content-type")?.is_some_and(|v| header::is_multi_valued(&v))
    {
        return reject(
            Failure::HeaderMalformed,
            "a covered Content-Type has several values",
        );
    }
    if covers("content-digest")
        && let Some(d) = header_value(req.headers, "content-digest")?
    {
        header::content_digest(&d).map_err(malformed)?;
    }
    // Step 2: every parameter.
    let (Some(created), Some(expires), Some(nonce), Some(keyid), Some(alg), Some(tag)) = (
        input.created,
        input.expires,
        input.nonce.as_deref(),
        input.keyid.as_deref(),
        input.alg.as_deref(),
        input.tag.as_deref(),
    ) else {
        return reject(
            Failure::ParamsIncomplete,
            "a signature parameter is missing",
        );
    };
    if header::nonce_bytes(nonce).is_none_or(|b| b.len() < 16) {
        return reject(
            Failure::HeaderMalformed,
            "the nonce is not 128+ bits of base64url",
        );
    }
    // Steps 3 to 5.
    if tag != policy.profile.tag() {
        return reject(Failure::TagInvalid, "wrong tag");
    }
    if !matches!(alg, "ed25519" | "ecdsa-p256-sha256") {
        return reject(Failure::AlgNotAllowed, "alg outside the allowlist");
    }
    if expires <= created
        || expires - created > MAX_WINDOW_SECS
        || now > expires + SKEW_SECS
        || now < created - SKEW_SECS
    {
        return reject(Failure::WindowInvalid, "outside the validity window");
    }
    // Step 6: components.
    for c in &input.components {
        if c.starts_with('@') && !matches!(c.as_str(), "@method" | "@target-uri" | "@authority") {
            return reject(
                Failure::ComponentsUnexpected,
                "a derived component outside the profile",
            );
        }
    }
    let body_present = !req.body.is_empty();
    if !["@method", "@target-uri", "@authority"]
        .iter()
        .all(|c| covers(c))
        || (body_present && !covers("content-type"))
    {
        return reject(
            Failure::ComponentsIncomplete,
            "a required component is not covered",
        );
    }
    match (policy.digest, covers("content-digest")) {
        (DigestPolicy::Required, false) if body_present || policy.profile == Profile::Webhook => {
            return reject(
                Failure::ComponentsIncomplete,
                "content-digest is not covered",
            );
        }
        (DigestPolicy::Forbidden, true) => {
            return reject(Failure::ComponentsUnexpected, "content-digest is covered");
        }
        _ => {}
    }
    // Steps 7 to 9a: the key, before any arithmetic.
    let Some(trusted) = keys.keys.get(keyid) else {
        return reject(Failure::KeyUnknown, "no such key");
    };
    let key = &trusted.key;
    let purpose_ok = match policy.profile {
        Profile::Request => key.adcp_use.as_deref() == Some("request-signing"),
        Profile::Webhook => matches!(
            key.adcp_use.as_deref(),
            Some("request-signing" | "webhook-signing")
        ),
    };
    if !purpose_ok || !key.sig_use || !key.verify_op || key.alg != Some(alg) {
        return reject(
            Failure::KeyPurposeInvalid,
            "the key is not for this purpose or alg",
        );
    }
    if keys.revoked.contains(keyid) {
        return reject(Failure::KeyRevoked, "the key is revoked");
    }
    let unavailable = |_| Rejection {
        failure: Failure::Unavailable,
        reason: "the replay cache is unavailable",
    };
    if nonces
        .full(keyid, now, trusted.cap)
        .await
        .map_err(unavailable)?
    {
        tracing::warn!(
            keyid,
            "a signing key reached its nonce cap: compromised or misbehaving signer"
        );
        return reject(Failure::RateAbuse, "the key holds its cap of live nonces");
    }
    // Step 10: the signature base.
    let target = canonicalize(req.url).map_err(|e| Rejection {
        failure: Failure::TargetUriMalformed,
        reason: e.0,
    })?;
    let mut base = String::new();
    for c in &input.components {
        let value = match c.as_str() {
            "@method" => req.method.to_ascii_uppercase(),
            "@target-uri" => target.target_uri.clone(),
            "@authority" => target.authority.clone(),
            name => match header_value(req.headers, name)? {
                Some(v) => v,
                None => return reject(Failure::ComponentsIncomplete, "a covered header is absent"),
            },
        };
        base.push_str(&format!("\"{c}\": {value}\n"));
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(&input.params_value);
    if !key.verify(alg, base.as_bytes(), &signature) {
        return reject(Failure::Invalid, "the signature does not verify");
    }
    // Step 11: the body.
    if covers("content-digest") {
        let field = header_value(req.headers, "content-digest")?.unwrap_or_default();
        let digests = header::content_digest(&field).map_err(malformed)?;
        if !digest_matches(&digests, req.body) {
            return reject(
                Failure::DigestMismatch,
                "Content-Digest does not match the body",
            );
        }
    }
    // Steps 12 and 13: burn the nonce.
    match nonces
        .record(keyid, nonce, expires + SKEW_SECS, now, trusted.cap)
        .await
        .map_err(unavailable)?
    {
        Recorded::Fresh => {}
        Recorded::Seen => return reject(Failure::Replayed, "the nonce was used already"),
        Recorded::Full => {
            return reject(Failure::RateAbuse, "the key holds its cap of live nonces");
        }
    }
    // Step 14: one meaning per body.
    if json::repeats_keys(req.body) {
        return reject(Failure::BodyMalformed, "the body repeats an object key");
    }
    Ok(Signer {
        keyid: keyid.to_owned(),
        principal: trusted.principal.clone(),
    })
}

fn digest_matches(digests: &[(String, Vec<u8>)], body: &[u8]) -> bool {
    let mut known = false;
    for (alg, value) in digests {
        let ok = match alg.as_str() {
            "sha-256" => Sha256::digest(body).as_slice() == value.as_slice(),
            "sha-512" => Sha512::digest(body).as_slice() == value.as_slice(),
            _ => continue,
        };
        if !ok {
            return false;
        }
        known = true;
    }
    known
}

/// Whether a body registers webhook credentials (`push_notification_config.authentication`,
/// `notification_configs[].authentication`): such requests must be signed, so that nobody on
/// the path can add or strip them.
fn registers_webhook_credentials(body: &[u8]) -> bool {
    fn credentials(cfg: &Value) -> bool {
        cfg.get("authentication")
            .and_then(Value::as_object)
            .is_some_and(|a| !a.is_empty())
    }
    fn walk(v: &Value, depth: u32) -> bool {
        if depth == 0 {
            return false;
        }
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| match k.as_str() {
                "push_notification_config" => credentials(v) || walk(v, depth - 1),
                "notification_configs" => v
                    .as_array()
                    .is_some_and(|a| a.iter().any(|c| credentials(c) || walk(c, depth - 1))),
                _ => walk(v, depth - 1),
            }),
            Value::Array(a) => a.iter().any(|v| walk(v, depth - 1)),
            _ => false,
        }
    }
    !body.is_empty() && serde_json::from_slice::<Value>(body).is_ok_and(|v| walk(&v, 64))
}

/// The headers that sign an outbound message: `Content-Digest`, `Signature-Input`,
/// `Signature`. A fresh nonce each call, so every retry is signed anew.
pub fn sign(
    key: &SigningKey,
    profile: Profile,
    method: &str,
    url: &str,
    content_type: &str,
    body: &[u8],
    now: i64,
) -> Result<Vec<(&'static str, String)>, TargetUriMalformed> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let target = canonicalize(url)?;
    let digest = format!("sha-256=:{}:", b64.encode(Sha256::digest(body)));
    let params = format!(
        "(\"@method\" \"@target-uri\" \"@authority\" \"content-type\" \"content-digest\");created={now};expires={};nonce=\"{}\";keyid=\"{}\";alg=\"{}\";tag=\"{}\"",
        now + MAX_WINDOW_SECS,
        keys::fresh_nonce(),
        key.kid(),
        key.alg(),
        profile.tag(),
    );
    let base = format!(
        "\"@method\": {}\n\"@target-uri\": {}\n\"@authority\": {}\n\"content-type\": {content_type}\n\"content-digest\": {digest}\n\"@signature-params\": {params}",
        method.to_ascii_uppercase(),
        target.target_uri,
        target.authority,
    );
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign(base.as_bytes()));
    Ok(vec![
        ("content-digest", digest),
        ("signature-input", format!("sig1={params}")),
        ("signature", format!("sig1=:{signature}:")),
    ])
}

/// The JWKS publishing `keys`.
pub fn jwks(keys: &[Arc<SigningKey>]) -> Value {
    json!({"keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>()})
}
