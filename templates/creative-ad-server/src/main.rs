//! `cargo run -p creative-ad-server -- --memory --upstream-url http://127.0.0.1:4810 \
//!     --upstream-key mock_creative_ad_server_key_do_not_use_in_prod \
//!     --default-advertiser acmeoutdoor.example`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP creative-ad-server agent, over an ad server.
#[derive(Parser)]
#[command(name = "creative-ad-server", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
    /// The advertiser (a domain) whose network serves sandbox accounts whose brand has none.
    #[arg(long = "default-advertiser", env = "ADCP_DEFAULT_ADVERTISER")]
    default_advertiser: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(creative_ad_server::config(true))?;
    let key = cli.upstream.upstream_key.as_deref().unwrap_or_default();
    let server =
        creative_ad_server::AdServer::new(&cli.upstream.upstream_url, key, &cli.default_advertiser);
    creative_ad_server::agent(config, cli.adcp.stores().await?, server)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
