//! A hand-off where the task has async arms, controller scenarios, and `Result<_, AdcpError>`.
use adcp_runtime::wire::{CreateMediaBuyRequest, CreateMediaBuySuccess, GetProductsRequest, GetProductsResponse};
use adcp_runtime::{
    AdcpError, AdcpResult, ControllerReply, Ctx, DecisioningPlatform, Hybrid, ScenarioParams, TaskHandoff,
    decisioning_platform,
};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> Result<GetProductsResponse, AdcpError> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(&self, _ctx: &Ctx, req: CreateMediaBuyRequest) -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
        let id = req.idempotency_key;
        Ok(Hybrid::Later(TaskHandoff::spawn(async move { Ok(CreateMediaBuySuccess::new(id, Vec::new())) })))
    }

    async fn seed_product(&self, _ctx: &Ctx, _params: ScenarioParams) -> AdcpResult<ControllerReply> {
        Ok(ControllerReply::Seeded)
    }

    async fn force_media_buy_status(&self, _ctx: &Ctx, params: ScenarioParams) -> AdcpResult<ControllerReply> {
        Ok(ControllerReply::Transition { previous: "active".into(), current: params.status.unwrap_or_default() })
    }
}

fn main() {
    let d = Seller::descriptor();
    let scenarios: Vec<&str> = d.scenarios.iter().map(|s| s.scenario).collect();
    assert_eq!(scenarios, ["seed_product", "force_media_buy_status"]);
}
