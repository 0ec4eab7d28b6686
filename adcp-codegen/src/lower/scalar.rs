//! Types that are neither objects nor unions of objects: constants (rule 5), enums, type lists
//! (`type: [a, "null"]`) and array items.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{Lowerer, description};
use crate::error::ProblemKind;
use crate::ir::{Guard, Kind, Ty, Union, Variant, kinds};
use crate::naming::{const_name, pascal};

impl Lowerer<'_> {
    pub(super) fn items(&mut self, s: &Map<String, Value>, loc: &str) -> Ty {
        match s.get("items") {
            None => Ty::Any,
            Some(Value::Array(_)) => {
                self.problem(loc, ProblemKind::Unsupported("tuple `items`".into()));
                Ty::Any
            }
            Some(items) => self.lower(items, &format!("{loc}/items"), false),
        }
    }

    /// `type: [a, "null"]` and `type: [number, string]`.
    pub(super) fn type_list(
        &mut self,
        s: &Map<String, Value>,
        types: &[Value],
        loc: &str,
        declared: bool,
    ) -> Ty {
        let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
        let nullable = names.contains(&"null");
        let rest: Vec<&str> = names.iter().copied().filter(|t| *t != "null").collect();
        let inner = match rest.as_slice() {
            [one] => {
                let mut single = s.clone();
                single.insert("type".into(), Value::String((*one).to_owned()));
                self.lower_normalized(&single, loc, false)
            }
            [] => Ty::Any,
            many => {
                let mut variants = Vec::new();
                for t in many {
                    let (ty, k) = match *t {
                        "string" => (Ty::Str, kinds::STRING),
                        "number" => (Ty::Num, kinds::NUMBER),
                        "integer" => (Ty::Int, kinds::INTEGER),
                        "boolean" => (Ty::Bool, kinds::BOOL),
                        other => {
                            self.problem(
                                loc,
                                ProblemKind::Unsupported(format!("`{other}` in a type list")),
                            );
                            continue;
                        }
                    };
                    let guard = Guard {
                        kinds: k,
                        ..Guard::default()
                    };
                    variants.push(Variant {
                        ident: pascal(t),
                        ty,
                        guard,
                    });
                }
                let name = self.namer.name_for(loc);
                let id = self.alloc(loc, name, description(s), Kind::Union(Union { variants }));
                return wrap_nullable(Ty::Named(id), nullable);
            }
        };
        let ty = wrap_nullable(inner, nullable);
        self.maybe_alias(s, loc, declared, ty)
    }

    /// A `const` (rule 5). String constants are shared by value.
    pub(super) fn const_ty(&mut self, c: &Value, loc: &str) -> Ty {
        match c {
            Value::String(v) => {
                if let Some(id) = self.consts.get(v) {
                    return Ty::Named(*id);
                }
                let name = const_name(v);
                let docs = Some(format!("The string `\"{v}\"`, and only that string."));
                let id = self.alloc(&format!("const:{v}"), name, docs, Kind::ConstStr(v.clone()));
                self.consts.insert(v.clone(), id);
                Ty::Named(id)
            }
            Value::Bool(b) => Ty::ConstBool(*b),
            other => {
                self.problem(loc, ProblemKind::Unsupported(format!("`const: {other}`")));
                Ty::Any
            }
        }
    }

    pub(super) fn enum_ty(&mut self, s: &Map<String, Value>, values: &[Value], loc: &str) -> Ty {
        if values.is_empty() {
            self.problem(loc, ProblemKind::EmptyEnum);
            return Ty::Any;
        }
        let nullable = values.contains(&Value::Null);
        let rest: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        let ty = if rest.len() == 1 {
            self.const_ty(rest[0], loc)
        } else if rest.iter().all(|v| v.is_string()) {
            let mut seen = HashSet::new();
            let values: Vec<String> = rest
                .iter()
                .filter_map(|v| v.as_str())
                .filter(|v| seen.insert(*v))
                .map(str::to_owned)
                .collect();
            let descs = s.get("enumDescriptions").and_then(Value::as_object);
            let descriptions = values
                .iter()
                .map(|v| {
                    descs
                        .and_then(|d| d.get(v))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            let name = self.namer.name_for(loc);
            Ty::Named(self.alloc(
                loc,
                name,
                description(s),
                Kind::StrEnum {
                    values,
                    descriptions,
                },
            ))
        } else if rest.iter().all(|v| v.is_i64()) {
            let values = rest.iter().filter_map(|v| v.as_i64()).collect();
            let name = self.namer.name_for(loc);
            Ty::Named(self.alloc(loc, name, description(s), Kind::IntEnum { values }))
        } else {
            self.problem(
                loc,
                ProblemKind::Unsupported("`enum` mixing value kinds".into()),
            );
            Ty::Any
        };
        wrap_nullable(ty, nullable)
    }
}

fn wrap_nullable(ty: Ty, nullable: bool) -> Ty {
    if nullable {
        Ty::Nullable(Box::new(ty))
    } else {
        ty
    }
}
