//! What `comply_test_controller` scenarios take and give: the params, the answer, and the
//! controller's own error codes. Below everything that runs a scenario.

use serde_json::Value;

use crate::error::AdcpError;

/// The `params` of a `comply_test_controller` request.
pub type ScenarioParams = adcp_wire::ComplyTestControllerRequestParams;

/// The error codes of `comply_test_controller` (its `ControllerError.error` enum), which are
/// not the task error codes. A scenario returns `code.error(message)`; the runtime answers
/// `{success: false, error: <code>, error_detail: <message>}` (with `current_state` when the
/// error's details carry one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControllerCode {
    /// The move is not in the resource's lifecycle.
    InvalidTransition,
    /// The resource's state does not allow the scenario.
    InvalidState,
    /// No such resource in the caller's sandbox.
    NotFound,
    /// A scenario the controller does not know.
    UnknownScenario,
    /// Missing or malformed `params`.
    InvalidParams,
    /// Not a sandbox account.
    Forbidden,
    /// The controller failed.
    InternalError,
}

impl ControllerCode {
    /// All codes.
    pub const ALL: &'static [ControllerCode] = &[
        ControllerCode::InvalidTransition,
        ControllerCode::InvalidState,
        ControllerCode::NotFound,
        ControllerCode::UnknownScenario,
        ControllerCode::InvalidParams,
        ControllerCode::Forbidden,
        ControllerCode::InternalError,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ControllerCode::InvalidTransition => "INVALID_TRANSITION",
            ControllerCode::InvalidState => "INVALID_STATE",
            ControllerCode::NotFound => "NOT_FOUND",
            ControllerCode::UnknownScenario => "UNKNOWN_SCENARIO",
            ControllerCode::InvalidParams => "INVALID_PARAMS",
            ControllerCode::Forbidden => "FORBIDDEN",
            ControllerCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// An error with this code, for a scenario to return.
    pub fn error(self, message: impl Into<String>) -> AdcpError {
        AdcpError::new(self.as_str(), message)
    }

    /// The controller code of an error a scenario returned: its own code when it is one,
    /// otherwise the closest (`*_NOT_FOUND` is `NOT_FOUND`, request errors are
    /// `INVALID_PARAMS`, lifecycle refusals `INVALID_TRANSITION`).
    pub fn of(e: &AdcpError) -> ControllerCode {
        use crate::error::codes;
        if let Some(c) = ControllerCode::ALL.iter().find(|c| c.as_str() == e.code()) {
            return *c;
        }
        match e.code() {
            codes::INVALID_REQUEST | codes::VALIDATION_ERROR => ControllerCode::InvalidParams,
            codes::NOT_CANCELLABLE => ControllerCode::InvalidTransition,
            codes::PERMISSION_DENIED => ControllerCode::Forbidden,
            c if c.ends_with("_NOT_FOUND") => ControllerCode::NotFound,
            _ => ControllerCode::InternalError,
        }
    }
}

/// What a controller scenario produced.
#[derive(Clone, Debug, PartialEq)]
pub enum ControllerReply {
    /// A `seed_*` scenario stored its fixture.
    Seeded,
    /// A `force_*_status` scenario moved an entity.
    Transition {
        /// State before.
        previous: String,
        /// State after.
        current: String,
    },
    /// A `simulate_*` scenario.
    Simulated {
        /// What was simulated.
        simulated: Value,
        /// Running totals, when tracked.
        cumulative: Option<Value>,
    },
    /// A directive stored for later requests.
    Forced(Value),
}
