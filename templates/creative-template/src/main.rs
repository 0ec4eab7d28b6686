//! `cargo run -p creative-template -- --memory --upstream-url http://127.0.0.1:4800 \
//!     --upstream-key mock_creative_template_key_do_not_use_in_prod \
//!     --default-advertiser acmeoutdoor.example`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP creative-template agent, over a creative studio.
#[derive(Parser)]
#[command(name = "creative-template", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
    /// The advertiser (a domain) whose studio workspace serves calls that name no account.
    #[arg(long = "default-advertiser", env = "ADCP_DEFAULT_ADVERTISER")]
    default_advertiser: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(creative_template::config(true))?;
    let key = cli.upstream.upstream_key.as_deref().unwrap_or_default();
    let studio = creative_template::TemplateStudio::new(
        &cli.upstream.upstream_url,
        key,
        &cli.default_advertiser,
    );
    creative_template::agent(config, cli.adcp.stores().await?, studio)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
