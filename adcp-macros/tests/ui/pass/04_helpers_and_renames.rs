//! Helper methods stay helpers; `#[adcp(task = "..")]` names a task; `#[adcp(skip)]` opts an
//! operation-shaped method out.
use adcp_runtime::wire::{GetProductsRequest, GetProductsResponse, ListCreativeFormatsRequest, ListCreativeFormatsResponse};
use adcp_runtime::{AdcpResult, Ctx, DecisioningPlatform, decisioning_platform};

struct Agent {
    name: String,
}

#[decisioning_platform]
impl Agent {
    fn name(&self) -> &str {
        &self.name
    }

    #[adcp(task = "get_products")]
    async fn products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn list_creative_formats(&self, _ctx: &Ctx, _req: ListCreativeFormatsRequest) -> AdcpResult<ListCreativeFormatsResponse> {
        Ok(ListCreativeFormatsResponse::new(Vec::new()))
    }

    #[adcp(skip)]
    async fn refresh(&self, _a: u32, _b: u32) {}

    // A task compiled out: its table entry goes with it.
    #[cfg(any())]
    async fn list_creatives(&self, _ctx: &Ctx, _req: adcp_runtime::wire::ListCreativesRequest) -> AdcpResult<adcp_runtime::wire::ListCreativesResponse> {
        unimplemented!()
    }
}

fn main() {
    let a = Agent { name: "a".into() };
    assert_eq!(a.name(), "a");
    assert!(Agent::descriptor().implements("get_products"));
    assert!(!Agent::descriptor().implements("refresh"));
    assert!(!Agent::descriptor().implements("list_creatives"));
}
