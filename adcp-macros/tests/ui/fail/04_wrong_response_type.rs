//! A task answering with another task's response.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetMediaBuysResponse> {
        Ok(GetMediaBuysResponse::new(Vec::new()))
    }
}

fn main() {}
