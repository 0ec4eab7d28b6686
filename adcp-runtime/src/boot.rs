//! Boot validation: everything the macro could not check at compile time, checked once before
//! the first request, with every problem reported in one error.

use std::fmt;

use serde_json::Value;

use crate::accounts::AccountMode;
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::validate::schemas;

/// One problem found at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What area (`capabilities`, `config`, `catalog`, `accounts`, `proposals`).
    pub area: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Every problem that stops a platform from being served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootError {
    /// The problems, in the order found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} problem(s) stop this platform from being served:",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {}: {}", p.area, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for BootError {}

/// Why `serve` stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Boot validation failed.
    #[error("{0}")]
    Boot(#[from] BootError),
    /// The listener could not be bound, or failed.
    #[error("cannot serve: {0}")]
    Bind(std::io::Error),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Capability sections the runtime derives and configuration must not override.
const DERIVED: &[&str] = &["adcp", "supported_protocols", "specialisms", "status"];

/// Checks a server before it serves: the capabilities it will advertise, its settings, and the
/// platform's catalogue (`products`, when given) against the declared recipes.
pub(crate) fn check_with_catalog<P: DecisioningPlatform>(
    server: &Server<P>,
    products: &[Value],
) -> Result<(), BootError> {
    let mut problems = Vec::new();
    let mut push = |area: &'static str, message: String| problems.push(Problem { area, message });
    let d = P::descriptor();
    let config = server.config();

    // Capabilities: derived, merged with configuration, and valid against the schema.
    if let Value::Object(extra) = &config.capabilities {
        for k in DERIVED {
            if extra.contains_key(*k) {
                push(
                    "capabilities",
                    format!("`{k}` is derived from the platform and cannot be configured"),
                );
            }
        }
        if extra.contains_key("compliance_testing") && !config.compliance_testing {
            push(
                "capabilities",
                "`compliance_testing` is advertised but compliance testing is off".into(),
            );
        }
    } else {
        push(
            "capabilities",
            "the configured capability sections must be a JSON object".into(),
        );
    }
    let caps = server.capabilities();
    if let Err(issues) = schemas().validate("protocol/get-adcp-capabilities-response.json", &caps) {
        for i in issues {
            let at = if i.path.is_empty() {
                String::new()
            } else {
                format!(" at `{}`", i.path)
            };
            push(
                "capabilities",
                format!(
                    "get_adcp_capabilities would not match its schema{at}: {}",
                    i.message
                ),
            );
        }
    }
    // Settings.
    let ttl = config.replay_ttl.as_secs();
    if !(3600..=604_800).contains(&ttl) {
        push(
            "config",
            format!("replay_ttl is {ttl} s; AdCP allows 3600 to 604800"),
        );
    }
    if let Some(u) = &config.public_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        push("config", format!("public_url `{u}` is not an http(s) URL"));
    }
    // Accounts: a singleton platform has no accounts to sync or list.
    if d.accounts == AccountMode::Singleton {
        for t in ["sync_accounts", "list_accounts"] {
            if d.implements(t) {
                push(
                    "accounts",
                    format!("`{t}` is implemented but accounts are `singleton`"),
                );
            }
        }
    }
    // Proposals: a platform claiming proposal mode has a manager to answer with proposals.
    if d.specialisms.contains(&"sales_proposal_mode") && server.proposal_manager().is_none() {
        push(
            "proposals",
            "`sales_proposal_mode` is claimed but no proposal manager is composed: give \
             `serve(..).proposals(manager)` (or `Server::with_proposals`)"
                .into(),
        );
    }
    // Catalogue: every recipe a product carries is one the platform declares, and decodes.
    for (i, p) in products.iter().enumerate() {
        let id = p.get("product_id").and_then(Value::as_str).unwrap_or("?");
        let Some(config) = p.get("implementation_config") else {
            continue;
        };
        match P::decode_recipe(config) {
            None if !d.recipe_kinds.is_empty() => {}
            None => {}
            Some(Ok(_)) => {}
            Some(Err(e)) => push(
                "catalog",
                format!(
                    "product `{id}` (#{i}): implementation_config is not a declared recipe: {e}"
                ),
            ),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BootError { problems })
    }
}

impl<P: DecisioningPlatform> Server<P> {
    /// Boot validation, as [`serve`](crate::serve) runs it: every problem that stops this
    /// platform from being served on these settings, with `products` (its catalogue) checked
    /// against the declared recipes.
    pub fn check(&self, products: &[adcp_wire::Product]) -> Result<(), BootError> {
        let products: Vec<Value> = products
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect();
        check_with_catalog(self, &products)
    }
}
