//! The routing table: which tenant a request is for, by host, else by the longest path
//! prefix that ends at a segment boundary.

use std::collections::HashMap;

use crate::store::tenants::TenantRecord;

use super::fingerprint;

/// The routing table and the records it was made from.
#[derive(Default)]
pub(super) struct View {
    pub(super) records: HashMap<String, TenantRecord>,
    /// Each spec's fingerprint: a built tenant is reused while its spec's is unchanged.
    pub(super) fingerprints: HashMap<String, u64>,
    pub(super) hosts: HashMap<String, String>,
    /// Longest first.
    pub(super) prefixes: Vec<(String, String)>,
}

impl View {
    pub(super) fn of(records: Vec<TenantRecord>) -> Self {
        let mut view = View::default();
        for r in records {
            for h in &r.spec.hosts {
                view.hosts.insert(h.to_ascii_lowercase(), r.spec.id.clone());
            }
            if let Some(p) = &r.spec.path_prefix {
                view.prefixes.push((p.clone(), r.spec.id.clone()));
            }
            view.fingerprints
                .insert(r.spec.id.clone(), fingerprint(&r.spec));
            view.records.insert(r.spec.id.clone(), r);
        }
        view.prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        view
    }

    pub(super) fn fingerprint(&self, id: &str) -> u64 {
        self.fingerprints.get(id).copied().unwrap_or_default()
    }

    /// The tenant a request is for, and the path prefix to strip: by host first, then by the
    /// longest path prefix that ends at a segment boundary.
    pub(super) fn route(
        &self,
        host: Option<&str>,
        path: &str,
    ) -> Option<(&TenantRecord, Option<&str>)> {
        if let Some(id) = host.and_then(|h| self.hosts.get(&h.to_ascii_lowercase())) {
            return self.records.get(id).map(|r| (r, None));
        }
        self.prefixes.iter().find_map(|(prefix, id)| {
            let rest = path.strip_prefix(prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/'))
                .then(|| self.records.get(id).map(|r| (r, Some(prefix.as_str()))))
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tenants::{Health, TenantSpec};
    use serde_json::Value;

    fn record(id: &str, hosts: &[&str], prefix: Option<&str>) -> TenantRecord {
        TenantRecord {
            spec: TenantSpec {
                id: id.into(),
                platform: "p".into(),
                public_url: format!("https://{id}.example"),
                hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
                path_prefix: prefix.map(str::to_owned),
                jwks: None,
                webhook_signing_key_file: None,
                api_keys: Vec::new(),
                request_signers: Vec::new(),
                signing_required_for: Vec::new(),
                settings: Value::Null,
            },
            health: Health::pending(),
            revision: 1,
        }
    }

    #[test]
    fn host_first_then_the_longest_prefix_at_a_segment_boundary() {
        let view = View::of(vec![
            record("a", &["a.example"], Some("/a")),
            record("ab", &[], Some("/a/b")),
            record("abc", &[], Some("/abc")),
        ]);
        let id = |host: Option<&str>, path: &str| {
            view.route(host, path)
                .map(|(r, p)| (r.spec.id.clone(), p.map(str::to_owned)))
        };
        assert_eq!(id(Some("A.example"), "/a/b/mcp"), Some(("a".into(), None)));
        assert_eq!(
            id(None, "/a/b/mcp"),
            Some(("ab".into(), Some("/a/b".into())))
        );
        assert_eq!(id(None, "/a/mcp"), Some(("a".into(), Some("/a".into()))));
        assert_eq!(id(None, "/a"), Some(("a".into(), Some("/a".into()))));
        assert_eq!(
            id(None, "/abc/mcp"),
            Some(("abc".into(), Some("/abc".into())))
        );
        assert_eq!(id(None, "/abcd/mcp"), None);
        assert_eq!(id(Some("other.example"), "/mcp"), None);
    }
}
