//! Several mistakes: every one is reported in the same compilation.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform(specialisms(signal_marketplace, sales_broadcast_tv))]
impl Seller {
    async fn get_signals(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetSignalsResponse> {
        unimplemented!()
    }

    async fn activate_signals(&self, _ctx: &Ctx, _req: ActivateSignalRequest) -> AdcpResult<ActivateSignalResponse> {
        unimplemented!()
    }
}

fn main() {}
