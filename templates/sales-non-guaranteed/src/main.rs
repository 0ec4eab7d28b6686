//! Serves the reference seller.
//!
//! ```text
//! cargo run -p sales-non-guaranteed -- --bind 127.0.0.1:3000 --data-dir ./data
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use adcp_runtime::Stores;
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
    /// Directory of the embedded SQLite store (tasks, idempotency records, webhooks, state).
    #[arg(long, env = "ADCP_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host:5432/db`) instead of SQLite: replicas sharing it
    /// share tasks, replays and state.
    #[arg(long, env = "ADCP_DATABASE_URL", conflicts_with = "memory")]
    database_url: Option<String>,
    /// Keep everything in memory (lost on exit) instead of SQLite.
    #[arg(long)]
    memory: bool,
    /// Let webhooks reach loopback and private addresses (local test receivers only; the SSRF
    /// guard refuses them otherwise).
    #[arg(long, env = "ADCP_ALLOW_PRIVATE_WEBHOOKS")]
    allow_private_webhooks: bool,
    /// An API key, as `PRINCIPAL=KEY` (repeatable; `ADCP_API_KEYS` takes a comma-separated
    /// list). With any key configured, every task but `get_adcp_capabilities` needs
    /// `Authorization: Bearer <key>`; only the key's sha256 is kept.
    #[arg(long = "api-key", env = "ADCP_API_KEYS", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// An API key by its sha256, as `PRINCIPAL=HEX` (repeatable; `ADCP_API_KEY_HASHES`), so the
    /// key itself need not be in the configuration.
    #[arg(
        long = "api-key-sha256",
        env = "ADCP_API_KEY_HASHES",
        value_delimiter = ','
    )]
    api_key_hashes: Vec<String>,
}

/// Authentication from the command line: `None` when no key is configured.
fn auth(cli: &Cli) -> Result<Option<adcp_runtime::auth::Auth>, String> {
    if cli.api_keys.is_empty() && cli.api_key_hashes.is_empty() {
        return Ok(None);
    }
    let mut auth = adcp_runtime::auth::Auth::new();
    for (entries, hashed) in [(&cli.api_keys, false), (&cli.api_key_hashes, true)] {
        for entry in entries {
            let (principal, secret) = entry
                .split_once('=')
                .ok_or_else(|| "an API key is given as PRINCIPAL=KEY".to_owned())?;
            auth = if hashed {
                auth.key_sha256(principal, secret)
            } else {
                auth.key(principal, secret)
            }
            .map_err(|e| format!("API key of `{principal}`: {e}"))?;
        }
    }
    Ok(Some(auth))
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
    let stores = if cli.memory {
        Ok(Stores::memory())
    } else if let Some(url) = &cli.database_url {
        Stores::open(url).await
    } else {
        Stores::sqlite(&cli.data_dir).await
    };
    let stores = match stores {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot open the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let auth = match auth(&cli) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if auth.is_none() {
        tracing::warn!("no API key configured: every task is served without authentication");
    }
    let mut config = sales_non_guaranteed::config(cli.compliance_testing, cli.public_url);
    config.allow_private_webhooks = cli.allow_private_webhooks;
    config.auth = auth;
    let server = match sales_non_guaranteed::server(config, stores) {
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
