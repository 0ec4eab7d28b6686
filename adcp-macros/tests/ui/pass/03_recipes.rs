//! Recipes: one union tagged `recipe_kind`, with serde, a JSON schema and capability overlap.
use adcp_runtime::schemars::JsonSchema;
use adcp_runtime::serde::{Deserialize, Serialize};
use adcp_runtime::wire::{GetSignalsRequest, GetSignalsResponse};
use adcp_runtime::{AdcpResult, CapabilityOverlap, Ctx, DecisioningPlatform, Recipe, RecipeUnion, decisioning_platform};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(crate = "adcp_runtime::serde", deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
struct GamRecipe {
    line_item_template: String,
}

impl Recipe for GamRecipe {
    fn capability_overlap(&self) -> Option<CapabilityOverlap> {
        Some(CapabilityOverlap { pricing_models: Some(vec!["cpm".into()]), ..CapabilityOverlap::default() })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(crate = "adcp_runtime::serde", deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
struct KevelRecipe {
    zone_ids: Vec<u32>,
}

impl Recipe for KevelRecipe {}

struct Signals;

#[decisioning_platform(recipes(gam = GamRecipe, kevel = KevelRecipe))]
impl Signals {
    async fn get_signals(&self, _ctx: &Ctx, _req: GetSignalsRequest) -> AdcpResult<GetSignalsResponse> {
        Err(adcp_runtime::AdcpError::new("SERVICE_UNAVAILABLE", "not wired"))
    }
}

fn main() {
    let r: SignalsRecipe = adcp_runtime::serde_json::from_str(r#"{"recipe_kind":"kevel","zone_ids":[1,2]}"#).unwrap();
    assert_eq!(r.kind(), "kevel");
    assert_eq!(SignalsRecipe::KINDS, ["gam", "kevel"]);
    assert_eq!(Signals::descriptor().recipe_kinds, ["gam", "kevel"]);
    assert!(Signals::decode_recipe(&adcp_runtime::serde_json::json!({"recipe_kind": "dfp"})).unwrap().is_err());
}
