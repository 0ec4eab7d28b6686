//! Strictness of the generated types: what must be rejected is rejected, naming the field, and
//! every variant of every union can be constructed and decoded.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use adcp_wire::{DecodeError, GetProductsRequest, UnionType, UnionVisitor, decode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

fn reject<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> DecodeError {
    match decode::<T>(value) {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_field_where_additional_properties_is_false() {
    let e = reject::<GetProductsRequest>(json!({
        "buying_mode": "refine",
        "refine": [{"scope": "request", "ask": "more video", "bogus": 1}],
    }));
    assert_eq!(e.path, "refine[0].bogus", "{e}");
    assert!(e.message.contains("unknown field `bogus`"), "{e}");
}

#[test]
fn wrong_const_discriminator() {
    let e = reject::<GetProductsRequest>(json!({
        "buying_mode": "refine",
        "refine": [{"scope": "everything", "ask": "x"}],
    }));
    assert_eq!(e.path, "refine[0].scope", "{e}");
    assert!(e.message.contains("\"everything\""), "{e}");
    assert!(
        e.message
            .contains("`\"request\"`, `\"product\"`, `\"proposal\"`"),
        "{e}"
    );

    // A `const` field outside a union: `adcp.idempotency.supported` is `true` or `false` per branch.
    let e = reject::<adcp_wire::GetAdcpCapabilitiesResponseAdcpIdempotency>(
        json!({"supported": "yes"}),
    );
    assert!(e.message.contains("expected one of `true`, `false`"), "{e}");
}

#[test]
fn branch_qualified_inline_types_keep_their_own_values() {
    // `refine[].action` differs by branch: `finalize` is a proposal action only.
    let ok: GetProductsRequest = decode(json!({
        "buying_mode": "refine",
        "refine": [{"scope": "proposal", "proposal_id": "p1", "action": "finalize"}],
    }))
    .unwrap();
    assert_eq!(ok.refine.as_ref().map(Vec::len), Some(1));
    let e = reject::<GetProductsRequest>(json!({
        "buying_mode": "refine",
        "refine": [{"scope": "product", "product_id": "p1", "action": "finalize"}],
    }));
    assert_eq!(e.path, "refine[0].action", "{e}");
}

#[test]
fn missing_required_field() {
    let e = reject::<GetProductsRequest>(json!({"brief": "spring campaign"}));
    assert_eq!(e.path, "buying_mode", "{e}");
    assert!(e.message.contains("missing field `buying_mode`"), "{e}");

    let e = reject::<adcp_wire::CreateMediaBuyRequest>(json!({
        "idempotency_key": "k-0000000000000001",
        "account": {"account_id": "a1"},
        "brand": {"domain": "acme.example"},
        "start_time": "asap",
        "end_time": "2026-05-01T00:00:00Z",
        "packages": [{"product_id": "p1", "pricing_option_id": "cpm"}],
    }));
    assert_eq!(e.path, "packages[0].budget", "{e}");
}

#[test]
fn value_outside_an_enum() {
    let e = reject::<GetProductsRequest>(json!({"buying_mode": "auction"}));
    assert_eq!(e.path, "buying_mode", "{e}");
    assert!(e.message.contains("unknown variant `auction`"), "{e}");
}

#[test]
fn object_matching_no_branch() {
    let e = reject::<adcp_wire::AccountRef>(json!({"account": "a1"}));
    assert!(
        e.message.contains("none of the shapes of `AccountRef`"),
        "{e}"
    );
    assert!(e.message.contains("`account_id`"), "{e}");
    assert!(e.message.contains("`brand`, `operator`"), "{e}");
}

#[test]
fn round_trip_keeps_unknown_allowed_fields_and_omits_defaults() {
    let input = json!({"buying_mode": "brief", "brief": "x", "x-vendor": {"k": [1, 2.5]}});
    let req: GetProductsRequest = decode(input.clone()).unwrap();
    assert_eq!(req.extra.get("x-vendor"), Some(&json!({"k": [1, 2.5]})));
    assert_eq!(serde_json::to_value(&req).unwrap(), input);
}

#[test]
fn union_accessors_read_the_shared_properties_of_any_arm() {
    use adcp_wire::{AssetUnion, GetProductsRequestRefineItem, PricingOption};

    // The pricing option a storyboard seeds, and a flat-rate one.
    let cpm: PricingOption = decode(json!({
        "pricing_option_id": "cpm_guaranteed",
        "pricing_model": "cpm",
        "currency": "USD",
        "fixed_price": 45.0,
    }))
    .unwrap();
    assert_eq!(cpm.variant(), "CpmOption");
    assert_eq!(cpm.pricing_option_id(), "cpm_guaranteed");
    assert_eq!(cpm.currency(), "USD");
    assert_eq!(cpm.pricing_model(), "cpm");
    assert_eq!(cpm.fixed_price(), Some(45.0));
    let flat: PricingOption = decode(json!({
        "pricing_option_id": "flat_sponsorship",
        "pricing_model": "flat_rate",
        "currency": "EUR",
    }))
    .unwrap();
    assert_eq!(flat.variant(), "FlatRateOption");
    assert_eq!(flat.pricing_model(), "flat_rate");
    assert_eq!(flat.currency(), "EUR");
    assert_eq!(flat.fixed_price(), None);

    // A discriminator read through a nested union: `AssetUnion::VastAsset` delegates to
    // `VastAsset`, itself a union over delivery types.
    let vast: AssetUnion = decode(json!({
        "asset_type": "vast",
        "delivery_type": "url",
        "url": "https://ads.example/vast.xml",
    }))
    .unwrap();
    assert_eq!(vast.variant(), "VastAsset");
    assert_eq!(vast.asset_type(), "vast");

    let refine: GetProductsRequestRefineItem =
        decode(json!({"scope": "request", "ask": "more video"})).unwrap();
    assert_eq!(refine.scope(), "request");
    assert_eq!(refine.ask(), Some("more video"));
}

// ---- every variant of every union ------------------------------------------------------------

/// Minimal instances of schemas, built from the unmodified schema files.
struct Synth {
    files: HashMap<&'static str, Value>,
}

impl Synth {
    fn new() -> Self {
        let files = adcp_wire::SCHEMA_FILES
            .iter()
            .map(|(p, t)| (*p, serde_json::from_str(t).unwrap_or(Value::Null)))
            .collect();
        Synth { files }
    }

    fn node(&self, file: &str, pointer: &str) -> Option<(String, Value)> {
        Some((
            file.to_owned(),
            self.files.get(file)?.pointer(pointer)?.clone(),
        ))
    }

    fn deref(&self, file: &str, r: &str) -> Option<(String, Value)> {
        let (path, frag) = r.split_once('#').unwrap_or((r, ""));
        let target = match path.strip_prefix("/schemas/") {
            Some(rest) => rest.split_once('/')?.1.to_owned(),
            None if path.is_empty() => file.to_owned(),
            None => return None,
        };
        self.node(&target, frag)
    }

    /// `allOf` merged and `$ref` followed, so the result carries its own properties.
    fn normalize(&self, file: &str, s: &Value) -> (String, Map<String, Value>) {
        if let Some(r) = s.get("$ref").and_then(Value::as_str)
            && let Some((f, t)) = self.deref(file, r)
        {
            return self.normalize(&f, &t);
        }
        let mut out = Map::new();
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            for p in parts {
                let (_, m) = self.normalize(file, p);
                out = merge(out, m);
            }
        }
        let own: Map<String, Value> = s.as_object().cloned().unwrap_or_default();
        let mut own = own;
        own.remove("allOf");
        (file.to_owned(), merge(out, own))
    }

    fn minimal(&self, file: &str, s: &Value, depth: usize) -> Value {
        assert!(depth < 24, "schema too deep at {file}: {s}");
        let (file, m) = self.normalize(file, s);
        if let Some(c) = m.get("const") {
            return c.clone();
        }
        if let Some(e) = m
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return e.clone();
        }
        for kw in ["oneOf", "anyOf"] {
            if let Some(first) = m.get(kw).and_then(Value::as_array).and_then(|b| b.first()) {
                let (_, branch) = self.normalize(&file, first);
                let mut parent = m.clone();
                parent.remove("oneOf");
                parent.remove("anyOf");
                let merged = merge(parent, branch);
                if merged.contains_key("properties")
                    || merged.contains_key("type")
                    || merged.contains_key("const")
                {
                    return self.minimal(&file, &Value::Object(merged), depth + 1);
                }
            }
        }
        let ty = match m.get("type") {
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            Some(Value::String(t)) => t.as_str(),
            _ if m.contains_key("properties") || m.contains_key("required") => "object",
            _ => "any",
        };
        match ty {
            "string" => match m.get("format").and_then(Value::as_str) {
                Some("date-time") => json!("2026-04-01T00:00:00Z"),
                Some("date") => json!("2026-04-01"),
                Some("uri" | "uri-reference" | "url") => json!("https://x.example/"),
                Some("email") => json!("a@x.example"),
                _ => json!("x"),
            },
            "integer" => json!(m.get("minimum").and_then(Value::as_i64).unwrap_or(1).max(1)),
            "number" => json!(
                m.get("minimum")
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0)
                    .max(1.0)
            ),
            "boolean" => json!(true),
            "null" => Value::Null,
            "array" => {
                let n = m.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                let item = m.get("items").cloned().unwrap_or(json!({}));
                Value::Array(
                    (0..n)
                        .map(|_| self.minimal(&file, &item, depth + 1))
                        .collect(),
                )
            }
            "object" => {
                let props = m
                    .get("properties")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let mut out = Map::new();
                for r in m
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let sub = props.get(r).cloned().unwrap_or(json!({}));
                    out.insert(r.to_owned(), self.minimal(&file, &sub, depth + 1));
                }
                Value::Object(out)
            }
            _ => json!({}),
        }
    }
}

fn merge(mut a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in b {
        match (k.as_str(), a.get_mut(&k), v) {
            ("properties", Some(Value::Object(pa)), Value::Object(pb)) => pa.extend(pb),
            ("required", Some(Value::Array(ra)), Value::Array(rb)) => {
                for r in rb {
                    if !ra.contains(&r) {
                        ra.push(r);
                    }
                }
            }
            (_, _, v) => {
                a.insert(k, v);
            }
        }
    }
    a
}

/// Branches no value can be decoded as, because an earlier branch accepts every value they do.
const EXCEPTIONS: &[(&str, &str)] = &[(
    "property/property-feature-result.json#/properties/property/1",
    "a property id is also a domain string (both branches are strings; only a pattern tells them apart, \
     and `homepage` satisfies both); it decodes as the `String` variant",
)];

struct Which(Value);

impl UnionVisitor for Which {
    type Output = (Result<&'static str, String>, &'static [&'static str]);
    fn visit<T: UnionType + Serialize + DeserializeOwned + std::fmt::Debug + 'static>(
        self,
    ) -> Self::Output {
        (
            decode::<T>(self.0)
                .map(|v| v.variant())
                .map_err(|e| e.to_string()),
            T::VARIANTS,
        )
    }
}

#[test]
fn every_variant_of_every_union_decodes() {
    let synth = Synth::new();
    let mut checked = 0;
    let mut indistinguishable = 0;
    let mut failures = Vec::new();
    for loc in adcp_wire::schemas::UNIONS {
        let (file, pointer) = loc.split_once('#').unwrap_or((loc, ""));
        let Some((_, node)) = synth.node(file, pointer) else {
            failures.push(format!("{loc}: not found"));
            continue;
        };
        let (_, norm) = synth.normalize(file, &node);
        // Branches: `oneOf`/`anyOf`, or the kinds of a type list.
        let branches: Vec<Value> = match (norm.get("oneOf").or(norm.get("anyOf")), norm.get("type"))
        {
            (Some(Value::Array(b)), _) => b.clone(),
            (None, Some(Value::Array(ts))) => ts
                .iter()
                .filter(|t| *t != "null")
                .map(|t| json!({ "type": t }))
                .collect(),
            _ => {
                failures.push(format!("{loc}: no branches"));
                continue;
            }
        };
        let mut parent = norm.clone();
        parent.remove("oneOf");
        parent.remove("anyOf");
        parent.remove("type");
        if norm.get("type").is_some_and(Value::is_string) {
            parent.insert("type".into(), norm["type"].clone());
        }
        let any_of = norm.contains_key("anyOf");
        for (i, branch) in branches.iter().enumerate() {
            if let Some((_, why)) = EXCEPTIONS.iter().find(|(l, _)| *l == format!("{loc}/{i}")) {
                println!("  exception {loc} branch {i}: {why}");
                continue;
            }
            let (_, mut b) = synth.normalize(file, branch);
            if any_of {
                // anyOf branches may overlap; a value is told apart by the properties it names.
                let names: Vec<Value> = b
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(|k| json!(k)).collect())
                    .unwrap_or_default();
                b.insert("required".into(), Value::Array(names));
            }
            let instance = synth.minimal(file, &Value::Object(merge(parent.clone(), b)), 0);
            let Some((result, variants)) =
                adcp_wire::schemas::visit_union(loc, Which(instance.clone()))
            else {
                failures.push(format!("{loc}: no union type"));
                continue;
            };
            checked += 1;
            let names = |k: usize| -> Vec<String> {
                let (_, b) = synth.normalize(file, &branches[k]);
                let mut all = merge(parent.clone(), b);
                all.remove("required");
                all.get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let keys: Vec<String> = instance
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            match result {
                Ok(v) if Some(&v) == variants.get(i) => {}
                // An earlier branch naming every property of the value describes it as well:
                // the schema cannot tell the two apart (identical or nested property sets).
                Ok(v)
                    if any_of
                        && variants.iter().position(|x| *x == v).is_some_and(|j| {
                            j < i && keys.iter().all(|k| names(j).contains(k))
                        }) =>
                {
                    indistinguishable += 1;
                }
                Ok(v) => failures.push(format!(
                    "{loc} branch {i}: decoded as `{v}`, not `{}`: {instance}",
                    variants[i]
                )),
                Err(e) => failures.push(format!(
                    "{loc} branch {i} ({}): {e}: {instance}",
                    variants[i]
                )),
            }
        }
    }
    println!(
        "union variants decoded from a minimal instance of their branch: {checked}, failures: {}; \
         {indistinguishable} anyOf branches declare no property an earlier branch lacks, so a value of \
         theirs decodes as that earlier branch",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 300);
}
