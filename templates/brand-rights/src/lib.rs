//! A brand agent: it represents brands (their identity) and licenses their rights (a talent's
//! likeness, a character, a mark, a jingle) to the agencies making their ads.
//!
//! - `get_brand_identity`: the house and names to anyone; the rest (logos, colours, fonts,
//!   tone, rights) to an authenticated caller, and named as `available_fields` otherwise.
//! - `get_rights`: rights covering the uses asked for, ranked (`src/rights.rs`).
//! - `acquire_rights`: a grant on a priced option, within the right's availability and
//!   countries, checked first against the buyer's plan when the buyer synced one here for the
//!   brand: this agent is also its buyers' spend authority (the `governance` template's
//!   plans and checks, composed), and the runtime's `Ctx::govern` asks it.
//! - `update_rights`: a grant's end date, cap, option or pause, with new credentials.
//!
//! Accounts, tasks, idempotency, validation, the controller and the envelope are the
//! runtime's.

mod catalog;
mod rights;

use adcp_runtime::json::answer;
use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Config, ControllerReply, Ctx, ScenarioParams, Serve, Stores,
    decisioning_platform,
};
use governance::Governance;
use serde_json::json;

/// The agent: the brands' rights, and its buyers' plans.
#[derive(Debug, Default)]
pub struct BrandAgent {
    governance: Governance,
}

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs brand agent".into(),
        description: "Brand identity and rights licensing, each licence checked against the buyer's plan (adcp-rs template)".into(),
        compliance_testing,
        capabilities: json!({"brand": {
            "rights": true,
            "right_types": ["talent", "character", "brand_ip", "music"],
            "available_uses": ["likeness", "voice", "name", "endorsement", "ai_generated_image",
                               "commercial", "editorial", "sync", "background_music"],
            "generation_providers": ["genstudio.example"]}}),
        ..Config::default()
    }
}

/// The agent on `config` and `stores`.
pub fn agent(config: Config, stores: Stores) -> Serve<BrandAgent> {
    adcp_runtime::serve(BrandAgent::default())
        .config(config)
        .stores(stores)
}

/// A brand's identity: the house and names always; the other fields asked for (all when
/// none are named) to an authenticated caller, else listed as available.
async fn identity(
    ctx: &Ctx,
    req: &GetBrandIdentityRequest,
) -> AdcpResult<GetBrandIdentityResponse> {
    let Some(b) = catalog::brand(&req.brand_id) else {
        return Err(AdcpError::new(
            "BRAND_NOT_FOUND",
            format!("this agent represents no brand {}", req.brand_id),
        )
        .with_field("brand_id"));
    };
    let wanted: Option<Vec<String>> = req
        .fields
        .as_ref()
        .and_then(|f| serde_json::to_value(f).ok())
        .and_then(|v| serde_json::from_value(v).ok());
    let mut out = json!({"brand_id": b.id, "house": {"domain": b.house_domain, "name": b.house_name},
                         "names": [{"en": b.name}]});
    let mut withheld = Vec::new();
    for (field, value) in (b.fields)() {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|f| f == field))
        {
            continue;
        }
        // The description is public; the brand kit is for callers it knows.
        if ctx.principal().is_some() || field == "description" {
            out[field] = value;
        } else {
            withheld.push(field);
        }
    }
    if !withheld.is_empty() {
        out["available_fields"] = json!(withheld);
    }
    answer(out, "a brand identity")
}

#[decisioning_platform(specialisms(brand_rights), accounts = explicit)]
impl BrandAgent {
    /// A brand's identity.
    pub async fn get_brand_identity(
        &self,
        ctx: &Ctx,
        req: GetBrandIdentityRequest,
    ) -> AdcpResult<GetBrandIdentityResponse> {
        identity(ctx, &req).await
    }

    /// Rights for the uses asked for, best first.
    pub async fn get_rights(
        &self,
        ctx: &Ctx,
        req: GetRightsRequest,
    ) -> AdcpResult<GetRightsResponse> {
        rights::get(ctx, &req).await
    }

    /// Licenses a right to the buyer.
    pub async fn acquire_rights(
        &self,
        ctx: &Ctx,
        req: AcquireRightsRequest,
    ) -> AdcpResult<AcquireRightsResponse> {
        rights::acquire(ctx, &req).await
    }

    /// Changes a grant.
    pub async fn update_rights(
        &self,
        ctx: &Ctx,
        req: UpdateRightsRequest,
    ) -> AdcpResult<UpdateRightsResponse> {
        rights::update(ctx, &req).await
    }

    /// Keeps a buyer's plans (the governance template's).
    pub async fn sync_plans(
        &self,
        ctx: &Ctx,
        req: SyncPlansRequest,
    ) -> AdcpResult<SyncPlansResponse> {
        self.governance.sync_plans(ctx, req).await
    }

    /// Decides a licence against the buyer's plan (the runtime asks it of each acquisition).
    pub async fn check_governance(
        &self,
        ctx: &Ctx,
        req: CheckGovernanceRequest,
    ) -> AdcpResult<CheckGovernanceResponse> {
        self.governance.check_governance(ctx, req).await
    }

    /// Records what was committed under an approval.
    pub async fn report_plan_outcome(
        &self,
        ctx: &Ctx,
        req: ReportPlanOutcomeRequest,
    ) -> AdcpResult<ReportPlanOutcomeResponse> {
        self.governance.report_plan_outcome(ctx, req).await
    }

    /// A buyer's plans, checks and outcomes.
    pub async fn get_plan_audit_logs(
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

    /// Controller: a product a plan's check may name (the governance agent's fixture).
    async fn seed_product(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.governance.seed_product(ctx, p).await
    }

    /// Controller: a pricing option of a seeded product.
    async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        self.governance.seed_pricing_option(ctx, p).await
    }

    /// Controller: a media buy under governance.
    async fn seed_media_buy(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        self.governance.seed_media_buy(ctx, p).await
    }
}
