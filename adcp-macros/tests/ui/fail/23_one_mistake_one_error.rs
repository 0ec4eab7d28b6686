//! One wrong signature on a platform that other code relies on: the macro's error is the only
//! one. The job constant (`Self::REVIEW_BUY`) and the `DecisioningPlatform` impl (`serve`) are
//! still provided, as stubs, so rustc adds no "no associated item" or "not an AdCP decisioning
//! platform" on top of it.
use adcp_runtime::wire::{CreateMediaBuyRequest, CreateMediaBuySuccess, GetMediaBuysRequest, GetProductsResponse};
use adcp_runtime::{AdcpResult, Ctx, Hybrid, TaskHandoff, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetMediaBuysRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(&self, _ctx: &Ctx, req: CreateMediaBuyRequest) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        Ok(Hybrid::Later(TaskHandoff::job(Self::REVIEW_BUY, req.idempotency_key)))
    }

    #[adcp(job)]
    async fn review_buy(&self, _ctx: &Ctx, key: String) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(key, Vec::new()))
    }
}

fn main() {
    let _ = adcp_runtime::serve(Seller);
}
