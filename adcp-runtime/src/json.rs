//! Answers written as JSON. A platform whose answer reads better as `json!` than through the
//! wire's builders writes it so, then types it here: a field the wire type does not take is
//! the platform's mistake, never sent: the buyer gets the transient `SERVICE_UNAVAILABLE` of
//! an internal error, and the log the path of the field at fault.
//!
//! ```
//! use adcp_runtime::json;
//! use adcp_runtime::wire::ReportUsageResponse;
//! use serde_json::json;
//!
//! let ok: ReportUsageResponse = json::answer(json!({"accepted": 1}), "usage").unwrap();
//! assert_eq!(ok.accepted, 1);
//! let bad = json::answer::<ReportUsageResponse>(json!({"accepted": "one"}), "usage");
//! assert_eq!(bad.unwrap_err().code(), "SERVICE_UNAVAILABLE");
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{AdcpError, AdcpResult};

/// `value` as the wire type `T`; `what` names the answer in the error.
pub fn answer<T: DeserializeOwned>(value: Value, what: &str) -> AdcpResult<T> {
    adcp_wire::decode(value).map_err(|e| {
        tracing::error!(answer = what, path = %e.path, message = %e.message,
            "the platform built an answer its wire type does not take");
        AdcpError::internal(format!("{what}: {}: {}", e.path, e.message))
    })
}

/// A request (or any wire value) as a JSON object, for reading fields the typed request keeps
/// in unions or among its others; empty when it is not an object.
pub fn object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}
