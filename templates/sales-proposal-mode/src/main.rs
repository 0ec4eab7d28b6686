//! `cargo run -p sales-proposal-mode -- --upstream-url http://127.0.0.1:4100 --upstream-key K`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP seller in proposal mode over an upstream ad server.
#[derive(Parser)]
#[command(name = "sales-proposal-mode", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
    /// Another upstream for sandbox accounts (a mock, while live accounts reach a real one).
    #[arg(long, env = "ADCP_SANDBOX_UPSTREAM_URL")]
    sandbox_upstream_url: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_proposal_mode::config(true))?;
    let mut desk = sales_proposal_mode::Desk::new(cli.upstream.upstream());
    if let Some(url) = &cli.sandbox_upstream_url {
        let key = cli.upstream.upstream_key.clone().unwrap_or_default();
        desk = desk.sandbox(adcp_runtime::upstream::Upstream::new(url).bearer(key));
    }
    sales_proposal_mode::agent(config, cli.adcp.stores().await?, desk)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
