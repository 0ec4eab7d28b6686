//! JSON-RPC 2.0 envelopes shared by the MCP and A2A transports.

use serde_json::{Map, Value, json};

use crate::envelope;
use crate::error::AdcpError;

/// The body is not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// Not a valid JSON-RPC request.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// Bad parameters.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// The server failed (a store it could not read).
pub(crate) const INTERNAL_ERROR: i64 = -32603;

/// A JSON-RPC result.
pub(crate) fn result(id: &Value, result: Value) -> Value {
    let mut m = Map::with_capacity(3);
    m.insert("jsonrpc".into(), Value::from("2.0"));
    m.insert("id".into(), id.clone());
    m.insert("result".into(), result);
    Value::Object(m)
}

/// A JSON-RPC error.
pub(crate) fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A JSON-RPC error that also carries the AdCP error envelope (and the caller's `context`, when
/// one could be read) in `error.data`, so an AdCP client sees a code and a field either way.
pub(crate) fn adcp_error(id: &Value, code: i64, e: &AdcpError, context: Option<&Value>) -> Value {
    let mut data = envelope::error(e);
    envelope::echo_context(&mut data, context.cloned());
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": e.message(), "data": data}})
}
