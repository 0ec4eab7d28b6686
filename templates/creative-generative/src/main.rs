//! `cargo run -p creative-generative -- --memory`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP seller that generates its buyers' creatives.
#[derive(Parser)]
#[command(name = "creative-generative", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(creative_generative::config(true))?;
    creative_generative::agent(config, cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
