//! Keys: JWKS fetched through the SSRF guard (or given inline), the tenant's validation
//! (its published keys hold its webhook key's public half) and its webhook key.

use std::sync::Arc;

use serde_json::Value;

use crate::signing::{KeySet, SigningKey};
use crate::store::Principal;
use crate::store::tenants::{JwksSource, TenantSpec};

use super::{TenantError, TenantRegistry};

impl TenantRegistry {
    /// A JWKS, fetched (through the SSRF guard) or inline.
    pub(super) async fn jwks(
        &self,
        field: &'static str,
        source: &JwksSource,
    ) -> Result<Value, TenantError> {
        let url = match source {
            JwksSource::Inline(v) => return Ok(v.clone()),
            JwksSource::Url(u) => u,
        };
        let fail = |message: String| TenantError::Invalid { field, message };
        let checked = self
            .inner
            .policy
            .check_url(url)
            .map_err(|e| fail(format!("`{url}`: {e}")))?;
        let response = self
            .inner
            .client
            .get(checked)
            .send()
            .await
            .map_err(|e| fail(format!("`{url}` cannot be fetched: {e}")))?;
        if !response.status().is_success() {
            return Err(fail(format!("`{url}` answered {}", response.status())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| fail(format!("`{url}`: {e}")))?;
        let jwks: Value = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("`{url}` is not JSON: {e}")))?;
        parse_jwks(field, &jwks)?;
        Ok(jwks)
    }

    /// The buyers' JWKS, in spec order.
    pub(super) async fn fetch_signers(&self, spec: &TenantSpec) -> Result<Vec<Value>, TenantError> {
        let mut out = Vec::with_capacity(spec.request_signers.len());
        for s in &spec.request_signers {
            out.push(self.jwks("request_signers", &s.jwks).await?);
        }
        Ok(out)
    }

    /// The tenant's check: its published keys hold the public half of its webhook key (the
    /// caller has fetched its buyers' keys first).
    pub(super) async fn validate(&self, spec: &TenantSpec) -> Result<(), TenantError> {
        let key = webhook_key(spec)?;
        let published = match &spec.jwks {
            Some(source) => Some(self.jwks("jwks", source).await?),
            None => None,
        };
        match (key, published) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(TenantError::Invalid {
                field: "jwks",
                message: "the tenant signs webhooks but publishes no keys".into(),
            }),
            (Some(key), Some(jwks)) => {
                let mine = key.public_jwk();
                let found = jwks
                    .get("keys")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|k| same_public_key(k, mine));
                if found {
                    Ok(())
                } else {
                    Err(TenantError::Invalid {
                        field: "jwks",
                        message: format!(
                            "the published keys do not hold the webhook signing key `{}`",
                            key.kid()
                        ),
                    })
                }
            }
        }
    }
}

pub(super) fn parse_jwks(field: &'static str, jwks: &Value) -> Result<(), TenantError> {
    KeySet::default()
        .add_jwks(&Principal { id: String::new() }, jwks, 1)
        .map_err(|e| TenantError::Invalid {
            field,
            message: format!("not a JWKS of public signing keys: {e}"),
        })
}

/// The tenant's webhook signing key, read from its file.
pub(super) fn webhook_key(spec: &TenantSpec) -> Result<Option<Arc<SigningKey>>, TenantError> {
    let Some(path) = &spec.webhook_signing_key_file else {
        return Ok(None);
    };
    let fail = |message: String| TenantError::Invalid {
        field: "webhook_signing_key_file",
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("`{path}`: {e}")))?;
    let jwk: Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("`{path}` is not JSON: {e}")))?;
    SigningKey::from_jwk(&jwk)
        .map(|k| Some(Arc::new(k)))
        .map_err(|e| fail(format!("`{path}`: {e}")))
}

/// Whether two JWKs are the same public key (the members that make the key, not its labels).
fn same_public_key(a: &Value, b: &Value) -> bool {
    ["kid", "kty", "crv", "x", "y"]
        .iter()
        .all(|m| a.get(m) == b.get(m))
}
