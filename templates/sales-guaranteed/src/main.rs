//! `cargo run -p sales-guaranteed -- --upstream-url http://127.0.0.1:4500 --upstream-key K`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP seller of guaranteed inventory over a publisher's ad server.
#[derive(Parser)]
#[command(name = "sales-guaranteed", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
    /// Sandbox buys of at least this much wait for the publisher to sign their IO (live
    /// buys always do).
    #[arg(long, env = "ADCP_IO_APPROVAL_LIMIT", default_value_t = sales_guaranteed::IO_APPROVAL_LIMIT)]
    io_approval_limit: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_guaranteed::config(true))?;
    let gam = sales_guaranteed::Gam::new(cli.upstream.upstream(), cli.io_approval_limit);
    sales_guaranteed::agent(config, cli.adcp.stores().await?, gam)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
