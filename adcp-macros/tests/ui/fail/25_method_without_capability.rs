//! A `refine` method, but `refine` is not declared: capabilities are never inferred.
use adcp_runtime::store::ProposalRecord;
use adcp_runtime::wire::{GetProductsRequest, GetProductsResponse};
use adcp_runtime::{AdcpResult, Ctx, proposal_manager};

struct Planner;

#[proposal_manager]
impl Planner {
    async fn get_products(&self, _ctx: &Ctx, _req: &GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn refine(
        &self,
        _ctx: &Ctx,
        _req: &GetProductsRequest,
        _drafts: &[ProposalRecord],
    ) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
