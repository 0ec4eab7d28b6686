//! A built-in OAuth access-token verifier: JWTs (RFC 9068 style) signed by the issuer's keys,
//! which are fetched from its JWKS (found through its RFC 8414 metadata, else OpenID
//! discovery) and cached. A token is accepted when its signature verifies under a key of the
//! issuer (`RS256`, `PS256`, `ES256` or `EdDSA`; never `none`), `iss` is the issuer, `aud`
//! names the resource URL called (RFC 8707), and `exp` (required), `nbf` and `iat` hold within
//! the clock skew allowed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::auth::TokenVerifier;
use crate::store::{BoxFuture, Principal};

/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(600);
/// The shortest wait between two fetches a token with an unknown `kid` may cause.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// Verifies JWT access tokens of one issuer; give it to [`Auth::oauth`](crate::Auth::oauth).
///
/// ```
/// use std::sync::Arc;
/// use adcp_runtime::{Auth, JwtVerifier};
///
/// let issuer = "https://auth.example";
/// let auth = Auth::new().oauth(issuer, Arc::new(JwtVerifier::new(issuer)));
/// # let _ = auth;
/// ```
pub struct JwtVerifier {
    issuer: String,
    jwks_uri: Option<String>,
    leeway: Duration,
    principal_claim: String,
    http: reqwest::Client,
    keys: std::sync::RwLock<Keys>,
    /// Held by the one caller fetching the keys; never across a verification.
    refresh: Mutex<()>,
}

/// The keys in use, swapped whole by a refresh; read without waiting for one.
#[derive(Default)]
struct Keys {
    jwks: Arc<Vec<Jwk>>,
    /// When they are to be fetched again (`None`: never fetched).
    stale_at: Option<Instant>,
    /// The earliest refetch a token naming an unknown key may cause.
    retry_at: Option<Instant>,
    /// Bumped by every fetch, so a caller that waited for one sees it happened.
    generation: u64,
    jwks_uri: Option<String>,
}

/// One usable key of the JWKS.
struct Jwk {
    kid: Option<String>,
    /// The JWS algorithms it verifies.
    algs: &'static [&'static str],
    key: Key,
}

enum Key {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// SEC1 uncompressed P-256 point.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.jwks_uri)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Tokens of `issuer` (its URL, as in the tokens' `iss`), its keys found from its metadata
    /// at `<issuer>/.well-known/oauth-authorization-server` (or `openid-configuration`).
    /// Clock skew of 60 s; the principal is the `sub` claim.
    pub fn new(issuer: impl Into<String>) -> JwtVerifier {
        crate::tls::install_provider();
        JwtVerifier {
            issuer: issuer.into(),
            jwks_uri: None,
            leeway: Duration::from_secs(60),
            principal_claim: "sub".into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .unwrap_or_default(),
            keys: std::sync::RwLock::new(Keys::default()),
            refresh: Mutex::new(()),
        }
    }

    /// The JWKS at `uri` instead of the one the issuer's metadata names.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> JwtVerifier {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// The clock skew allowed on `exp`, `nbf` and `iat`.
    pub fn leeway(mut self, leeway: Duration) -> JwtVerifier {
        self.leeway = leeway;
        self
    }

    /// The claim naming the principal (`sub` by default; `client_id` for client-credential
    /// tokens of some issuers).
    pub fn principal_claim(mut self, claim: impl Into<String>) -> JwtVerifier {
        self.principal_claim = claim.into();
        self
    }

    async fn get_json(&self, url: &str) -> Option<Value> {
        let r = self.http.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        serde_json::from_slice(&r.bytes().await.ok()?).ok()
    }

    /// The issuer's JWKS URL: configured, else from its metadata (RFC 8414 puts the
    /// well-known segment before the issuer's path; OpenID discovery appends it).
    async fn discover(&self) -> Option<String> {
        if let Some(u) = &self.jwks_uri {
            return Some(u.clone());
        }
        let issuer = url::Url::parse(&self.issuer).ok()?;
        let origin = issuer.origin().ascii_serialization();
        let path = issuer.path().trim_end_matches('/');
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ];
        for url in candidates {
            if let Some(m) = self.get_json(&url).await
                && m.get("issuer").and_then(Value::as_str) == Some(self.issuer.as_str())
                && let Some(u) = m.get("jwks_uri").and_then(Value::as_str)
            {
                return Some(u.to_owned());
            }
        }
        None
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The keys to check a token of `alg` (and `kid`) with: the cached ones, fetched again
    /// when stale, or when none fits (at most every 30 s). One caller fetches; the others keep
    /// using the keys they have, and wait only when they have none that fit.
    async fn keys(&self, kid: Option<&str>, alg: &str) -> Arc<Vec<Jwk>> {
        let now = Instant::now();
        let (current, generation, stale, may_retry) = {
            let k = self.read();
            let stale = k.stale_at.is_none_or(|t| now >= t);
            let may_retry = k.retry_at.is_none_or(|t| now >= t);
            (k.jwks.clone(), k.generation, stale, may_retry)
        };
        let fits = current
            .iter()
            .any(|j| j.algs.contains(&alg) && kid.is_none_or(|kid| j.kid.as_deref() == Some(kid)));
        if !(stale || (!fits && may_retry)) {
            return current;
        }
        let _fetching = if fits {
            match self.refresh.try_lock() {
                Ok(g) => g,
                Err(_) => return current,
            }
        } else {
            self.refresh.lock().await
        };
        if self.read().generation != generation {
            return self.read().jwks.clone();
        }
        let known_uri = self.read().jwks_uri.clone();
        let uri = match known_uri {
            Some(u) => Some(u),
            None => self.discover().await,
        };
        let fetched = match &uri {
            Some(u) => self.get_json(u).await.map(|set| parse_jwks(&set)),
            None => None,
        };
        let mut k = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let after = Instant::now();
        k.generation += 1;
        k.retry_at = Some(after + REFETCH_AFTER);
        k.jwks_uri = uri;
        match fetched {
            Some(keys) => {
                k.jwks = Arc::new(keys);
                k.stale_at = Some(after + KEYS_TTL);
            }
            None => {
                // Kept as they were, and tried again soon.
                tracing::warn!(issuer = %self.issuer, "the issuer's JWKS could not be fetched");
                k.stale_at = Some(after + REFETCH_AFTER);
            }
        }
        k.jwks.clone()
    }

    /// The principal of `token` for `resource`, or why not (logged, never answered).
    async fn check(&self, token: &str, resource: &str) -> Result<Principal, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a compact JWS");
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: Value = b64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the header is not base64url JSON")?;
        let alg = header.get("alg").and_then(Value::as_str).ok_or("no alg")?;
        if header.get("crit").is_some() {
            return Err("critical header parameters are not understood");
        }
        let sig = b64
            .decode(s)
            .map_err(|_| "the signature is not base64url")?;
        let kid = header.get("kid").and_then(Value::as_str);
        let keys = self.keys(kid, alg).await;
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        let verified = keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
            .filter(|k| k.algs.contains(&alg))
            .any(|k| k.verify(alg, signed, &sig));
        if !verified {
            return Err("the signature does not verify under the issuer's keys");
        }
        let claims: Value = b64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the claims are not base64url JSON")?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err("iss is not the issuer");
        }
        let audience = match claims.get("aud") {
            Some(Value::String(a)) => a == resource,
            Some(Value::Array(a)) => a.iter().any(|a| a.as_str() == Some(resource)),
            _ => false,
        };
        if !audience {
            return Err("aud does not name this resource");
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let skew = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let at = |name| claims.get(name).and_then(Value::as_i64);
        match at("exp") {
            Some(exp) if now <= exp.saturating_add(skew) => {}
            Some(_) => return Err("the token has expired"),
            None => return Err("the token has no exp"),
        }
        if at("nbf").is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err("the token is not valid yet");
        }
        if at("iat").is_some_and(|iat| iat > now.saturating_add(skew)) {
            return Err("the token was issued in the future");
        }
        let id = claims
            .get(&self.principal_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("the token names no principal")?;
        Ok(Principal { id: id.to_owned() })
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str, resource: &'a str) -> BoxFuture<'a, Option<Principal>> {
        Box::pin(async move {
            match self.check(token, resource).await {
                Ok(p) => Some(p),
                Err(why) => {
                    tracing::info!(issuer = %self.issuer, reason = why, "access token refused");
                    None
                }
            }
        })
    }
}

/// The keys of a JWKS this verifier can use; others (encryption keys, other curves) are left
/// out.
fn parse_jwks(set: &Value) -> Vec<Jwk> {
    let b64 = |k: &Value, m: &str| {
        k.get(m).and_then(Value::as_str).and_then(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v)
                .ok()
        })
    };
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    keys.iter()
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .filter_map(|k| {
            let (algs, key): (&'static [&'static str], Key) = match (
                k.get("kty").and_then(Value::as_str)?,
                k.get("crv").and_then(Value::as_str),
            ) {
                ("RSA", _) => (
                    &["RS256", "PS256"],
                    Key::Rsa {
                        n: b64(k, "n")?,
                        e: b64(k, "e")?,
                    },
                ),
                ("EC", Some("P-256")) => {
                    let (x, y) = (b64(k, "x")?, b64(k, "y")?);
                    if x.len() != 32 || y.len() != 32 {
                        return None;
                    }
                    let mut point = vec![4];
                    point.extend(x);
                    point.extend(y);
                    (&["ES256"], Key::P256(point))
                }
                ("OKP", Some("Ed25519")) => (&["EdDSA"], Key::Ed25519(b64(k, "x")?)),
                _ => return None,
            };
            // A key naming its algorithm verifies only that one.
            let algs = match k.get("alg").and_then(Value::as_str) {
                Some(a) => ALGS
                    .iter()
                    .find(|x| **x == a && algs.contains(*x))
                    .map(std::slice::from_ref)?,
                None => algs,
            };
            Some(Jwk {
                kid: k.get("kid").and_then(Value::as_str).map(str::to_owned),
                algs,
                key,
            })
        })
        .collect()
}

static ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

impl Jwk {
    fn verify(&self, alg: &str, message: &[u8], sig: &[u8]) -> bool {
        match (&self.key, alg) {
            (Key::Rsa { n, e }, "RS256" | "PS256") => {
                let params = if alg == "RS256" {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            (Key::P256(point), "ES256") => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (Key::Ed25519(x), "EdDSA") => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use serde_json::json;

    /// A local issuer: RFC 8414 metadata and a JWKS that can be swapped (key rotation).
    async fn issuer(jwks: Arc<std::sync::Mutex<Value>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let meta = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")});
        let app = axum::Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                axum::routing::get(move || async move { axum::Json(meta) }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || async move { axum::Json(jwks.lock().unwrap().clone()) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    fn token(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let sig = key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64.encode(sig))
    }

    #[tokio::test]
    async fn tokens_of_the_issuer_for_this_resource_are_accepted_and_no_others() {
        let old = SigningKey::generate_ed25519("k1").unwrap();
        let jwks = Arc::new(std::sync::Mutex::new(json!({"keys": [old.public_jwk()]})));
        let iss = issuer(jwks.clone()).await;
        let verifier = JwtVerifier::new(iss.clone());
        let resource = "https://seller.example/mcp";
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims =
            json!({"iss": iss, "aud": [resource], "sub": "buyer-7", "exp": now + 300, "iat": now});
        let header = json!({"alg": "EdDSA", "kid": "k1", "typ": "at+jwt"});
        let good = token(&old, &header, &claims);
        let p = verifier.verify(&good, resource).await.expect("accepted");
        assert_eq!(p.id, "buyer-7");

        let refused = |claims: Value| token(&old, &header, &claims);
        let mut other_aud = claims.clone();
        other_aud["aud"] = json!("https://other.example/mcp");
        let mut expired = claims.clone();
        expired["exp"] = json!(now - 120);
        let mut no_exp = claims.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        let mut other_iss = claims.clone();
        other_iss["iss"] = json!("https://evil.example");
        let mut early = claims.clone();
        early["nbf"] = json!(now + 600);
        for (why, t) in [
            ("another audience", refused(other_aud)),
            ("expired", refused(expired)),
            ("no exp", refused(no_exp)),
            ("another issuer", refused(other_iss)),
            ("not yet valid", refused(early)),
        ] {
            assert!(verifier.verify(&t, resource).await.is_none(), "{why}");
        }
        // Forged: another key, `none`, a tampered payload.
        let stranger = SigningKey::generate_ed25519("k1").unwrap();
        assert!(
            verifier
                .verify(&token(&stranger, &header, &claims), resource)
                .await
                .is_none()
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none"}"#),
            b64.encode(claims.to_string())
        );
        assert!(verifier.verify(&none, resource).await.is_none());
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut admin = claims.clone();
        admin["sub"] = json!("admin");
        let tampered = format!("{head}.{}.{sig}", b64.encode(admin.to_string()));
        assert!(verifier.verify(&tampered, resource).await.is_none());
        // Skew within the leeway is tolerated.
        let mut just_expired = claims.clone();
        just_expired["exp"] = json!(now - 10);
        assert!(
            verifier
                .verify(&refused(just_expired), resource)
                .await
                .is_some()
        );

        // The issuer rotates to a new key: a token naming it makes the keys be fetched again
        // (not more often than every 30 s, so the test backdates the last fetch).
        let new = SigningKey::generate_ed25519("k2").unwrap();
        *jwks.lock().unwrap() = json!({"keys": [new.public_jwk()]});
        verifier.keys.write().unwrap().retry_at = Some(Instant::now() - REFETCH_AFTER);
        let rotated = token(&new, &json!({"alg": "EdDSA", "kid": "k2"}), &claims);
        assert_eq!(
            verifier
                .verify(&rotated, resource)
                .await
                .map(|p| p.id)
                .as_deref(),
            Some("buyer-7")
        );
    }
}
