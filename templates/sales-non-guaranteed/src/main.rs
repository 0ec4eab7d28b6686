//! The reference seller: `cargo run -p sales-non-guaranteed -- --help`.

use adcp_runtime::{Config, Serve, Stores};
use clap::Parser;
use sales_non_guaranteed::Seller;
use serde_json::Value;

/// The request path builds and drops many small JSON values; glibc's allocator is slow at it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The adcp-rs reference AdCP seller (sales-non-guaranteed). Compliance testing is on unless
/// `--compliance-testing false`.
#[derive(Parser)]
#[command(name = "reference-seller", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    /// Benchmark only (`tests/src/bin/bench.rs`, its growth curves): sell N products, the stock
    /// catalogue's products copied under new ids, so that the benchmark can measure how
    /// `get_products` grows with the catalogue. Hidden: no seller sells copies.
    #[arg(long, hide = true)]
    bench_catalog_size: Option<usize>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_non_guaranteed::config(true))?;
    let stores = cli.adcp.stores().await?;
    let agent = match cli.bench_catalog_size {
        None => sales_non_guaranteed::agent(config, stores),
        Some(n) => bench_agent(config, stores, n)?,
    };
    agent.bind(cli.adcp.bind).run().await?;
    Ok(())
}

/// [`sales_non_guaranteed::agent`] selling `size` products: the stock catalogue (with the
/// compliance fixtures, which every catalogue under compliance testing starts with) and copies
/// of its products, each under an id of its own and otherwise as valid as the original.
fn bench_agent(config: Config, stores: Stores, size: usize) -> Result<Serve<Seller>, String> {
    // Format ids are the agent URL's; a spec naming none is given the URL served.
    const URL: &str = "http://127.0.0.1/mcp";
    let testing = config.compliance_testing;
    let fixtures = Seller::new(testing).with_products(Vec::new())?.catalog(URL);
    let stock = Seller::new(testing).catalog(URL);
    let specs = (0..size.saturating_sub(fixtures.len()))
        .map(|i| {
            let original = &stock[i % stock.len()];
            let mut spec = serde_json::to_value(original).map_err(|e| e.to_string())?;
            spec["product_id"] = Value::String(format!("{}_copy_{i}", original.product_id));
            spec["name"] = Value::String(format!("{} (copy {i})", original.name));
            for f in spec["format_ids"].as_array_mut().into_iter().flatten() {
                if let Some(f) = f.as_object_mut() {
                    f.remove("agent_url");
                }
            }
            Ok(spec)
        })
        .collect::<Result<Vec<Value>, String>>()?;
    let seller = Seller::new(testing).with_products(specs)?;
    // As `agent` composes the seller.
    let (products, planner) = (seller.catalog(URL).to_vec(), seller.planner());
    Ok(adcp_runtime::serve(seller)
        .proposals(planner)
        .config(config)
        .stores(stores)
        .catalog(products))
}
