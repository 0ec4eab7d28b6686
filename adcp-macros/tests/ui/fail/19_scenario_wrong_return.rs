//! A controller scenario returning a task response.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

use adcp_runtime::ScenarioParams;

#[decisioning_platform]
impl Seller {
    async fn seed_product(&self, _ctx: &Ctx, _params: ScenarioParams) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
