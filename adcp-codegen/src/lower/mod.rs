//! Lowering: annotated schemas -> [`Model`].
//!
//! The rewrite rules, each applied where typify alone is not faithful:
//! 1. `$ref`s resolve through one definitions map keyed by canonical location (`load.rs`).
//! 2. `allOf` parts are merged into one object schema; a lone `allOf: [$ref]` is the reference.
//! 3. `oneOf`/`anyOf` whose branches only constrain properties the parent already declares
//!    (`required`, `not`, `const` on an existing property) are constraints, not shape: the parent
//!    is one struct and the runtime validator enforces the branches.
//! 4. Otherwise `oneOf`/`anyOf` become a union. Properties declared beside the union are merged
//!    into every branch. Each branch gets a guard (kind, discriminator values, required and
//!    forbidden properties) from which decoding picks the branch.
//! 5. `const` becomes a unit type that accepts only that value; a one-value `enum` likewise.
//! 6. `if`/`then`/`else`, `not`, `dependencies`, formats, patterns and bounds are constraints:
//!    left to the validator, which runs against the unmodified schemas.
//! 7. Inline types are named from their location, branch by branch, so same-named properties in
//!    different branches (`refine[].action`) stay different types.
//! 8. `additionalProperties` other than `false` keeps unknown properties in a flattened map, so
//!    a decoded value re-encodes unchanged.
//!
//! The rules live by concept, each file an `impl Lowerer` block (as typify splits `TypeSpace`):
//! `object.rs` (rule 2, objects and their properties, rule 8), `union.rs` (rules 3 and 4:
//! branches, guards), `scalar.rs` (rule 5, enums, type lists and array items), `cycles.rs`
//! (boxing recursive references). Every type's name comes from `naming.rs` (rule 7).

mod cycles;
mod object;
mod scalar;
mod union;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::Settings;
use crate::error::{Problem, ProblemKind};
use crate::ir::{Kind, Model, Ty, TypeDef, TypeId};
use crate::load::{LOC, SchemaSet, escape_segment, ref_of};
use crate::naming::Namer;

/// Lowers every schema file (root and `definitions`) of a set.
pub(crate) fn lower(set: &SchemaSet, settings: &Settings) -> Result<Lowered, Vec<Problem>> {
    let mut l = Lowerer::new(set, settings);
    for (file, doc) in &set.docs {
        l.lower_decl(&format!("{file}#"));
        for defs in ["definitions", "$defs"] {
            if let Some(Value::Object(entries)) = doc.get(defs) {
                for name in entries.keys() {
                    l.lower_decl(&format!("{file}#/{defs}/{}", escape_segment(name)));
                }
            }
        }
    }
    l.break_cycles();
    for t in &l.model.types {
        if matches!(t.kind, Kind::Pending) {
            l.problems.push(problem_at(
                &t.loc,
                ProblemKind::Unsupported("type left incomplete".into()),
            ));
        }
    }
    if l.problems.is_empty() {
        Ok(Lowered {
            model: l.model,
            by_loc: l.by_loc,
        })
    } else {
        l.problems.sort();
        l.problems.dedup();
        Err(l.problems)
    }
}

/// The model plus what each declared location became.
pub(crate) struct Lowered {
    pub(crate) model: Model,
    pub(crate) by_loc: HashMap<String, Ty>,
}

impl Lowered {
    /// The Rust type name generated for a declared schema location, if it is a named type.
    pub(crate) fn name_of(&self, loc: &str) -> Option<&str> {
        match self.by_loc.get(loc)? {
            Ty::Named(id) => Some(&self.model.types[*id].name),
            _ => None,
        }
    }
}

fn problem_at(loc: &str, kind: ProblemKind) -> Problem {
    let (file, pointer) = loc.split_once('#').unwrap_or((loc, ""));
    Problem {
        file: file.to_owned(),
        pointer: pointer.to_owned(),
        kind,
    }
}

/// Keywords that give a schema its own shape (as opposed to annotating or constraining it).
const SHAPE: &[&str] = &[
    "properties",
    "patternProperties",
    "additionalProperties",
    "items",
    "oneOf",
    "anyOf",
    "enum",
    "const",
];

fn loc_of(m: &Map<String, Value>, fallback: &str) -> String {
    m.get(LOC)
        .and_then(Value::as_str)
        .unwrap_or(fallback)
        .to_owned()
}

fn description(m: &Map<String, Value>) -> Option<String> {
    m.get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The state of one lowering; its methods are split across this module's files by concept.
struct Lowerer<'a> {
    set: &'a SchemaSet,
    namer: Namer<'a>,
    model: Model,
    /// What each location lowered so far became.
    by_loc: HashMap<String, Ty>,
    /// The unit type of each string constant, shared by value.
    consts: BTreeMap<String, TypeId>,
    /// Type names taken so far, with the location that took each.
    names: HashMap<String, String>,
    visiting: HashSet<String>,
    problems: Vec<Problem>,
}

impl<'a> Lowerer<'a> {
    fn new(set: &'a SchemaSet, settings: &Settings) -> Self {
        Lowerer {
            set,
            namer: Namer::new(set, settings),
            model: Model::default(),
            by_loc: HashMap::new(),
            consts: BTreeMap::new(),
            names: HashMap::new(),
            visiting: HashSet::new(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, loc: &str, kind: ProblemKind) {
        self.problems.push(problem_at(loc, kind));
    }

    /// Allocates a named type, reporting a name another location already took.
    fn alloc(&mut self, loc: &str, name: String, docs: Option<String>, kind: Kind) -> TypeId {
        if let Some(other) = self.names.get(&name) {
            if other != loc {
                let other = other.clone();
                self.problem(
                    loc,
                    ProblemKind::DuplicateTypeName {
                        name: name.clone(),
                        other,
                    },
                );
            }
        } else {
            self.names.insert(name.clone(), loc.to_owned());
        }
        let id = self.model.types.len();
        self.model.types.push(TypeDef {
            name,
            loc: loc.to_owned(),
            docs,
            kind,
        });
        id
    }

    /// A declared location: a file root, a definition, or a `$ref` target.
    fn lower_decl(&mut self, loc: &str) -> Ty {
        if let Some(t) = self.by_loc.get(loc) {
            return t.clone();
        }
        if !self.visiting.insert(loc.to_owned()) {
            self.problem(
                loc,
                ProblemKind::Unsupported("reference cycle with no type in between".into()),
            );
            return Ty::Any;
        }
        let node = match self.set.node(loc) {
            Some(n) => n.clone(),
            None => {
                self.problem(loc, ProblemKind::UnresolvedRef(loc.to_owned()));
                return Ty::Any;
            }
        };
        let ty = self.lower(&node, loc, true);
        self.visiting.remove(loc);
        self.by_loc.insert(loc.to_owned(), ty.clone());
        ty
    }
    /// Lowers a subschema at `loc`. `declared` locations give even plain types a name (alias).
    fn lower(&mut self, node: &Value, loc: &str, declared: bool) -> Ty {
        let m = match node {
            Value::Object(m) => m,
            Value::Bool(true) => return Ty::Any,
            _ => {
                self.problem(loc, ProblemKind::Unsupported(format!("schema `{node}`")));
                return Ty::Any;
            }
        };
        if let Some(r) = ref_of(m) {
            return self.lower_decl(r);
        }
        if let Some(r) = self.lone_allof_ref(m) {
            return self.lower_decl(r);
        }
        let loc = loc_of(m, loc);
        if let Some(t) = self.by_loc.get(&loc) {
            return t.clone();
        }
        let s = self.normalize(m);
        let ty = self.lower_normalized(&s, &loc, declared);
        self.by_loc.entry(loc).or_insert_with(|| ty.clone());
        ty
    }

    fn lower_normalized(&mut self, s: &Map<String, Value>, loc: &str, declared: bool) -> Ty {
        if let Some((kw, branches)) = self.union_branches(s) {
            return self.union(s, kw, &branches, loc);
        }
        if let Some(Value::Array(types)) = s.get("type") {
            return self.type_list(s, types, loc, declared);
        }
        if let Some(c) = s.get("const") {
            return self.const_ty(c, loc);
        }
        if let Some(Value::Array(values)) = s.get("enum") {
            return self.enum_ty(s, values, loc);
        }
        let ty = match s.get("type").and_then(Value::as_str) {
            Some("string") => Ty::Str,
            Some("integer") => Ty::Int,
            Some("number") => Ty::Num,
            Some("boolean") => Ty::Bool,
            Some("array") => Ty::Vec(Box::new(self.items(s, loc))),
            Some("object") => return self.object(s, loc, declared),
            None if [
                "properties",
                "patternProperties",
                "additionalProperties",
                "required",
            ]
            .iter()
            .any(|k| s.contains_key(*k)) =>
            {
                return self.object(s, loc, declared);
            }
            None => Ty::Any,
            Some(other) => {
                self.problem(loc, ProblemKind::Unsupported(format!("`type: {other}`")));
                Ty::Any
            }
        };
        self.maybe_alias(s, loc, declared, ty)
    }

    fn maybe_alias(&mut self, s: &Map<String, Value>, loc: &str, declared: bool, ty: Ty) -> Ty {
        if !declared {
            return ty;
        }
        let name = self.namer.name_for(loc);
        let id = self.alloc(loc, name, description(s), Kind::Alias(ty));
        Ty::Named(id)
    }
}
