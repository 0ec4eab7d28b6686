//! A job is stored and re-run: it must be async, and take its input by value.
use adcp_runtime::wire::{CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse};
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    #[adcp(job)]
    fn not_async(&self, _ctx: &Ctx, id: String) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(id, Vec::new()))
    }

    #[adcp(job)]
    async fn borrowed(&self, _ctx: &Ctx, id: &str) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(id.to_owned(), Vec::new()))
    }
}

fn main() {}
