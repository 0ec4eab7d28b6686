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
    /// The bearer key of the sandbox upstream (the live key is never sent to it).
    #[arg(long, env = "ADCP_SANDBOX_UPSTREAM_KEY", hide_env_values = true)]
    sandbox_upstream_key: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_proposal_mode::config(true))?;
    let mut desk = sales_proposal_mode::Desk::new(cli.upstream.upstream());
    if let Some(url) = &cli.sandbox_upstream_url {
        let sandbox = adcp_runtime::upstream::Upstream::new(url);
        desk = desk.sandbox(match &cli.sandbox_upstream_key {
            Some(k) => sandbox.bearer(k),
            None => sandbox,
        });
    }
    sales_proposal_mode::agent(config, cli.adcp.stores().await?, desk)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
