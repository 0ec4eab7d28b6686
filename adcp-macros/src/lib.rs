//! The procedural macros of adcp-runtime. Use them through `adcp_runtime`, which re-exports
//! them and documents them (`adcp_runtime::decisioning_platform`).

mod attr;
mod catalog;
mod errors;
mod expand;
mod model;
mod parse;
mod proposals;
mod validate;

use proc_macro::TokenStream;

/// Derives an AdCP decisioning platform from an impl block; see
/// `adcp_runtime::decisioning_platform` for the documentation.
#[proc_macro_attribute]
pub fn decisioning_platform(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::decisioning_platform(attr.into(), item.into()).into()
}

/// Derives `ProposalManager` from a manager's impl block and its declared capabilities; see
/// `adcp_runtime::proposal_manager` for the documentation.
#[proc_macro_attribute]
pub fn proposal_manager(attr: TokenStream, item: TokenStream) -> TokenStream {
    proposals::proposal_manager(attr.into(), item.into()).into()
}
