//! A request type named like the expected one but aliased to another task's: the type check at the call catches it, at the adopter's type.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

mod mine {
    pub type GetProductsRequest = adcp_runtime::wire::GetMediaBuysRequest;
}

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: mine::GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
