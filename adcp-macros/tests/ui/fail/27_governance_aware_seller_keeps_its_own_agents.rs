//! A governance-aware seller that serves `sync_governance` itself: the runtime's checks would
//! never find the agents it keeps.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, Hybrid, decisioning_platform};

struct Seller;

#[decisioning_platform(specialisms(governance_aware_seller))]
impl Seller {
    async fn create_media_buy(&self, _ctx: &Ctx, _req: CreateMediaBuyRequest) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        Ok(Hybrid::Now(CreateMediaBuySuccess::new("mb", Vec::new())))
    }

    async fn sync_governance(&self, _ctx: &Ctx, req: SyncGovernanceRequest) -> AdcpResult<SyncGovernanceSuccess> {
        let _ = req;
        Ok(SyncGovernanceSuccess::new(Vec::new()))
    }
}

fn main() {}
