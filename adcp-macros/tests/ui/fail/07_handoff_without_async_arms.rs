//! A hand-off from a task whose schema has no async arms.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

use adcp_runtime::Hybrid;

#[decisioning_platform]
impl Seller {
    async fn get_media_buys(&self, _ctx: &Ctx, _req: GetMediaBuysRequest) -> AdcpResult<Hybrid<GetMediaBuysResponse>> {
        Ok(Hybrid::Now(GetMediaBuysResponse::new(Vec::new())))
    }
}

fn main() {}
