//! The attribute on a trait impl block.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

trait Catalogue {}

#[decisioning_platform]
impl Catalogue for Seller {}

fn main() {}
