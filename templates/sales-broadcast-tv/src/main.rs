//! `cargo run -p sales-broadcast-tv -- --memory`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP seller of linear TV spots.
#[derive(Parser)]
#[command(name = "sales-broadcast-tv", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_broadcast_tv::config(true))?;
    sales_broadcast_tv::agent(config, cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
