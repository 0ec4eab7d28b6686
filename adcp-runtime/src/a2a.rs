//! A2A 0.3 over JSON-RPC: the agent card, `message/send`, `tasks/get`, `tasks/cancel`.
//!
//! An AdCP call arrives as a message with one DataPart `{skill, input}` (`parameters` is
//! accepted for `input`). It runs through the same pipeline as MCP; the answer is an A2A task
//! whose state reflects the call (`completed`, or `failed` for an AdCP error) and whose
//! artifact carries the AdCP response as a DataPart (`result`, `submitted` or `error`). The
//! AdCP status, including a hand-off's `submitted` with its `task_id`, is in the artifact data;
//! the AdCP task id is also in the artifact's `metadata.adcp_task_id`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::capabilities::supported_protocols;
use crate::config::{Call, Reply};
use crate::envelope::{A2aTask, Artifact};
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::store::Principal;
use crate::time::rfc3339;

const PROTOCOL_VERSION: &str = "0.3.0";
/// A2A tasks kept for `tasks/get`.
const MAX_TASKS: usize = 10_000;

use crate::jsonrpc::{self, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND};
const TASK_NOT_FOUND: i64 = -32001;
const TASK_NOT_CANCELABLE: i64 = -32002;
const PUSH_NOT_SUPPORTED: i64 = -32003;
const UNSUPPORTED_OPERATION: i64 = -32004;

/// A2A tasks this server created, newest kept.
#[derive(Default)]
pub(crate) struct A2aTasks {
    inner: Mutex<(HashMap<String, Value>, VecDeque<String>)>,
}

impl A2aTasks {
    fn put(&self, task: &Value) {
        let Some(id) = task["id"].as_str() else {
            return;
        };
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, order) = &mut *g;
        if map.insert(id.to_owned(), task.clone()).is_none() {
            order.push_back(id.to_owned());
        }
        while order.len() > MAX_TASKS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn get(&self, id: &str) -> Option<Value> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .get(id)
            .cloned()
    }
}

/// The agent card (`/.well-known/agent-card.json`): one skill per tool, `get_adcp_capabilities`
/// included.
pub(crate) fn agent_card<P: DecisioningPlatform>(server: &Server<P>, base_url: &str) -> Value {
    let c = server.config();
    let skills: Vec<Value> = server
        .tools()
        .into_iter()
        .map(|t| {
            json!({
                "id": t.name,
                "name": t.name,
                "description": format!("AdCP `{}`: send a DataPart {{\"skill\": \"{}\", \"input\": {{..}}}} with a `{}`.", t.name, t.name, t.request_type),
                "tags": ["adcp", t.protocol],
                "inputModes": ["application/json"],
                "outputModes": ["application/json"],
            })
        })
        .collect();
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "name": c.name,
        "description": c.description,
        "version": c.version,
        "url": format!("{base_url}/a2a"),
        "preferredTransport": "JSONRPC",
        "capabilities": {"streaming": false, "pushNotifications": true, "stateTransitionHistory": false},
        "defaultInputModes": ["application/json"],
        "defaultOutputModes": ["application/json"],
        "skills": skills,
        "extensions": {"adcp": {"major_versions": [crate::config::MAJOR_VERSION], "supported_protocols": supported_protocols::<P>()}},
    })
}

fn now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// The A2A task for an AdCP reply.
///
/// The task's state is the call's: `completed` whenever the call reached a task, AdCP errors
/// included (the AdCP status is in the artifact), and `failed` only when the message could not
/// be routed to one (`routed == false`).
fn task_for(reply: &Reply, message: &Value, context_id: &str, routed: bool) -> Value {
    let adcp_status = reply.status();
    let (state, artifact_name) = if !routed {
        ("failed", "error")
    } else if reply.is_error {
        ("completed", "error")
    } else if matches!(adcp_status, "submitted" | "working" | "input-required") {
        ("completed", "submitted")
    } else {
        ("completed", "result")
    };
    let adcp_task_id = (artifact_name == "submitted")
        .then(|| reply.body.get("task_id").and_then(Value::as_str))
        .flatten();
    let mut task = A2aTask::new(uuid::Uuid::new_v4().to_string(), context_id, state, now());
    task.artifact = Some(Artifact {
        name: artifact_name,
        data: reply.body.clone(),
        adcp_task_id: adcp_task_id.map(str::to_owned),
    });
    if !routed {
        let text = reply.body["adcp_error"]["message"]
            .as_str()
            .unwrap_or("the task failed");
        task.status_parts
            .push(json!({"kind": "text", "text": text}));
    }
    task.history = Some(vec![message.clone()]);
    task.into_value()
}

/// Over A2A the DataPart's top-level `status` is read as the task's result status. AdCP 3.0
/// media-buy responses use that field for the buy's lifecycle, and three lifecycle values are
/// also task statuses (`completed`, `canceled`, `rejected`): a canceled buy would read as a
/// canceled call. Those values move to `media_buy_status` (the field AdCP 3.1 names for it);
/// `status` is optional in these responses, so the payload stays valid. MCP keeps the 3.0 shape.
fn disambiguate_status(reply: &mut Reply) {
    if reply.is_error {
        return;
    }
    if let Value::Object(m) = &mut reply.body
        && m.contains_key("media_buy_id")
        && matches!(
            m.get("status").and_then(Value::as_str),
            Some("completed" | "canceled" | "rejected")
        )
        && let Some(status) = m.remove("status")
    {
        m.insert("media_buy_status".into(), status);
    }
}

/// The `{skill, input}` of a message, or why not.
fn invocation(message: &Value) -> Result<(String, Value), String> {
    let parts = message
        .get("parts")
        .and_then(Value::as_array)
        .ok_or("the message has no `parts`")?;
    let data: Vec<&Value> = parts
        .iter()
        .filter(|p| p.get("kind").and_then(Value::as_str) == Some("data"))
        .collect();
    let [part] = data.as_slice() else {
        return Err("send exactly one DataPart {\"kind\": \"data\", \"data\": {\"skill\": .., \"input\": {..}}}".into());
    };
    let d = part
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("the DataPart's `data` must be an object")?;
    let skill = d
        .get("skill")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the DataPart needs a `skill`")?;
    let input = d
        .get("input")
        .or_else(|| d.get("parameters"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !input.is_object() {
        return Err("`input` must be an object".into());
    }
    Ok((skill.to_owned(), input))
}

/// The message's inline `configuration.pushNotificationConfig`, with its `contextId`: the AdCP
/// task the call hands off to notifies it in the A2A `Task` shape.
fn push_config(params: &Value, context_id: &str) -> Option<Value> {
    let mut cfg = params
        .get("configuration")?
        .get("pushNotificationConfig")?
        .clone();
    cfg.get("url")?.as_str()?;
    cfg.as_object_mut()?
        .insert("contextId".into(), json!(context_id));
    Some(cfg)
}

/// The skill a `message/send` invokes.
pub(crate) fn skill_of(msg: &Value) -> Option<String> {
    if msg.get("method").and_then(Value::as_str) != Some("message/send") {
        return None;
    }
    invocation(msg.pointer("/params/message")?)
        .ok()
        .map(|(skill, _)| skill)
}

/// The caller's `context` in a `message/send`'s input, to echo on an early refusal.
pub(crate) fn context_of(msg: &Value) -> Option<&Value> {
    msg.pointer("/params/message/parts")?
        .as_array()?
        .iter()
        .find(|p| p.get("kind").and_then(Value::as_str) == Some("data"))?
        .get("data")
        .and_then(|d| d.get("input").or_else(|| d.get("parameters")))?
        .get("context")
}

/// Serves one POST to the A2A endpoint; returns the JSON-RPC response.
pub(crate) async fn handle<P: DecisioningPlatform>(
    server: &Server<P>,
    tasks: &A2aTasks,
    agent_url: String,
    principal: Option<Principal>,
    msg: Value,
) -> Value {
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return jsonrpc::error(&id, INVALID_REQUEST, "`jsonrpc` must be \"2.0\"");
    }
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let result = match msg.get("method").and_then(Value::as_str).unwrap_or("") {
        "message/send" => {
            let Some(message) = params.get("message").filter(|m| m.is_object()) else {
                return jsonrpc::error(&id, INVALID_PARAMS, "`params.message` is required");
            };
            let context_id = message
                .get("contextId")
                .and_then(Value::as_str)
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
            let (reply, routed) = match invocation(message) {
                Ok((skill, input)) => {
                    if adcp_wire::task(&skill).is_none() {
                        let e = crate::envelope::unknown_task(&skill, "skill");
                        return jsonrpc::adcp_error(&id, INVALID_PARAMS, &e, input.get("context"));
                    }
                    let reply = server
                        .call(Call {
                            tool: skill,
                            args: input,
                            principal,
                            agent_url,
                            a2a_push: push_config(&params, &context_id),
                        })
                        .await;
                    (reply, true)
                }
                Err(why) => {
                    let e = crate::AdcpError::new(crate::codes::INVALID_REQUEST, why)
                        .with_field("message.parts");
                    let reply = Reply {
                        body: crate::envelope::error(&e),
                        is_error: true,
                    };
                    (reply, false)
                }
            };
            let mut reply = reply;
            disambiguate_status(&mut reply);
            let task = task_for(&reply, message, &context_id, routed);
            tasks.put(&task);
            task
        }
        "tasks/get" => match params
            .get("id")
            .and_then(Value::as_str)
            .and_then(|i| tasks.get(i))
        {
            Some(t) => t,
            None => return jsonrpc::error(&id, TASK_NOT_FOUND, "task not found"),
        },
        "tasks/cancel" => match params
            .get("id")
            .and_then(Value::as_str)
            .and_then(|i| tasks.get(i))
        {
            // Every A2A task of this server is final when message/send returns.
            Some(_) => {
                return jsonrpc::error(&id, TASK_NOT_CANCELABLE, "the task has already finished");
            }
            None => return jsonrpc::error(&id, TASK_NOT_FOUND, "task not found"),
        },
        "message/stream" | "tasks/resubscribe" => {
            return jsonrpc::error(
                &id,
                UNSUPPORTED_OPERATION,
                "streaming is not supported; use message/send",
            );
        }
        m if m.starts_with("tasks/pushNotificationConfig/") => {
            return jsonrpc::error(
                &id,
                PUSH_NOT_SUPPORTED,
                "push notifications are configured on message/send \
                 (`configuration.pushNotificationConfig`) or per AdCP request \
                 (`push_notification_config`)",
            );
        }
        other => {
            return jsonrpc::error(
                &id,
                METHOD_NOT_FOUND,
                &format!("method `{other}` is not supported"),
            );
        }
    };
    jsonrpc::result(&id, result)
}
