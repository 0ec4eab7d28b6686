//! Serves the reference seller.
//!
//! ```text
//! cargo run -p sales-non-guaranteed -- --bind 127.0.0.1:3000
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "reference-seller",
    version,
    about = "The adcp-rs reference AdCP seller (sales-non-guaranteed)"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "ADCP_BIND", default_value = "127.0.0.1:3000")]
    bind: SocketAddr,
    /// Public base URL, when the seller is reached through a proxy.
    #[arg(long, env = "ADCP_PUBLIC_URL")]
    public_url: Option<String>,
    /// Serve `comply_test_controller` to sandbox accounts (on by default for this reference seller).
    #[arg(long, env = "ADCP_COMPLIANCE_TESTING", default_value_t = true, action = clap::ArgAction::Set)]
    compliance_testing: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ADCP_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let server = match sales_non_guaranteed::server(sales_non_guaranteed::config(
        cli.compliance_testing,
        cli.public_url,
    )) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(cli.bind).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(bind = %cli.bind, "cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    match adcp_runtime::http::run_on(server, listener).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
