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

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::Settings;
use crate::error::{Problem, ProblemKind};
use crate::ir::{
    Extra, Field, Guard, Kind, Model, Struct, Ty, TypeDef, TypeId, Union, Variant, kinds,
};
use crate::load::{LOC, SchemaSet, escape_segment};
use crate::naming::{field_ident, pascal, strip_shared_prefix};

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

fn ref_of(m: &Map<String, Value>) -> Option<&str> {
    m.get("$ref").and_then(Value::as_str)
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

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

/// The fixed value of a schema: `const`, or an `enum` with one value.
fn fixed_value(m: &Map<String, Value>) -> Option<&Value> {
    if let Some(c) = m.get("const") {
        return Some(c);
    }
    match m.get("enum") {
        Some(Value::Array(v)) if v.len() == 1 => v.first(),
        _ => None,
    }
}

/// Merges two object schemas as `allOf` would, `b` taking precedence on annotations.
fn merge(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
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

struct Lowerer<'a> {
    set: &'a SchemaSet,
    model: Model,
    by_loc: HashMap<String, Ty>,
    consts: BTreeMap<String, TypeId>,
    names: HashMap<String, String>,
    visiting: HashSet<String>,
    problems: Vec<Problem>,
    base_names: BTreeMap<String, String>,
    file_names: HashSet<String>,
    /// Branch labels of every union lowered so far, by union location: a union merged in
    /// from another file (`allOf: [$ref: a union]`) has no branches in its own document.
    labels: HashMap<String, Vec<String>>,
}

impl<'a> Lowerer<'a> {
    fn new(set: &'a SchemaSet, settings: &Settings) -> Self {
        // A file's type is named after its stem. Where stems clash across directories, the
        // file in the first preferred directory keeps the bare name; the others are prefixed
        // with their directory (`tmp/error.json` -> `TmpError`).
        let mut by_stem: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for file in set.docs.keys() {
            let stem = file
                .rsplit('/')
                .next()
                .unwrap_or(file)
                .trim_end_matches(".json");
            by_stem.entry(pascal(stem)).or_default().push(file);
        }
        let mut base_names = BTreeMap::new();
        for (stem, files) in by_stem {
            let dir_of = |f: &str| {
                f.rsplit_once('/')
                    .map_or(String::new(), |(d, _)| d.to_owned())
            };
            let keeper = settings
                .preferred_dirs
                .iter()
                .find_map(|d| files.iter().find(|f| dir_of(f) == *d))
                .copied()
                .or_else(|| (files.len() == 1).then(|| files[0]));
            for f in files {
                let name = if Some(f) == keeper {
                    stem.clone()
                } else {
                    format!("{}{stem}", pascal(&dir_of(f)))
                };
                base_names.insert(f.to_owned(), name);
            }
        }
        let file_names = base_names.values().cloned().collect();
        Lowerer {
            set,
            file_names,
            labels: HashMap::new(),
            model: Model::default(),
            by_loc: HashMap::new(),
            consts: BTreeMap::new(),
            names: HashMap::new(),
            visiting: HashSet::new(),
            problems: Vec::new(),
            base_names,
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

    /// The target of an `allOf` that only restates one reference, if that is all it does.
    fn lone_allof_ref<'m>(&self, m: &'m Map<String, Value>) -> Option<&'m str> {
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
    fn normalize(&mut self, m: &Map<String, Value>) -> Map<String, Value> {
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
        let name = self.name_for(loc);
        let id = self.alloc(loc, name, description(s), Kind::Alias(ty));
        Ty::Named(id)
    }

    fn items(&mut self, s: &Map<String, Value>, loc: &str) -> Ty {
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
    fn type_list(
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
                let name = self.name_for(loc);
                let id = self.alloc(loc, name, description(s), Kind::Union(Union { variants }));
                return wrap_nullable(Ty::Named(id), nullable);
            }
        };
        let ty = wrap_nullable(inner, nullable);
        self.maybe_alias(s, loc, declared, ty)
    }

    /// A `const` (rule 5). String constants are shared by value.
    fn const_ty(&mut self, c: &Value, loc: &str) -> Ty {
        match c {
            Value::String(v) => {
                if let Some(id) = self.consts.get(v) {
                    return Ty::Named(*id);
                }
                let mut name = format!("Const{}", pascal(v));
                if name == "Const" {
                    name.push_str("Empty");
                }
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

    fn enum_ty(&mut self, s: &Map<String, Value>, values: &[Value], loc: &str) -> Ty {
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
            let name = self.name_for(loc);
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
            let name = self.name_for(loc);
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

    /// An object schema: a struct, or a map when it names no properties.
    fn object(&mut self, s: &Map<String, Value>, loc: &str, declared: bool) -> Ty {
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
        let name = self.name_for(loc);
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

    /// `oneOf`/`anyOf` branches when they give shape (rule 3 decides).
    fn union_branches(&self, s: &Map<String, Value>) -> Option<(&'static str, Vec<Value>)> {
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
    fn union(&mut self, s: &Map<String, Value>, kw: &str, branches: &[Value], loc: &str) -> Ty {
        let mut parent = s.clone();
        for k in ["oneOf", "anyOf", "discriminator", "title"] {
            parent.remove(k);
        }
        let shared = parent
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        let name = self.name_for(loc);
        let id = self.alloc(loc, name.clone(), description(s), Kind::Pending);
        self.by_loc.insert(loc.to_owned(), Ty::Named(id));

        let labels = self.labels_of(branches);
        self.labels.insert(format!("{loc}/{kw}"), labels.clone());
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
            let mut ident = match (&target, bm.get("title").and_then(Value::as_str)) {
                (_, Some(title)) => strip_shared_prefix(&name, &pascal(title)),
                (Some(_), None) if !shared => match &ty {
                    Ty::Named(t) => strip_shared_prefix(&name, &self.model.types[*t].name),
                    _ => labels[i].clone(),
                },
                _ => labels[i].clone(),
            };
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

    /// Names of every branch of the union at `loc`, without the union's own name: the title,
    /// else the discriminator values, else the required properties, else the JSON kind.
    fn branch_labels(&self, loc: &str, kw: &str) -> Vec<String> {
        if let Some(l) = self.labels.get(&format!("{loc}/{kw}")) {
            return l.clone();
        }
        let node = self.set.node(loc).and_then(Value::as_object);
        let branches: Vec<Value> = node
            .and_then(|n| n.get(kw))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        self.labels_of(&branches)
    }

    fn labels_of(&self, branches: &[Value]) -> Vec<String> {
        let mut labels: Vec<String> = branches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                self.branch_label(b)
                    .unwrap_or_else(|| format!("Variant{i}"))
            })
            .collect();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for l in &labels {
            *counts.entry(l.clone()).or_default() += 1;
        }
        for (i, l) in labels.iter_mut().enumerate() {
            if counts[l.as_str()] > 1 {
                l.push_str(&i.to_string());
            }
        }
        labels
    }

    fn branch_label(&self, b: &Value) -> Option<String> {
        let bm = b.as_object()?;
        if let Some(t) = bm.get("title").and_then(Value::as_str) {
            return Some(pascal(t));
        }
        if let Some(r) = ref_of(bm) {
            let (file, ptr) = r.split_once('#')?;
            let base = self.base_names.get(file)?.clone();
            let last = ptr.rsplit('/').next().filter(|s| !s.is_empty()).map(pascal);
            return Some(last.unwrap_or(base));
        }
        let required = str_list(bm.get("required"));
        let props = bm.get("properties").and_then(Value::as_object);
        let consts: Vec<String> = required
            .iter()
            .filter_map(|r| props?.get(r)?.as_object())
            .filter_map(fixed_value)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        if !consts.is_empty() {
            return Some(pascal(&consts.join(" ")));
        }
        if let Some(v) = fixed_value(bm) {
            return Some(pascal(&v.to_string().replace('"', "")));
        }
        if !required.is_empty() && bm.contains_key("properties") {
            return Some(pascal(&required.join(" ")));
        }
        let kind = match bm.get("type").and_then(Value::as_str) {
            Some("string") => match bm.get("format").and_then(Value::as_str) {
                Some(f) => pascal(f),
                None => "String".to_owned(),
            },
            Some(t) => pascal(t),
            None if bm.contains_key("properties") => "Object".to_owned(),
            None => return None,
        };
        Some(kind)
    }

    /// The Rust type name of a location: the file's name, then one word per step of the
    /// pointer (`properties/x` -> `X`, `items` -> `Item`, a union branch -> its label; a titled
    /// branch starts afresh from its title).
    fn name_for(&self, loc: &str) -> String {
        let (file, ptr) = loc.split_once('#').unwrap_or((loc, ""));
        let mut name = self
            .base_names
            .get(file)
            .cloned()
            .unwrap_or_else(|| pascal(file));
        let Some(doc) = self.set.docs.get(file) else {
            return name;
        };
        let segs: Vec<String> = ptr
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let mut node = doc;
        let mut i = 0;
        while i < segs.len() {
            let seg = segs[i].as_str();
            let next = segs.get(i + 1).map(String::as_str);
            match (seg, next) {
                ("properties" | "definitions" | "$defs", Some(n)) => {
                    name.push_str(&pascal(n));
                    node = node.get(seg).and_then(|m| m.get(n)).unwrap_or(node);
                    i += 2;
                }
                ("patternProperties", Some(n)) => {
                    name.push_str("Value");
                    node = node.get(seg).and_then(|m| m.get(n)).unwrap_or(node);
                    i += 2;
                }
                ("oneOf" | "anyOf", Some(n)) => {
                    let idx: usize = n.parse().unwrap_or(0);
                    let branch = node.get(seg).and_then(|b| b.get(idx));
                    match branch.and_then(|b| b.get("title")).and_then(Value::as_str) {
                        // A titled branch is named by its title, unless a file already has it.
                        Some(title) if !self.file_names.contains(&pascal(title)) => {
                            name = pascal(title)
                        }
                        Some(title) => name.push_str(&pascal(title)),
                        None => {
                            let parent_loc = format!("{file}#{}", join_ptr(&segs[..i]));
                            let labels = self.branch_labels(&parent_loc, seg);
                            name.push_str(labels.get(idx).map_or("Variant", String::as_str));
                        }
                    }
                    node = branch.unwrap_or(node);
                    i += 2;
                }
                ("allOf", Some(n)) => {
                    node = node
                        .get(seg)
                        .and_then(|b| b.get(n.parse::<usize>().unwrap_or(0)))
                        .unwrap_or(node);
                    i += 2;
                }
                ("items", _) => {
                    name.push_str("Item");
                    node = node.get(seg).unwrap_or(node);
                    i += 1;
                }
                ("additionalProperties", _) => {
                    name.push_str("Value");
                    node = node.get(seg).unwrap_or(node);
                    i += 1;
                }
                (other, _) => {
                    name.push_str(&pascal(other));
                    node = node.get(other).unwrap_or(node);
                    i += 1;
                }
            }
        }
        name
    }

    /// Boxes every reference that closes a cycle of direct containment.
    fn break_cycles(&mut self) {
        let n = self.model.types.len();
        let mut edges: Vec<Vec<TypeId>> = vec![Vec::new(); n];
        for (id, t) in self.model.types.iter().enumerate() {
            for ty in direct_tys(&t.kind) {
                ty.direct_named(&mut edges[id]);
            }
        }
        let scc = tarjan(&edges);
        for id in 0..n {
            let comp = scc[id];
            let needs_box = |target: TypeId| scc[target] == comp;
            match &mut self.model.types[id].kind {
                Kind::Struct(s) => {
                    for f in &mut s.fields {
                        box_in(&mut f.ty, &needs_box);
                    }
                }
                Kind::Union(u) => {
                    for v in &mut u.variants {
                        box_in(&mut v.ty, &needs_box);
                    }
                }
                _ => {}
            }
        }
    }
}

fn wrap_nullable(ty: Ty, nullable: bool) -> Ty {
    if nullable {
        Ty::Nullable(Box::new(ty))
    } else {
        ty
    }
}

fn join_ptr(segs: &[String]) -> String {
    segs.iter()
        .map(|s| format!("/{}", escape_segment(s)))
        .collect()
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

fn direct_tys(kind: &Kind) -> Vec<&Ty> {
    match kind {
        Kind::Struct(s) => s.fields.iter().map(|f| &f.ty).collect(),
        Kind::Union(u) => u.variants.iter().map(|v| &v.ty).collect(),
        Kind::Alias(t) => vec![t],
        _ => Vec::new(),
    }
}

fn box_in(ty: &mut Ty, needs_box: &impl Fn(TypeId) -> bool) {
    match ty {
        Ty::Named(id) if needs_box(*id) => {
            *ty = Ty::Boxed(Box::new(ty.clone()));
        }
        Ty::Nullable(inner) => box_in(inner, needs_box),
        _ => {}
    }
}

/// Strongly connected components (Tarjan), as a component number per node.
fn tarjan(edges: &[Vec<usize>]) -> Vec<usize> {
    struct State<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        comp: Vec<usize>,
        next: usize,
        comps: usize,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                s.comp[w] = s.comps;
                if w == v {
                    break;
                }
            }
            s.comps += 1;
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        comp: vec![0; n],
        next: 0,
        comps: 0,
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    // A node alone in its component is only cyclic if it points at itself.
    let mut comp = s.comp;
    for (v, targets) in edges.iter().enumerate() {
        let alone = !edges
            .iter()
            .enumerate()
            .any(|(u, _)| u != v && comp[u] == comp[v]);
        if alone && !targets.contains(&v) {
            comp[v] = usize::MAX - v;
        }
    }
    comp
}
