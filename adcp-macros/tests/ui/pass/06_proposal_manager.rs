//! A proposal manager declaring refine and finalize, with a product lookup and a helper.
use adcp_runtime::store::ProposalRecord;
use adcp_runtime::wire::{GetProductsRequest, GetProductsResponse, Product, Proposal};
use adcp_runtime::{AdcpResult, Ctx, ProposalManager, proposal_manager};

struct Planner;

#[proposal_manager(refine, finalize, hold = std::time::Duration::from_secs(600))]
impl Planner {
    async fn get_products(&self, _ctx: &Ctx, _req: &GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(self.none()))
    }

    async fn refine(
        &self,
        _ctx: &Ctx,
        _req: &GetProductsRequest,
        _drafts: &[ProposalRecord],
    ) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn finalize(&self, _ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal> {
        draft.decode()
    }

    async fn product(&self, _ctx: &Ctx, _product_id: &str) -> AdcpResult<Option<Product>> {
        Ok(None)
    }

    fn none(&self) -> Vec<Product> {
        Vec::new()
    }
}

/// A manager answering briefs only.
struct Briefs;

#[proposal_manager]
impl Briefs {
    async fn get_products(&self, _ctx: &Ctx, _req: &GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

/// A manager whose finalize may hand off to a review.
struct Reviewed;

#[proposal_manager(finalize, grace = std::time::Duration::ZERO)]
impl Reviewed {
    async fn get_products(&self, _ctx: &Ctx, _req: &GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn finalize(&self, _ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<adcp_runtime::Hybrid<Proposal>> {
        let p = draft.decode()?;
        Ok(adcp_runtime::Hybrid::Later(adcp_runtime::TaskHandoff::spawn(async move { Ok(p) })))
    }
}

fn main() {
    let caps = Planner.capabilities();
    assert!(caps.refine && caps.finalize);
    assert_eq!(caps.hold.as_secs(), 600);
    let caps = Briefs.capabilities();
    assert!(!caps.refine && !caps.finalize);
    let caps = Reviewed.capabilities();
    assert!(caps.finalize && caps.grace.is_zero());
}
