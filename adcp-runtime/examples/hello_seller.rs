//! The smallest seller worth running: one product, media buys kept per account, large buys
//! reviewed by a durable job. The README's quick start, with a real `main`.
//!
//! Run with:
//!
//! ```text
//! cargo run -p adcp-runtime --features cli --example hello_seller
//! ```
//!
//! Check with the official runner (another terminal):
//!
//! ```text
//! npx -y @adcp/sdk@6.11.0 storyboard run http://127.0.0.1:3000/mcp capability_discovery --allow-http
//! ```

use adcp_runtime::Collection;
use adcp_runtime::wire::{
    CreateMediaBuyRequest, CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse, Package,
    Product, decode,
};
use adcp_runtime::{AdcpError, AdcpResult, Config, Ctx, Hybrid, TaskHandoff, decisioning_platform};
use clap::Parser;
use serde_json::json;

const BUYS: Collection<CreateMediaBuySuccess> = Collection::new("media_buys");

struct Acme {
    products: Vec<Product>,
}

// No specialism claimed: `specialisms(sales_non_guaranteed)` would make the macro require
// every task its storyboards exercise (templates/sales-non-guaranteed claims it).
#[decisioning_platform]
impl Acme {
    async fn get_products(
        &self,
        _ctx: &Ctx,
        _req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(self.products.clone()))
    }

    // Answers now, or hands the work off: the runtime stores a task with the job's input,
    // answers `submitted` with its id, runs the job off the request path (again after a
    // restart, or on another replica, if this one dies), and serves `tasks_get` and the
    // buyer's webhook when it is done.
    async fn create_media_buy(
        &self,
        ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        let packages = req.packages.unwrap_or_default();
        if packages.is_empty() {
            return Err(AdcpError::invalid_request(
                "packages",
                "a media buy needs a package",
            ));
        }
        let booked: Vec<Package> = packages
            .iter()
            .map(|_| Package::new(ctx.new_id("pkg")))
            .collect();
        let buy = CreateMediaBuySuccess::new(ctx.new_id("mb"), booked);
        if packages.iter().map(|p| p.budget).sum::<f64>() > 1_000_000.0 {
            return Ok(Hybrid::Later(TaskHandoff::job(Self::REVIEW, buy)));
        }
        ctx.state().put(BUYS, &buy.media_buy_id, &buy).await?;
        Ok(Hybrid::Now(buy))
    }

    // A durable job: `Self::REVIEW` is its typed key; handing it off from a task whose
    // response it does not produce does not compile.
    #[adcp(job)]
    async fn review(
        &self,
        ctx: &Ctx,
        buy: CreateMediaBuySuccess,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        ctx.state().put(BUYS, &buy.media_buy_id, &buy).await?;
        Ok(buy)
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let product = decode(json!({
        "product_id": "run_of_site", "name": "Run of site display",
        "description": "Every display placement we sell",
        "publisher_properties": [{"publisher_domain": "acme.example", "selection_type": "all"}],
        "format_ids": [{"agent_url": "https://acme.example/mcp", "id": "display_300x250"}],
        "delivery_type": "non_guaranteed",
        "pricing_options": [{"pricing_option_id": "cpm", "pricing_model": "cpm", "currency": "USD", "floor_price": 2.0}],
        "reporting_capabilities": {"available_reporting_frequencies": ["daily"], "expected_delay_minutes": 60,
            "timezone": "UTC", "supports_webhooks": false, "available_metrics": ["impressions", "spend"],
            "date_range_support": "date_range"},
    }))?;
    let config = cli.adcp.config(Config {
        name: "hello seller".into(),
        capabilities: json!({"account": {"supported_billing": ["operator"]}}),
        ..Config::default()
    })?;
    let products = vec![product];
    adcp_runtime::serve(Acme {
        products: products.clone(),
    })
    .config(config)
    .stores(cli.adcp.stores().await?)
    .catalog(products)
    .bind(cli.adcp.bind)
    .run()
    .await?;
    Ok(())
}
