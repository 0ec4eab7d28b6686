//! The AdCP envelope around a response: `status`, `context` echoed, errors as `adcp_error`
//! (the transport's error object) plus `errors[]` (the payload's error list, which every task's
//! error arm carries).

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
