//! The command line every seller needs (feature `cli`): a clap [`Args`] to flatten into one's
//! own CLI, turned into [`Config`] and [`Stores`]. Every flag has an `ADCP_*` variable; secrets
//! (API keys, the database URL) are never shown by `--help`, even when set in the environment.
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     adcp: adcp_runtime::cli::Args,
//! }
//!
//! # async fn go<P: adcp_runtime::DecisioningPlatform>(platform: P) -> Result<(), Box<dyn std::error::Error>> {
//! let cli = Cli::parse();
//! cli.adcp.init_logging()?;
//! let config = cli.adcp.config(adcp_runtime::Config::default())?;
//! adcp_runtime::serve(platform)
//!     .config(config)
//!     .stores(cli.adcp.stores().await?)
//!     .catalog(Vec::new())
//!     .bind(cli.adcp.bind)
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! | flag | variable | meaning |
//! |---|---|---|
//! | `--bind` | `ADCP_BIND` | address to listen on (`127.0.0.1:3000`) |
//! | `--public-url` | `ADCP_PUBLIC_URL` | the agent's public base URL, behind a proxy |
//! | `--data-dir` | `ADCP_DATA_DIR` | directory of the embedded SQLite store (`data`) |
//! | `--database-url` | `ADCP_DATABASE_URL` | PostgreSQL instead (replicas share it) |
//! | `--memory` | `ADCP_MEMORY` | everything in memory, lost on exit |
//! | `--api-key P=KEY` | `ADCP_API_KEYS` | an API key of principal P (repeatable; comma-separated) |
//! | `--api-key-sha256 P=HEX` | `ADCP_API_KEY_HASHES` | a key by its sha256 |
//! | `--signing-jwks P=PATH` | `ADCP_SIGNING_JWKS` | verify RFC 9421 signatures with a JWKS file |
//! | `--signing-revoke KID` | `ADCP_SIGNING_REVOKED` | a revoked signing key id |
//! | `--signing-cap N` | `ADCP_SIGNING_CAP` | live nonces a signing key may hold |
//! | `--signing-content-digest` | `ADCP_SIGNING_CONTENT_DIGEST` | `required`, `either` or `forbidden` |
//! | `--signing-required-for TASK` | `ADCP_SIGNING_REQUIRED_FOR` | a task whose calls must be signed |
//! | `--webhook-signing-key PATH` | `ADCP_WEBHOOK_SIGNING_KEY` | private JWK webhooks are signed with |
//! | `--allow-private-webhooks` | `ADCP_ALLOW_PRIVATE_WEBHOOKS` | let webhooks reach loopback (tests) |
//! | `--compliance-testing BOOL` | `ADCP_COMPLIANCE_TESTING` | serve `comply_test_controller` |
//! | `--log FILTER` | `ADCP_LOG` | tracing filter (`info`, `adcp_runtime=debug`) |
//! | `--log-format` | `ADCP_LOG_FORMAT` | `text` or `json` |
//!
//! An agent wrapping an upstream platform also flattens [`UpstreamArgs`]: `--upstream-url`
//! (`ADCP_UPSTREAM_URL`) and `--upstream-key` (`ADCP_UPSTREAM_KEY`).

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::auth::Auth;
use crate::config::Config;
use crate::signing::{DigestPolicy, KeySet, RequestSigning, SigningKey};
use crate::store::Principal;
use crate::store::Stores;

/// Why the command line could not be turned into a server.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value is wrong.
    #[error("{flag}: {message}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
}

fn invalid(flag: &'static str, message: impl Into<String>) -> CliError {
    CliError::Invalid {
        flag,
        message: message.into(),
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal only).
    Text,
    /// One JSON object per line.
    Json,
}

/// The flags of an agent wrapping an upstream platform over HTTP (flatten it next to
/// [`Args`]): `--upstream-url` / `ADCP_UPSTREAM_URL` and `--upstream-key` / `ADCP_UPSTREAM_KEY`.
/// `Debug` never shows the key.
#[derive(clap::Args, Clone)]
pub struct UpstreamArgs {
    /// The upstream platform's base URL (`http://127.0.0.1:4100`).
    #[arg(long = "upstream-url", env = "ADCP_UPSTREAM_URL")]
    pub upstream_url: String,
    /// The bearer key the upstream expects.
    #[arg(
        long = "upstream-key",
        env = "ADCP_UPSTREAM_KEY",
        hide_env_values = true
    )]
    pub upstream_key: Option<String>,
}

impl std::fmt::Debug for UpstreamArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamArgs")
            .field("upstream_url", &self.upstream_url)
            .field(
                "upstream_key",
                &self.upstream_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl UpstreamArgs {
    /// The client for the upstream.
    pub fn upstream(&self) -> crate::upstream::Upstream {
        let u = crate::upstream::Upstream::new(&self.upstream_url);
        match &self.upstream_key {
            Some(k) => u.bearer(k),
            None => u,
        }
    }
}

/// The flags every AdCP agent takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "ADCP_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// The agent's public base URL (`https://seller.example`), when it is reached through a
    /// proxy: URLs the agent advertises are built from it.
    #[arg(long, env = "ADCP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Another host name the agent is reached by (repeatable, or comma-separated), besides
    /// loopback names and the public URL's host: requests naming any other `Host` or browser
    /// `Origin` are refused.
    #[arg(
        long = "allowed-host",
        env = "ADCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Directory of the embedded SQLite store (tasks, idempotency records, webhooks, state).
    #[arg(long, env = "ADCP_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host:5432/db`) instead of SQLite: replicas sharing
    /// it share tasks, replays and state.
    #[arg(
        long,
        env = "ADCP_DATABASE_URL",
        hide_env_values = true,
        conflicts_with = "memory"
    )]
    pub database_url: Option<String>,
    /// Keep everything in memory (lost on exit) instead of SQLite.
    #[arg(long, env = "ADCP_MEMORY")]
    pub memory: bool,
    /// An API key, as `PRINCIPAL=KEY` (repeatable, or comma-separated). With any key, every
    /// task but `get_adcp_capabilities` needs `Authorization: Bearer <key>`; only the key's
    /// sha256 is kept.
    #[arg(
        long = "api-key",
        env = "ADCP_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_keys: Vec<String>,
    /// Calls a second each principal may make (0 or unset: unlimited); over it, calls are
    /// answered `RATE_LIMITED` with `retry_after`. Counted per replica.
    #[arg(long, env = "ADCP_RATE_LIMIT")]
    pub rate_limit: Option<u32>,
    /// Calls a principal may make at once after a quiet spell (default: `--rate-limit`).
    #[arg(long, env = "ADCP_RATE_LIMIT_BURST", requires = "rate_limit")]
    pub rate_limit_burst: Option<u32>,
    /// Calls a second the agent takes from all callers together (0 or unset: unlimited).
    #[arg(long, env = "ADCP_SERVER_RATE_LIMIT")]
    pub server_rate_limit: Option<u32>,
    /// The bearer token `/metrics` asks for; unset, only loopback callers are served it.
    #[arg(long, env = "ADCP_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// An API key by its sha256, as `PRINCIPAL=HEX` (repeatable), so the key itself need not
    /// be in the configuration.
    #[arg(
        long = "api-key-sha256",
        env = "ADCP_API_KEY_HASHES",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub api_key_hashes: Vec<String>,
    /// An OAuth issuer whose JWT access tokens are accepted (signature by its JWKS, `iss`,
    /// `aud` = the URL called, expiry); advertised in the RFC 9728 metadata.
    #[arg(long, env = "ADCP_OAUTH_ISSUER")]
    pub oauth_issuer: Option<String>,
    /// The issuer's JWKS URL, when its metadata does not name it.
    #[arg(long, env = "ADCP_OAUTH_JWKS_URI", requires = "oauth_issuer")]
    pub oauth_jwks_uri: Option<String>,
    /// Verify RFC 9421 signed requests made with the keys of a JWKS file, as
    /// `PRINCIPAL=PATH` (repeatable). A verified signature authenticates the call as PRINCIPAL.
    #[arg(
        long = "signing-jwks",
        env = "ADCP_SIGNING_JWKS",
        value_delimiter = ','
    )]
    pub signing_jwks: Vec<String>,
    /// A revoked key id: its signatures are refused (repeatable).
    #[arg(
        long = "signing-revoke",
        env = "ADCP_SIGNING_REVOKED",
        value_delimiter = ','
    )]
    pub signing_revoked: Vec<String>,
    /// Live nonces one signing key may hold before its new signatures are refused as abuse.
    #[arg(long, env = "ADCP_SIGNING_CAP", default_value_t = crate::signing::DEFAULT_CAP)]
    pub signing_cap: u64,
    /// Content-digest coverage of request signatures: required, either or forbidden.
    #[arg(long, env = "ADCP_SIGNING_CONTENT_DIGEST", default_value = "either")]
    pub signing_content_digest: DigestPolicy,
    /// A task whose unsigned calls are refused unless another credential is presented
    /// (repeatable).
    #[arg(
        long = "signing-required-for",
        env = "ADCP_SIGNING_REQUIRED_FOR",
        value_delimiter = ','
    )]
    pub signing_required_for: Vec<String>,
    /// The private JWK (ed25519 or P-256) outbound webhooks are signed with. Without it a
    /// key is generated at start (it then changes on restart and differs between replicas).
    #[arg(long, env = "ADCP_WEBHOOK_SIGNING_KEY")]
    pub webhook_signing_key: Option<PathBuf>,
    /// The private JWK (ed25519 or P-256) a governance agent signs its approvals'
    /// `governance_context` with. Without it a key is generated at start: approvals then
    /// verify only until a restart.
    #[arg(long, env = "ADCP_GOVERNANCE_SIGNING_KEY")]
    pub governance_signing_key: Option<PathBuf>,
    /// Let webhooks reach loopback and private addresses (local test receivers only; the
    /// SSRF guard refuses them otherwise).
    #[arg(long, env = "ADCP_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Serve `comply_test_controller` to sandbox accounts (the agent's default otherwise).
    #[arg(long, env = "ADCP_COMPLIANCE_TESTING", action = clap::ArgAction::Set)]
    pub compliance_testing: Option<bool>,
    /// What to log: a tracing filter (`info`, `debug`, `adcp_runtime=debug,info`). Secrets
    /// are redacted from logged calls.
    #[arg(long = "log", env = "ADCP_LOG", default_value = "info")]
    pub log: String,
    /// How logs are written.
    #[arg(long, env = "ADCP_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

fn read_json(flag: &'static str, path: &Path) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(flag, format!("reading {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| invalid(flag, format!("{} is not JSON: {e}", path.display())))
}

fn pair<'a>(
    flag: &'static str,
    entry: &'a str,
    shape: &str,
) -> Result<(&'a str, &'a str), CliError> {
    entry
        .split_once('=')
        .filter(|(p, v)| !p.is_empty() && !v.is_empty())
        .ok_or_else(|| invalid(flag, format!("give it as {shape}")))
}

impl Args {
    /// Logs to stderr as `--log` and `--log-format` say (colour only on a terminal).
    pub fn init_logging(&self) -> Result<(), CliError> {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| invalid("--log", e.to_string()))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let r = match self.log_format {
            LogFormat::Text => builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        r.map_err(|e| invalid("--log", e.to_string()))
    }

    /// The stores: memory, PostgreSQL, or SQLite under `--data-dir` (the default).
    pub async fn stores(&self) -> Result<Stores, CliError> {
        Ok(if self.memory {
            Stores::memory()
        } else if let Some(url) = &self.database_url {
            Stores::open(url).await?
        } else {
            Stores::sqlite(&self.data_dir).await?
        })
    }

    /// `base` with the flags applied: public URL, compliance testing, private webhooks,
    /// authentication, request signing and the webhook signing key.
    pub fn config(&self, mut base: Config) -> Result<Config, CliError> {
        base.allowed_hosts
            .extend(self.allowed_hosts.iter().cloned());
        if let Some(u) = &self.public_url {
            base.public_url = Some(u.clone());
        }
        if let Some(on) = self.compliance_testing {
            base.compliance_testing = on;
        }
        if let Some(rate) = self.rate_limit.and_then(crate::RateLimit::per_second) {
            base.rate_limit = Some(match self.rate_limit_burst {
                Some(b) => rate.burst(b),
                None => rate,
            });
        }
        if let Some(rate) = self
            .server_rate_limit
            .and_then(crate::RateLimit::per_second)
        {
            base.server_rate_limit = Some(rate);
        }
        base.allow_private_webhooks |= self.allow_private_webhooks;
        if let Some(auth) = self.auth()? {
            base.auth = Some(auth);
        }
        if let Some(signing) = self.request_signing()? {
            base.request_signing = Some(signing);
        }
        base.webhook_signing_key = Some(Arc::new(self.webhook_key()?));
        base.governance_signing_key = Some(Arc::new(self.governance_key()?));
        Ok(base)
    }

    fn auth(&self) -> Result<Option<Auth>, CliError> {
        if self.api_keys.is_empty() && self.api_key_hashes.is_empty() && self.oauth_issuer.is_none()
        {
            return Ok(None);
        }
        let mut auth = Auth::new();
        if let Some(issuer) = &self.oauth_issuer {
            let mut verifier = crate::JwtVerifier::new(issuer.clone());
            if let Some(uri) = &self.oauth_jwks_uri {
                verifier = verifier.jwks_uri(uri.clone());
            }
            auth = auth.oauth(issuer.clone(), std::sync::Arc::new(verifier));
        }
        for entry in &self.api_keys {
            let (principal, key) = pair("--api-key", entry, "PRINCIPAL=KEY")?;
            auth = auth
                .key(principal, key)
                .map_err(|e| invalid("--api-key", format!("the key of `{principal}`: {e}")))?;
        }
        for entry in &self.api_key_hashes {
            let (principal, hex) = pair("--api-key-sha256", entry, "PRINCIPAL=HEX")?;
            auth = auth.key_sha256(principal, hex).map_err(|e| {
                invalid("--api-key-sha256", format!("the key of `{principal}`: {e}"))
            })?;
        }
        Ok(Some(auth))
    }

    fn request_signing(&self) -> Result<Option<RequestSigning>, CliError> {
        if self.signing_jwks.is_empty() {
            return Ok(None);
        }
        let mut keys = KeySet::default();
        for entry in &self.signing_jwks {
            let (principal, path) = pair("--signing-jwks", entry, "PRINCIPAL=PATH")?;
            let jwks = read_json("--signing-jwks", Path::new(path))?;
            let principal = Principal {
                id: principal.to_owned(),
            };
            keys.add_jwks(&principal, &jwks, self.signing_cap)
                .map_err(|e| invalid("--signing-jwks", format!("{path}: {e}")))?;
        }
        for kid in &self.signing_revoked {
            keys.revoke(kid.clone());
        }
        let mut signing =
            RequestSigning::new(keys).covers_content_digest(self.signing_content_digest);
        for op in &self.signing_required_for {
            signing = signing.require_for(op.clone());
        }
        Ok(Some(signing))
    }

    fn governance_key(&self) -> Result<SigningKey, CliError> {
        const FLAG: &str = "--governance-signing-key";
        let use_ = crate::signing::governance::KEY_USE;
        match &self.governance_signing_key {
            Some(path) => SigningKey::from_jwk(&read_json(FLAG, path)?)
                .map(|k| k.for_use(use_))
                .map_err(|e| invalid(FLAG, format!("{}: {e}", path.display()))),
            None => {
                let kid = format!("governance-{}", crate::time::now().unix_timestamp());
                SigningKey::generate_ed25519(&kid)
                    .map(|k| k.for_use(use_))
                    .map_err(|e| invalid(FLAG, e.to_string()))
            }
        }
    }

    fn webhook_key(&self) -> Result<SigningKey, CliError> {
        const FLAG: &str = "--webhook-signing-key";
        match &self.webhook_signing_key {
            Some(path) => SigningKey::from_jwk(&read_json(FLAG, path)?)
                .map_err(|e| invalid(FLAG, format!("{}: {e}", path.display()))),
            None => {
                let kid = format!("webhook-{}", crate::time::now().unix_timestamp());
                tracing::warn!(%kid, "no --webhook-signing-key: signing webhooks with a key generated now");
                SigningKey::generate_ed25519(&kid).map_err(|e| invalid(FLAG, e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        adcp: Args,
    }

    #[test]
    fn flags_become_settings() {
        let cli = Cli::try_parse_from([
            "agent",
            "--api-key",
            "buyer=buyer-key-0123456789abcdef",
            "--compliance-testing",
            "false",
            "--public-url",
            "https://seller.example",
        ])
        .unwrap();
        let c = cli.adcp.config(Config {
            compliance_testing: true,
            ..Config::default()
        });
        let c = c.unwrap();
        assert!(c.auth.is_some());
        assert!(!c.compliance_testing);
        assert_eq!(c.public_url.as_deref(), Some("https://seller.example"));
        let ops = Cli::try_parse_from([
            "agent",
            "--oauth-issuer",
            "https://auth.example",
            "--rate-limit",
            "20",
            "--rate-limit-burst",
            "40",
            "--server-rate-limit",
            "500",
            "--allowed-host",
            "seller.internal,seller.lan",
        ])
        .unwrap();
        let c = ops.adcp.config(Config::default()).unwrap();
        let auth = c.auth.expect("OAuth alone turns authentication on");
        assert_eq!(auth.authorization_servers(), ["https://auth.example"]);
        assert_eq!(
            c.rate_limit,
            crate::RateLimit::per_second(20).map(|r| r.burst(40))
        );
        assert_eq!(c.server_rate_limit, crate::RateLimit::per_second(500));
        assert_eq!(c.allowed_hosts, ["seller.internal", "seller.lan"]);
        let bad = Cli::try_parse_from(["agent", "--api-key", "nokey"]).unwrap();
        let e = bad.adcp.config(Config::default()).unwrap_err();
        assert!(e.to_string().starts_with("--api-key"), "{e}");
    }
}
