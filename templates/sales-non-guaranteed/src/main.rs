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

/// mimalloc: the request path builds and drops many small JSON values, which glibc's allocator
/// serves slowly under concurrency.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Verify RFC 9421 signed requests made with the keys of a JWKS file, as
    /// `PRINCIPAL=PATH` (repeatable; `ADCP_SIGNING_JWKS`). A verified signature authenticates
    /// the call as PRINCIPAL.
    #[arg(
        long = "signing-jwks",
        env = "ADCP_SIGNING_JWKS",
        value_delimiter = ','
    )]
    signing_jwks: Vec<String>,
    /// A revoked key id: its signatures are refused (repeatable).
    #[arg(
        long = "signing-revoke",
        env = "ADCP_SIGNING_REVOKED",
        value_delimiter = ','
    )]
    signing_revoked: Vec<String>,
    /// Live nonces one signing key may hold before its new signatures are refused as abuse.
    #[arg(long, env = "ADCP_SIGNING_CAP", default_value_t = adcp_runtime::signing::DEFAULT_CAP)]
    signing_cap: u64,
    /// Content-digest coverage of request signatures: required, either or forbidden.
    #[arg(long, env = "ADCP_SIGNING_CONTENT_DIGEST", default_value = "either")]
    signing_content_digest: adcp_runtime::signing::DigestPolicy,
    /// A task whose unsigned calls are refused unless another credential is presented
    /// (repeatable).
    #[arg(long = "signing-required-for", value_delimiter = ',')]
    signing_required_for: Vec<String>,
    /// The private JWK (ed25519 or P-256) outbound webhooks are signed with. Without it a key
    /// is generated at start (so it changes on restart and differs between replicas).
    #[arg(long, env = "ADCP_WEBHOOK_SIGNING_KEY")]
    webhook_signing_key: Option<PathBuf>,
}

fn read_json(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))
}

/// Request signing from the command line: `None` when no JWKS is given.
fn request_signing(cli: &Cli) -> Result<Option<adcp_runtime::signing::RequestSigning>, String> {
    use adcp_runtime::signing::{KeySet, RequestSigning};
    if cli.signing_jwks.is_empty() {
        return Ok(None);
    }
    let mut keys = KeySet::default();
    for entry in &cli.signing_jwks {
        let (principal, path) = entry
            .split_once('=')
            .ok_or_else(|| "a signing JWKS is given as PRINCIPAL=PATH".to_owned())?;
        let principal = adcp_runtime::Principal {
            id: principal.to_owned(),
        };
        keys.add_jwks(&principal, &read_json(path)?, cli.signing_cap)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    for kid in &cli.signing_revoked {
        keys.revoke(kid.clone());
    }
    let mut signing = RequestSigning::new(keys).covers_content_digest(cli.signing_content_digest);
    for op in &cli.signing_required_for {
        signing = signing.require_for(op.clone());
    }
    Ok(Some(signing))
}

/// The webhook signing key: the configured one, else a fresh one.
fn webhook_key(cli: &Cli) -> Result<adcp_runtime::signing::SigningKey, String> {
    use adcp_runtime::signing::SigningKey;
    match &cli.webhook_signing_key {
        Some(path) => {
            let path = path.display().to_string();
            SigningKey::from_jwk(&read_json(&path)?).map_err(|e| format!("{path}: {e}"))
        }
        None => {
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let kid = format!("webhook-{started}");
            tracing::warn!(%kid, "no --webhook-signing-key: signing webhooks with a key generated now");
            SigningKey::generate_ed25519(&kid).map_err(|e| e.to_string())
        }
    }
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
    let (auth, request_signing, webhook_key) =
        match (auth(&cli), request_signing(&cli), webhook_key(&cli)) {
            (Ok(a), Ok(r), Ok(w)) => (a, r, w),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
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
    config.request_signing = request_signing;
    config.webhook_signing_key = Some(std::sync::Arc::new(webhook_key));
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
