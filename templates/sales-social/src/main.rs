//! `cargo run -p sales-social -- --upstream-url http://127.0.0.1:4600 --upstream-key ID:SECRET \
//!     --upstream-sandbox --advertiser-grant '*=*'`

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An AdCP seller for a social platform, over its marketing API.
#[derive(Parser)]
#[command(name = "sales-social", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
    #[command(flatten)]
    upstream: adcp_runtime::cli::UpstreamArgs,
    /// Callers acting for brands' advertisers: `PRINCIPAL=DOMAIN[,DOMAIN...]`, `*` for any
    /// caller or brand (repeatable; `;`-separated in the variable). None by default.
    #[arg(
        long = "advertiser-grant",
        env = "ADCP_ADVERTISER_GRANTS",
        value_delimiter = ';'
    )]
    grants: Vec<String>,
    /// The platform is a test platform (the SDK's mock): sandbox accounts use it. Otherwise
    /// they are kept in the seller's store alone.
    #[arg(long = "upstream-sandbox", env = "ADCP_UPSTREAM_SANDBOX")]
    upstream_sandbox: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_social::config(true))?;
    // The platform's OAuth client, given as `client_id:client_secret`.
    let key = cli.upstream.upstream_key.as_deref().unwrap_or_default();
    let Some((id, secret)) = key.split_once(':') else {
        return Err(
            "--upstream-key (ADCP_UPSTREAM_KEY) is the platform's OAuth client, \
                    as `client_id:client_secret`"
                .into(),
        );
    };
    let mut grants = sales_social::Grants::none();
    for g in &cli.grants {
        grants = grants
            .parse(g)
            .map_err(|e| format!("--advertiser-grant {e}"))?;
    }
    let garden = sales_social::Garden::new(&cli.upstream.upstream_url, id, secret)
        .grants(grants)
        .sandbox_platform(cli.upstream_sandbox);
    sales_social::agent(config, cli.adcp.stores().await?, garden)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
