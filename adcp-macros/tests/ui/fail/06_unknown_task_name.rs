//! A method shaped like a task but named like none, with a suggestion.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_product(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
