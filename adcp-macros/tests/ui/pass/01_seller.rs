//! A non-guaranteed seller: its specialism's required tasks plus a few more.
use adcp_runtime::wire::{
    CreateMediaBuyRequest, CreateMediaBuySuccess, GetMediaBuyDeliveryRequest, GetMediaBuyDeliveryResponse,
    GetMediaBuysRequest, GetMediaBuysResponse, GetProductsRequest, GetProductsResponse, SyncCreativesRequest,
    SyncCreativesSuccess, UpdateMediaBuyRequest, UpdateMediaBuySuccess,
};
use adcp_runtime::{AdcpError, AdcpResult, Ctx, DecisioningPlatform, decisioning_platform};

struct Seller;

#[decisioning_platform(specialisms(sales_non_guaranteed), accounts = explicit)]
impl Seller {
    async fn get_products(&self, _ctx: &Ctx, _req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(&self, _ctx: &Ctx, req: CreateMediaBuyRequest) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(req.idempotency_key, Vec::new()))
    }

    async fn get_media_buys(&self, _ctx: &Ctx, _req: GetMediaBuysRequest) -> AdcpResult<GetMediaBuysResponse> {
        Ok(GetMediaBuysResponse::new(Vec::new()))
    }

    async fn update_media_buy(&self, _ctx: &Ctx, req: UpdateMediaBuyRequest) -> AdcpResult<UpdateMediaBuySuccess> {
        Ok(UpdateMediaBuySuccess::new(req.media_buy_id))
    }

    async fn get_media_buy_delivery(&self, _ctx: &Ctx, _req: GetMediaBuyDeliveryRequest) -> AdcpResult<GetMediaBuyDeliveryResponse> {
        Err(AdcpError::new("UNSUPPORTED_FEATURE", "no delivery in this test"))
    }

    async fn sync_creatives(&self, _ctx: &Ctx, _req: SyncCreativesRequest) -> AdcpResult<SyncCreativesSuccess> {
        Ok(SyncCreativesSuccess::new(Vec::new()))
    }
}

fn main() {
    let d = Seller::descriptor();
    assert_eq!(d.specialisms, ["sales_non_guaranteed"]);
    assert!(d.implements("get_products") && d.implements("create_media_buy") && d.implements("get_media_buys"));
    assert!(!d.implements("list_creative_formats"));
}
