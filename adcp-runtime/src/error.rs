//! AdCP errors: what a handler returns when it cannot answer, and what the buyer receives.
//!
//! On the wire an error is `adcp_error: {code, message, recovery, field?, suggestion?,
//! details?}` plus the same entry in `errors[]`, with `context` echoed and `status: failed`
//! (see `envelope.rs`). Codes are the UPPER_SNAKE codes of the spec's error-code enum; a seller
//! may use its own, which buyers treat as `transient` unless told otherwise.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The result of a handler.
pub type AdcpResult<T> = Result<T, AdcpError>;

/// How a buyer should react to an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Fix the request and retry.
    Correctable,
    /// Retry later, unchanged.
    Transient,
    /// Do not retry.
    Terminal,
}

impl Recovery {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "correctable" => Some(Recovery::Correctable),
            "transient" => Some(Recovery::Transient),
            "terminal" => Some(Recovery::Terminal),
            _ => None,
        }
    }
}

/// Standard error codes (the spec's `enums/error-code.json`), for use with [`AdcpError::new`].
#[allow(missing_docs)]
pub mod codes {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
    pub const VERSION_UNSUPPORTED: &str = "VERSION_UNSUPPORTED";
    pub const UNSUPPORTED_FEATURE: &str = "UNSUPPORTED_FEATURE";
    pub const AUTH_REQUIRED: &str = "AUTH_REQUIRED";
    pub const PERMISSION_DENIED: &str = "PERMISSION_DENIED";
    pub const ACCOUNT_NOT_FOUND: &str = "ACCOUNT_NOT_FOUND";
    pub const ACCOUNT_SUSPENDED: &str = "ACCOUNT_SUSPENDED";
    pub const ACCOUNT_SETUP_REQUIRED: &str = "ACCOUNT_SETUP_REQUIRED";
    pub const ACCOUNT_PAYMENT_REQUIRED: &str = "ACCOUNT_PAYMENT_REQUIRED";
    pub const ACCOUNT_AMBIGUOUS: &str = "ACCOUNT_AMBIGUOUS";
    pub const PRODUCT_NOT_FOUND: &str = "PRODUCT_NOT_FOUND";
    pub const PRODUCT_UNAVAILABLE: &str = "PRODUCT_UNAVAILABLE";
    pub const MEDIA_BUY_NOT_FOUND: &str = "MEDIA_BUY_NOT_FOUND";
    pub const PACKAGE_NOT_FOUND: &str = "PACKAGE_NOT_FOUND";
    pub const CREATIVE_NOT_FOUND: &str = "CREATIVE_NOT_FOUND";
    pub const NOT_CANCELLABLE: &str = "NOT_CANCELLABLE";
    pub const INVALID_STATE: &str = "INVALID_STATE";
    pub const BUDGET_TOO_LOW: &str = "BUDGET_TOO_LOW";
    pub const TERMS_REJECTED: &str = "TERMS_REJECTED";
    pub const IDEMPOTENCY_CONFLICT: &str = "IDEMPOTENCY_CONFLICT";
    pub const IDEMPOTENCY_EXPIRED: &str = "IDEMPOTENCY_EXPIRED";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    pub const REFERENCE_NOT_FOUND: &str = "REFERENCE_NOT_FOUND";
    pub const CONFLICT: &str = "CONFLICT";
    pub const PLAN_NOT_FOUND: &str = "PLAN_NOT_FOUND";
    pub const SIGNAL_NOT_FOUND: &str = "SIGNAL_NOT_FOUND";
    pub const SESSION_NOT_FOUND: &str = "SESSION_NOT_FOUND";
    pub const PROPOSAL_EXPIRED: &str = "PROPOSAL_EXPIRED";
    pub const PROPOSAL_NOT_COMMITTED: &str = "PROPOSAL_NOT_COMMITTED";
    pub const POLICY_VIOLATION: &str = "POLICY_VIOLATION";
    pub const GOVERNANCE_DENIED: &str = "GOVERNANCE_DENIED";
    pub const GOVERNANCE_UNAVAILABLE: &str = "GOVERNANCE_UNAVAILABLE";
}

/// An AdCP error. One pointer wide, so results and handler futures stay small.
#[derive(Clone, Debug, PartialEq)]
pub struct AdcpError(Box<Inner>);

#[derive(Clone, Debug, PartialEq)]
struct Inner {
    code: Cow<'static, str>,
    message: String,
    field: Option<String>,
    recovery: Option<Recovery>,
    suggestion: Option<String>,
    details: Option<Value>,
    retry_after: Option<u64>,
}

impl AdcpError {
    /// An error with a code (`codes::*` or a seller's own UPPER_SNAKE code) and a message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        AdcpError(Box::new(Inner {
            code: code.into(),
            message: message.into(),
            field: None,
            recovery: None,
            suggestion: None,
            details: None,
            retry_after: None,
        }))
    }

    /// `INVALID_REQUEST` about one field.
    pub fn invalid_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        AdcpError::new(codes::INVALID_REQUEST, message).with_field(field)
    }

    /// `VALIDATION_ERROR` about one field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AdcpError::new(codes::VALIDATION_ERROR, message).with_field(field)
    }

    /// A reference to nothing the caller's account can see (`code` is the resource's
    /// `*_NOT_FOUND`, `what` names the kind, `field` the position). The id is never echoed,
    /// so one that exists in another account and one that exists nowhere get the same answer,
    /// byte for byte.
    pub fn not_found(code: &'static str, field: impl Into<String>, what: &str) -> Self {
        AdcpError::new(code, format!("no such {what} in this account")).with_field(field)
    }

    /// A failure of our own: never blames the buyer, never leaks internals.
    pub fn internal(message: impl Into<String>) -> Self {
        AdcpError::new(codes::SERVICE_UNAVAILABLE, message).with_recovery(Recovery::Transient)
    }

    /// The offending field, as a dotted path (`packages[0].budget`).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let f = field.into();
        self.0.field = (!f.is_empty()).then_some(f);
        self
    }

    /// The error of an item at `parent` (`catalogs[2]`): its field made a path under it
    /// (`catalogs[2].items`), or `parent` itself when it named none.
    pub fn within(self, parent: &str) -> Self {
        let field = match self.field() {
            Some(f) => format!("{parent}.{f}"),
            None => parent.to_owned(),
        };
        self.with_field(field)
    }

    /// How the buyer should react; defaults to the spec's recovery for the code.
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.0.recovery = Some(recovery);
        self
    }

    /// A hint for fixing the request.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.0.suggestion = Some(suggestion.into());
        self
    }

    /// Structured details (shaped per `error-details/*.json` for codes that define them).
    pub fn with_details(mut self, details: Value) -> Self {
        self.0.details = Some(details);
        self
    }

    /// Seconds before a retry makes sense (`RATE_LIMITED`, `SERVICE_UNAVAILABLE`).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// The code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The offending field, if one is named.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// Details, if any.
    pub fn details(&self) -> Option<&Value> {
        self.0.details.as_ref()
    }

    /// The recovery: as set, else the spec's for a standard code, else `transient` (the spec's
    /// `default_unknown_recovery`).
    pub fn recovery(&self) -> Recovery {
        self.0
            .recovery
            .or_else(|| {
                adcp_wire::catalog::ERROR_CODES
                    .iter()
                    .find(|c| c.code == self.0.code)
                    .and_then(|c| Recovery::parse(c.recovery))
            })
            .unwrap_or(Recovery::Transient)
    }

    /// The error as the spec's `core/error.json` object. An `IDEMPOTENCY_CONFLICT` carries its
    /// code and message only: anything more could hint at the request it conflicts with.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.0.code));
        m.insert("message".into(), json!(self.0.message));
        if self.0.code == codes::IDEMPOTENCY_CONFLICT {
            return Value::Object(m);
        }
        m.insert("recovery".into(), json!(self.recovery()));
        if let Some(f) = &self.0.field {
            m.insert("field".into(), json!(f));
        }
        if let Some(s) = &self.0.suggestion {
            m.insert("suggestion".into(), json!(s));
        }
        if let Some(d) = &self.0.details {
            m.insert("details".into(), d.clone());
        }
        if let Some(r) = self.0.retry_after {
            m.insert("retry_after".into(), json!(r));
        }
        Value::Object(m)
    }
}

impl AdcpError {
    /// The error as the wire's `core/error.json` type, for a response's `errors[]` (the same
    /// fields as [`AdcpError::to_json`]).
    pub fn to_wire(&self) -> adcp_wire::Error {
        let mut w = adcp_wire::Error::new(self.0.code.clone(), self.0.message.clone());
        if self.0.code == codes::IDEMPOTENCY_CONFLICT {
            return w;
        }
        w.recovery = Some(match self.recovery() {
            Recovery::Correctable => adcp_wire::ErrorRecovery::Correctable,
            Recovery::Transient => adcp_wire::ErrorRecovery::Transient,
            Recovery::Terminal => adcp_wire::ErrorRecovery::Terminal,
        });
        w.field.clone_from(&self.0.field);
        w.suggestion.clone_from(&self.0.suggestion);
        w.retry_after = self.0.retry_after.map(|s| s as f64);
        match &self.0.details {
            Some(Value::Object(m)) => w.details = Some(m.clone()),
            Some(other) => {
                w.details = Some(Map::from_iter([("value".to_owned(), other.clone())]));
            }
            None => {}
        }
        w
    }
}

impl fmt::Display for AdcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.field {
            Some(field) => write!(f, "{}: {} ({field})", self.0.code, self.0.message),
            None => write!(f, "{}: {}", self.0.code, self.0.message),
        }
    }
}

impl std::error::Error for AdcpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_comes_from_the_spec_unless_set() {
        assert_eq!(
            AdcpError::new(codes::INVALID_REQUEST, "x").recovery(),
            Recovery::Correctable
        );
        assert_eq!(
            AdcpError::new("SELLER_SPECIFIC", "x").recovery(),
            Recovery::Transient
        );
        let e = AdcpError::invalid_request("packages[0].budget", "must be positive");
        assert_eq!(
            e.to_json(),
            json!({"code": "INVALID_REQUEST", "message": "must be positive", "recovery": "correctable",
                   "field": "packages[0].budget"})
        );
        assert_eq!(serde_json::to_value(e.to_wire()).unwrap(), e.to_json());
        let d =
            AdcpError::new(codes::BUDGET_TOO_LOW, "low").with_details(json!({"minimum_budget": 5}));
        assert_eq!(serde_json::to_value(d.to_wire()).unwrap(), d.to_json());
    }
}
