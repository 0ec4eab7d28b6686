//! Governance-aware selling: the buyer's campaign-governance agents, registered per account with
//! `sync_governance`, are asked before spend is confirmed.
//!
//! For a platform that claims `governance_aware_seller`, the runtime serves `sync_governance`
//! (replace semantics: an entry's agents replace the account's; the caller must be able to act
//! for each account it names, and the account must take changes, else that entry fails; an
//! agent URL the SSRF guard refuses fails the entry; the credentials are kept and never shown
//! again) and, before the platform's code runs:
//!
//! - on `create_media_buy` naming a `plan_id`, calls `check_governance` on each of the
//!   account's agents with the plan, this agent as `caller`, the buyer's `governance_context`
//!   and `invoice_recipient`, and the delivery as planned (flight and total budget): `denied`
//!   is answered `GOVERNANCE_DENIED` with the agent's findings and nothing is booked; an agent
//!   that cannot be consulted is `GOVERNANCE_UNAVAILABLE` (transient) and nothing is booked; a
//!   plan the agent does not know is `PLAN_NOT_FOUND` on `plan_id`; `approved` and `conditions`
//!   book the buy, whose answer carries the agent's `governance_context` and, under
//!   `ext.governance`, the decision, check id, conditions and findings (the platform sees the
//!   decision too: [`Ctx::governance_decision`]);
//! - a `create_media_buy` naming no plan on an account with agents is refused
//!   (`INVALID_REQUEST` on `plan_id`: the spec requires the plan then), except for a sandbox
//!   account under compliance testing, whose runner books such buys, where it is booked and
//!   logged;
//! - on `update_media_buy` of a buy booked that way (also one booked by a hand-off's work),
//!   when the update changes spend (budgets, new packages, flight, pricing, targeting, billing;
//!   not pauses, creative assignments or cancellations), checks again (`phase: modification`,
//!   the buy's last `governance_context`, the buy's total budget after the change).
//!
//! [`Ctx::governance`] gives a platform the same check for its own governed actions.
//!
//! [`Ctx::governance`]: crate::Ctx::governance
//! [`Ctx::governance_decision`]: crate::Ctx::governance_decision

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{AdcpError, AdcpResult, Recovery, codes};
use crate::state::{Collection, State};

/// A purchase a platform is about to make for its buyer (a signal activation, a rights
/// licence) that the buyer's plan governs: see `Ctx::govern`.
#[derive(Clone, Debug, Default)]
pub struct Purchase {
    /// `signal_activation`, `rights_license`, `creative_services`.
    pub purchase_type: String,
    /// The task (`activate_signal`).
    pub tool: String,
    /// What it commits, as the platform prices it (`None`: it cannot say).
    pub total: Option<f64>,
    /// When it starts and ends (RFC 3339), if it is for a period.
    pub start: Option<String>,
    /// See `start`.
    pub end: Option<String>,
    /// The request as the platform received it (the check's `payload`).
    pub payload: Map<String, Value>,
}

/// The account's governance agents (one document, `agents`).
pub(crate) const AGENTS: Collection<Vec<GovernanceAgent>> =
    Collection::new("adcp:governance_agents");
const AGENTS_ID: &str = "agents";
/// The plan, last governance context and package budgets of each buy booked under a check, by
/// media buy id (`task:<id>` while the create's work runs).
const GOVERNED: Collection<Governed> = Collection::new("adcp:governed_buys");

/// The most of a governance agent's answer that is read.
const ANSWER_LIMIT: usize = 1 << 20;

/// A governance agent a buyer registered for an account.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernanceAgent {
    /// Its MCP endpoint.
    pub url: String,
    /// The authentication scheme to present (`Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The credential to present (write-only on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// The governance categories it handles (`budget_authority`, ...; none: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

impl std::fmt::Debug for GovernanceAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernanceAgent")
            .field("url", &self.url)
            .field("scheme", &self.scheme)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("categories", &self.categories)
            .finish()
    }
}

/// What the runtime keeps of a buy booked under a check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Governed {
    plan_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    governance_context: Option<String>,
    /// Its packages' budgets as last checked, by package id.
    #[serde(default)]
    budgets: BTreeMap<String, f64>,
}

/// A governance agent's decision that lets the action proceed.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// `approved` or `conditions`.
    pub status: String,
    /// The agent's check record.
    pub check_id: String,
    /// The plan checked.
    pub plan_id: String,
    /// Its explanation.
    pub explanation: String,
    /// The token the seller keeps and forwards on later checks of the same action.
    pub governance_context: Option<String>,
    /// Adjustments the agent requires (`conditions`): the platform applies what it can.
    pub conditions: Vec<Value>,
    /// Its findings.
    pub findings: Vec<Value>,
    /// Until when the decision holds.
    pub expires_at: Option<String>,
}

/// A `check_governance` call: what is checked.
#[derive(Clone, Debug, Default)]
pub struct Check {
    /// The plan (`plan_id`).
    pub plan_id: String,
    /// `purchase`, `modification` or `delivery`.
    pub phase: String,
    /// `media_buy`, `rights_license`, `signal_activation`, ...
    pub purchase_type: Option<String>,
    /// What the seller will deliver (`planned_delivery`).
    pub planned_delivery: Option<Value>,
    /// The governance context of the action, from the buyer or an earlier check.
    pub governance_context: Option<String>,
    /// What changed (`modification`).
    pub modification_summary: Option<String>,
    /// The purchase's invoice recipient, which the agent must see when there is one.
    pub invoice_recipient: Option<Value>,
}

/// The governance agents of a request's account, and checks against them: see the module
/// docs.
pub struct Governance<'c> {
    pub(crate) state: State<'c>,
    pub(crate) caller: &'c str,
    pub(crate) policy: crate::ssrf::Policy,
}

impl Governance<'_> {
    /// The account's governance agents.
    pub async fn agents(&self) -> AdcpResult<Vec<GovernanceAgent>> {
        Ok(self.state.get(AGENTS, AGENTS_ID).await?.unwrap_or_default())
    }

    /// Asks each of the account's governance agents about `check`, in turn: `Ok(None)` when
    /// the account has none; the first denial is `GOVERNANCE_DENIED` (with the findings); an
    /// agent that cannot be asked is `GOVERNANCE_UNAVAILABLE`; conditions and findings
    /// accumulate, and the first agent's `governance_context` is the action's.
    pub async fn check(&self, check: &Check) -> AdcpResult<Option<Decision>> {
        let mut decision: Option<Decision> = None;
        for agent in self.agents().await? {
            let mut d = self.ask(&agent, check).await?;
            if let Some(prev) = decision.take() {
                d.conditions.splice(0..0, prev.conditions);
                d.findings.splice(0..0, prev.findings);
                if prev.status == "conditions" {
                    d.status = prev.status;
                }
                d.governance_context = prev.governance_context.or(d.governance_context);
            }
            decision = Some(d);
        }
        Ok(decision)
    }

    async fn ask(&self, agent: &GovernanceAgent, check: &Check) -> AdcpResult<Decision> {
        // The reason goes to the log only: the buyer names the URL, and what a name resolves
        // to inside this network is not its to learn.
        let unavailable = |why: String| {
            tracing::warn!(agent = %agent.url, "governance agent: {why}");
            AdcpError::new(
                codes::GOVERNANCE_UNAVAILABLE,
                "the account's governance agent could not be consulted; nothing was committed",
            )
            .with_recovery(Recovery::Transient)
            .with_details(json!({"agent_url": agent.url}))
        };
        let url = self
            .policy
            .check_url(&agent.url)
            .map_err(|e| unavailable(e.to_string()))?;
        let arguments = check_arguments(check, self.caller);
        let call = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "check_governance", "arguments": arguments},
        });
        let mcp = McpCall {
            url,
            agent,
            policy: self.policy,
        };
        // Stateless first; an agent that keeps MCP sessions is initialized and asked again.
        let rpc = match mcp.post(&call, None).await.map_err(&unavailable)? {
            Posted::Answer(rpc) => rpc,
            Posted::NeedsSession(status) => {
                let session = mcp.initialize().await.map_err(|e| {
                    unavailable(format!(
                        "answered HTTP {status}, and initialize failed: {e}"
                    ))
                })?;
                match mcp
                    .post(&call, Some(&session))
                    .await
                    .map_err(&unavailable)?
                {
                    Posted::Answer(rpc) => rpc,
                    Posted::NeedsSession(status) => {
                        return Err(unavailable(format!("answered HTTP {status}")));
                    }
                }
            }
        };
        let result = &rpc["result"];
        let answer = match result.get("structuredContent") {
            Some(v) if v.is_object() => v.clone(),
            _ => result
                .pointer("/content/0/text")
                .and_then(Value::as_str)
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null),
        };
        if rpc.get("error").is_some() || result["isError"] == json!(true) {
            let code = answer
                .pointer("/adcp_error/code")
                .or_else(|| answer.pointer("/errors/0/code"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if code == codes::PLAN_NOT_FOUND {
                return Err(AdcpError::new(
                    codes::PLAN_NOT_FOUND,
                    "the account's governance agent knows no such plan",
                )
                .with_field("plan_id"));
            }
            return Err(unavailable(format!("answered an error ({code})")));
        }
        match decision(&answer, check) {
            Ok(decided) => decided,
            Err(why) => Err(unavailable(why)),
        }
    }
}

/// One MCP endpoint of a governance agent.
struct McpCall<'a> {
    url: reqwest::Url,
    agent: &'a GovernanceAgent,
    policy: crate::ssrf::Policy,
}

/// What a POST to an MCP endpoint gave.
enum Posted {
    /// A JSON-RPC message.
    Answer(Value),
    /// Refused as if it needs a session first (HTTP 400 or 404 without one).
    NeedsSession(reqwest::StatusCode),
}

/// The MCP revision the runtime speaks to governance agents.
const MCP_VERSION: &str = "2025-06-18";

impl McpCall<'_> {
    async fn post(&self, message: &Value, session: Option<&str>) -> Result<Posted, String> {
        let mut request = client(self.policy)
            .post(self.url.clone())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(message.to_string());
        if let Some(c) = &self.agent.credentials {
            let scheme = self.agent.scheme.as_deref().unwrap_or("Bearer");
            request = request.header("authorization", format!("{scheme} {c}"));
        }
        if let Some(s) = session {
            request = request
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", MCP_VERSION);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let status = response.status();
        if session.is_none()
            && matches!(
                status,
                reqwest::StatusCode::BAD_REQUEST | reqwest::StatusCode::NOT_FOUND
            )
        {
            return Ok(Posted::NeedsSession(status));
        }
        if !status.is_success() {
            return Err(format!("answered HTTP {status}"));
        }
        let event_stream = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/event-stream"));
        let text = read_capped(&mut response).await?;
        let rpc = parse_rpc(&text, event_stream).ok_or("answered no JSON-RPC message")?;
        Ok(Posted::Answer(rpc))
    }

    /// `initialize` and `notifications/initialized`: the session id the agent gave.
    async fn initialize(&self) -> Result<String, String> {
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": MCP_VERSION, "capabilities": {},
                       "clientInfo": {"name": "adcp-rs", "version": env!("CARGO_PKG_VERSION")}},
        });
        let mut request = client(self.policy)
            .post(self.url.clone())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(init.to_string());
        if let Some(c) = &self.agent.credentials {
            let scheme = self.agent.scheme.as_deref().unwrap_or("Bearer");
            request = request.header("authorization", format!("{scheme} {c}"));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered HTTP {}", response.status()));
        }
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or("gave no session")?;
        read_capped(&mut response).await?;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&initialized, Some(&session)).await.ok();
        Ok(session)
    }
}

/// A response body, refused past [`ANSWER_LIMIT`] (the buyer names the agent).
async fn read_capped(response: &mut reqwest::Response) -> Result<String, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?
    {
        if body.len() + chunk.len() > ANSWER_LIMIT {
            return Err(format!("answered more than {ANSWER_LIMIT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| "answered text that is not UTF-8".to_owned())
}

/// The JSON-RPC message of an MCP answer (plain JSON, or the last `data:` of an event stream).
fn parse_rpc(text: &str, event_stream: bool) -> Option<Value> {
    if !event_stream {
        return serde_json::from_str(text).ok();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
}

/// The `check_governance` arguments of `check`, asked by `caller` (this agent).
pub(crate) fn check_arguments(check: &Check, caller: &str) -> Map<String, Value> {
    let mut arguments = Map::new();
    arguments.insert("adcp_major_version".into(), json!(crate::MAJOR_VERSION));
    arguments.insert("plan_id".into(), json!(check.plan_id));
    arguments.insert("caller".into(), json!(caller));
    let phase = if check.phase.is_empty() {
        "purchase"
    } else {
        &check.phase
    };
    arguments.insert("phase".into(), json!(phase));
    let optional = [
        (
            "purchase_type",
            check.purchase_type.clone().map(Value::from),
        ),
        ("planned_delivery", check.planned_delivery.clone()),
        (
            "governance_context",
            check.governance_context.clone().map(Value::from),
        ),
        (
            "modification_summary",
            check.modification_summary.clone().map(Value::from),
        ),
        ("invoice_recipient", check.invoice_recipient.clone()),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            arguments.insert(k.into(), v);
        }
    }
    arguments
}

/// A `check_governance` answer as a decision: denied is `GOVERNANCE_DENIED`; an answer that is
/// not one is the reason it is not (for `GOVERNANCE_UNAVAILABLE`).
pub(crate) fn decision(answer: &Value, check: &Check) -> Result<AdcpResult<Decision>, String> {
    let text = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
    let list = |k: &str| {
        answer
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let status = text("status").ok_or("answered no decision `status`")?;
    let d = Decision {
        check_id: text("check_id").unwrap_or_default(),
        plan_id: text("plan_id").unwrap_or_else(|| check.plan_id.clone()),
        explanation: text("explanation").unwrap_or_default(),
        governance_context: text("governance_context"),
        conditions: list("conditions"),
        findings: list("findings"),
        expires_at: text("expires_at"),
        status,
    };
    match d.status.as_str() {
        "approved" | "conditions" => Ok(Ok(d)),
        "denied" => {
            let message = if d.explanation.is_empty() {
                "the buyer's governance agent denied this".to_owned()
            } else {
                format!(
                    "the buyer's governance agent denied this: {}",
                    d.explanation
                )
            };
            Ok(Err(AdcpError::new(codes::GOVERNANCE_DENIED, message)
                .with_recovery(Recovery::Correctable)
                .with_details(json!({
                    "plan_id": d.plan_id,
                    "check_id": d.check_id,
                    "explanation": d.explanation,
                    "findings": d.findings,
                    "conditions": d.conditions,
                }))))
        }
        other => Err(format!("answered an unknown decision `{other}`")),
    }
}

/// The client for governance agents, under the webhook destination policy (the same SSRF
/// guard: a buyer names the URL).
fn client(policy: crate::ssrf::Policy) -> &'static reqwest::Client {
    static GUARDED: OnceLock<reqwest::Client> = OnceLock::new();
    static PRIVATE: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if policy.allow_private {
        &PRIVATE
    } else {
        &GUARDED
    };
    cell.get_or_init(|| crate::ssrf::client(policy))
}

/// Serves `sync_governance` for the caller `principal`: each entry's agents replace those of
/// the account it names, if the caller may act for it and it takes changes.
pub(crate) async fn sync(
    accounts: &crate::accounts::Resolver,
    store: &dyn crate::store::StateStore,
    policy: crate::ssrf::Policy,
    principal: Option<&crate::store::Principal>,
    args: &Value,
) -> AdcpResult<Value> {
    let spec = adcp_wire::task("sync_governance")
        .ok_or_else(|| AdcpError::internal("sync_governance is not in the catalogue"))?;
    let mut items = Vec::new();
    for (i, entry) in args["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let failed = |e: AdcpError| json!({"account": entry["account"], "status": "failed", "errors": [e.to_wire()]});
        let mut named = Map::new();
        named.insert("account".into(), entry["account"].clone());
        let resolved = match accounts.resolve(principal, &named).await {
            Ok(r) => r,
            Err(e) => {
                items.push(failed(e));
                continue;
            }
        };
        if let Err(e) = resolved.account.gate(spec, &named) {
            items.push(failed(e));
            continue;
        }
        let listed = entry["governance_agents"].as_array();
        let refused = listed.into_iter().flatten().enumerate().find_map(|(j, a)| {
            let url = a["url"].as_str().unwrap_or_default();
            policy.check_url(url).err().map(|e| {
                AdcpError::invalid_request(
                    format!("accounts[{i}].governance_agents[{j}].url"),
                    format!("the governance agent URL is refused: {e}"),
                )
            })
        });
        if let Some(e) = refused {
            items.push(failed(e));
            continue;
        }
        let agents: Vec<GovernanceAgent> = listed
            .into_iter()
            .flatten()
            .map(|a| GovernanceAgent {
                url: a["url"].as_str().unwrap_or_default().to_owned(),
                scheme: a
                    .pointer("/authentication/schemes/0")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                credentials: a
                    .pointer("/authentication/credentials")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                categories: a["categories"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            })
            .collect();
        State::new(store, &resolved.scope)
            .put(AGENTS, AGENTS_ID, &agents)
            .await?;
        // The credentials are write-only: never shown again.
        let shown: Vec<Value> = agents
            .iter()
            .map(|a| {
                let mut v = json!({"url": a.url});
                if !a.categories.is_empty() {
                    v["categories"] = json!(a.categories);
                }
                v
            })
            .collect();
        items.push(json!({
            "account": entry["account"], "status": "synced", "governance_agents": shown,
        }));
    }
    Ok(json!({ "accounts": items }))
}

/// What the runtime checked before a governed task ran: the plan, the decision, and the buy's
/// package budgets once the task has done what it asked.
pub(crate) struct Checked {
    plan_id: String,
    pub(crate) decision: Decision,
    budgets: BTreeMap<String, f64>,
    /// The total checked (a create's `total_budget`, else its packages').
    total: f64,
}

/// The budgets of `packages` (create: by position when the id is the seller's to give).
fn package_budgets(
    packages: Option<&Value>,
    key: impl Fn(usize, &Value) -> String,
) -> Vec<(String, f64)> {
    packages
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| Some((key(i, p), p["budget"].as_f64()?)))
        .collect()
}

/// The delivery as planned: the request's flight and the buy's total budget.
fn planned_delivery(args: &Map<String, Value>, total: f64) -> Value {
    let mut planned = Map::new();
    for k in ["start_time", "end_time"] {
        // `start_time: "asap"` is no time.
        if let Some(t) = args
            .get(k)
            .and_then(Value::as_str)
            .filter(|t| t.contains('T'))
        {
            planned.insert(k.into(), json!(t));
        }
    }
    planned.insert("total_budget".into(), json!(total));
    if let Some(c) = args
        .get("total_budget")
        .and_then(|t| t["currency"].as_str())
    {
        planned.insert("currency".into(), json!(c));
    }
    Value::Object(planned)
}

/// The fields of an `update_media_buy` that change no spend.
const UNGOVERNED_UPDATE: &[&str] = &[
    "adcp_major_version",
    "idempotency_key",
    "account",
    "media_buy_id",
    "revision",
    "paused",
    "canceled",
    "cancellation_reason",
    "push_notification_config",
    "reporting_webhook",
    "context",
    "ext",
    "governance_context",
];

/// The fields of a package update that change spend.
const GOVERNED_PACKAGE: &[&str] = &[
    "budget",
    "bid_price",
    "impressions",
    "pricing_option_id",
    "product_id",
    "start_time",
    "end_time",
    "pacing",
    "targeting_overlay",
    "optimization_goals",
    "keyword_targets_add",
    "negative_keywords_add",
    "catalogs",
];

/// What an `update_media_buy` changes that governance checks, if anything.
fn governed_changes(args: &Map<String, Value>) -> Vec<&str> {
    args.iter()
        .filter(|(k, _)| !UNGOVERNED_UPDATE.contains(&k.as_str()))
        .filter(|(k, v)| {
            k.as_str() != "packages"
                || v.as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| GOVERNED_PACKAGE.iter().any(|f| p.get(*f).is_some()))
        })
        .map(|(k, _)| k.as_str())
        .collect()
}

/// The runtime's check before a governed task runs (see the module docs): `None` when there
/// is nothing to check. `lenient`: a sandbox account under compliance testing, where a create
/// naming no plan is booked.
pub(crate) async fn before(
    gov: &Governance<'_>,
    task: &str,
    args: &Map<String, Value>,
    lenient: bool,
) -> AdcpResult<Option<Checked>> {
    let buyer_context = args
        .get("governance_context")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let invoice_recipient = args.get("invoice_recipient").cloned();
    let (plan_id, budgets, check, total) = match task {
        "create_media_buy" => {
            let Some(plan_id) = args.get("plan_id").and_then(Value::as_str) else {
                if gov.agents().await?.is_empty() {
                    return Ok(None);
                }
                if lenient {
                    tracing::warn!(
                        "create_media_buy names no plan_id for a sandbox account with governance \
                         agents: booked without a governance check (compliance testing)"
                    );
                    return Ok(None);
                }
                return Err(AdcpError::invalid_request(
                    "plan_id",
                    "the account has governance agents: name the plan the buy is checked \
                     against (`plan_id`)",
                ));
            };
            let (check, budgets, total) = create_check(args, plan_id);
            (plan_id.to_owned(), budgets, check, total)
        }
        "update_media_buy" => {
            let Some(buy) = args.get("media_buy_id").and_then(Value::as_str) else {
                return Ok(None);
            };
            let Some(governed) = gov.state.get(GOVERNED, buy).await? else {
                return Ok(None);
            };
            let changed = governed_changes(args);
            if changed.is_empty() || args.get("canceled") == Some(&json!(true)) {
                return Ok(None);
            }
            // The buy's budgets after the change: named packages take their new budget (a
            // canceled one none), new packages add theirs.
            let mut budgets = governed.budgets.clone();
            for p in args
                .get("packages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = p["package_id"].as_str() else {
                    continue;
                };
                if p["canceled"] == json!(true) {
                    budgets.remove(id);
                } else if let Some(b) = p["budget"].as_f64() {
                    budgets.insert(id.to_owned(), b);
                }
            }
            // New packages' ids are the seller's to give: held under placeholders until an
            // answer names them.
            let added = package_budgets(args.get("new_packages"), |_, _| String::new());
            let known = budgets.len();
            for (i, (_, b)) in added.into_iter().enumerate() {
                budgets.insert(format!("+{}", known + i), b);
            }
            let total = budgets.values().sum();
            let check = Check {
                plan_id: governed.plan_id.clone(),
                phase: "modification".into(),
                purchase_type: Some("media_buy".into()),
                planned_delivery: Some(planned_delivery(args, total)),
                governance_context: buyer_context.or(governed.governance_context),
                modification_summary: Some(format!(
                    "update_media_buy {buy}: {}",
                    changed.join(", ")
                )),
                invoice_recipient,
            };
            (governed.plan_id, budgets, check, total)
        }
        _ => return Ok(None),
    };
    Ok(gov.check(&check).await?.map(|decision| Checked {
        plan_id,
        decision,
        budgets,
        total,
    }))
}

/// The check of a `create_media_buy` against `plan_id`, and its packages' budgets (by
/// position: their ids are the seller's to give).
pub(crate) fn create_check(
    args: &Map<String, Value>,
    plan_id: &str,
) -> (Check, BTreeMap<String, f64>, f64) {
    let budgets: BTreeMap<String, f64> =
        package_budgets(args.get("packages"), |i, _| format!("+{i}"))
            .into_iter()
            .collect();
    let total = args
        .get("total_budget")
        .and_then(|t| t["amount"].as_f64())
        .unwrap_or_else(|| budgets.values().sum());
    let check = Check {
        plan_id: plan_id.to_owned(),
        phase: "purchase".into(),
        purchase_type: Some("media_buy".into()),
        planned_delivery: Some(planned_delivery(args, total)),
        governance_context: args
            .get("governance_context")
            .and_then(Value::as_str)
            .map(str::to_owned),
        modification_summary: None,
        invoice_recipient: args.get("invoice_recipient").cloned(),
    };
    (check, budgets, total)
}

/// A check made, with what the buy is kept under.
impl Checked {
    pub(crate) fn new(
        plan_id: String,
        decision: Decision,
        budgets: BTreeMap<String, f64>,
        total: f64,
    ) -> Self {
        Checked {
            plan_id,
            decision,
            budgets,
            total,
        }
    }

    /// The total the check weighed.
    pub(crate) fn total(&self) -> f64 {
        self.total
    }
}

/// After a governed task booked or changed a buy: its plan, governance context and package
/// budgets are kept for the next check, and the answer carries the context and the decision.
pub(crate) async fn after(state: &State<'_>, checked: &Checked, body: &mut Value) {
    if let Some(buy) = body.get("media_buy_id").and_then(Value::as_str) {
        keep(state, buy, checked, body).await;
    }
    answer(checked, body);
}

/// After a governed create handed off: the check is kept under the task, to be the buy's
/// when the task's work books it ([`bind_task`]).
pub(crate) async fn handed_off(state: &State<'_>, checked: &Checked, body: &mut Value) {
    if let Some(task) = body.get("task_id").and_then(Value::as_str) {
        keep(state, &format!("task:{task}"), checked, &Value::Null).await;
    }
    answer(checked, body);
}

/// A create's work finished and booked `body`: the check kept under its task becomes the
/// buy's.
pub(crate) async fn bind_task(state: &State<'_>, task_id: &str, body: &Value) {
    let Some(buy) = body.get("media_buy_id").and_then(Value::as_str) else {
        return;
    };
    let held = format!("task:{task_id}");
    let Ok(Some(mut governed)) = state.get(GOVERNED, &held).await else {
        return;
    };
    governed.budgets = answered_budgets(&governed.budgets, body);
    if let Err(e) = state.put(GOVERNED, buy, &governed).await {
        tracing::error!(error = %e, buy, "keeping a handed-off buy's governance");
        return;
    }
    let _ = state.delete(GOVERNED, &held).await;
}

/// The package budgets after an answer: those it names by id replace the placeholders (`+n`)
/// of packages whose ids were the seller's to give.
fn answered_budgets(checked: &BTreeMap<String, f64>, body: &Value) -> BTreeMap<String, f64> {
    let mut budgets = checked.clone();
    let named = body
        .get("packages")
        .or_else(|| body.get("affected_packages"));
    let answered = package_budgets(named, |_, p| {
        p["package_id"].as_str().unwrap_or_default().to_owned()
    });
    for (id, b) in answered.into_iter().filter(|(id, _)| !id.is_empty()) {
        if !budgets.contains_key(&id) {
            let placeholder = budgets.keys().find(|k| k.starts_with('+')).cloned();
            if let Some(p) = placeholder {
                budgets.remove(&p);
            }
        }
        budgets.insert(id, b);
    }
    budgets
}

async fn keep(state: &State<'_>, id: &str, checked: &Checked, body: &Value) {
    let d = &checked.decision;
    let budgets = answered_budgets(&checked.budgets, body);
    let stored = state
        .entry(GOVERNED, id, |g| {
            let kept_context = g.as_ref().and_then(|g| g.governance_context.clone());
            *g = Some(Governed {
                plan_id: checked.plan_id.clone(),
                governance_context: d.governance_context.clone().or(kept_context),
                budgets: budgets.clone(),
            });
            Ok(())
        })
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, id, "keeping a buy's governance context");
    }
}

/// The answer carries the governance context and, under `ext.governance`, the decision.
fn answer(checked: &Checked, body: &mut Value) {
    let d = &checked.decision;
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    if let Some(c) = &d.governance_context {
        obj.insert("governance_context".into(), json!(c));
    }
    let mut decision = json!({"status": d.status, "plan_id": d.plan_id, "check_id": d.check_id});
    if !d.conditions.is_empty() {
        decision["conditions"] = json!(d.conditions);
    }
    if !d.findings.is_empty() {
        decision["findings"] = json!(d.findings);
    }
    let ext = obj.entry("ext").or_insert_with(|| json!({}));
    if let Some(ext) = ext.as_object_mut() {
        ext.insert("governance".into(), decision);
    }
}

/// Whether a request issue is only a `sync_governance` agent URL's `^https://` pattern on a
/// loopback `http://` URL (allowed in test mode, like loopback webhook receivers).
pub(crate) fn loopback_agent_url(task: &str, args: &Value, issue: &crate::validate::Issue) -> bool {
    if task != "sync_governance" || issue.keyword != "pattern" {
        return false;
    }
    let Some(url) = value_at(args, &issue.path).and_then(Value::as_str) else {
        return false;
    };
    let path_is_agent_url = issue.path.starts_with("accounts[")
        && issue.path.contains("].governance_agents[")
        && issue.path.ends_with("].url");
    let loopback = reqwest::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            }
    });
    path_is_agent_url && loopback
}

/// The value at a dotted path (`accounts[0].governance_agents[1].url`).
fn value_at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut at = v;
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            at = at.get(name)?;
        }
        for index in rest.split('[') {
            let index = index.trim_end_matches(']');
            if !index.is_empty() {
                at = at.get(index.parse::<usize>().ok()?)?;
            }
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> Check {
        Check {
            plan_id: "p1".into(),
            ..Check::default()
        }
    }

    #[test]
    fn answers_read_as_decisions() {
        let approved = decision(
            &json!({"check_id": "c", "status": "approved", "plan_id": "p1",
                    "explanation": "ok", "governance_context": "gc"}),
            &check(),
        );
        let d = approved.expect("an answer").expect("approved");
        assert_eq!(d.governance_context.as_deref(), Some("gc"));
        let denied = decision(
            &json!({"check_id": "c", "status": "denied", "plan_id": "p1", "explanation": "over",
                    "findings": [{"category_id": "budget_authority"}]}),
            &check(),
        );
        let e = denied.expect("an answer").expect_err("denied");
        assert_eq!(e.code(), codes::GOVERNANCE_DENIED);
        assert_eq!(
            e.details()
                .and_then(|d| d.pointer("/findings/0/category_id")),
            Some(&json!("budget_authority"))
        );
        assert!(decision(&json!({"status": "maybe"}), &check()).is_err());
        assert!(decision(&json!({}), &check()).is_err());
    }

    #[test]
    fn event_streams_and_plain_json_are_read() {
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":1}}\n\n";
        assert_eq!(
            parse_rpc(sse, true).map(|m| m["result"]["x"].clone()),
            Some(json!(1))
        );
        assert_eq!(
            parse_rpc("{\"jsonrpc\":\"2.0\",\"result\":{}}", false).map(|m| m["result"].clone()),
            Some(json!({}))
        );
        assert!(parse_rpc("not json", false).is_none());
    }

    #[test]
    fn only_a_loopback_http_agent_url_is_excused() {
        let issue = |path: &str| crate::validate::Issue {
            path: path.into(),
            message: "does not match".into(),
            keyword: "pattern".into(),
        };
        let args = |url: &str| {
            json!({"accounts": [{"account": {"account_id": "a"},
                                 "governance_agents": [{"url": url}]}]})
        };
        let path = "accounts[0].governance_agents[0].url";
        for ok in [
            "http://127.0.0.1:9/mcp",
            "http://localhost/mcp",
            "http://[::1]:80/mcp",
        ] {
            assert!(
                loopback_agent_url("sync_governance", &args(ok), &issue(path)),
                "{ok}"
            );
        }
        for refused in [
            "http://10.0.0.1/mcp",
            "http://gov.example/mcp",
            "ftp://127.0.0.1/",
        ] {
            assert!(
                !loopback_agent_url("sync_governance", &args(refused), &issue(path)),
                "{refused}"
            );
        }
        assert!(!loopback_agent_url(
            "sync_accounts",
            &args("http://127.0.0.1/"),
            &issue(path)
        ));
    }
}

/// Where a seller that is also its buyers' governance agent indexes the plans they synced to it.
const OWN_SCOPE: &str = "adcp:own_plans";
const OWN: Collection<OwnPlan> = Collection::new("plans");
const OWN_BY_BRAND: Collection<Vec<OwnPlan>> = Collection::new("brands");

/// A plan a buyer synced to this agent itself (`sync_plans` on a governance-aware seller that
/// also serves `check_governance`): where the platform keeps it, to check the buyer's creates
/// against it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OwnPlan {
    pub(crate) plan_id: String,
    /// The scope and account the plan was synced under (the platform's store for it).
    pub(crate) scope: String,
    pub(crate) account: crate::store::Account,
    /// The brand it governs (its domain).
    #[serde(default)]
    pub(crate) brand: String,
    /// Its flight, in milliseconds.
    #[serde(default)]
    pub(crate) start: i64,
    #[serde(default)]
    pub(crate) end: i64,
}

fn own_key(principal: Option<&crate::store::Principal>, what: &str, id: &str) -> String {
    let who = principal.map_or("", |p| p.id.as_str());
    format!("{who}\u{1f}{what}\u{1f}{}", id.to_ascii_lowercase())
}

/// Indexes the plans a `sync_plans` call kept (those its answer has `active`), by plan id and
/// by brand, for the caller alone.
pub(crate) async fn keep_own(
    store: &dyn crate::store::StateStore,
    principal: Option<&crate::store::Principal>,
    resolved: &crate::accounts::Resolved,
    args: &Value,
    body: &Value,
) {
    let active = |id: &str| {
        body["plans"].as_array().is_some_and(|a| {
            a.iter()
                .any(|p| p["plan_id"].as_str() == Some(id) && p["status"] == "active")
        })
    };
    let at = |v: &Value| {
        v.as_str()
            .and_then(|t| crate::time::parse("flight", t).ok())
            .map(crate::time::millis)
    };
    let state = State::new(store, OWN_SCOPE);
    for p in args["plans"].as_array().into_iter().flatten() {
        let (Some(id), Some(domain)) = (p["plan_id"].as_str(), p["brand"]["domain"].as_str())
        else {
            continue;
        };
        if !active(id) {
            continue;
        }
        let own = OwnPlan {
            plan_id: id.to_owned(),
            scope: resolved.scope.clone(),
            account: resolved.account.clone(),
            brand: domain.to_ascii_lowercase(),
            start: at(&p["flight"]["start"]).unwrap_or(i64::MIN),
            end: at(&p["flight"]["end"]).unwrap_or(i64::MAX),
        };
        let kept = state
            .put(OWN, &own_key(principal, "plan", id), &own)
            .await
            .and(Ok(()));
        let listed = state
            .entry(OWN_BY_BRAND, &own_key(principal, "brand", domain), |slot| {
                let plans = slot.get_or_insert_with(Vec::new);
                // Latest last: a plan synced again moves to the end.
                plans.retain(|o| o.plan_id != own.plan_id);
                plans.push(own.clone());
                Ok(())
            })
            .await;
        if let Err(e) = kept.and(listed) {
            tracing::error!(error = %e, plan_id = id, "indexing a plan synced to this agent");
        }
    }
}

/// The latest plan the caller synced here for `brand`, whatever its flight.
pub(crate) async fn latest_own_plan(
    store: &dyn crate::store::StateStore,
    principal: Option<&crate::store::Principal>,
    brand: Option<&str>,
) -> AdcpResult<Option<OwnPlan>> {
    let Some(domain) = brand else {
        return Ok(None);
    };
    let plans = State::new(store, OWN_SCOPE)
        .get(OWN_BY_BRAND, &own_key(principal, "brand", domain))
        .await?
        .unwrap_or_default();
    Ok(plans.into_iter().next_back())
}

/// The caller's own plan a `create_media_buy` for a buy of `brand` is checked against: the one
/// it names (if that plan governs the brand), else the latest synced for the brand whose
/// flight holds the buy's start.
pub(crate) async fn own_plan(
    store: &dyn crate::store::StateStore,
    principal: Option<&crate::store::Principal>,
    brand: Option<&str>,
    args: &Map<String, Value>,
    now: crate::time::OffsetDateTime,
) -> AdcpResult<Option<OwnPlan>> {
    let state = State::new(store, OWN_SCOPE);
    if let Some(id) = args.get("plan_id").and_then(Value::as_str) {
        let named = state.get(OWN, &own_key(principal, "plan", id)).await?;
        return Ok(named.filter(|p| {
            p.brand.is_empty() || brand.is_none_or(|b| b.eq_ignore_ascii_case(&p.brand))
        }));
    }
    let Some(domain) = brand else {
        return Ok(None);
    };
    let start = match args.get("start_time").and_then(Value::as_str) {
        Some("asap") | None => crate::time::millis(now),
        Some(t) => match crate::time::parse("start_time", t) {
            Ok(t) => crate::time::millis(t),
            Err(_) => return Ok(None),
        },
    };
    let plans = state
        .get(OWN_BY_BRAND, &own_key(principal, "brand", domain))
        .await?
        .unwrap_or_default();
    Ok(plans
        .into_iter()
        .rev()
        .find(|p| p.start <= start && start <= p.end))
}
