//! Proposals over the seller's own products: a brief is answered with the products it matches
//! and one plan spreading the budget over them, weighted by channel; refine re-plans the named
//! drafts over what is left; finalize holds the plan.

use adcp_runtime::proposals;
use adcp_runtime::schemars::JsonSchema;
use adcp_runtime::serde::{Deserialize, Serialize};
use adcp_runtime::store::ProposalRecord;
use adcp_runtime::wire::{GetProductsRequest, GetProductsResponse, Product, Proposal};
use adcp_runtime::{AdcpResult, CapabilityOverlap, Ctx, Recipe, proposal_manager};

use crate::{Seller, products};

/// The recipe of a product booked as line items of an upstream ad server (what the
/// `sales-proposal-mode` template's products carry): where they go, what a buyer may set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(crate = "adcp_runtime::serde", deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
pub struct LineItem {
    /// The upstream network.
    pub network_code: String,
    /// The network's ad units.
    pub ad_unit_ids: Vec<String>,
    /// Pricing models a buyer may choose.
    pub pricing_models: Vec<String>,
    /// Targeting dimensions a buyer may set.
    pub targeting_dimensions: Vec<String>,
}

impl Recipe for LineItem {
    fn capability_overlap(&self) -> Option<CapabilityOverlap> {
        Some(CapabilityOverlap {
            pricing_models: Some(self.pricing_models.clone()),
            targeting_dimensions: Some(self.targeting_dimensions.clone()),
            delivery_types: None,
        })
    }
}

/// The reference seller's proposal manager (composed in [`crate::agent`]).
pub struct Planner(pub(crate) Seller);

fn plan(ctx: &Ctx, id: Option<&str>, products: &[Product], why: &str) -> Option<Proposal> {
    let weight = |p: &Product| {
        if p.product_id.contains("video") {
            3.0
        } else {
            2.0
        }
    };
    let weighted = products.iter().take(4).map(|p| (p, weight(p)));
    proposals::plan(ctx, id, "Balanced video and display", weighted, why)
}

#[proposal_manager(refine, finalize)]
impl Planner {
    async fn get_products(
        &self,
        ctx: &Ctx,
        req: &GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        let mut resp = products::get_products(&self.0, ctx, req.clone()).await?;
        let why = req.brief.as_deref().unwrap_or("the whole catalogue");
        resp.proposals = Some(plan(ctx, None, &resp.products, why).into_iter().collect());
        Ok(resp)
    }

    async fn refine(
        &self,
        ctx: &Ctx,
        req: &GetProductsRequest,
        drafts: &[ProposalRecord],
    ) -> AdcpResult<GetProductsResponse> {
        let mut resp = products::get_products(&self.0, ctx, req.clone()).await?;
        let why = "re-planned over the products left after refinement";
        let ids: Vec<Option<&str>> = match drafts {
            [] => vec![None],
            d => d.iter().map(|d| Some(d.proposal_id.as_str())).collect(),
        };
        let plans = ids
            .into_iter()
            .filter_map(|id| plan(ctx, id, &resp.products, why));
        resp.proposals = Some(plans.collect());
        Ok(resp)
    }

    /// Auction products have no price to fix: the plan is held as answered, floors included.
    async fn finalize(&self, _ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal> {
        draft.decode()
    }

    async fn product(&self, ctx: &Ctx, product_id: &str) -> AdcpResult<Option<Product>> {
        products::one(&self.0, ctx, product_id).await
    }
}
