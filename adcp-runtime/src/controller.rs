//! `comply_test_controller`: the runtime's half. Scenario and params are checked before the
//! sandbox gate (so a caller learns `UNKNOWN_SCENARIO` / `INVALID_PARAMS` whatever its
//! account), then the call is served by the runtime (`list_scenarios`,
//! `force_create_media_buy_arm`, `force_task_completion`) or by the platform's scenario method.
//! Answers use the controller's own shapes: `{success: true, ...}` or
//! `{success: false, error, error_detail}`.

use std::sync::OnceLock;

use serde_json::{Value, json};

use adcp_wire::TaskSpec;
use serde::{Deserialize, Serialize};

use crate::config::{Call, Reply};
use crate::ctx::{CtxBuilder, Services};
use crate::error::AdcpError;
use crate::platform::{DecisioningPlatform, HandoffStatus};
use crate::scenario::{ControllerCode, ControllerReply};
use crate::state::State;
use crate::validate::schemas;

const SCHEMA: &str = "compliance/comply-test-controller-request.json";

/// The scenarios of the controller request schema.
fn known_scenarios() -> &'static [String] {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        adcp_wire::schema_file(SCHEMA)
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| v["properties"]["scenario"]["enum"].as_array().cloned())
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn failure(code: &str, detail: impl Into<String>, current_state: Option<&Value>) -> Reply {
    let mut body =
        json!({"success": false, "error": code, "error_detail": detail.into(), "status": "failed"});
    if let Some(s) = current_state {
        body["current_state"] = s.clone();
    }
    Reply {
        body,
        is_error: true,
    }
}

fn success(mut body: Value) -> Reply {
    body["success"] = json!(true);
    body["status"] = json!("completed");
    Reply {
        body,
        is_error: false,
    }
}

/// A forced `create_media_buy` arm, set through `comply_test_controller`; kept in the state
/// store so that any replica honours it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ForcedArm {
    pub(crate) arm: String,
    pub(crate) task_id: Option<String>,
    pub(crate) message: Option<String>,
}

/// Where forced arms live in the state store.
/// (A taken arm leaves `null`, so taking is one compare-and-set.)
pub(crate) const FORCED_ARMS: crate::state::Collection<Option<ForcedArm>> =
    crate::state::Collection::new("adcp:forced_create_media_buy_arm");

/// Takes the forced arm of the scope, if any (once, across replicas): `create_media_buy` under
/// compliance testing only.
pub(crate) async fn take_forced_arm(
    state: &State<'_>,
    spec: &TaskSpec,
    compliance_testing: bool,
) -> Result<Option<ForcedArm>, AdcpError> {
    if spec.name != "create_media_buy" || !compliance_testing {
        return Ok(None);
    }
    if state.get(FORCED_ARMS, spec.name).await?.flatten().is_none() {
        return Ok(None);
    }
    state
        .update(FORCED_ARMS, spec.name, |slot| Ok(slot.take()))
        .await
}

/// The media buy a scenario's params name.
fn request_buy(params: &Value) -> Option<String> {
    params
        .get("media_buy_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn controller_code(e: &AdcpError) -> &'static str {
    ControllerCode::of(e).as_str()
}

/// The params each scenario needs (the schema leaves them optional, since they differ by
/// scenario): checked here, so a scenario method may take them as present.
const REQUIRED_PARAMS: &[(&str, &[&str])] = &[
    ("seed_product", &["product_id"]),
    ("seed_pricing_option", &["product_id", "pricing_option_id"]),
    ("seed_creative", &["creative_id"]),
    ("seed_media_buy", &["media_buy_id"]),
    ("seed_creative_format", &["format_id"]),
    ("seed_plan", &["plan_id"]),
    ("force_media_buy_status", &["media_buy_id", "status"]),
    ("force_creative_status", &["creative_id", "status"]),
    ("force_account_status", &["account_id", "status"]),
    ("force_session_status", &["session_id", "status"]),
    ("force_task_completion", &["task_id"]),
    ("simulate_delivery", &["media_buy_id"]),
    ("simulate_budget_spend", &["media_buy_id"]),
];

/// The first param `scenario` needs that `params` lacks.
fn missing_param(scenario: &str, params: Option<&Value>) -> Option<&'static str> {
    let (_, needed) = REQUIRED_PARAMS.iter().find(|(s, _)| *s == scenario)?;
    needed
        .iter()
        .copied()
        .find(|f| params.and_then(|p| p.get(*f)).is_none_or(Value::is_null))
}

/// Serves one `comply_test_controller` call (the pipeline calls it only under compliance
/// testing) for `platform`, over the server's `services`.
pub(crate) async fn handle<P: DecisioningPlatform>(
    platform: &P,
    services: &Services,
    call: &Call,
) -> Result<Reply, AdcpError> {
    let args = &call.args;
    let scenario = args
        .get("scenario")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !known_scenarios().iter().any(|s| s == scenario) {
        return Ok(failure(
            "UNKNOWN_SCENARIO",
            format!("unknown scenario `{scenario}`"),
            None,
        ));
    }
    if let Err(issues) = schemas().validate(SCHEMA, args) {
        let i = &issues[0];
        return Ok(failure(
            "INVALID_PARAMS",
            format!("{}: {}", i.path, i.message),
            None,
        ));
    }
    if let Some(missing) = missing_param(scenario, args.get("params")) {
        return Ok(failure(
            "INVALID_PARAMS",
            format!("{scenario} needs `params.{missing}`"),
            None,
        ));
    }
    let d = P::descriptor();
    let Value::Object(request) = args else {
        return Ok(failure(
            "INVALID_PARAMS",
            "the request must be an object",
            None,
        ));
    };
    let resolved = match services
        .accounts
        .resolve(call.principal.as_ref(), request)
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(failure(controller_code(&e), e.message(), None)),
    };
    let principal = crate::accounts::principal_id(call.principal.as_ref());
    if !resolved.account.sandbox {
        return Ok(failure(
            "FORBIDDEN",
            "comply_test_controller serves sandbox accounts only",
            None,
        ));
    }
    let params = args.get("params").cloned().unwrap_or_else(|| json!({}));
    match scenario {
        "list_scenarios" => {
            let mut scenarios: Vec<&str> = d.scenarios.iter().map(|s| s.scenario).collect();
            scenarios.extend(
                adcp_wire::catalog::RUNTIME_SCENARIOS
                    .iter()
                    .filter(|s| **s != "list_scenarios"),
            );
            Ok(success(json!({"scenarios": scenarios})))
        }
        "force_create_media_buy_arm" => {
            let arm = match params["arm"].as_str() {
                Some("input-required") => HandoffStatus::InputRequired,
                _ => HandoffStatus::Submitted,
            };
            let task_id = params["task_id"].as_str().map(str::to_owned);
            let forced = ForcedArm {
                arm: arm.as_str().to_owned(),
                task_id: task_id.clone(),
                message: params["message"].as_str().map(str::to_owned),
            };
            State::new(services.state.as_ref(), &resolved.scope)
                .update(FORCED_ARMS, "create_media_buy", |slot| {
                    *slot = Some(forced.clone());
                    Ok(())
                })
                .await?;
            let mut echo = json!({"arm": arm.as_str()});
            if let Some(id) = task_id {
                echo["task_id"] = json!(id);
            }
            Ok(success(json!({"forced": echo})))
        }
        "force_task_completion" => {
            let id = params["task_id"].as_str().unwrap_or_default();
            // Only the sandbox's tasks: a caller's real tasks are not the controller's to finish.
            let owner = crate::store::Owner::Scope(&resolved.scope);
            let Some(task) = services.tasks.get(owner, id).await? else {
                return Ok(failure("NOT_FOUND", format!("no task `{id}`"), None));
            };
            let previous = task.status.as_str();
            match services.tasks.complete(id, params["result"].clone()).await {
                Ok(_) => Ok(success(
                    json!({"previous_state": previous, "current_state": "completed"}),
                )),
                Err(e) => Ok(failure(
                    controller_code(&e),
                    e.message(),
                    Some(&json!(previous)),
                )),
            }
        }
        "force_account_status" => {
            let id = params["account_id"].as_str().unwrap_or_default();
            let Some(to) = params["status"]
                .as_str()
                .and_then(|s| s.parse::<adcp_wire::AccountStatus>().ok())
            else {
                return Ok(failure(
                    "INVALID_PARAMS",
                    "force_account_status needs `status`, an account status",
                    None,
                ));
            };
            // Only the caller's sandbox accounts (those sharing the sandbox's scope).
            let accounts = crate::accounts::Accounts {
                resolver: &services.accounts,
                principal,
                supported_billing: &services.supported_billing,
            };
            let in_sandbox = match accounts.get(id).await? {
                Some(a) => services.accounts.scope_of(&a) == resolved.scope,
                None => false,
            };
            if !in_sandbox {
                return Ok(failure(
                    "NOT_FOUND",
                    "no such account in this sandbox",
                    None,
                ));
            }
            match accounts.set_status(id, to).await {
                Ok(Some(previous)) => Ok(success(
                    json!({"previous_state": previous, "current_state": to}),
                )),
                Ok(None) => Ok(failure("NOT_FOUND", "no such account", None)),
                Err(e) => {
                    let current = e.details().and_then(|d| d.get("current_state"));
                    Ok(failure(controller_code(&e), e.message(), current))
                }
            }
        }
        other => {
            let Some(handler) = d.scenarios.iter().find(|s| s.scenario == other) else {
                // Forcing an entity of a kind this agent keeps none of: there is no such entity.
                let held = |tasks: &[&str]| tasks.iter().any(|t| d.handler(t).is_some());
                let kind = match other {
                    "force_creative_status" => Some((
                        "creative",
                        "creative_id",
                        held(&["sync_creatives", "list_creatives", "build_creative"]),
                    )),
                    "force_media_buy_status" | "simulate_delivery" | "simulate_budget_spend" => {
                        Some(("media buy", "media_buy_id", held(&["create_media_buy"])))
                    }
                    "force_session_status" => {
                        Some(("session", "session_id", held(&["si_initiate_session"])))
                    }
                    _ => None,
                };
                if let Some((kind, field, false)) = kind {
                    let id = params[field].as_str().unwrap_or_default();
                    return Ok(failure(
                        "NOT_FOUND",
                        format!("no {kind} `{id}`: this agent keeps none"),
                        None,
                    ));
                }
                return Ok(failure(
                    "UNKNOWN_SCENARIO",
                    format!("this seller does not implement `{other}`"),
                    None,
                ));
            };
            let buy = request_buy(&params);
            let params = match adcp_wire::decode(params) {
                Ok(p) => p,
                Err(e) => return Ok(failure("INVALID_PARAMS", e.to_string(), None)),
            };
            let spec = adcp_wire::task("comply_test_controller")
                .ok_or_else(|| AdcpError::internal("no controller in the catalogue"))?;
            let scope = resolved.scope.clone();
            let ctx = CtxBuilder::new(spec)
                .principal(call.principal.clone())
                .seeding(other.starts_with("seed_"))
                .resolved(resolved)
                .agent_url(call.agent_url.clone())
                .services(services.clone())
                .build();
            let answer = (handler.call)(platform, ctx, params).await;
            // A simulated delivery or a forced status is reported at once to a buyer who
            // asked for delivery reports.
            if let (Ok(_), Some(buy), "simulate_delivery" | "force_media_buy_status") =
                (&answer, &buy, other)
            {
                crate::reporting::due_now(
                    services.state.as_ref(),
                    services.tasks.bus(),
                    &scope,
                    buy,
                )
                .await;
            }
            Ok(match answer {
                Ok(ControllerReply::Seeded) => success(json!({})),
                Ok(ControllerReply::Transition { previous, current }) => {
                    success(json!({"previous_state": previous, "current_state": current}))
                }
                Ok(ControllerReply::Simulated {
                    simulated,
                    cumulative,
                }) => {
                    let mut b = json!({"simulated": simulated});
                    if let Some(c) = cumulative {
                        b["cumulative"] = c;
                    }
                    success(b)
                }
                Ok(ControllerReply::Forced(v)) => success(json!({"forced": v})),
                Err(e) => failure(
                    controller_code(&e),
                    e.message(),
                    e.details().and_then(|d| d.get("current_state")),
                ),
            })
        }
    }
}
