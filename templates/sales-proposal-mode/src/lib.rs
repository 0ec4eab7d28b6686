//! A seller in proposal mode: the [`Desk`] (its proposal manager) answers briefs with
//! proposals from an upstream ad server and refines and finalizes them; the reference
//! platform (`sales-non-guaranteed`'s [`Seller`]) books the buy, from the products the desk
//! hydrates, each checked against its recipe by the runtime first. Proposals, their holds and
//! their acceptance are the runtime's ledger.

pub mod desk;

use adcp_runtime::{Config, Serve, Stores};
pub use desk::Desk;
use sales_non_guaranteed::Seller;
use serde_json::json;

/// The seller's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs proposal-mode seller".into(),
        description: "Proposals planned over an upstream ad server's inventory (adcp-rs template)"
            .into(),
        compliance_testing,
        capabilities: json!({
            "account": {"supported_billing": ["operator", "agent"], "require_operator_auth": false, "sandbox": true},
            "media_buy": {"supported_pricing_models": ["cpm"]},
        }),
        ..Config::default()
    }
}

/// The seller on `config` and `stores`, its proposals from `desk`: it sells what the desk
/// offers (and, under compliance testing, the runner's `test-product`), nothing of its own.
pub fn agent(config: Config, stores: Stores, desk: Desk) -> Serve<Seller> {
    let seller = Seller::new(config.compliance_testing)
        .with_products(Vec::new())
        .expect("an empty catalogue is always valid");
    let products = seller.catalog("http://127.0.0.1/mcp").to_vec();
    adcp_runtime::serve(seller)
        .proposals(desk)
        .config(config)
        .stores(stores)
        .catalog(products)
}
