//! Unions (rules 3 and 4): when `oneOf`/`anyOf` branches give shape, a union with one variant
//! per branch and a guard that decoding picks the branch by.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::object::merge;
use super::{Lowerer, description};
use crate::error::ProblemKind;
use crate::ir::{Guard, Kind, Ty, Union, Variant, kinds};
use crate::load::{LOC, fixed_value, ref_of, str_list};
use crate::naming::variant_ident;

/// Keywords a constraint-only union branch may carry.
const CONSTRAINT: &[&str] = &[
    "required",
    "not",
    "properties",
    "description",
    "title",
    "$comment",
    "if",
    "then",
    "else",
    "dependencies",
    "minProperties",
    "maxProperties",
    "anyOf",
    "allOf",
    "oneOf",
    "type",
    LOC,
];

impl Lowerer<'_> {
    /// `oneOf`/`anyOf` branches when they give shape (rule 3 decides).
    pub(super) fn union_branches(
        &self,
        s: &Map<String, Value>,
    ) -> Option<(&'static str, Vec<Value>)> {
        let parent_props: HashSet<&str> = s
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for kw in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = s.get(kw)
                && !branches.iter().all(|b| is_constraint(b, &parent_props))
            {
                return Some((kw, branches.clone()));
            }
        }
        None
    }

    /// A union (rule 4).
    pub(super) fn union(
        &mut self,
        s: &Map<String, Value>,
        kw: &str,
        branches: &[Value],
        loc: &str,
    ) -> Ty {
        let mut parent = s.clone();
        for k in ["oneOf", "anyOf", "discriminator", "title"] {
            parent.remove(k);
        }
        let shared = parent
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        let name = self.namer.name_for(loc);
        let id = self.alloc(loc, name.clone(), description(s), Kind::Pending);
        self.by_loc.insert(loc.to_owned(), Ty::Named(id));

        let labels = self.namer.label_branches(loc, kw, branches);
        let mut variants = Vec::new();
        let mut idents = HashSet::new();
        for (i, branch) in branches.iter().enumerate() {
            let bloc = format!("{loc}/{kw}/{i}");
            let Value::Object(bm) = branch else {
                self.problem(
                    &bloc,
                    ProblemKind::Unsupported("non-object union branch".into()),
                );
                continue;
            };
            let target = ref_of(bm).map(str::to_owned);
            let resolved = match &target {
                Some(r) => match self.set.node(r) {
                    Some(Value::Object(t)) => {
                        let t = t.clone();
                        self.normalize(&t)
                    }
                    _ => continue,
                },
                None => self.normalize(bm),
            };
            let (ty, guard_src) = if shared {
                let mut merged = merge(&parent, &resolved);
                merged.insert(LOC.into(), Value::String(bloc.clone()));
                if self.union_branches(&merged).is_some() {
                    self.problem(
                        &bloc,
                        ProblemKind::Unsupported(
                            "a union branch under shared properties is itself a union".into(),
                        ),
                    );
                    continue;
                }
                (
                    self.lower(&Value::Object(merged.clone()), &bloc, false),
                    merged,
                )
            } else if let Some(r) = &target {
                (self.lower_decl(r), resolved)
            } else {
                (self.lower(branch, &bloc, false), resolved)
            };
            let guard = self.guard(&guard_src);
            let referenced = match (&target, &ty) {
                (Some(_), Ty::Named(t)) if !shared => Some(self.model.types[*t].name.as_str()),
                _ => None,
            };
            let title = bm.get("title").and_then(Value::as_str);
            let mut ident = variant_ident(&name, title, referenced, &labels[i]);
            if !idents.insert(ident.clone()) {
                ident = format!("{ident}{i}");
                idents.insert(ident.clone());
            }
            variants.push(Variant { ident, ty, guard });
        }
        self.model.types[id].kind = Kind::Union(Union { variants });
        Ty::Named(id)
    }

    /// A guard for a (normalized) branch schema.
    fn guard(&mut self, s: &Map<String, Value>) -> Guard {
        if let Some(r) = ref_of(s) {
            return match self.set.node(r) {
                Some(Value::Object(t)) => {
                    let t = t.clone();
                    let t = self.normalize(&t);
                    self.guard(&t)
                }
                _ => Guard {
                    kinds: kinds::ANY,
                    ..Guard::default()
                },
            };
        }
        if let Some((_, branches)) = self.union_branches(s) {
            let mut parent = s.clone();
            parent.remove("oneOf");
            parent.remove("anyOf");
            let mut subs = Vec::new();
            for b in &branches {
                let Value::Object(bm) = b else { continue };
                let resolved = match ref_of(bm) {
                    Some(r) => match self.set.node(r) {
                        Some(Value::Object(t)) => {
                            let t = t.clone();
                            self.normalize(&t)
                        }
                        _ => continue,
                    },
                    None => self.normalize(bm),
                };
                subs.push(self.guard(&merge(&parent, &resolved)));
            }
            let mut g = subs.first().cloned().unwrap_or_default();
            for sub in &subs[1.min(subs.len())..] {
                g.kinds |= sub.kinds;
                g.value = None;
                g.consts.retain(|c| sub.consts.contains(c));
                g.required.retain(|r| sub.required.contains(r));
                g.forbidden.retain(|f| sub.forbidden.contains(f));
                for k in &sub.known {
                    if !g.known.contains(k) {
                        g.known.push(k.clone());
                    }
                }
            }
            return g;
        }
        let kinds = match s.get("type") {
            Some(Value::String(t)) => kind_bit(t),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(kind_bit)
                .fold(0, |a, b| a | b),
            _ if [
                "properties",
                "required",
                "additionalProperties",
                "patternProperties",
            ]
            .iter()
            .any(|k| s.contains_key(*k)) =>
            {
                kinds::OBJECT
            }
            _ if s.contains_key("items") => kinds::ARRAY,
            _ => match fixed_value(s) {
                Some(Value::String(_)) => kinds::STRING,
                Some(Value::Bool(_)) => kinds::BOOL,
                _ => kinds::ANY,
            },
        };
        let mut g = Guard {
            kinds,
            value: fixed_value(s).cloned(),
            ..Guard::default()
        };
        if kinds & kinds::OBJECT != 0 {
            g.required = str_list(s.get("required"));
            let props = s.get("properties").and_then(Value::as_object);
            g.known = props
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            for r in &g.required {
                let Some(Value::Object(p)) = props.and_then(|p| p.get(r)) else {
                    continue;
                };
                let p = match ref_of(p) {
                    Some(target) => match self.set.node(target) {
                        Some(Value::Object(t)) => t,
                        _ => continue,
                    },
                    None => p,
                };
                if let Some(v) = fixed_value(p) {
                    g.consts.push((r.clone(), v.clone()));
                }
            }
            g.forbidden = forbidden(s.get("not"));
        }
        g
    }
}

fn kind_bit(t: &str) -> u8 {
    match t {
        "null" => kinds::NULL,
        "boolean" => kinds::BOOL,
        "integer" => kinds::INTEGER,
        "number" => kinds::NUMBER,
        "string" => kinds::STRING,
        "array" => kinds::ARRAY,
        "object" => kinds::OBJECT,
        _ => kinds::ANY,
    }
}

/// Properties a `not` forbids: `not: {required: [x]}` and `not: {anyOf: [{required: [x]}, ..]}`.
fn forbidden(not: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(n)) = not else {
        return Vec::new();
    };
    let single = |m: &Map<String, Value>| -> Option<String> {
        let only_required = m.keys().all(|k| k == "required" || k == LOC);
        let req = str_list(m.get("required"));
        (only_required && req.len() == 1).then(|| req[0].clone())
    };
    if let Some(k) = single(n) {
        return vec![k];
    }
    n.get("anyOf")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .filter_map(single)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a union branch only constrains properties the parent declares (rule 3).
fn is_constraint(b: &Value, parent_props: &HashSet<&str>) -> bool {
    let Value::Object(m) = b else { return false };
    if m.contains_key("$ref") {
        return false;
    }
    if !m.keys().all(|k| CONSTRAINT.contains(&k.as_str())) {
        return false;
    }
    if let Some(Value::Object(props)) = m.get("properties")
        && (parent_props.is_empty() || !props.keys().all(|k| parent_props.contains(k.as_str())))
    {
        return false;
    }
    if m.get("type").is_some_and(|t| t != "object") {
        return false;
    }
    ["anyOf", "allOf", "oneOf"]
        .iter()
        .all(|kw| match m.get(*kw) {
            Some(Value::Array(subs)) => subs.iter().all(|s| is_constraint(s, parent_props)),
            _ => true,
        })
}
