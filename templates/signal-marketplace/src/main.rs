//! `cargo run -p signal-marketplace -- --memory --upstream-url http://127.0.0.1:4500 \
//!     --upstream-key mock_signal_market_key_do_not_use_in_prod`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP signals agent for a data marketplace.
#[derive(Parser)]
#[command(name = "signal-marketplace", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(signal_marketplace::config(true))?;
    let key = cli.upstream.upstream_key.as_deref().unwrap_or_default();
    let market = signal_marketplace::Marketplace::new(&cli.upstream.upstream_url, key);
    signal_marketplace::agent(config, cli.adcp.stores().await?, market)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
