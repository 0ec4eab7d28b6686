//! A durable job: a typed key per `#[adcp(job)]` method, listed in the descriptor, handed off
//! with its input.
use adcp_runtime::wire::{CreateMediaBuyRequest, CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse};
use adcp_runtime::{AdcpResult, Ctx, DecisioningPlatform, Hybrid, Job, TaskHandoff, decisioning_platform};

#[derive(serde::Serialize, serde::Deserialize)]
struct Review {
    media_buy_id: String,
}

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(&self, _ctx: &Ctx, req: CreateMediaBuyRequest) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        let review = Review { media_buy_id: format!("mb_{}", req.idempotency_key) };
        Ok(Hybrid::Later(TaskHandoff::job(Self::REVIEW_BUY, review)))
    }

    #[adcp(job)]
    async fn review_buy(&self, _ctx: &Ctx, review: Review) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(review.media_buy_id, Vec::new()))
    }
}

fn main() {
    let _: Job<Review, CreateMediaBuySuccess> = Seller::REVIEW_BUY;
    let jobs: Vec<&str> = Seller::descriptor().jobs.iter().map(|j| j.name).collect();
    assert_eq!(jobs, ["review_buy"]);
}
