//! `governance_spend_authority` claimed with none of its tasks: the error names every task the specialism
//! requires (its entry points, and what its storyboards exercise that a reference framework
//! requires too).
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Agent;

#[decisioning_platform(specialisms(governance_spend_authority))]
impl Agent {}

fn main() {}
