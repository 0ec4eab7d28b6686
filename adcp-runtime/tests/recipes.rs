//! The recipe union derived by `#[decisioning_platform(recipes(..))]`.

use adcp_runtime::schemars::{JsonSchema, schema_for};
use adcp_runtime::serde::{Deserialize, Serialize};
use adcp_runtime::wire::{GetSignalsRequest, GetSignalsResponse};
use adcp_runtime::{AdcpResult, CapabilityOverlap, Ctx, Recipe, RecipeUnion, decisioning_platform};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(crate = "adcp_runtime::serde", deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
struct GamRecipe {
    line_item_template_id: String,
    ad_unit_ids: Vec<String>,
}

impl Recipe for GamRecipe {
    fn capability_overlap(&self) -> Option<CapabilityOverlap> {
        Some(CapabilityOverlap {
            pricing_models: Some(vec!["cpm".into()]),
            delivery_types: Some(vec!["guaranteed".into()]),
            ..CapabilityOverlap::default()
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(crate = "adcp_runtime::serde", deny_unknown_fields)]
#[schemars(crate = "adcp_runtime::schemars")]
struct KevelRecipe {
    flight_id: String,
}

impl Recipe for KevelRecipe {}

struct Agent;

#[decisioning_platform(recipes(gam = GamRecipe, kevel = KevelRecipe), recipe_union = AgentRecipe)]
impl Agent {
    async fn get_signals(
        &self,
        _ctx: &Ctx,
        _req: GetSignalsRequest,
    ) -> AdcpResult<GetSignalsResponse> {
        Err(adcp_runtime::AdcpError::internal("not used"))
    }
}

#[test]
fn the_platform_declares_its_kinds() {
    use adcp_runtime::DecisioningPlatform;
    assert_eq!(Agent::descriptor().recipe_kinds, ["gam", "kevel"]);
    assert!(Agent::descriptor().implements("get_signals"));
}

#[test]
fn values_round_trip_with_their_kind() {
    let v =
        json!({"recipe_kind": "gam", "line_item_template_id": "li-1", "ad_unit_ids": ["a", "b"]});
    let r: AgentRecipe = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(r.kind(), "gam");
    assert_eq!(serde_json::to_value(&r).unwrap(), v);
    assert_eq!(
        r.capability_overlap().unwrap().pricing_models,
        Some(vec!["cpm".to_owned()])
    );
    let k: AgentRecipe =
        serde_json::from_value(json!({"recipe_kind": "kevel", "flight_id": "f-9"})).unwrap();
    assert_eq!(
        k,
        AgentRecipe::Kevel(KevelRecipe {
            flight_id: "f-9".into()
        })
    );
    assert_eq!(k.capability_overlap(), None);
}

#[test]
fn an_unknown_kind_is_rejected_naming_the_known_ones() {
    let e = serde_json::from_value::<AgentRecipe>(json!({"recipe_kind": "meta", "x": 1}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown variant `meta`, expected `gam` or `kevel`"),
        "{e}"
    );
    let e = serde_json::from_value::<AgentRecipe>(json!({"line_item_template_id": "li"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `recipe_kind`"), "{e}");
    assert_eq!(AgentRecipe::KINDS, ["gam", "kevel"]);
}

#[test]
fn the_union_has_a_json_schema_tagged_by_kind() {
    let schema = serde_json::to_value(schema_for!(AgentRecipe)).unwrap();
    let branches = schema["oneOf"].as_array().expect("one branch per kind");
    let kinds: Vec<&str> = branches
        .iter()
        .filter_map(|b| b["properties"]["recipe_kind"]["const"].as_str())
        .collect();
    assert_eq!(kinds, ["gam", "kevel"], "{schema:#}");
}
