//! `finalize` declared, but the block cannot finalize.
use adcp_runtime::wire::{GetProductsRequest, GetProductsResponse};
use adcp_runtime::{AdcpResult, Ctx, proposal_manager};

struct Planner;

#[proposal_manager(finalize)]
impl Planner {
    async fn get_products(&self, _ctx: &Ctx, _req: &GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
