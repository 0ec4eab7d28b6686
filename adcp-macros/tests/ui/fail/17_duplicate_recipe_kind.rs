//! One recipe kind declared twice.
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[derive(adcp_runtime::serde::Serialize, adcp_runtime::serde::Deserialize)]
#[serde(crate = "adcp_runtime::serde")]
struct GamRecipe {}

#[decisioning_platform(recipes(gam = GamRecipe, gam = GamRecipe))]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }
}

fn main() {}
