//! A tenant spec's own rules, and its routes against the other tenants'.

use crate::auth::Auth;
use crate::store::tenants::{JwksSource, TenantSpec};

use super::keys::parse_jwks;
use super::{TenantError, TenantRegistry};

impl TenantRegistry {
    /// The spec's own rules, and its routes against the other tenants'.
    pub(super) fn check_spec(&self, spec: &TenantSpec) -> Result<(), TenantError> {
        let invalid = |field, message: String| TenantError::Invalid { field, message };
        let id_ok = !spec.id.is_empty()
            && spec.id.len() <= 63
            && spec
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(invalid(
                "id",
                format!("`{}` is not 1 to 63 of a-z, 0-9 and `-`", spec.id),
            ));
        }
        if !self.inner.builders.contains_key(&spec.platform) {
            let mut known: Vec<&str> = self.inner.builders.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(invalid(
                "platform",
                format!(
                    "no platform builder `{}` (known: {})",
                    spec.platform,
                    known.join(", ")
                ),
            ));
        }
        match url::Url::parse(&spec.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(invalid(
                    "public_url",
                    format!("`{}` is not an http(s) URL", spec.public_url),
                ));
            }
        }
        if spec.hosts.is_empty() && spec.path_prefix.is_none() {
            return Err(invalid(
                "hosts",
                "a tenant needs a host or a path_prefix to be reached at".into(),
            ));
        }
        for h in &spec.hosts {
            let ok = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(invalid(
                    "hosts",
                    format!("`{h}` is not a host name (no scheme, port or path)"),
                ));
            }
        }
        if let Some(p) = &spec.path_prefix {
            let reserved = ["/mcp", "/a2a", "/adcp", "/.well-known", "/health", "/_adcp"];
            let ok = p.len() > 1
                && p.starts_with('/')
                && !p.ends_with('/')
                && p[1..].split('/').all(|s| {
                    !s.is_empty()
                        && s.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                        })
                })
                && !reserved
                    .iter()
                    .any(|r| p == r || p.starts_with(&format!("{r}/")));
            if !ok {
                return Err(invalid(
                    "path_prefix",
                    format!(
                        "`{p}` is not a path prefix: `/` then segments of a-z, 0-9, `-`, `_`, \
                         not one of the agent's own paths ({})",
                        reserved.join(", ")
                    ),
                ));
            }
        }
        if let Some(JwksSource::Inline(jwks)) = &spec.jwks {
            parse_jwks("jwks", jwks)?;
        }
        for s in &spec.request_signers {
            if let JwksSource::Inline(jwks) = &s.jwks {
                parse_jwks("request_signers", jwks)?;
            }
        }
        for k in &spec.api_keys {
            Auth::new()
                .key_sha256(k.principal.clone(), &k.sha256)
                .map_err(|e| invalid("api_keys", format!("{}: {e}", k.principal)))?;
        }
        let view = self.view();
        for (id, other) in view.records.iter().filter(|(id, _)| **id != spec.id) {
            if let Some(h) = spec
                .hosts
                .iter()
                .find(|h| other.spec.hosts.iter().any(|o| o.eq_ignore_ascii_case(h)))
            {
                return Err(TenantError::Conflict {
                    field: "hosts",
                    message: format!("`{h}` already routes to tenant `{id}`"),
                });
            }
            if spec.path_prefix.is_some() && spec.path_prefix == other.spec.path_prefix {
                return Err(TenantError::Conflict {
                    field: "path_prefix",
                    message: format!(
                        "`{}` already routes to tenant `{id}`",
                        spec.path_prefix.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(())
    }
}
