//! Who is calling. Credentials come in `Authorization: Bearer <token>` (or the MCP-only legacy
//! alias `x-adcp-auth`); a token is an API key the operator configured, kept only as its
//! sha256 and compared in constant time against every key. The principal a key maps to is what
//! handlers see (`ctx.principal()`); the token itself is never logged or echoed.
//!
//! With authentication configured, every task but the public ones (`get_adcp_capabilities` by
//! default) needs a valid credential: without one the answer is HTTP 401 with
//! `WWW-Authenticate: Bearer realm=..., resource_metadata=...` (and `error="invalid_token"` when
//! a credential was presented but is not valid). When an OAuth authorization server is
//! configured, the RFC 9728 protected-resource metadata names it at
//! `/.well-known/oauth-protected-resource/mcp` (and `/a2a`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::sync::Arc;

use crate::error::{AdcpError, codes};
use crate::jsonrpc;
use crate::store::BoxFuture;
use crate::store::Principal;

/// Authentication settings: API keys (kept as sha256), and OAuth tokens through a verifier.
///
/// ```
/// use adcp_runtime::{Auth, Config};
///
/// let auth = Auth::new()
///     .key("buyer-one", "a-key-of-at-least-16-characters")?
///     .public_task("get_products");
/// let config = Config { auth: Some(auth), ..Config::default() };
/// # let _ = config;
/// # Ok::<_, adcp_runtime::ApiKeyError>(())
/// ```
#[derive(Clone, Default)]
pub struct Auth {
    keys: Vec<(Principal, [u8; 32])>,
    authorization_servers: Vec<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    public: Vec<String>,
}

/// Checks OAuth access tokens (a JWT library against the issuer's JWKS, or introspection).
pub trait TokenVerifier: Send + Sync + 'static {
    /// The principal of a valid token for `resource` (the URL called), `None` otherwise.
    fn verify<'a>(&'a self, token: &'a str, resource: &'a str) -> BoxFuture<'a, Option<Principal>>;
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("keys", &self.keys.len())
            .field("authorization_servers", &self.authorization_servers)
            .field("public", &self.public)
            .finish()
    }
}

/// Why a key could not be added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiKeyError {
    /// Shorter than 16 characters.
    #[error("an API key needs at least {MIN_KEY_LEN} characters")]
    TooShort,
    /// Not 64 hex digits.
    #[error("a key hash is 64 hex digits (sha256)")]
    BadHash,
}

/// The shortest API key accepted (guessing one must be hopeless).
pub(crate) const MIN_KEY_LEN: usize = 16;

/// What the credentials of a request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No credential.
    Anonymous,
    /// A valid credential of this principal.
    Authenticated(Principal),
    /// A credential that is not valid.
    Invalid,
    /// A grant an account issued ([`Grant`](crate::Grant)): no principal of its own, one call
    /// on one resource as its issuer.
    Granted(crate::grants::Grant),
}

impl Caller {
    /// The principal, if authenticated.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Authenticated(p) => Some(p),
            _ => None,
        }
    }

    /// The grant presented, if that is what the credential was.
    pub fn grant(&self) -> Option<&crate::grants::Grant> {
        match self {
            Caller::Granted(g) => Some(g),
            _ => None,
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// Authentication with no keys yet: every protected task is refused until keys are added.
    pub fn new() -> Self {
        Auth {
            public: vec!["get_adcp_capabilities".to_owned()],
            ..Auth::default()
        }
    }

    /// Accepts `key` for `principal`. Only its sha256 is kept.
    pub fn key(mut self, principal: impl Into<String>, key: &str) -> Result<Self, ApiKeyError> {
        if key.len() < MIN_KEY_LEN {
            return Err(ApiKeyError::TooShort);
        }
        self.keys.push((
            Principal {
                id: principal.into(),
            },
            digest(key),
        ));
        Ok(self)
    }

    /// Accepts the key whose sha256 is `hex` for `principal` (so configuration need not hold
    /// the key itself).
    pub fn key_sha256(
        mut self,
        principal: impl Into<String>,
        hex: &str,
    ) -> Result<Self, ApiKeyError> {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .filter_map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect();
        let hash: [u8; 32] = bytes.try_into().map_err(|_| ApiKeyError::BadHash)?;
        if hex.len() != 64 {
            return Err(ApiKeyError::BadHash);
        }
        self.keys.push((
            Principal {
                id: principal.into(),
            },
            hash,
        ));
        Ok(self)
    }

    /// Accepts OAuth access tokens issued by `issuer`, checked by `verifier` (signature, `iss`,
    /// `aud` equal to the resource URL, expiry), and advertises the issuer in the RFC 9728
    /// protected-resource metadata. Tokens that are not API keys go to the verifier.
    pub fn oauth(mut self, issuer: impl Into<String>, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.authorization_servers.push(issuer.into());
        self.verifier = Some(verifier);
        self
    }

    /// Also answers `task` without credentials.
    pub fn public_task(mut self, task: impl Into<String>) -> Self {
        self.public.push(task.into());
        self
    }

    /// Whether `task` needs no credentials.
    pub fn is_public(&self, task: &str) -> bool {
        self.public.iter().any(|t| t == task)
    }

    /// The advertised authorization servers.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// Who a token belongs to. Every key is compared, in constant time, whatever matches.
    pub fn check(&self, token: &str) -> Caller {
        let presented = digest(token);
        let mut found: Option<&Principal> = None;
        for (principal, hash) in &self.keys {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(principal);
            }
        }
        found.map_or(Caller::Invalid, |p| Caller::Authenticated(p.clone()))
    }

    /// The caller of a request with these headers to `resource`: an API key, else an OAuth
    /// token the verifier accepts.
    pub async fn caller(&self, headers: &HeaderMap, legacy_alias: bool, resource: &str) -> Caller {
        let Some(token) = bearer(headers, legacy_alias) else {
            return Caller::Anonymous;
        };
        match (self.check(token), &self.verifier) {
            (Caller::Invalid, Some(v)) => match v.verify(token, resource).await {
                // A token's subject never passes for an API key's principal, or for the
                // anonymous caller: their tasks, accounts and limits are not its.
                Some(p)
                    if p.id == crate::accounts::ANONYMOUS
                        || self.keys.iter().any(|(k, _)| k.id == p.id) =>
                {
                    tracing::warn!(principal = %p.id, "an access token names a principal reserved for API keys; refused");
                    Caller::Invalid
                }
                Some(p) => Caller::Authenticated(p),
                None => Caller::Invalid,
            },
            (caller, _) => caller,
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer <token>`, or with `legacy_alias` the
/// MCP-only `x-adcp-auth: <token>`.
pub(crate) fn bearer(headers: &HeaderMap, legacy_alias: bool) -> Option<&str> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    authorization
        .or_else(|| {
            legacy_alias
                .then(|| headers.get("x-adcp-auth").and_then(|v| v.to_str().ok()))
                .flatten()
                .map(str::trim)
        })
        .filter(|t| !t.is_empty())
}

/// The `WWW-Authenticate` value of a 401 for the resource at `resource_url`, naming its RFC 9728
/// metadata when it has some.
pub(crate) fn challenge(
    resource_url: &str,
    metadata_url: Option<&str>,
    caller: &Caller,
) -> HeaderValue {
    let quote = |s: &str| s.replace(['"', '\\'], "");
    let mut v = format!("Bearer realm=\"{}\"", quote(resource_url));
    if let Some(m) = metadata_url {
        v.push_str(&format!(", resource_metadata=\"{}\"", quote(m)));
    }
    if *caller == Caller::Invalid {
        v.push_str(", error=\"invalid_token\"");
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// Where the RFC 9728 metadata of the resource at `resource_url` lives: the well-known prefix
/// inserted before the resource's path (`https://a.example/mcp` ->
/// `https://a.example/.well-known/oauth-protected-resource/mcp`).
pub(crate) fn metadata_url(resource_url: &str) -> String {
    match url::Url::parse(resource_url) {
        Ok(u) => {
            let origin = u.origin().ascii_serialization();
            format!(
                "{origin}/.well-known/oauth-protected-resource{}",
                u.path().trim_end_matches('/')
            )
        }
        Err(_) => resource_url.to_owned(),
    }
}

/// The RFC 9728 protected-resource metadata document of `resource_url`.
pub(crate) fn metadata(auth: &Auth, resource_url: &str) -> Value {
    json!({
        "resource": resource_url,
        "authorization_servers": auth.authorization_servers,
        "bearer_methods_supported": ["header"],
    })
}

/// The 401 for a protected call without a valid credential: `WWW-Authenticate` per RFC 6750
/// and RFC 9728, and a JSON-RPC error carrying `AUTH_REQUIRED` (and the caller's `context`).
pub(crate) fn unauthorized(
    auth: &Auth,
    resource_url: &str,
    caller: &Caller,
    id: &Value,
    context: Option<&Value>,
) -> Response {
    let message = if *caller == Caller::Invalid {
        "the credentials are not valid"
    } else {
        "this task needs credentials: send `Authorization: Bearer <token>`"
    };
    let e = AdcpError::new(codes::AUTH_REQUIRED, message).with_field("Authorization");
    let body = jsonrpc::adcp_error(id, jsonrpc::INVALID_REQUEST, &e, context);
    let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        challenge(
            resource_url,
            (!auth.authorization_servers.is_empty())
                .then(|| metadata_url(resource_url))
                .as_deref(),
            caller,
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_hashed_and_matched_whole() {
        let auth = Auth::new()
            .key("buyer-a", "key-of-buyer-a-0123456789")
            .unwrap()
            .key_sha256(
                "buyer-b",
                &Sha256::digest(b"key-of-buyer-b-0123456789")
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            )
            .unwrap();
        assert!(!format!("{auth:?}").contains("key-of"), "never printed");
        assert_eq!(
            auth.check("key-of-buyer-a-0123456789"),
            Caller::Authenticated(Principal {
                id: "buyer-a".into()
            })
        );
        assert_eq!(
            auth.check("key-of-buyer-b-0123456789")
                .principal()
                .map(|p| p.id.as_str()),
            Some("buyer-b")
        );
        assert_eq!(auth.check("key-of-buyer-a-012345678"), Caller::Invalid);
        assert_eq!(auth.check(""), Caller::Invalid);
        assert_eq!(
            Auth::new().key("p", "short").err(),
            Some(ApiKeyError::TooShort)
        );
        assert!(Auth::new().key_sha256("p", "abc").is_err());
    }

    #[test]
    fn bearer_and_the_legacy_alias() {
        let mut h = HeaderMap::new();
        h.insert("x-adcp-auth", HeaderValue::from_static("tok-alias"));
        assert_eq!(bearer(&h, true), Some("tok-alias"));
        assert_eq!(bearer(&h, false), None, "A2A does not take the alias");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer tok-main"),
        );
        assert_eq!(bearer(&h, true), Some("tok-main"), "Authorization wins");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        assert_eq!(bearer(&h, false), None);
    }

    #[test]
    fn metadata_lives_under_the_well_known_prefix() {
        assert_eq!(
            metadata_url("https://seller.example/mcp"),
            "https://seller.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:3000/a2a/"),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource/a2a"
        );
    }

    #[test]
    fn the_challenge_names_realm_metadata_and_error() {
        let c = challenge(
            "https://seller.example/mcp",
            Some("https://seller.example/.well-known/oauth-protected-resource/mcp"),
            &Caller::Invalid,
        );
        assert_eq!(
            c.to_str().unwrap(),
            "Bearer realm=\"https://seller.example/mcp\", resource_metadata=\"https://seller.example/.well-known/oauth-protected-resource/mcp\", error=\"invalid_token\""
        );
    }
}
