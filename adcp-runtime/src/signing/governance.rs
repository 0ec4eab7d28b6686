//! Governance attestations: the `governance_context` a governance agent hands out with an
//! approval is a compact JWS (`typ: adcp-gov+jws`), so that a seller, and anyone auditing the
//! buy later, can check offline which agent approved which plan, for whom, and until when.
//!
//! The token is signed with the agent's governance key (EdDSA or ES256), published at
//! `/.well-known/jwks.json` beside its webhook key with `adcp_use: governance-signing`. Its
//! claims: `iss` (the agent), `sub` (the plan), `aud` (the agent that asked, when it said),
//! `iat`, `exp`, `jti`, `phase`, `check_id`, `plan_hash` (SHA-256 of the plan's canonical JSON,
//! base64url), `caller` and, for a buy already made, `media_buy_id`.
//!
//! ```
//! use adcp_runtime::signing::{SigningKey, governance::{Attestation, verify}};
//! use adcp_runtime::serde_json::json;
//!
//! let key = SigningKey::generate_ed25519("gov-1").unwrap().for_use("governance-signing");
//! let token = Attestation {
//!     issuer: "https://governance.example",
//!     plan_id: "plan_q2",
//!     plan: &json!({"plan_id": "plan_q2", "budget": {"total": 50000}}),
//!     audience: Some("https://seller.example"),
//!     phase: "purchase",
//!     check_id: "chk_1",
//!     media_buy_id: None,
//!     issued_at: 1_800_000_000,
//!     expires_at: 1_800_003_600,
//! }
//! .sign(&key, "jti-1");
//! let jwks = json!({"keys": [key.public_jwk()]});
//! let claims = verify(&token, &jwks, 1_800_000_100).unwrap();
//! assert_eq!(claims["sub"], "plan_q2");
//! assert!(verify(&token, &jwks, 1_800_003_601).is_err(), "expired");
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::keys::{PublicKey, SigningKey};

/// The JWS `typ` of a governance attestation.
pub const TYP: &str = "adcp-gov+jws";

/// The key purpose (`adcp_use`) governance attestations are signed under.
pub const KEY_USE: &str = "governance-signing";

/// What a governance agent attests with an approval.
#[derive(Clone, Copy, Debug)]
pub struct Attestation<'a> {
    /// The governance agent's URL (`iss`).
    pub issuer: &'a str,
    /// The plan approved against (`sub`).
    pub plan_id: &'a str,
    /// The plan as the agent holds it, hashed into `plan_hash`.
    pub plan: &'a Value,
    /// The agent the approval is for (`aud`): the check's `caller`.
    pub audience: Option<&'a str>,
    /// `intent`, `purchase`, `modification` or `delivery`.
    pub phase: &'a str,
    /// The check that decided.
    pub check_id: &'a str,
    /// The buy, once it exists.
    pub media_buy_id: Option<&'a str>,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

impl Attestation<'_> {
    /// The compact JWS, with `jti` as its unique id.
    pub fn sign(&self, key: &SigningKey, jti: &str) -> String {
        let alg = match key.alg() {
            "ed25519" => "EdDSA",
            _ => "ES256",
        };
        let header = json!({"alg": alg, "kid": key.kid(), "typ": TYP});
        let mut claims = json!({
            "iss": self.issuer, "sub": self.plan_id, "iat": self.issued_at,
            "exp": self.expires_at, "jti": jti, "phase": self.phase,
            "check_id": self.check_id, "plan_hash": plan_hash(self.plan),
        });
        if let Some(aud) = self.audience {
            claims["aud"] = json!(aud);
            claims["caller"] = json!(aud);
        }
        if let Some(mb) = self.media_buy_id {
            claims["media_buy_id"] = json!(mb);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
        format!("{input}.{signature}")
    }
}

/// The base64url SHA-256 of `plan`'s canonical JSON (RFC 8785: keys sorted, no whitespace;
/// integral numbers written as integers).
pub fn plan_hash(plan: &Value) -> String {
    let mut out = String::new();
    canonical(plan, &mut out);
    URL_SAFE_NO_PAD.encode(Sha256::digest(out.as_bytes()))
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            // RFC 8785 orders by UTF-16 code units; for the ASCII keys of AdCP objects that
            // is byte order.
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                out.push_str(&format!("{}", f as i64));
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

/// Why an attestation is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not three base64url parts of JSON.
    #[error("not a compact JWS")]
    Malformed,
    /// Not `typ: adcp-gov+jws`, or an algorithm other than EdDSA or ES256.
    #[error("not a governance attestation (typ or alg)")]
    Header,
    /// No key of the set has its `kid` for governance signing.
    #[error("no governance-signing key `{0}`")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// Past `exp`.
    #[error("expired")]
    Expired,
}

/// The claims of `token`, when a governance-signing key of `jwks` signed it and it has not
/// expired at `now` (Unix seconds).
pub fn verify(token: &str, jwks: &Value, now: i64) -> Result<Map<String, Value>, Invalid> {
    let part = |s: &str| -> Result<Value, Invalid> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| Invalid::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| Invalid::Malformed)
    };
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid::Malformed);
    };
    let header = part(h)?;
    let Value::Object(claims) = part(c)? else {
        return Err(Invalid::Malformed);
    };
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| Invalid::Malformed)?;
    let alg = match header["alg"].as_str() {
        Some("EdDSA") => "ed25519",
        Some("ES256") => "ecdsa-p256-sha256",
        _ => return Err(Invalid::Header),
    };
    if header["typ"] != TYP {
        return Err(Invalid::Header);
    }
    let kid = header["kid"].as_str().unwrap_or_default();
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kid"] == kid)
        .filter_map(|k| PublicKey::from_jwk(k).ok())
        .find(|k| k.adcp_use.as_deref() == Some(KEY_USE) && k.sig_use && k.verify_op)
        .ok_or_else(|| Invalid::UnknownKey(kid.to_owned()))?;
    let input = &token[..h.len() + 1 + c.len()];
    if key.alg != Some(alg) || !key.verify(alg, input.as_bytes(), &sig) {
        return Err(Invalid::Signature);
    }
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|e| e < now)
    {
        return Err(Invalid::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str) -> SigningKey {
        SigningKey::generate_ed25519(kid).unwrap().for_use(KEY_USE)
    }

    fn token(k: &SigningKey) -> String {
        Attestation {
            issuer: "https://gov.example",
            plan_id: "p1",
            plan: &json!({"b": 1.0, "a": [true, null, "x"]}),
            audience: None,
            phase: "purchase",
            check_id: "chk",
            media_buy_id: Some("mb_1"),
            issued_at: 100,
            expires_at: 200,
        }
        .sign(k, "j1")
    }

    #[test]
    fn the_plan_hash_is_of_canonical_json() {
        let a = plan_hash(&json!({"b": 1.0, "a": {"y": 2, "x": "é"}}));
        let b = plan_hash(&json!({"a": {"x": "é", "y": 2.0}, "b": 1}));
        assert_eq!(a, b);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn a_token_verifies_only_under_its_key_for_governance_and_before_it_expires() {
        let k = key("g1");
        let t = token(&k);
        let jwks = json!({"keys": [k.public_jwk()]});
        let claims = verify(&t, &jwks, 150).unwrap();
        assert_eq!(claims["media_buy_id"], "mb_1");
        assert_eq!(verify(&t, &jwks, 201), Err(Invalid::Expired));
        let other = key("g1");
        let wrong = json!({"keys": [other.public_jwk()]});
        assert_eq!(verify(&t, &wrong, 150), Err(Invalid::Signature));
        // The same key published for another purpose does not count.
        let webhook = SigningKey::generate_ed25519("g1").unwrap();
        let jwks = json!({"keys": [webhook.public_jwk()]});
        assert_eq!(
            verify(&t, &jwks, 150),
            Err(Invalid::UnknownKey("g1".into()))
        );
        // A tampered claim breaks the signature.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(r#"{"sub":"p2","exp":999}"#);
        let jwks = json!({"keys": [k.public_jwk()]});
        assert_eq!(
            verify(&parts.join("."), &jwks, 150),
            Err(Invalid::Signature)
        );
        assert_eq!(verify("opaque-id", &jwks, 150), Err(Invalid::Malformed));
    }
}
