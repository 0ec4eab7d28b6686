//! The reference seller: a non-guaranteed (auction) seller of display and video inventory, with
//! a default catalogue, state in the runtime's store (SQLite by default, PostgreSQL for
//! replicas, memory for tests) and a compliance test controller. `main.rs` serves it; tests
//! start it in-process.

mod catalog;
mod seller;
mod store;

use adcp_runtime::{BootError, Config, Server, Stores};
use serde_json::json;

pub use seller::Seller;

/// The reference seller's settings: its name, and the capability sections it declares.
pub fn config(compliance_testing: bool, public_url: Option<String>) -> Config {
    Config {
        name: "adcp-rs reference seller".into(),
        description:
            "Non-guaranteed display and video inventory, auction priced (adcp-rs reference seller)"
                .into(),
        public_url,
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {"supported_pricing_models": ["cpm"]},
        }),
        ..Config::default()
    }
}

/// The seller over `stores`, checked at boot.
pub fn server(config: Config, stores: Stores) -> Result<Server<Seller>, BootError> {
    let seller = Seller::new();
    let products = seller.catalog_json();
    let server = Server::with_stores(seller, config, stores);
    adcp_runtime::boot::check_with_catalog(&server, &products)?;
    Ok(server)
}
