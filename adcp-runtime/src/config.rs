//! A server's settings, and what a transport hands the pipeline: one call in, one reply out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::store::Principal;
use crate::webhooks::Retry;

/// The AdCP major version this runtime speaks.
pub const MAJOR_VERSION: i64 = 3;

/// Server settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The agent's name (MCP `serverInfo.name`, A2A card).
    pub name: String,
    /// The agent's version.
    pub version: String,
    /// What the agent does, in a sentence.
    pub description: String,
    /// The public base URL (`https://seller.example`). Unset, the URLs the agent advertises
    /// name the loopback `Host` it was reached at.
    pub public_url: Option<String>,
    /// Host names (optionally with a port) the agent answers to besides loopback names and the
    /// host of `public_url`: requests naming any other `Host` or browser `Origin` are refused
    /// (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Compliance testing: serves `comply_test_controller` to sandbox accounts and maps the
    /// runner's test identities to one sandbox scope. Webhooks to loopback need
    /// `allow_private_webhooks` as well.
    pub compliance_testing: bool,
    /// Capability sections merged into the derived `get_adcp_capabilities` (`account`,
    /// `media_buy`, ...).
    pub capabilities: Value,
    /// How long idempotent replays are served.
    pub replay_ttl: Duration,
    /// Check every response against its schema and log the mismatches (on in debug builds).
    pub validate_responses: bool,
    /// Let webhooks reach loopback, private and plain-http destinations. Off by default (the
    /// SSRF guard); for tests against a local receiver only.
    pub allow_private_webhooks: bool,
    /// Send the webhook of a call with `push_notification_config` that completes in its
    /// response. AdCP 3.0 receivers (and its compliance runner) expect it; later AdCP text
    /// forbids it. On by default.
    pub webhooks_on_sync_completion: bool,
    /// How long this replica's hold on running work lasts without renewal; work held longer
    /// by a dead replica is adopted by another.
    pub task_lease: Duration,
    /// Webhook retry timing.
    pub webhook_retry: Retry,
    /// In `singleton` account mode, the platform account's id: each caller acts for
    /// `<base>:<principal>`.
    pub singleton_account: String,
    /// Authentication: `None` serves every task to anyone (development only).
    pub auth: Option<crate::auth::Auth>,
    /// RFC 9421 verification of signed requests: `None` ignores signatures.
    pub request_signing: Option<crate::signing::RequestSigning>,
    /// The key outbound webhooks are signed with (RFC 9421 webhook profile) when the buyer
    /// registered no `authentication`; published at `/.well-known/jwks.json`.
    pub webhook_signing_key: Option<Arc<crate::signing::SigningKey>>,
    /// The key a governance agent signs its approvals' `governance_context` with (a compact
    /// JWS, [`crate::signing::governance`]); published at `/.well-known/jwks.json` when the
    /// agent serves `check_governance`. `None`: approvals carry an opaque id.
    pub governance_signing_key: Option<Arc<crate::signing::SigningKey>>,
    /// How webhooks leave the agent (`None`: the runtime's SSRF-guarded client); see
    /// [`crate::WebhookTransport`].
    pub webhook_transport: Option<crate::webhooks::Transport>,
    /// The clock delivery reports are scheduled by (the system's; a test may move its own).
    pub clock: crate::time::Clock,
    /// How often each replica looks for delivery reports that are due (a report made due on
    /// any replica wakes them sooner).
    pub reporting_poll: std::time::Duration,
    /// Calls a second each principal may make (`None`: unlimited); over it a call is answered
    /// `RATE_LIMITED` with `retry_after`. Counted per replica.
    pub rate_limit: Option<crate::limits::RateLimit>,
    /// Calls a second the server takes from everyone together: a tenant's share of a
    /// [`TenantRegistry`](crate::TenantRegistry)'s process. Counted per replica.
    pub server_rate_limit: Option<crate::limits::RateLimit>,
    /// The bearer token `/metrics` asks for; unset, it is served to loopback callers only
    /// (never through a public name to the internet).
    pub metrics_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "adcp-rs agent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "An AdCP agent served by adcp-rs".into(),
            public_url: None,
            allowed_hosts: Vec::new(),
            compliance_testing: false,
            capabilities: json!({}),
            replay_ttl: crate::idempotency::DEFAULT_RETENTION,
            validate_responses: cfg!(debug_assertions),
            allow_private_webhooks: false,
            webhooks_on_sync_completion: true,
            task_lease: crate::tasks::DEFAULT_LEASE,
            webhook_retry: Retry::default(),
            singleton_account: "default".into(),
            auth: None,
            request_signing: None,
            webhook_signing_key: None,
            governance_signing_key: None,
            webhook_transport: None,
            clock: crate::time::Clock::system(),
            reporting_poll: std::time::Duration::from_secs(5),
            rate_limit: None,
            server_rate_limit: None,
            metrics_token: None,
        }
    }
}

/// One call, as a transport received it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The tool (task) name.
    pub tool: String,
    /// The arguments.
    pub args: Value,
    /// The authenticated caller.
    pub principal: Option<Principal>,
    /// This agent's URL as the caller reached it.
    pub agent_url: String,
    /// An A2A call's message `contextId`, with its `pushNotificationConfig` when it gave one
    /// (`url`, ...: A2A-shaped webhooks). A hand-off keeps it, so its A2A task is rendered in
    /// the caller's context on any replica.
    pub a2a_push: Option<Value>,
    /// The caller's network address, when the transport knows it: callers without
    /// credentials are rate-limited by it rather than all together.
    pub peer: Option<std::net::IpAddr>,
    /// A grant the caller presented instead of a principal's credential: the call is served
    /// as the grant's issuer's, if the grant covers it.
    pub grant: Option<crate::Grant>,
}

impl Call {
    /// A call of `tool` with `args`.
    pub fn new(tool: impl Into<String>, args: Value) -> Self {
        Call {
            tool: tool.into(),
            args,
            principal: None,
            agent_url: "http://127.0.0.1/mcp".into(),
            a2a_push: None,
            peer: None,
            grant: None,
        }
    }
}

/// The answer to a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The response, envelope included.
    pub body: Value,
    /// Whether the call failed (MCP `isError`, A2A `failed`).
    pub is_error: bool,
}

impl Reply {
    /// The task status the body carries.
    pub fn status(&self) -> &str {
        self.body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("completed")
    }
}
