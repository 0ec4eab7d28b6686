//! `cargo run -p sponsored-intelligence -- --memory --upstream-url http://127.0.0.1:4700 \
//!     --upstream-key mock_si_brand_key_do_not_use_in_prod --brand novamotors.example`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP sponsored-intelligence agent, over a brand-agent platform.
#[derive(Parser)]
#[command(name = "sponsored-intelligence", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
    /// A brand this agent fronts, by domain (repeatable, or comma-separated): its offerings
    /// are served.
    #[arg(
        long = "brand",
        env = "ADCP_SI_BRANDS",
        value_delimiter = ',',
        required = true
    )]
    brands: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sponsored_intelligence::config(true))?;
    let key = cli.upstream.upstream_key.as_deref().unwrap_or_default();
    let brands = sponsored_intelligence::BrandConversations::new(
        &cli.upstream.upstream_url,
        key,
        cli.brands,
    );
    sponsored_intelligence::agent(config, cli.adcp.stores().await?, brands)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
