//! A handler without the context argument.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
