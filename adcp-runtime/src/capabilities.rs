//! `get_adcp_capabilities`, derived from what the platform implements and claims.

use serde_json::{Map, Value, json};

use crate::platform::DecisioningPlatform;
use adcp_wire::TaskSpec;

use crate::config::{Config, MAJOR_VERSION};

/// The `supported_protocols` value of a catalogue protocol (`media-buy` -> `media_buy`);
/// `None` for protocol-level and account tasks, which belong to no protocol of their own.
pub(crate) fn wire_protocol(protocol: &str) -> Option<&'static str> {
    Some(match protocol {
        "media-buy" => "media_buy",
        "creative" => "creative",
        "signals" => "signals",
        "brand" => "brand",
        "sponsored-intelligence" => "sponsored_intelligence",
        "governance" | "property" | "collection" | "content-standards" => "governance",
        _ => return None,
    })
}

/// Controller scenarios the capabilities enum lists (`seed_*` are accepted, not advertised).
const ADVERTISED_SCENARIOS: &[&str] = &[
    "force_creative_status",
    "force_account_status",
    "force_media_buy_status",
    "force_session_status",
    "simulate_delivery",
    "simulate_budget_spend",
];

/// Tasks whose serving says something other than the manifest's protocol about what an agent
/// supports: `None` for a task more than one protocol's agents serve (a seller's creative
/// library and formats, catalogues for sellers and generative agents), which says nothing;
/// `build_creative`, whose schema sits with the media-buy ones, for the creative protocol
/// (buyers' clients call it only on agents declaring `creative`).
const TASK_PROTOCOLS: &[(&str, Option<&str>)] = &[
    ("build_creative", Some("creative")),
    ("list_creative_formats", None),
    ("list_creatives", None),
    ("sync_catalogs", None),
    ("sync_creatives", None),
];

/// The protocols a platform supports: those of its claimed specialisms and those of the tasks
/// it implements (the manifest's, but as [`TASK_PROTOCOLS`] says).
pub(crate) fn supported_protocols<P: DecisioningPlatform>() -> Vec<&'static str> {
    let d = P::descriptor();
    let mut out: Vec<&'static str> = Vec::new();
    let from_specialisms = d
        .specialisms
        .iter()
        .filter_map(|s| adcp_wire::catalog::SPECIALISMS.iter().find(|x| x.id == *s))
        .filter_map(|s| wire_protocol(s.protocol));
    let from_tasks = d.handlers.iter().filter_map(|h| {
        match TASK_PROTOCOLS.iter().find(|(task, _)| *task == h.task) {
            Some((_, protocol)) => *protocol,
            None => adcp_wire::task(h.task).and_then(|t| wire_protocol(t.protocol)),
        }
    });
    for p in from_specialisms.chain(from_tasks) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Deep-merges `extra` into `base` (objects merge; anything else replaces).
pub(crate) fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

/// Media-buy features (`media_buy.features`) and the tasks that serve them.
const MEDIA_BUY_FEATURES: &[(&str, &[&str])] = &[
    ("audience_targeting", &["sync_audiences"]),
    ("conversion_tracking", &["sync_event_sources", "log_event"]),
    ("catalog_management", &["sync_catalogs"]),
    (
        "content_standards",
        &["list_content_standards", "calibrate_content"],
    ),
];

/// Of those, the features declared whatever the protocols: buyers' clients gate the
/// content-standards tasks on `media_buy.features.content_standards`, even on a governance
/// agent that sells nothing.
const FEATURES_OF_ANY_AGENT: &[&str] = &["content_standards"];

/// The capabilities of platform `P` served with `config`, answering the `tools` it serves.
pub(crate) fn derive<P: DecisioningPlatform>(config: &Config, tools: &[&TaskSpec]) -> Value {
    let d = P::descriptor();
    let ttl = config.replay_ttl.as_secs().clamp(3600, 604_800);
    let mut body = Map::new();
    body.insert(
        "adcp".into(),
        json!({"major_versions": [MAJOR_VERSION], "idempotency": {"supported": true, "replay_ttl_seconds": ttl}}),
    );
    let protocols = supported_protocols::<P>();
    body.insert("supported_protocols".into(), json!(protocols));
    if !d.specialisms.is_empty() {
        let kebab: Vec<String> = d.specialisms.iter().map(|s| s.replace('_', "-")).collect();
        body.insert("specialisms".into(), json!(kebab));
    }
    // Media-buy features that serving a task is (buyers' clients read these flags to decide
    // whether to call it); the configuration may add the feature's own block, and may say
    // otherwise.
    // (A creative agent keeping catalogues declares no media-buy feature.)
    let sells = protocols.contains(&"media_buy");
    let features: Map<String, Value> = MEDIA_BUY_FEATURES
        .iter()
        .filter(|(f, _)| sells || FEATURES_OF_ANY_AGENT.contains(f))
        .filter(|(_, tasks)| tools.iter().any(|t| tasks.contains(&t.name)))
        .map(|(feature, _)| ((*feature).to_owned(), Value::Bool(true)))
        .collect();
    if !features.is_empty() {
        body.insert("media_buy".into(), json!({"features": features}));
    }
    if config.compliance_testing {
        // The runtime serves `force_account_status` from the account store.
        let scenarios: Vec<&str> = ADVERTISED_SCENARIOS
            .iter()
            .copied()
            .filter(|a| {
                *a == "force_account_status" || d.scenarios.iter().any(|s| s.scenario == *a)
            })
            .collect();
        if !scenarios.is_empty() {
            body.insert("compliance_testing".into(), json!({"scenarios": scenarios}));
        }
    }
    if let Some(rs) = &config.request_signing {
        let served: Vec<&str> = tools.iter().map(|t| t.name).collect();
        body.insert("request_signing".into(), rs.capability(&served));
    }
    if config.webhook_signing_key.is_some() {
        body.insert(
            "webhook_signing".into(),
            json!({
                "supported": true,
                "profile": crate::signing::WEBHOOK_TAG,
                "algorithms": ["ed25519", "ecdsa-p256-sha256"],
                "legacy_hmac_fallback": true,
            }),
        );
    }
    let mut body = Value::Object(body);
    merge(&mut body, &config.capabilities);
    if let Value::Object(m) = &mut body {
        m.insert("status".into(), json!("completed"));
    }
    body
}
