//! AdCP wire types, generated at build time from the JSON schemas in `schemas/` by
//! `adcp-codegen`, with the task catalogue.
//!
//! Every request, response and async-arm schema of every AdCP task is a Rust type here. Types
//! are strict where the schema is: a property the schema forbids, a wrong discriminator, a
//! missing required property or a value outside an enum fails to decode, naming the field.
//! Properties the schema allows but does not name are kept in `extra`, and fields the input
//! left out stay out, so a decoded value encodes back to the same JSON.
//!
//! ```
//! use adcp_wire::{GetProductsRequest, decode};
//!
//! let req: GetProductsRequest = decode(serde_json::json!({
//!     "buying_mode": "brief",
//!     "brief": "Premium video for a spring campaign",
//! }))
//! .unwrap();
//! assert_eq!(req.brief.as_deref(), Some("Premium video for a spring campaign"));
//!
//! let err = decode::<GetProductsRequest>(serde_json::json!({"buying_mode": "auction"})).unwrap_err();
//! assert_eq!(err.path, "buying_mode");
//! ```
//!
//! A union reads like the struct its arms have in common: every property each arm declares
//! with the same type has an accessor, and a property every arm fixes (a discriminator) reads as
//! the arm's wire value.
//!
//! ```
//! use adcp_wire::{PricingOption, decode};
//!
//! let option: PricingOption = decode(serde_json::json!({
//!     "pricing_option_id": "cpm_standard",
//!     "pricing_model": "cpm",
//!     "currency": "USD",
//!     "fixed_price": 12.0,
//! }))
//! .unwrap();
//! assert_eq!((option.pricing_model(), option.currency()), ("cpm", "USD"));
//! assert_eq!(option.fixed_price(), Some(12.0));
//! ```
//!
//! Constraints a type cannot carry (patterns, formats, bounds, `if`/`then` rules) are checked
//! by the runtime's validator against the unmodified schemas, [`catalog`]'s
//! [`SCHEMA_FILES`].

#[doc(hidden)]
#[path = "support.rs"]
pub mod __support;

#[allow(
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items,
    clippy::large_enum_variant,
    clippy::needless_lifetimes,
    clippy::derivable_impls,
    clippy::clone_on_copy,
    clippy::too_long_first_doc_paragraph,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::invalid_rust_codeblocks
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/adcp_wire.rs"));
}

pub use __support::{
    AsyncArmSpec, AsyncTask, ConstBool, ErrorCodeSpec, NoArm, ResponseFor, SpecialismSpec, Task,
    TaskSpec, TaskVisitor, TypeVisitor, UnionType, UnionVisitor,
};
pub use generated::*;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A value that does not decode into a wire type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Path of the offending field (`packages[0].budget`); empty for the value itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a JSON value into a wire type, reporting the full path of the first bad field,
/// through unions included.
pub fn decode<T: DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let outer = e.path().to_string();
        let (inner, message) = __support::split_at_path(&e.inner().to_string());
        let mut path = __support::join_path(if outer == "." { "" } else { &outer }, &inner);
        // serde names the field in the message for these; the path should reach it.
        for prefix in ["unknown field `", "missing field `"] {
            if let Some(field) = message
                .strip_prefix(prefix)
                .and_then(|r| r.split('`').next())
                && path.rsplit(['.', '[']).next() != Some(field)
            {
                path = __support::join_path(&path, field);
            }
        }
        DecodeError { path, message }
    })
}

/// The unmodified text of a schema file (`core/product.json`).
pub fn schema_file(path: &str) -> Option<&'static str> {
    SCHEMA_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
}

/// The catalogue entry of a task by wire name.
pub fn task(name: &str) -> Option<&'static TaskSpec> {
    catalog::TASKS.iter().find(|t| t.name == name)
}
