//! `cargo run -p sales-agency-desk -- --memory`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP agency trading desk: a seller that is its buyers' spend authority.
#[derive(Parser)]
#[command(name = "sales-agency-desk", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_agency_desk::config(true))?;
    sales_agency_desk::agent(config, cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
