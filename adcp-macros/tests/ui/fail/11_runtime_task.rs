//! A task the runtime serves itself.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_adcp_capabilities(
        &self,
        _ctx: &Ctx,
        _req: GetAdcpCapabilitiesRequest,
    ) -> AdcpResult<GetAdcpCapabilitiesResponse> {
        unimplemented!()
    }
}

fn main() {}
