//! adcp-runtime: serve AdCP agents over MCP and A2A.

pub mod a2a;
pub mod boot;
pub mod capabilities;
mod controller;
pub mod ctx;
mod envelope;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod lifecycle;
pub mod mcp;
pub mod platform;
pub mod server;
pub mod tasks;
pub mod validate;

#[doc(hidden)]
pub mod __private;

pub use adcp_macros::decisioning_platform;
pub use adcp_wire as wire;
pub use boot::{BootError, ServeError};
pub use ctx::{Account, Ctx, Principal};
pub use error::{AdcpError, AdcpResult, Recovery, codes};
pub use http::{router, serve};
pub use platform::{
    AccountMode, CapabilityOverlap, ControllerReply, DecisioningPlatform, Hybrid, Recipe,
    RecipeUnion, ScenarioParams, TaskHandoff,
};
pub use schemars;
pub use serde;
pub use serde_json;
pub use server::{Call, Config, Reply, Server};
