//! A2A 0.3 over JSON-RPC: the agent card, `message/send`, `tasks/get`, `tasks/cancel`.
//!
//! An AdCP call arrives as a message with one DataPart `{skill, input}` (`parameters` is
//! accepted for `input`). It runs through the same pipeline as MCP; the answer is an A2A task
//! whose state reflects the call (`completed`, or `failed` for an AdCP error) and whose
//! artifact carries the AdCP response as a DataPart (`result`, `submitted` or `error`). The
//! AdCP status, including a hand-off's `submitted` with its `task_id`, is in the artifact data;
//! the AdCP task id is also in the artifact's `metadata.adcp_task_id`.
//!
//! `tasks/get` reads a call's transport task, and an AdCP task by its `task_id` (the `Task.id`
//! of its push notifications): that task follows the AdCP work to its end. Both are read from
//! the task registry, so any replica answers; a handed-off call's transport task
//! (`call_<task_id>`) gains the work's `result` (or `error`) artifact once the work is done.
//! Transport tasks of calls answered at once are final when answered and are kept in this
//! replica's memory. Each is readable only by the principal that made it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::capabilities::supported_protocols;
use crate::config::{Call, Reply};
use crate::envelope::{A2aTask, Artifact};
use crate::platform::DecisioningPlatform;
use crate::server::Server;
use crate::store::{Owner, Principal, TaskRecord};
use crate::time::rfc3339;
use crate::webhooks;

const PROTOCOL_VERSION: &str = "0.3.0";
/// Answered A2A tasks kept for `tasks/get`: at most this many...
const MAX_TASKS: usize = 10_000;
/// ...and at most this many bytes of their JSON text, the oldest dropped first. A task keeps
/// its call's whole answer (a `get_products` page is kilobytes), so the count alone would let a
/// replica hold hundreds of megabytes of answers nobody reads again.
const MAX_TASK_BYTES: usize = 4 << 20;

use crate::jsonrpc::{self, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND};
/// The `Task.id` of a call that handed off: this prefix and the AdCP `task_id`.
const CALL_PREFIX: &str = "call_";
const TASK_NOT_FOUND: i64 = -32001;
const TASK_NOT_CANCELABLE: i64 = -32002;
const PUSH_NOT_SUPPORTED: i64 = -32003;
const UNSUPPORTED_OPERATION: i64 = -32004;

/// A2A tasks of calls answered at once, newest kept, each with the principal that made it.
#[derive(Default)]
pub(crate) struct A2aTasks {
    inner: Mutex<Kept>,
}

/// The kept tasks as JSON text (a tenth of a `Value`'s memory), by id, and their order.
#[derive(Default)]
struct Kept {
    by_id: HashMap<String, Owned>,
    order: VecDeque<String>,
    bytes: usize,
}

/// A task's JSON text and the principal that made it.
type Owned = (String, Box<str>);

impl A2aTasks {
    fn put(&self, principal: &str, task: &Value) {
        let Some(id) = task["id"].as_str() else {
            return;
        };
        let text = task.to_string().into_boxed_str();
        if text.len() > MAX_TASK_BYTES {
            return;
        }
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = &mut *g;
        kept.bytes += text.len();
        match kept
            .by_id
            .insert(id.to_owned(), (principal.to_owned(), text))
        {
            Some((_, old)) => kept.bytes -= old.len(),
            None => kept.order.push_back(id.to_owned()),
        }
        while kept.order.len() > MAX_TASKS || kept.bytes > MAX_TASK_BYTES {
            let Some(old) = kept.order.pop_front() else {
                break;
            };
            if let Some((_, text)) = kept.by_id.remove(&old) {
                kept.bytes -= text.len();
            }
        }
    }

    fn get(&self, principal: &str, id: &str) -> Option<Value> {
        let g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (owner, text) = g.by_id.get(id)?;
        if owner != principal {
            return None;
        }
        // Written from a `Value` by this process, so it reads back.
        serde_json::from_str(text).ok()
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
fn task_for(reply: &Reply, message: &Value, context_id: &str, routed: bool, skill: &str) -> Value {
    let adcp_status = reply.status();
    // A poll (`tasks_get`, `tasks_list`) answers a task's status; it hands nothing off.
    let poll = matches!(skill, "tasks_get" | "tasks_list");
    let (state, artifact_name) = if !routed {
        ("failed", "error")
    } else if reply.is_error {
        ("completed", "error")
    } else if !poll && matches!(adcp_status, "submitted" | "working" | "input-required") {
        ("completed", "submitted")
    } else {
        ("completed", "result")
    };
    let adcp_task_id = (artifact_name == "submitted")
        .then(|| reply.body.get("task_id").and_then(Value::as_str))
        .flatten();
    let id = adcp_task_id.map_or_else(
        || uuid::Uuid::new_v4().to_string(),
        |t| format!("{CALL_PREFIX}{t}"),
    );
    let mut task = A2aTask::new(id, context_id, state, now());
    task.artifacts.push(Artifact {
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

/// The message's `contextId`, with its inline `configuration.pushNotificationConfig` when it
/// gave one: the AdCP task the call hands off to notifies it in the A2A `Task` shape, and its
/// A2A task is rendered in that context.
fn push_config(params: &Value, context_id: &str) -> Value {
    let mut cfg = params
        .pointer("/configuration/pushNotificationConfig")
        .filter(|c| c.get("url").and_then(Value::as_str).is_some())
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(m) = cfg.as_object_mut() {
        m.insert("contextId".into(), json!(context_id));
    }
    cfg
}

/// A handed-off call's transport task, from its AdCP task: completed with the `submitted`
/// artifact, and the work's outcome once it has one.
fn call_task(t: &TaskRecord) -> Value {
    let mut task = A2aTask::new(
        format!("{CALL_PREFIX}{}", t.task_id),
        webhooks::a2a_context(t),
        "completed",
        rfc3339(t.created_at),
    );
    let mut submitted = json!({"status": "submitted", "task_id": t.task_id});
    if let Some(m) = &t.message {
        submitted["message"] = json!(m);
    }
    task.artifacts.push(Artifact {
        name: "submitted",
        data: submitted,
        adcp_task_id: Some(t.task_id.clone()),
    });
    task.artifacts.extend(webhooks::outcome_artifact(t));
    task.into_value()
}

/// `tasks/get` and `tasks/cancel`: the task `id` names, if `principal` made it; the JSON-RPC
/// error otherwise.
async fn read_task<P: DecisioningPlatform>(
    server: &Server<P>,
    tasks: &A2aTasks,
    principal: &str,
    id: &str,
    cancel: bool,
) -> Result<Value, (i64, String)> {
    let finished = || {
        (
            TASK_NOT_CANCELABLE,
            "the task has already finished".to_owned(),
        )
    };
    if let Some(t) = tasks.get(principal, id) {
        return if cancel { Err(finished()) } else { Ok(t) };
    }
    let store_failed = |e: crate::AdcpError| (INTERNAL_ERROR, e.message().to_owned());
    let registry = &server.inner.services.tasks;
    let (task_id, call) = match id.strip_prefix(CALL_PREFIX) {
        Some(t) => (t, true),
        None => (id, false),
    };
    let record = registry
        .get(Owner::Principal(principal), task_id)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| (TASK_NOT_FOUND, "task not found".to_owned()))?;
    if !cancel {
        return Ok(if call {
            call_task(&record)
        } else {
            webhooks::a2a_task(&record)
        });
    }
    if call || record.status.is_final() {
        return Err(finished());
    }
    if record.job.is_some() || record.owner.is_some() {
        // Its work runs on a replica and has no way to be stopped: canceling the record alone
        // would tell the buyer "canceled" while the work still lands.
        return Err((
            TASK_NOT_CANCELABLE,
            "the task's work is running and cannot be stopped".to_owned(),
        ));
    }
    match registry.cancel(&record.scope, task_id).await {
        Ok(canceled) => {
            // Answered here, not through a call's pipeline: the cancel is on disk first.
            crate::store::commit::durable(server.inner.commits.as_deref())
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "syncing the store's log");
                    (
                        INTERNAL_ERROR,
                        "the cancel could not be made durable".to_owned(),
                    )
                })?;
            Ok(webhooks::a2a_task(&canceled))
        }
        // It finished in between.
        Err(e) if e.code() == crate::codes::INVALID_STATE => Err(finished()),
        Err(e) => Err(store_failed(e)),
    }
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
    grant: Option<crate::Grant>,
    peer: Option<std::net::IpAddr>,
    msg: Value,
) -> Value {
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return jsonrpc::error(&id, INVALID_REQUEST, "`jsonrpc` must be \"2.0\"");
    }
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let who = crate::accounts::principal_id(principal.as_ref()).to_owned();
    let result = match msg.get("method").and_then(Value::as_str).unwrap_or("") {
        "message/send" => {
            let Some(message) = params.get("message").filter(|m| m.is_object()) else {
                return jsonrpc::error(&id, INVALID_PARAMS, "`params.message` is required");
            };
            let context_id = message
                .get("contextId")
                .and_then(Value::as_str)
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
            let mut task_name = "";
            let (reply, routed) = match invocation(message) {
                Ok((skill, input)) => {
                    let Some(spec) = crate::envelope::task_named(&skill) else {
                        let e = crate::envelope::unknown_task(&skill, "skill");
                        return jsonrpc::adcp_error(&id, INVALID_PARAMS, &e, input.get("context"));
                    };
                    task_name = spec.name;
                    let reply = server
                        .call(Call {
                            tool: spec.name.to_owned(),
                            args: input,
                            principal,
                            agent_url,
                            a2a_push: Some(push_config(&params, &context_id)),
                            peer,
                            grant,
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
            let task = task_for(&reply, message, &context_id, routed, task_name);
            if !task["id"]
                .as_str()
                .is_some_and(|t| t.starts_with(CALL_PREFIX))
            {
                tasks.put(&who, &task);
            }
            task
        }
        method @ ("tasks/get" | "tasks/cancel") => {
            let Some(task_id) = params.get("id").and_then(Value::as_str) else {
                return jsonrpc::error(&id, INVALID_PARAMS, "`params.id` names the task");
            };
            let cancel = method == "tasks/cancel";
            match read_task(server, tasks, &who, task_id, cancel).await {
                Ok(t) => t,
                Err((code, why)) => return jsonrpc::error(&id, code, &why),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, filler: usize) -> Value {
        json!({"id": id, "kind": "task", "filler": "x".repeat(filler)})
    }

    #[test]
    fn answered_tasks_are_kept_within_a_byte_budget_oldest_dropped_first() {
        let tasks = A2aTasks::default();
        let each = 64 << 10;
        let fit = MAX_TASK_BYTES / (each + 64);
        for i in 0..fit + 10 {
            tasks.put("p1", &task(&format!("t{i}"), each));
        }
        let kept = tasks.inner.lock().unwrap();
        assert!(kept.bytes <= MAX_TASK_BYTES, "{} bytes kept", kept.bytes);
        let total: usize = kept.by_id.values().map(|(_, t)| t.len()).sum();
        assert_eq!(kept.bytes, total, "the byte count follows what is kept");
        assert_eq!(kept.order.len(), kept.by_id.len());
        drop(kept);
        assert!(tasks.get("p1", "t0").is_none(), "the oldest went first");
        let newest = format!("t{}", fit + 9);
        assert_eq!(tasks.get("p1", &newest), Some(task(&newest, each)));
    }

    #[test]
    fn a_kept_task_is_read_only_by_the_principal_that_made_it() {
        let tasks = A2aTasks::default();
        tasks.put("p1", &task("t1", 10));
        tasks.put("p1", &task("t1", 20));
        assert_eq!(tasks.get("p1", "t1"), Some(task("t1", 20)));
        assert_eq!(tasks.get("p2", "t1"), None);
        assert_eq!(tasks.inner.lock().unwrap().order.len(), 1);
    }
}
