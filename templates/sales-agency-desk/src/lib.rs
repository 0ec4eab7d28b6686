//! An agency trading desk: it sells its clients inventory it holds (the reference seller's
//! media buying), and it is their spend authority (the `governance` template's plans and
//! checks). A client syncs its campaign plan to the desk; each buy it then makes for that brand
//! is checked against the plan before spend is confirmed, and denied with the findings when
//! it is outside it.
//!
//! The template has no code for that check: it composes a seller with a governance agent, and
//! the runtime, seeing a governance-aware seller that serves `sync_plans` and
//! `check_governance` itself, checks each create of a brand whose plan the caller synced here
//! (and that registered no other governance agent) against the platform's own
//! `check_governance`, and reports what a booked buy committed to its `report_plan_outcome`.
//! A client with its own governance agent registers it with `sync_governance`, and the
//! runtime asks that agent instead.

use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpResult, Config, ControllerReply, Ctx, ScenarioParams, Serve, Stores, decisioning_platform,
};
use governance::Governance;
use sales_non_guaranteed::Seller;

/// The desk: a seller and a governance agent in one.
pub struct AgencyDesk {
    seller: Seller,
    governance: Governance,
}

/// The desk's settings: the reference seller's, named for the desk.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs agency trading desk".into(),
        description: "Inventory sold to the agency's clients, each buy checked against the client's plan (adcp-rs template)".into(),
        ..sales_non_guaranteed::config(compliance_testing)
    }
}

/// The desk on `config` and `stores`; briefs are answered with a proposal over the products
/// (the reference seller's planner).
pub fn agent(config: Config, stores: Stores) -> Serve<AgencyDesk> {
    let seller = Seller::new(config.compliance_testing);
    let planner = seller.planner();
    adcp_runtime::serve(AgencyDesk {
        seller,
        governance: Governance,
    })
    .proposals(planner)
    .config(config)
    .stores(stores)
}

// The platform: the governance agent's tasks here; media buying and the rest of the
// controller are the reference seller's.
sales_non_guaranteed::seller_platform! {
    #[decisioning_platform(specialisms(sales_non_guaranteed, governance_aware_seller), accounts = explicit)]
    impl AgencyDesk {
        /// Keeps a client's plans.
        async fn sync_plans(&self, ctx: &Ctx, req: SyncPlansRequest) -> AdcpResult<SyncPlansResponse> {
            self.governance.sync_plans(ctx, req).await
        }

        /// Decides an action against a client's plan (the runtime asks it of each create).
        async fn check_governance(
            &self,
            ctx: &Ctx,
            req: CheckGovernanceRequest,
        ) -> AdcpResult<CheckGovernanceResponse> {
            self.governance.check_governance(ctx, req).await
        }

        /// Records what was committed under an approval.
        async fn report_plan_outcome(
            &self,
            ctx: &Ctx,
            req: ReportPlanOutcomeRequest,
        ) -> AdcpResult<ReportPlanOutcomeResponse> {
            self.governance.report_plan_outcome(ctx, req).await
        }

        /// A client's plans, checks and outcomes.
        async fn get_plan_audit_logs(
            &self,
            ctx: &Ctx,
            req: GetPlanAuditLogsRequest,
        ) -> AdcpResult<GetPlanAuditLogsResponse> {
            self.governance.get_plan_audit_logs(ctx, req).await
        }

        /// Controller: seeds a plan, kept as `sync_plans` keeps one.
        async fn seed_plan(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
            self.governance.seed_plan(ctx, p).await
        }
    }
    delegate seller: media_buying, seed_product, seed_pricing_option, seed_creative,
        seed_media_buy, seed_creative_format, force_media_buy_status, force_creative_status,
        simulate_delivery, simulate_budget_spend
}
