//! A governance agent: the buyer's spend authority. A buyer's agency keeps its clients'
//! campaign plans here (budget, flight, policies); sellers and the buyer's own agents check
//! each action against them before spend is confirmed (`check_governance`), and report what
//! was committed (`report_plan_outcome`). The logic is in `authority.rs`.
//!
//! The caller is the account (`accounts = from_auth`): an agency's plans are its own, and a
//! seller checking an action names the plan it was given. Accounts, tasks, idempotency (a
//! replayed `sync_plans` or outcome is answered as first), validation and the envelope are
//! the runtime's.

mod authority;
mod lists;
pub mod review;
mod standards;

use adcp_runtime::wire::*;
use adcp_runtime::{
    AdcpError, AdcpResult, Collection, Config, ControllerReply, Ctx, ScenarioParams, Serve, Stores,
    codes, decisioning_platform,
};
use serde_json::{Map, Value, json};

/// The agent.
#[derive(Debug, Default)]
pub struct Governance;

/// What the compliance controller seeds that the agent weighs checks with: products and their
/// pricing (an action's packages name them), and media buys under governance.
const SEEDED: Collection<Map<String, Value>> = Collection::new("seeded");

/// The agent's settings.
pub fn config(compliance_testing: bool) -> Config {
    Config {
        name: "adcp-rs governance agent".into(),
        description: "Spend authority over the buyer's campaign plans (adcp-rs template)".into(),
        compliance_testing,
        ..Config::default()
    }
}

/// The agent on `config` and `stores`.
pub fn agent(config: Config, stores: Stores) -> Serve<Governance> {
    adcp_runtime::serve(Governance)
        .config(config)
        .stores(stores)
}

/// Keeps a seeded object of `kind` under `id` (the controller's fixture, as given).
async fn seeded(
    ctx: &Ctx,
    kind: &str,
    id: Option<&String>,
    p: ScenarioParams,
) -> AdcpResult<ControllerReply> {
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return Err(AdcpError::new(
            codes::INVALID_REQUEST,
            format!("a {kind} seed names its id"),
        )
        .with_field(format!("params.{kind}_id")));
    };
    let mut fixture = p.fixture.unwrap_or_default();
    fixture.insert("kind".into(), json!(kind));
    ctx.state()
        .put(SEEDED, &format!("{kind}:{id}"), &fixture)
        .await?;
    Ok(ControllerReply::Seeded)
}

#[decisioning_platform(
    specialisms(
        governance_spend_authority,
        governance_delivery_monitor,
        property_lists,
        collection_lists,
        content_standards
    ),
    accounts = explicit
)]
impl Governance {
    /// Keeps the buyer's plans (new ones, and new versions of changed ones).
    pub async fn sync_plans(
        &self,
        ctx: &Ctx,
        req: SyncPlansRequest,
    ) -> AdcpResult<SyncPlansResponse> {
        authority::sync_plans(ctx, req).await
    }

    /// Decides an action against its plan.
    pub async fn check_governance(
        &self,
        ctx: &Ctx,
        req: CheckGovernanceRequest,
    ) -> AdcpResult<CheckGovernanceResponse> {
        authority::check(ctx, req).await
    }

    /// Records what a seller committed under an approval.
    pub async fn report_plan_outcome(
        &self,
        ctx: &Ctx,
        req: ReportPlanOutcomeRequest,
    ) -> AdcpResult<ReportPlanOutcomeResponse> {
        authority::report(ctx, req).await
    }

    /// The plans' budgets, checks and outcomes.
    pub async fn get_plan_audit_logs(
        &self,
        ctx: &Ctx,
        req: GetPlanAuditLogsRequest,
    ) -> AdcpResult<GetPlanAuditLogsResponse> {
        authority::audit(ctx, req).await
    }

    /// Creates a property list; its fetch token is in the answer, once.
    pub async fn create_property_list(
        &self,
        ctx: &Ctx,
        req: CreatePropertyListRequest,
    ) -> AdcpResult<CreatePropertyListResponse> {
        lists::PROPERTY.create(ctx, &req).await
    }

    /// A property list, resolved unless the request says not to.
    pub async fn get_property_list(
        &self,
        ctx: &Ctx,
        req: GetPropertyListRequest,
    ) -> AdcpResult<GetPropertyListResponse> {
        lists::PROPERTY.get(ctx, &req).await
    }

    /// The account's property lists, a page at a time.
    pub async fn list_property_lists(
        &self,
        ctx: &Ctx,
        req: ListPropertyListsRequest,
    ) -> AdcpResult<ListPropertyListsResponse> {
        lists::PROPERTY.list(ctx, &req).await
    }

    /// Changes a property list.
    pub async fn update_property_list(
        &self,
        ctx: &Ctx,
        req: UpdatePropertyListRequest,
    ) -> AdcpResult<UpdatePropertyListResponse> {
        lists::PROPERTY.update(ctx, &req).await
    }

    /// Deletes a property list.
    pub async fn delete_property_list(
        &self,
        ctx: &Ctx,
        req: DeletePropertyListRequest,
    ) -> AdcpResult<DeletePropertyListResponse> {
        lists::PROPERTY.delete(ctx, &req.list_id).await
    }

    /// Creates a collection list; its fetch token is in the answer, once.
    pub async fn create_collection_list(
        &self,
        ctx: &Ctx,
        req: CreateCollectionListRequest,
    ) -> AdcpResult<CreateCollectionListResponse> {
        lists::COLLECTION.create(ctx, &req).await
    }

    /// A collection list, resolved unless the request says not to.
    pub async fn get_collection_list(
        &self,
        ctx: &Ctx,
        req: GetCollectionListRequest,
    ) -> AdcpResult<GetCollectionListResponse> {
        lists::COLLECTION.get(ctx, &req).await
    }

    /// The account's collection lists, a page at a time.
    pub async fn list_collection_lists(
        &self,
        ctx: &Ctx,
        req: ListCollectionListsRequest,
    ) -> AdcpResult<ListCollectionListsResponse> {
        lists::COLLECTION.list(ctx, &req).await
    }

    /// Changes a collection list.
    pub async fn update_collection_list(
        &self,
        ctx: &Ctx,
        req: UpdateCollectionListRequest,
    ) -> AdcpResult<UpdateCollectionListResponse> {
        lists::COLLECTION.update(ctx, &req).await
    }

    /// Deletes a collection list.
    pub async fn delete_collection_list(
        &self,
        ctx: &Ctx,
        req: DeleteCollectionListRequest,
    ) -> AdcpResult<DeleteCollectionListResponse> {
        lists::COLLECTION.delete(ctx, &req.list_id).await
    }

    /// Validates delivery records against a property list.
    pub async fn validate_property_delivery(
        &self,
        ctx: &Ctx,
        req: ValidatePropertyDeliveryRequest,
    ) -> AdcpResult<ValidatePropertyDeliveryResponse> {
        lists::validate(ctx, &req).await
    }

    /// Creates content standards.
    pub async fn create_content_standards(
        &self,
        ctx: &Ctx,
        req: CreateContentStandardsRequest,
    ) -> AdcpResult<CreateContentStandardsResponse> {
        standards::create(ctx, &req).await
    }

    /// Content standards, as they are now.
    pub async fn get_content_standards(
        &self,
        ctx: &Ctx,
        req: GetContentStandardsRequest,
    ) -> AdcpResult<GetContentStandardsResponse> {
        standards::get(ctx, &req).await
    }

    /// The account's content standards, a page at a time.
    pub async fn list_content_standards(
        &self,
        ctx: &Ctx,
        req: ListContentStandardsRequest,
    ) -> AdcpResult<ListContentStandardsResponse> {
        standards::list(ctx, &req).await
    }

    /// Changes content standards: a new version, judged from the next call.
    pub async fn update_content_standards(
        &self,
        ctx: &Ctx,
        req: UpdateContentStandardsRequest,
    ) -> AdcpResult<UpdateContentStandardsResponse> {
        standards::update(ctx, &req).await
    }

    /// Judges sample content against content standards, before a campaign.
    pub async fn calibrate_content(
        &self,
        ctx: &Ctx,
        req: CalibrateContentRequest,
    ) -> AdcpResult<CalibrateContentResponse> {
        standards::calibrate(ctx, &req).await
    }

    /// Judges delivered content against content standards, record by record.
    pub async fn validate_content_delivery(
        &self,
        ctx: &Ctx,
        req: ValidateContentDeliveryRequest,
    ) -> AdcpResult<ValidateContentDeliveryResponse> {
        standards::validate(ctx, &req).await
    }

    // --- compliance test controller (sandbox accounts only) ------------------------------

    /// Controller: seeds a plan, kept as `sync_plans` keeps one.
    pub async fn seed_plan(&self, ctx: &Ctx, mut p: ScenarioParams) -> AdcpResult<ControllerReply> {
        let id = p.plan_id.clone().unwrap_or_default();
        authority::seed(ctx, &id, p.fixture.take().unwrap_or_default()).await?;
        Ok(ControllerReply::Seeded)
    }

    /// Controller: seeds a product an action may name.
    pub async fn seed_product(&self, ctx: &Ctx, p: ScenarioParams) -> AdcpResult<ControllerReply> {
        let id = p.product_id.clone();
        seeded(ctx, "product", id.as_ref(), p).await
    }

    /// Controller: seeds a pricing option of a product.
    pub async fn seed_pricing_option(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = match (&p.product_id, &p.pricing_option_id) {
            (Some(pr), Some(po)) => Some(format!("{pr}/{po}")),
            _ => None,
        };
        seeded(ctx, "pricing_option", id.as_ref(), p).await
    }

    /// Controller: seeds a media buy under governance.
    pub async fn seed_media_buy(
        &self,
        ctx: &Ctx,
        p: ScenarioParams,
    ) -> AdcpResult<ControllerReply> {
        let id = p.media_buy_id.clone();
        seeded(ctx, "media_buy", id.as_ref(), p).await
    }
}
