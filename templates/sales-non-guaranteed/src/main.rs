//! The reference seller: `cargo run -p sales-non-guaranteed -- --help`.

use clap::Parser;

/// The request path builds and drops many small JSON values; glibc's allocator is slow at it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The adcp-rs reference AdCP seller (sales-non-guaranteed). Compliance testing is on unless
/// `--compliance-testing false`.
#[derive(Parser)]
#[command(name = "reference-seller", version)]
struct Cli {
    #[command(flatten)]
    adcp: adcp_runtime::cli::Args,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    cli.adcp.init_logging()?;
    let config = cli.adcp.config(sales_non_guaranteed::config(true))?;
    let stores = cli.adcp.stores().await?;
    sales_non_guaranteed::agent(config, stores)
        .bind(cli.adcp.bind)
        .run()
        .await?;
    Ok(())
}
