//! Keys as JWKs: the public ones a verifier trusts (ed25519 and ES256, with the AdCP purpose
//! members), and private ones a signer holds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

/// A key that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A member is missing or has the wrong form.
    #[error("JWK `{kid}`: {why}")]
    Invalid {
        /// The key's `kid` (or `?`).
        kid: String,
        /// What is wrong.
        why: &'static str,
    },
}

fn invalid(kid: &str, why: &'static str) -> KeyError {
    KeyError::Invalid {
        kid: kid.to_owned(),
        why,
    }
}

fn member<'a>(jwk: &'a Value, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn b64(jwk: &Value, kid: &str, name: &str, len: usize) -> Result<Vec<u8>, KeyError> {
    let text = member(jwk, name).ok_or_else(|| invalid(kid, "a key coordinate is missing"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid(kid, "a key coordinate is not base64url"))?;
    if bytes.len() != len {
        return Err(invalid(kid, "a key coordinate has the wrong length"));
    }
    Ok(bytes)
}

/// The RFC 9421 name of a JWK's algorithm (`EdDSA` is `ed25519`, `ES256` is
/// `ecdsa-p256-sha256`), when the key type and curve agree with it.
fn rfc9421_alg(jwk: &Value) -> Option<&'static str> {
    match (
        member(jwk, "alg")?,
        member(jwk, "kty")?,
        member(jwk, "crv")?,
    ) {
        ("EdDSA", "OKP", "Ed25519") => Some("ed25519"),
        ("ES256", "EC", "P-256") => Some("ecdsa-p256-sha256"),
        _ => None,
    }
}

/// A public key a verifier trusts, with the members the profile checks.
#[derive(Clone, Debug)]
pub(crate) struct PublicKey {
    pub(crate) kid: String,
    /// `ed25519` or `ecdsa-p256-sha256`; `None` when `alg`, `kty` and `crv` disagree.
    pub(crate) alg: Option<&'static str>,
    pub(crate) adcp_use: Option<String>,
    pub(crate) sig_use: bool,
    pub(crate) verify_op: bool,
    /// The raw key: 32 bytes for ed25519, the SEC1 uncompressed point for P-256.
    bytes: Vec<u8>,
}

impl PublicKey {
    pub(crate) fn from_jwk(jwk: &Value) -> Result<PublicKey, KeyError> {
        let kid = member(jwk, "kid").ok_or_else(|| invalid("?", "`kid` is missing"))?;
        let alg = rfc9421_alg(jwk);
        let bytes = match member(jwk, "kty") {
            // A key whose alg, kty and crv disagree is kept, unusable, so that signatures
            // naming it are refused for the key's purpose rather than as unknown.
            _ if alg.is_none() => Vec::new(),
            Some("OKP") => b64(jwk, kid, "x", 32)?,
            Some("EC") => {
                let mut point = vec![4];
                point.extend(b64(jwk, kid, "x", 32)?);
                point.extend(b64(jwk, kid, "y", 32)?);
                point
            }
            _ => {
                return Err(invalid(
                    kid,
                    "only OKP (Ed25519) and EC (P-256) keys are used",
                ));
            }
        };
        Ok(PublicKey {
            kid: kid.to_owned(),
            alg,
            adcp_use: member(jwk, "adcp_use").map(str::to_owned),
            sig_use: member(jwk, "use").is_none_or(|u| u == "sig"),
            verify_op: jwk
                .get("key_ops")
                .and_then(Value::as_array)
                .is_some_and(|ops| ops.iter().any(|o| o == "verify")),
            bytes,
        })
    }

    /// Whether `sig` signs `message` under this key with `alg`.
    pub(crate) fn verify(&self, alg: &str, message: &[u8], sig: &[u8]) -> bool {
        let algorithm: &dyn signature::VerificationAlgorithm = match alg {
            "ed25519" => &signature::ED25519,
            "ecdsa-p256-sha256" => &signature::ECDSA_P256_SHA256_FIXED,
            _ => return false,
        };
        UnparsedPublicKey::new(algorithm, &self.bytes)
            .verify(message, sig)
            .is_ok()
    }
}

enum Pair {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
}

/// A private signing key.
pub struct SigningKey {
    kid: String,
    pair: Pair,
    public: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A private JWK (`d` present), ed25519 (`EdDSA`) or P-256 (`ES256`).
    pub fn from_jwk(jwk: &Value) -> Result<SigningKey, KeyError> {
        let kid = member(jwk, "kid").ok_or_else(|| invalid("?", "`kid` is missing"))?;
        let alg = rfc9421_alg(jwk).ok_or_else(|| invalid(kid, "alg, kty and crv disagree"))?;
        let d = b64(jwk, kid, "d", 32)?;
        let pair = if alg == "ed25519" {
            let pair = Ed25519KeyPair::from_seed_unchecked(&d)
                .map_err(|_| invalid(kid, "not an Ed25519 seed"))?;
            if pair.public_key().as_ref() != b64(jwk, kid, "x", 32)?.as_slice() {
                return Err(invalid(kid, "`x` is not the public key of `d`"));
            }
            Pair::Ed25519(pair)
        } else {
            let mut point = vec![4];
            point.extend(b64(jwk, kid, "x", 32)?);
            point.extend(b64(jwk, kid, "y", 32)?);
            Pair::P256(
                EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                    &SystemRandom::new(),
                )
                .map_err(|_| invalid(kid, "`d` does not match `x`/`y`"))?,
            )
        };
        let mut public = jwk.clone();
        if let Some(m) = public.as_object_mut() {
            m.remove("d");
            m.retain(|k, _| !k.starts_with('_'));
            m.insert("use".into(), json!("sig"));
            m.insert("key_ops".into(), json!(["verify"]));
            m.entry("adcp_use").or_insert(json!("request-signing"));
        }
        Ok(SigningKey {
            kid: kid.to_owned(),
            pair,
            public,
        })
    }

    /// A fresh ed25519 key.
    pub fn generate_ed25519(kid: &str) -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| invalid(kid, "no randomness"))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| invalid(kid, "not an Ed25519 seed"))?;
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        SigningKey::from_jwk(&json!({
            "kid": kid, "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
            "x": x, "d": URL_SAFE_NO_PAD.encode(seed),
        }))
    }

    /// The key published for `adcp_use` (`governance-signing`, `webhook-signing`, ...):
    /// verifiers accept a key only for the purpose it is published for.
    pub fn for_use(mut self, adcp_use: &str) -> SigningKey {
        if let Some(m) = self.public.as_object_mut() {
            m.insert("adcp_use".into(), json!(adcp_use));
        }
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RFC 9421 algorithm name.
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Ed25519(_) => "ed25519",
            Pair::P256(_) => "ecdsa-p256-sha256",
        }
    }

    /// The public JWK to publish (`use: sig`, `key_ops: [verify]`, `adcp_use`).
    pub fn public_jwk(&self) -> &Value {
        &self.public
    }

    /// Signs `message`: 64 bytes (ed25519, or P-256 `r || s`).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.pair {
            Pair::Ed25519(p) => p.sign(message).as_ref().to_vec(),
            Pair::P256(p) => p
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        }
    }
}

/// 16 random bytes as unpadded base64url: a signature nonce.
pub(crate) fn fresh_nonce() -> String {
    let mut n = [0u8; 16];
    // SystemRandom fails only without an OS entropy source; a v4 UUID is the fallback.
    if SystemRandom::new().fill(&mut n).is_err() {
        n = *uuid::Uuid::new_v4().as_bytes();
    }
    URL_SAFE_NO_PAD.encode(n)
}
