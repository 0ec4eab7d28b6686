//! `cargo run -p signal-owned -- --memory`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP signals agent for first-party segments.
#[derive(Parser)]
#[command(name = "signal-owned", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(signal_owned::config(true))?;
    signal_owned::agent(config, cli.adcp.stores().await?)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
