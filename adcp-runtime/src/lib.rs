//! adcp-runtime: serve AdCP agents over MCP and A2A.

pub mod validate;

pub use adcp_wire as wire;
