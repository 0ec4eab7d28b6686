//! `cargo run -p brand-rights -- --memory`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP brand agent: brand identity and rights licensing.
#[derive(Parser)]
#[command(name = "brand-rights", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(brand_rights::config(true))?;
    brand_rights::agent(config, cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
