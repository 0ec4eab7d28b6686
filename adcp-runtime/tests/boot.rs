//! Boot validation reports every problem at once, and a sound platform passes.

use std::time::Duration;

use adcp_runtime::schemars::JsonSchema;
use adcp_runtime::serde::{Deserialize, Serialize};
use adcp_runtime::wire::*;
use adcp_runtime::{AdcpResult, Config, Ctx, Problem, Recipe, Server, decisioning_platform};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(crate = "adcp_runtime::serde", deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
struct GamRecipe {
    line_item_template: String,
}

impl Recipe for GamRecipe {}

/// A product whose `implementation_config` is `recipe`.
fn product(id: &str, recipe: &serde_json::Value) -> Product {
    decode(json!({
        "product_id": id, "name": id, "description": "a product",
        "publisher_properties": [{"publisher_domain": "p.example", "selection_type": "all"}],
        "format_ids": [{"agent_url": "https://p.example/mcp", "id": "display_300x250"}],
        "delivery_type": "non_guaranteed",
        "pricing_options": [{"pricing_option_id": "cpm", "pricing_model": "cpm", "currency": "USD", "floor_price": 1.0}],
        "reporting_capabilities": {"available_reporting_frequencies": ["daily"], "expected_delay_minutes": 60,
            "timezone": "UTC", "supports_webhooks": false, "available_metrics": ["impressions"],
            "date_range_support": "date_range"},
        "implementation_config": recipe,
    }))
    .expect("a valid product")
}

struct Broken;

#[decisioning_platform(accounts = singleton, recipes(gam = GamRecipe))]
impl Broken {
    async fn get_products(
        &self,
        _ctx: &Ctx,
        _req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(
        &self,
        _ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(req.idempotency_key, Vec::new()))
    }

    async fn sync_accounts(
        &self,
        _ctx: &Ctx,
        _req: SyncAccountsRequest,
    ) -> AdcpResult<SyncAccountsSuccess> {
        Ok(SyncAccountsSuccess::new(Vec::new()))
    }
}

#[test]
fn every_problem_is_reported_together() {
    let config = Config {
        public_url: Some("ftp://seller.example".into()),
        replay_ttl: Duration::from_secs(60),
        capabilities: json!({
            "supported_protocols": ["signals"],
            "compliance_testing": {"scenarios": ["simulate_delivery"]},
            "media_buy": {"supported_pricing_models": ["barter"]},
        }),
        ..Config::default()
    };
    let server = Server::new(Broken, config);
    let catalog = [
        product(
            "p1",
            &json!({"recipe_kind": "gam", "line_item_template": "t1"}),
        ),
        product("p2", &json!({"recipe_kind": "kevel", "zone_ids": [1]})),
        product("p3", &json!({"recipe_kind": "gam"})),
    ];
    let err = server.check(&catalog).unwrap_err();
    let problems: Vec<(&str, &str)> = err
        .problems
        .iter()
        .map(|p: &Problem| (p.area, p.message.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (
                "capabilities",
                "`supported_protocols` is derived from the platform and cannot be configured"
            ),
            (
                "capabilities",
                "`compliance_testing` is advertised but compliance testing is off"
            ),
            (
                "capabilities",
                "get_adcp_capabilities would not match its schema at `media_buy.supported_pricing_models[0]`: must be one of \"cpm\", \"vcpm\", \"cpc\", \"cpcv\", \"cpv\", \"cpp\", \"cpa\", \"flat_rate\", \"time\""
            ),
            ("config", "replay_ttl is 60 s; AdCP allows 3600 to 604800"),
            (
                "config",
                "public_url `ftp://seller.example` is not an http(s) URL"
            ),
            (
                "accounts",
                "`sync_accounts` is implemented but accounts are `singleton`"
            ),
            (
                "catalog",
                "product `p2` (#1): implementation_config is not a declared recipe: recipe_kind: unknown variant `kevel`, expected `gam`"
            ),
            (
                "catalog",
                "product `p3` (#2): implementation_config is not a declared recipe: line_item_template: missing field `line_item_template`"
            ),
        ],
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("8 problem(s) stop this platform from being served:")
    );
}

struct Sound;

#[decisioning_platform]
impl Sound {
    async fn get_products(
        &self,
        _ctx: &Ctx,
        _req: GetProductsRequest,
    ) -> AdcpResult<GetProductsResponse> {
        Ok(GetProductsResponse::new(Vec::new()))
    }

    async fn create_media_buy(
        &self,
        _ctx: &Ctx,
        req: CreateMediaBuyRequest,
    ) -> AdcpResult<CreateMediaBuySuccess> {
        Ok(CreateMediaBuySuccess::new(req.idempotency_key, Vec::new()))
    }
}

#[test]
fn a_sound_platform_boots() {
    let config = Config {
        capabilities: json!({"account": {"supported_billing": ["operator"]}}),
        ..Config::default()
    };
    Server::new(Sound, config).check(&[]).unwrap();
}

#[test]
fn a_media_buy_seller_must_declare_billing() {
    // AdCP 3.0.18: `account.supported_billing` is required when media_buy is supported.
    let err = Server::new(Sound, Config::default())
        .check(&[])
        .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        err.problems[0].message.contains("`account` is required"),
        "{err}"
    );
}

/// A creative-template agent that leaves out what its storyboards only may call.
struct Templates;

#[decisioning_platform(specialisms(creative_template))]
impl Templates {
    async fn build_creative(
        &self,
        _ctx: &Ctx,
        _req: BuildCreativeRequest,
    ) -> AdcpResult<BuildCreativeResponse> {
        Err(adcp_runtime::AdcpError::new(
            "UNSUPPORTED_FEATURE",
            "builds nothing in this test",
        ))
    }
}

/// The optional tasks of a claimed specialism that a platform leaves out are reported (and
/// do not stop it booting).
#[test]
fn optional_tasks_left_out_are_reported() {
    let server = Server::new(Templates, Config::default());
    server.check(&[]).unwrap();
    assert_eq!(
        server.optional_tasks_left_out(),
        [(
            "creative_template",
            vec!["list_creative_formats", "preview_creative"]
        )]
    );
    // A seller leaves out nothing the runtime serves for it (`sync_accounts`).
    let seller = Server::new(Sound, Config::default());
    assert!(seller.optional_tasks_left_out().is_empty());
}

/// A signals agent that also keeps a creative library.
struct Signals;

#[decisioning_platform(specialisms(signal_owned))]
impl Signals {
    async fn get_signals(
        &self,
        _ctx: &Ctx,
        _req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        Ok(GetSignalsResponse::new(Vec::new()))
    }

    async fn activate_signal(
        &self,
        _ctx: &Ctx,
        _req: ActivateSignalRequest,
    ) -> AdcpResult<ActivateSignalResponse> {
        Err(adcp_runtime::AdcpError::new(
            "UNSUPPORTED_FEATURE",
            "activates nothing in this test",
        ))
    }

    async fn list_creatives(
        &self,
        _ctx: &Ctx,
        _req: ListCreativesRequest,
    ) -> AdcpResult<ListCreativesResponse> {
        Err(adcp_runtime::AdcpError::new(
            "UNSUPPORTED_FEATURE",
            "lists nothing in this test",
        ))
    }

    async fn get_creative_delivery(
        &self,
        _ctx: &Ctx,
        _req: GetCreativeDeliveryRequest,
    ) -> AdcpResult<GetCreativeDeliveryResponse> {
        Err(adcp_runtime::AdcpError::new(
            "UNSUPPORTED_FEATURE",
            "delivers nothing in this test",
        ))
    }
}

/// `supported_protocols` is the union of the claimed specialisms' protocols and the protocols
/// of the implemented tasks, but for tasks several protocols' agents serve (`list_creatives`):
/// a creative-only task (`get_creative_delivery`) adds `creative`, a shared one alone would not.
#[tokio::test]
async fn supported_protocols_are_the_claims_and_the_tasks() {
    let server = Server::new(Signals, Config::default());
    let reply = server
        .call(adcp_runtime::Call::new("get_adcp_capabilities", json!({})))
        .await;
    assert_eq!(
        reply.body["supported_protocols"],
        json!(["signals", "creative"]),
        "{}",
        reply.body
    );
    let templates = Server::new(Templates, Config::default());
    let reply = templates
        .call(adcp_runtime::Call::new("get_adcp_capabilities", json!({})))
        .await;
    assert_eq!(reply.body["supported_protocols"], json!(["creative"]));
}
