//! A job that finishes a different task's response cannot complete this task.
use adcp_runtime::wire::{CreateMediaBuyRequest, CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse};
use adcp_runtime::{AdcpResult, Ctx, Hybrid, TaskHandoff, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(&self, _ctx: &Ctx, req: CreateMediaBuyRequest) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        Ok(Hybrid::Later(TaskHandoff::job(Self::LIST_PRODUCTS, req.idempotency_key)))
    }

    #[adcp(job)]
    async fn list_products(&self, _ctx: &Ctx, _key: String) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
