//! A syntax error inside a method body: bodies are not the macro's to parse, so rustc reports
//! it, once, at its span, and the platform is still derived (`serve` accepts it).
#![allow(unused_imports)]
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Ctx, decisioning_platform};

struct Seller;

#[decisioning_platform]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        let products = Vec::new() + ;
        Ok(GetProductsResponse::new(products))
    }
}

fn main() {
    let _ = adcp_runtime::serve(Seller);
}
