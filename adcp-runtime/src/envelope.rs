//! The AdCP envelope around a response: `status`, `context` echoed, errors as `adcp_error`
//! (the transport's error object) plus `errors[]` (the payload's error list, which every task's
//! error arm carries).

use std::collections::HashSet;
use std::sync::OnceLock;

use adcp_wire::TaskSpec;
use serde_json::{Value, json};

use crate::error::AdcpError;

/// Marks a synchronous answer. In AdCP 3.0 a response whose payload has its own `status`
/// (`create_media_buy` answers with the media buy's) keeps it.
pub(crate) fn completed(body: &mut Value, idempotency_key: Option<&str>) {
    if let Value::Object(m) = body {
        m.entry("status").or_insert_with(|| json!("completed"));
        if let Some(k) = idempotency_key {
            m.entry("idempotency_key").or_insert_with(|| json!(k));
        }
    }
}

/// Marks the answer of a sandbox account's call `sandbox: true`, when the task's response
/// schema declares the flag (as `context` is echoed, the handler need not set it).
pub(crate) fn echo_sandbox(body: &mut Value, task: &TaskSpec, sandbox: bool) {
    if !sandbox || !declares_sandbox(task) {
        return;
    }
    if let Value::Object(m) = body {
        m.entry("sandbox").or_insert(Value::Bool(true));
    }
}

/// Whether a task's response (or one of its top-level arms) has a `sandbox` property.
fn declares_sandbox(task: &TaskSpec) -> bool {
    static DECLARING: OnceLock<HashSet<&'static str>> = OnceLock::new();
    DECLARING
        .get_or_init(|| {
            adcp_wire::catalog::TASKS
                .iter()
                .filter(|t| {
                    let Some(schema) = adcp_wire::schema_file(t.response_schema)
                        .and_then(|text| serde_json::from_str::<Value>(text).ok())
                    else {
                        return false;
                    };
                    let has = |v: &Value| v.pointer("/properties/sandbox").is_some();
                    has(&schema)
                        || ["oneOf", "anyOf"].iter().any(|k| {
                            schema[k]
                                .as_array()
                                .is_some_and(|arms| arms.iter().any(has))
                        })
                })
                .map(|t| t.name)
                .collect()
        })
        .contains(task.name)
}

/// The one answer for a task this agent does not serve (unknown to AdCP, or not implemented):
/// `UNSUPPORTED_FEATURE` naming the position the task was named at (`params.name`, `skill`,
/// `path`, `tool`). The wording starts `Unknown tool:`, which the compliance runner reads as
/// "skip this step".
pub(crate) fn unknown_task(task: &str, field: &str) -> AdcpError {
    AdcpError::new(
        crate::error::codes::UNSUPPORTED_FEATURE,
        format!("Unknown tool: `{task}` is not served by this agent"),
    )
    .with_field(field)
    .with_recovery(crate::error::Recovery::Terminal)
}

/// The task a name invokes: the AdCP task names, and the legacy slash names the official
/// buyer client polls with (`tasks/get`, `tasks/list`) for `tasks_get` and `tasks_list`.
pub(crate) fn task_named(name: &str) -> Option<&'static adcp_wire::TaskSpec> {
    let name = match name {
        "tasks/get" => "tasks_get",
        "tasks/list" => "tasks_list",
        other => other,
    };
    adcp_wire::task(name)
}

/// The body of a failed call.
pub(crate) fn error(e: &AdcpError) -> Value {
    let err = e.to_json();
    json!({"status": "failed", "adcp_error": err, "errors": [err]})
}

/// Puts the request's `context` on the response, whatever the handler did.
pub(crate) fn echo_context(body: &mut Value, context: Option<Value>) {
    if let (Value::Object(m), Some(c)) = (body, context) {
        m.insert("context".into(), c);
    }
}

/// Property names whose values are secrets: never logged.
const SECRET_KEYS: &[&str] = &[
    "credentials",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "authorization",
    "password",
    "secret",
    "client_secret",
    "signature",
];

/// A copy of a request or response for the logs, every secret replaced by `[redacted]`:
/// webhook `authentication.credentials`, A2A push tokens, keys, passwords, signatures.
pub(crate) fn redacted(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let secret = SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                    let v = if secret && !v.is_null() {
                        json!("[redacted]")
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// An A2A `Task` object, the one shape both `message/send` answers and push notifications use.
pub(crate) struct A2aTask {
    pub(crate) id: String,
    pub(crate) context_id: String,
    pub(crate) state: String,
    pub(crate) timestamp: String,
    /// Parts of the agent's status message; no message when empty.
    pub(crate) status_parts: Vec<Value>,
    pub(crate) artifacts: Vec<Artifact>,
    pub(crate) metadata: Option<Value>,
    pub(crate) history: Option<Vec<Value>>,
}

/// An artifact carrying an AdCP response (`result`, `submitted` or `error`).
pub(crate) struct Artifact {
    pub(crate) name: &'static str,
    pub(crate) data: Value,
    pub(crate) adcp_task_id: Option<String>,
}

impl A2aTask {
    pub(crate) fn new(
        id: impl Into<String>,
        context_id: impl Into<String>,
        state: impl Into<String>,
        timestamp: String,
    ) -> Self {
        A2aTask {
            id: id.into(),
            context_id: context_id.into(),
            state: state.into(),
            timestamp,
            status_parts: Vec::new(),
            artifacts: Vec::new(),
            metadata: None,
            history: None,
        }
    }

    pub(crate) fn into_value(self) -> Value {
        let mut status = json!({"state": self.state, "timestamp": self.timestamp});
        if !self.status_parts.is_empty() {
            status["message"] = json!({
                "kind": "message", "role": "agent", "messageId": uuid::Uuid::new_v4().to_string(),
                "parts": self.status_parts,
            });
        }
        let mut task = json!({
            "kind": "task",
            "id": &self.id,
            "contextId": self.context_id,
            "status": status,
        });
        if !self.artifacts.is_empty() {
            let artifacts: Vec<Value> = self
                .artifacts
                .into_iter()
                .map(|a| {
                    // Stable across reads of the same task.
                    let mut artifact = json!({
                        "artifactId": format!("{}-{}", self.id, a.name),
                        "name": a.name,
                        "parts": [{"kind": "data", "data": a.data}],
                    });
                    if let Some(id) = a.adcp_task_id {
                        artifact["metadata"] = json!({"adcp_task_id": id});
                    }
                    artifact
                })
                .collect();
            task["artifacts"] = Value::Array(artifacts);
        }
        if let Some(m) = self.metadata {
            task["metadata"] = m;
        }
        if let Some(h) = self.history {
            task["history"] = Value::Array(h);
        }
        task
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_logged() {
        let call = json!({"push_notification_config": {"url": "https://b.example/h",
            "authentication": {"schemes": ["Bearer"], "credentials": "s3cret-s3cret-s3cret-s3cret-s3cret"}},
            "pushNotificationConfig": {"token": "tok"}, "brief": "shoes"});
        let text = redacted(&call).to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("tok\""),
            "{text}"
        );
        assert!(text.contains("shoes") && text.contains("Bearer"));
    }
}
