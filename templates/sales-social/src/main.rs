//! `cargo run -p sales-social -- --upstream-url http://127.0.0.1:4600 --upstream-key ID:SECRET`

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
    let garden = sales_social::Garden::new(&cli.upstream.upstream_url, id, secret);
    sales_social::agent(config, cli.adcp.stores().await?, garden)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
