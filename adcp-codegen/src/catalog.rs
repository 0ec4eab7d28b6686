//! The task catalogue: every AdCP task the schema tree defines, with its request and response
//! types, whether it mutates state, its async arms, its protocol, and a self-contained JSON
//! Schema for its request (served as the MCP `inputSchema`), and what the runtime serves itself
//! (`RUNTIME_TASKS`, `RUNTIME_SCENARIOS`): the one list both the macro and the runtime read.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::load::{SchemaSet, canonical_ref};
use crate::lower::Lowered;

/// One task.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Wire name (`get_products`; `tasks_get` for the protocol's `tasks/get`).
    pub name: String,
    /// Protocol or domain (`media-buy`, `signals`, `protocol`, ...).
    pub protocol: String,
    /// Whether it changes seller state (and so requires an `idempotency_key`).
    pub mutating: bool,
    /// Request schema, relative to the schema root: the manifest's, or another domain's
    /// definition of the same request that takes every field of it and more (requests are
    /// validated against it, and it is the `inputSchema`).
    pub request_schema: String,
    /// Response schema, relative to the schema root.
    pub response_schema: String,
    /// Rust type of the request.
    pub request_type: String,
    /// Rust type of the response.
    pub response_type: String,
    /// The `submitted` / `working` / `input-required` arms the task may answer with.
    pub async_arms: Vec<AsyncArm>,
    /// Specialisms that exercise the task (from the registry manifest).
    pub specialisms: Vec<String>,
    /// Types a handler may answer with: the response type and, when it is a union, each of
    /// its arms (`CreateMediaBuySuccess`, ...).
    pub answers: Vec<String>,
    /// The request schema with every `$ref` bundled under `definitions`.
    pub input_schema: Value,
}

/// An asynchronous response arm.
#[derive(Clone, Debug, PartialEq)]
pub struct AsyncArm {
    /// `submitted`, `working` or `input-required`.
    pub status: String,
    /// Schema path.
    pub schema: String,
    /// Rust type.
    pub type_name: String,
}

/// A specialism from the registry manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Specialism {
    /// snake_case id (`sales_non_guaranteed`).
    pub id: String,
    /// The protocol it belongs to.
    pub protocol: String,
    /// Title.
    pub title: String,
    /// Tasks a buyer starts with: a claimant implements every one of them.
    pub entry_point_tools: Vec<String>,
    /// Every task the specialism's storyboards exercise.
    pub exercised_tools: Vec<String>,
    /// Tasks a claimant implements: the entry points, and what the storyboards exercise that
    /// a reference framework requires too (the table `SPECIALISM_TASKS` of this module).
    pub required_tools: Vec<String>,
    /// Tasks the storyboards exercise that a claimant may leave out (reported at boot).
    pub optional_tools: Vec<String>,
}

/// What each specialism requires beyond its manifest entry points, and what it may leave out:
/// `(id, required, optional)`. Required: tasks the specialism's storyboards (its bundle in the
/// compliance cache and the scenarios it requires) call and that the TypeScript (`@adcp/sdk`
/// 6.11, `RequiredPlatformsFor`) or Python (`adcp` 9.2, `decisioning.dispatch`) framework
/// requires of a platform claiming it. Optional: the other tasks its storyboards call on the
/// agent (calls aimed at another agent, such as `sync_plans` to the buyer's governance agent,
/// are neither). Runtime-served tasks (`sync_accounts`, `list_accounts`, `sync_governance`)
/// count as implemented.
pub(crate) const SPECIALISM_TASKS: &[(&str, &[&str], &[&str])] = &[
    ("audience_sync", &["list_accounts", "sync_audiences"], &[]),
    (
        "brand_rights",
        &["get_brand_identity", "get_rights", "acquire_rights"],
        &["sync_accounts", "sync_governance"],
    ),
    (
        "collection_lists",
        &[
            "create_collection_list",
            "list_collection_lists",
            "get_collection_list",
            "update_collection_list",
            "delete_collection_list",
        ],
        &[],
    ),
    (
        "content_standards",
        &[
            "list_content_standards",
            "create_content_standards",
            "get_content_standards",
            "update_content_standards",
            "calibrate_content",
            "validate_content_delivery",
        ],
        &[],
    ),
    (
        "creative_ad_server",
        &["build_creative", "list_creatives", "get_creative_delivery"],
        &["list_creative_formats", "report_usage"],
    ),
    (
        "creative_generative",
        &["build_creative"],
        &[
            "list_creative_formats",
            "sync_catalogs",
            "sync_accounts",
            "get_products",
            "create_media_buy",
            "sync_creatives",
            "get_media_buy_delivery",
        ],
    ),
    (
        "creative_template",
        &["build_creative"],
        &["list_creative_formats", "preview_creative"],
    ),
    (
        "governance_aware_seller",
        &["create_media_buy", "sync_governance"],
        &["sync_accounts", "get_products"],
    ),
    (
        "governance_delivery_monitor",
        &["check_governance", "sync_plans"],
        &[],
    ),
    (
        "governance_spend_authority",
        &["check_governance", "sync_plans"],
        &[],
    ),
    (
        "property_lists",
        &[
            "create_property_list",
            "list_property_lists",
            "get_property_list",
            "update_property_list",
            "delete_property_list",
        ],
        &["validate_property_delivery"],
    ),
    (
        "sales_broadcast_tv",
        &[
            "get_products",
            "create_media_buy",
            "update_media_buy",
            "get_media_buys",
            "get_media_buy_delivery",
            "sync_creatives",
        ],
        &["list_creative_formats", "sync_accounts"],
    ),
    (
        "sales_catalog_driven",
        &[
            "get_products",
            "create_media_buy",
            "update_media_buy",
            "get_media_buys",
            "get_media_buy_delivery",
            "sync_creatives",
            "sync_catalogs",
        ],
        &[
            "sync_accounts",
            "list_creative_formats",
            "build_creative",
            "sync_event_sources",
            "log_event",
            "provide_performance_feedback",
        ],
    ),
    (
        "sales_guaranteed",
        &[
            "get_products",
            "create_media_buy",
            "update_media_buy",
            "get_media_buys",
            "get_media_buy_delivery",
            "sync_creatives",
        ],
        &["sync_accounts"],
    ),
    (
        "sales_non_guaranteed",
        &[
            "get_products",
            "create_media_buy",
            "update_media_buy",
            "get_media_buys",
            "get_media_buy_delivery",
            "sync_creatives",
        ],
        &["sync_accounts"],
    ),
    (
        "sales_proposal_mode",
        &[
            "get_products",
            "create_media_buy",
            "update_media_buy",
            "get_media_buy_delivery",
            "sync_creatives",
        ],
        &["sync_accounts", "list_creative_formats", "get_media_buys"],
    ),
    (
        "sales_social",
        &[
            "sync_audiences",
            "sync_catalogs",
            "sync_creatives",
            "sync_event_sources",
        ],
        &[
            "sync_accounts",
            "list_accounts",
            "log_event",
            "get_account_financials",
        ],
    ),
    (
        "signal_marketplace",
        &["get_signals", "activate_signal"],
        &["sync_accounts", "sync_governance"],
    ),
    ("signal_owned", &["get_signals", "activate_signal"], &[]),
];

/// An error code from the registry manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorCode {
    /// UPPER_SNAKE code.
    pub code: String,
    /// `correctable`, `transient` or `terminal`.
    pub recovery: String,
    /// What it means.
    pub description: String,
}

/// A task the runtime serves itself, so a platform does not implement it (or, when
/// `overridable`, need not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeTask {
    /// Wire name.
    pub name: &'static str,
    /// How the runtime serves it, as a clause (`the runtime derives it from the platform`).
    pub why: &'static str,
    /// Whether a platform may implement it anyway, to decide more than the runtime does.
    pub overridable: bool,
}

/// Tasks the runtime serves itself. This is the one list: the macro rejects (or, for the
/// `overridable` ones, excuses from specialism requirements) the tasks named here, and the
/// runtime serves them, from the generated `catalog::RUNTIME_TASKS`.
pub const RUNTIME_TASKS: &[RuntimeTask] = &[
    RuntimeTask {
        name: "comply_test_controller",
        why: "the runtime routes it; implement its scenarios as methods named after them \
              (`seed_product`, ...)",
        overridable: false,
    },
    RuntimeTask {
        name: "get_adcp_capabilities",
        why: "the runtime derives it from the platform",
        overridable: false,
    },
    RuntimeTask {
        name: "list_accounts",
        why: "the runtime serves it from its account store",
        overridable: true,
    },
    RuntimeTask {
        name: "sync_accounts",
        why: "the runtime serves it from its account store in `explicit` account mode",
        overridable: true,
    },
    RuntimeTask {
        name: "sync_governance",
        why: "the runtime keeps the buyer's governance agents per account and asks them before \
              spend is confirmed, for a platform claiming `governance_aware_seller`",
        overridable: true,
    },
    RuntimeTask {
        name: "tasks_get",
        why: "the runtime serves it from its task registry",
        overridable: false,
    },
    RuntimeTask {
        name: "tasks_list",
        why: "the runtime serves it from its task registry",
        overridable: false,
    },
];

/// Controller scenarios (`comply_test_controller`'s `scenario`) the runtime handles itself; a
/// platform implements the others as methods named after them.
pub const RUNTIME_SCENARIOS: &[&str] = &[
    "list_scenarios",
    "force_create_media_buy_arm",
    "force_task_completion",
    "force_account_status",
];

/// Everything the catalogue knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Tasks, sorted by name.
    pub tasks: Vec<Task>,
    /// Tasks the runtime serves itself ([`RUNTIME_TASKS`]), sorted by name.
    pub runtime_tasks: Vec<RuntimeTask>,
    /// Controller scenarios the runtime handles itself ([`RUNTIME_SCENARIOS`]).
    pub runtime_scenarios: Vec<&'static str>,
    /// Specialisms, sorted by id.
    pub specialisms: Vec<Specialism>,
    /// Error codes, sorted.
    pub error_codes: Vec<ErrorCode>,
    /// Catalogue entries skipped because their schemas are not in the tree.
    pub skipped: Vec<String>,
}

/// Protocol-level tasks the manifest does not list; MCP exposes them under these names.
const PROTOCOL_TASKS: &[(&str, &str, &str)] = &[
    (
        "tasks_get",
        "core/tasks-get-request.json",
        "core/tasks-get-response.json",
    ),
    (
        "tasks_list",
        "core/tasks-list-request.json",
        "core/tasks-list-response.json",
    ),
];

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

pub(crate) fn build(set: &SchemaSet, lowered: &Lowered) -> Catalog {
    let mut cat = Catalog {
        runtime_tasks: RUNTIME_TASKS.to_vec(),
        runtime_scenarios: RUNTIME_SCENARIOS.to_vec(),
        ..Catalog::default()
    };
    let manifest = set.manifest.as_ref();
    let mut entries: Vec<(String, Value)> = manifest
        .and_then(|m| m.get("tools"))
        .and_then(Value::as_object)
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for (name, req, resp) in PROTOCOL_TASKS {
        let entry = serde_json::json!({
            "protocol": "protocol", "mutating": false,
            "request_schema": req, "response_schema": resp, "async_response_schemas": [],
        });
        entries.push(((*name).to_owned(), entry));
    }
    for (name, entry) in entries {
        let request_schema = text(entry.get("request_schema"));
        let response_schema = text(entry.get("response_schema"));
        let type_of = |schema: &str| lowered.name_of(&format!("{schema}#")).map(str::to_owned);
        let (Some(request_type), Some(response_type)) =
            (type_of(&request_schema), type_of(&response_schema))
        else {
            cat.skipped.push(format!(
                "{name}: `{request_schema}` or `{response_schema}` is not in the tree"
            ));
            continue;
        };
        let async_arms = strings(entry.get("async_response_schemas"))
            .into_iter()
            .filter_map(|schema| {
                let stem = schema.trim_end_matches(".json");
                let status = ["input-required", "submitted", "working"]
                    .into_iter()
                    .find(|s| stem.ends_with(s))?
                    .to_owned();
                Some(AsyncArm {
                    status,
                    type_name: type_of(&schema)?,
                    schema,
                })
            })
            .collect();
        let mut answers = vec![response_type.clone()];
        if let Some(crate::ir::Ty::Named(id)) = lowered.by_loc.get(&format!("{response_schema}#"))
            && let crate::ir::Kind::Union(u) = &lowered.model.types[*id].kind
        {
            for v in &u.variants {
                if let crate::ir::Ty::Named(vid) = v.ty {
                    let name = lowered.model.types[vid].name.clone();
                    if !answers.contains(&name) {
                        answers.push(name);
                    }
                }
            }
        }
        // Requests are validated against, and the `inputSchema` made from, the request
        // schema a buyer of either domain may send (see `served_request_schema`).
        let request_schema = served_request_schema(set, &request_schema);
        cat.tasks.push(Task {
            answers,
            input_schema: bundle(set, &request_schema),
            name,
            protocol: text(entry.get("protocol")),
            mutating: entry
                .get("mutating")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            request_schema,
            response_schema,
            request_type,
            response_type,
            async_arms,
            specialisms: strings(entry.get("specialisms")),
        });
    }
    cat.tasks.sort_by(|a, b| a.name.cmp(&b.name));

    if let Some(specs) = manifest
        .and_then(|m| m.get("specialisms"))
        .and_then(Value::as_object)
    {
        let known = |t: &String| cat.tasks.iter().any(|x| &x.name == t);
        for (id, s) in specs {
            let entry_point_tools = strings(s.get("entry_point_tools"));
            let policy = SPECIALISM_TASKS.iter().find(|(x, _, _)| x == id);
            let mut required = entry_point_tools.clone();
            let mut optional: Vec<String> = Vec::new();
            if let Some((_, req, opt)) = policy {
                for t in *req {
                    if !required.iter().any(|r| r == t) {
                        required.push((*t).to_owned());
                    }
                }
                optional.extend(opt.iter().map(|t| (*t).to_owned()));
            }
            required.retain(known);
            optional.retain(|t| known(t) && !required.contains(t));
            cat.specialisms.push(Specialism {
                id: id.clone(),
                protocol: text(s.get("protocol")),
                title: text(s.get("title")),
                entry_point_tools,
                exercised_tools: strings(s.get("exercised_tools")),
                required_tools: required,
                optional_tools: optional,
            });
        }
    }
    if let Some(codes) = manifest
        .and_then(|m| m.get("error_codes"))
        .and_then(Value::as_object)
    {
        for (code, e) in codes {
            cat.error_codes.push(ErrorCode {
                code: code.clone(),
                recovery: text(e.get("recovery")),
                description: text(e.get("description")),
            });
        }
    }
    cat
}

/// The request schema a task's `inputSchema` is made from: its own, unless another domain
/// defines the same request (`creative/list-creative-formats-request.json` beside the
/// manifest's `media-buy/` one) with every property of it and more; then that one, so a buyer
/// of either domain is told of every field the task takes (`account` on
/// `list_creative_formats`). The task's types stay the manifest's.
fn served_request_schema(set: &SchemaSet, file: &str) -> String {
    let properties = |f: &str| -> Option<BTreeSet<String>> {
        let props = set.originals.get(f)?.get("properties")?.as_object()?;
        Some(props.keys().cloned().collect())
    };
    let Some((_, name)) = file.rsplit_once('/') else {
        return file.to_owned();
    };
    let Some(own) = properties(file) else {
        return file.to_owned();
    };
    set.originals
        .keys()
        .filter(|f| *f != file && f.rsplit_once('/').is_some_and(|(_, n)| n == name))
        .filter_map(|f| Some((f, properties(f)?)))
        .filter(|(_, twin)| twin.len() > own.len() && twin.is_superset(&own))
        .max_by_key(|(_, twin)| twin.len())
        .map_or_else(|| file.to_owned(), |(f, _)| f.clone())
}

/// The schema at `file` with every schema it reaches copied under `definitions` and every
/// `$ref` pointed there, so that it stands alone. Only references are rewritten; the text of
/// each schema is otherwise the unmodified original.
pub(crate) fn bundle(set: &SchemaSet, file: &str) -> Value {
    // Discover everything reachable, keyed by canonical location.
    let root = format!("{file}#");
    let mut seen = BTreeSet::new();
    let mut queue = vec![root.clone()];
    while let Some(loc) = queue.pop() {
        if !seen.insert(loc.clone()) {
            continue;
        }
        let Some((f, _)) = loc.split_once('#') else {
            continue;
        };
        if let Some(node) = set.original(&loc) {
            collect_refs(node, f, &mut |r| queue.push(r));
        }
    }
    // Definition keys: readable and unique.
    let mut keys = BTreeMap::new();
    let mut used = BTreeSet::new();
    for loc in seen.iter().filter(|l| **l != root) {
        let (f, ptr) = loc.split_once('#').unwrap_or((loc, ""));
        let mut key = f.trim_end_matches(".json").replace('/', ".");
        if !ptr.is_empty() {
            key.push_str(&ptr.replace('/', "."));
        }
        while !used.insert(key.clone()) {
            key.push('_');
        }
        keys.insert(loc.clone(), key);
    }
    let rewrite = |node: &Value, f: &str| {
        let mut node = node.clone();
        rewrite_refs(&mut node, f, &|c| match keys.get(c) {
            Some(key) => format!("#/definitions/{key}"),
            None => "#".to_owned(), // the root itself
        });
        node
    };
    let mut out = match set.original(&root) {
        Some(v) => rewrite(v, file),
        None => return Value::Null,
    };
    let mut defs = Map::new();
    for (loc, key) in &keys {
        let (f, _) = loc.split_once('#').unwrap_or((loc, ""));
        if let Some(node) = set.original(loc) {
            let mut def = rewrite(node, f);
            if let Value::Object(m) = &mut def {
                m.remove("$id");
                m.remove("$schema");
            }
            defs.insert(key.clone(), def);
        }
    }
    if let Value::Object(m) = &mut out {
        m.remove("$id");
        if !defs.is_empty() {
            m.insert("definitions".into(), Value::Object(defs));
        }
    }
    out
}

fn collect_refs(node: &Value, file: &str, f: &mut impl FnMut(String)) {
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(c) = v.as_str().and_then(|r| canonical_ref(file, r)) {
                        f(c);
                    }
                } else if !matches!(k.as_str(), "examples" | "enum" | "const" | "default") {
                    collect_refs(v, file, f);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, file, f)),
        _ => {}
    }
}

fn rewrite_refs(node: &mut Value, file: &str, to: &impl Fn(&str) -> String) {
    match node {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if k == "$ref" {
                    if let Some(c) = v.as_str().and_then(|r| canonical_ref(file, r)) {
                        *v = Value::String(to(&c));
                    }
                } else if !matches!(k.as_str(), "examples" | "enum" | "const" | "default") {
                    rewrite_refs(v, file, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| rewrite_refs(v, file, to)),
        _ => {}
    }
}
