//! Objects (rule 2 and rule 8): `allOf` merged into one object schema, properties into struct
//! fields, and what happens to properties the schema does not name.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{Lowerer, SHAPE, description, loc_of};
use crate::error::ProblemKind;
use crate::ir::{Extra, Field, Kind, Struct, Ty};
use crate::load::{LOC, escape_segment, ref_of, str_list};
use crate::naming::field_ident;

/// Merges two object schemas as `allOf` would, `b` taking precedence on annotations.
pub(super) fn merge(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut out = a.clone();
    for (k, v) in b {
        match k.as_str() {
            "properties" => {
                let mut props = out
                    .get("properties")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (name, schema) in v.as_object().into_iter().flatten() {
                    let gives_shape = schema.as_object().is_some_and(|s| {
                        s.contains_key("$ref")
                            || s.contains_key("type")
                            || SHAPE.iter().any(|k| s.contains_key(*k))
                    });
                    if gives_shape || !props.contains_key(name) {
                        props.insert(name.clone(), schema.clone());
                    }
                }
                out.insert(k.clone(), Value::Object(props));
            }
            "required" => {
                let mut req = str_list(out.get("required"));
                for r in str_list(Some(v)) {
                    if !req.contains(&r) {
                        req.push(r);
                    }
                }
                out.insert(k.clone(), req.into_iter().map(Value::String).collect());
            }
            "additionalProperties" => {
                if out.get(k) != Some(&Value::Bool(false)) {
                    out.insert(k.clone(), v.clone());
                }
            }
            "allOf" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

impl Lowerer<'_> {
    /// The target of an `allOf` that only restates one reference, if that is all it does.
    pub(super) fn lone_allof_ref<'m>(&self, m: &'m Map<String, Value>) -> Option<&'m str> {
        let parts = m.get("allOf")?.as_array()?;
        if SHAPE.iter().any(|k| m.contains_key(*k)) {
            return None;
        }
        let mut target = None;
        for p in parts {
            let p = p.as_object()?;
            match ref_of(p) {
                Some(r) if target.is_none() => target = Some(r),
                Some(_) => return None,
                None if SHAPE.iter().any(|k| p.contains_key(*k)) || p.contains_key("type") => {
                    return None;
                }
                None => {}
            }
        }
        target
    }

    /// Resolves `allOf` into one object schema (rule 2).
    pub(super) fn normalize(&mut self, m: &Map<String, Value>) -> Map<String, Value> {
        let Some(Value::Array(parts)) = m.get("allOf") else {
            return m.clone();
        };
        let mut acc = Map::new();
        for part in parts {
            let Value::Object(pm) = part else { continue };
            let resolved = match ref_of(pm) {
                Some(r) => match self.set.node(r) {
                    Some(Value::Object(t)) => {
                        let t = t.clone();
                        let mut t = self.normalize(&t);
                        for (k, v) in pm {
                            if k != "$ref" && k != LOC {
                                t.insert(k.clone(), v.clone());
                            }
                        }
                        t
                    }
                    _ => {
                        let loc = loc_of(pm, "");
                        self.problem(&loc, ProblemKind::UnresolvedRef(r.to_owned()));
                        continue;
                    }
                },
                None => self.normalize(pm),
            };
            acc = merge(&acc, &resolved);
        }
        let mut own = m.clone();
        own.remove("allOf");
        let mut out = merge(&acc, &own);
        out.insert(LOC.into(), Value::String(loc_of(m, "")));
        out
    }
    /// An object schema: a struct, or a map when it names no properties.
    pub(super) fn object(&mut self, s: &Map<String, Value>, loc: &str, declared: bool) -> Ty {
        let props = s
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        let ap = s.get("additionalProperties");
        if props.is_empty() && patterns.is_none() {
            let ty = match ap {
                None | Some(Value::Bool(true)) => Some(Ty::Map(Box::new(Ty::Any))),
                Some(Value::Object(_)) => {
                    let value = self.lower(
                        ap.unwrap_or(&Value::Null),
                        &format!("{loc}/additionalProperties"),
                        false,
                    );
                    Some(Ty::Map(Box::new(value)))
                }
                _ => None,
            };
            if let Some(ty) = ty {
                return self.maybe_alias(s, loc, declared, ty);
            }
        }
        let name = self.namer.name_for(loc);
        let id = self.alloc(loc, name, description(s), Kind::Pending);
        self.by_loc.insert(loc.to_owned(), Ty::Named(id));

        let required = str_list(s.get("required"));
        let mut fields = Vec::new();
        let mut rust_names = HashSet::new();
        for (json, schema) in &props {
            if schema == &Value::Bool(false) {
                continue; // a forbidden property: the validator rejects it
            }
            let ploc = format!("{loc}/properties/{}", escape_segment(json));
            let ty = self.lower(schema, &ploc, false);
            let rust = field_ident(json);
            if !rust_names.insert(rust.clone()) {
                self.problem(loc, ProblemKind::DuplicateFieldName(rust.clone()));
            }
            let sm = schema.as_object();
            fields.push(Field {
                json: json.clone(),
                rust,
                ty,
                required: required.contains(json),
                docs: sm.and_then(description),
                deprecated: sm.and_then(|m| m.get("deprecated")) == Some(&Value::Bool(true)),
            });
        }
        let extra = match ap {
            Some(Value::Bool(false)) => match patterns {
                Some(p) if p.len() == 1 => {
                    let (pat, schema) = p
                        .iter()
                        .next()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .unwrap_or_default();
                    let ploc = format!("{loc}/patternProperties/{}", escape_segment(&pat));
                    Extra::Typed(self.lower(&schema, &ploc, false))
                }
                Some(_) => Extra::Any,
                None => Extra::Deny,
            },
            Some(Value::Object(_)) => {
                let value = ap.cloned().unwrap_or(Value::Null);
                Extra::Typed(self.lower(&value, &format!("{loc}/additionalProperties"), false))
            }
            _ => Extra::Any,
        };
        if rust_names.contains("extra") && extra != Extra::Deny {
            self.problem(loc, ProblemKind::DuplicateFieldName("extra".into()));
        }
        self.model.types[id].kind = Kind::Struct(Struct { fields, extra });
        Ty::Named(id)
    }
}
