//! Reading a schema tree.
//!
//! Every file is parsed; every `$ref` is rewritten to one canonical form, `file#pointer`
//! (`core/product.json#`, `brand.json#/definitions/color_value`), so that a subschema copied out
//! of its file (an `allOf` merge, a `oneOf` distribution) still means the same thing; and every
//! subschema is annotated with its own location under the key [`LOC`], which names the Rust type
//! it becomes and identifies it when it is reached twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Problem, ProblemKind};

/// The annotation key holding a subschema's own location (`file#pointer`).
pub(crate) const LOC: &str = "$loc";

/// Files in a schema tree that are registries rather than schemas.
fn is_registry(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == "index.json" || name == "manifest.json" || name == "manifest.schema.json"
}

/// A parsed schema tree.
#[derive(Debug)]
pub struct SchemaSet {
    /// The directory it was read from.
    pub(crate) root: PathBuf,
    /// The AdCP release (`3.0.18`), from `index.json` or the `$id`s.
    pub(crate) version: String,
    /// Every schema file as read, keyed by path relative to the root.
    pub(crate) originals: BTreeMap<String, Value>,
    /// The same files with canonical `$ref`s and [`LOC`] annotations.
    pub(crate) docs: BTreeMap<String, Value>,
    /// `manifest.json`, when the tree has one (the task catalogue and specialisms).
    pub(crate) manifest: Option<Value>,
    /// Every file read, for `cargo:rerun-if-changed`.
    pub(crate) paths: Vec<PathBuf>,
}

impl SchemaSet {
    /// Reads every `*.json` under `root` (skipping `bundled/`), reporting every unreadable file
    /// and every dangling `$ref` at once.
    pub fn load(root: impl AsRef<Path>) -> Result<Self, Error> {
        let root = root.as_ref().to_path_buf();
        let mut paths = Vec::new();
        collect_files(&root, &root, &mut paths)?;
        paths.sort();

        let mut problems = Vec::new();
        let mut originals = BTreeMap::new();
        let mut manifest = None;
        let mut version = None;
        for path in &paths {
            let rel = relative(&root, path);
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                action: "reading",
                path: path.clone(),
                source,
            })?;
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(problem(&rel, "", ProblemKind::InvalidJson(e.to_string())));
                    continue;
                }
            };
            if rel == "index.json" {
                version = value
                    .get("adcp_version")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            if rel == "manifest.json" {
                manifest = Some(value);
            } else if !is_registry(&rel) {
                originals.insert(rel, value);
            }
        }
        let version = version
            .or_else(|| originals.values().find_map(id_version))
            .unwrap_or_else(|| "unknown".to_owned());

        let mut docs = BTreeMap::new();
        for (rel, value) in &originals {
            let mut doc = value.clone();
            annotate(&mut doc, "", &mut |node, ptr| {
                if let Some(Value::String(r)) = node.get("$ref") {
                    match canonical_ref(rel, r) {
                        Some(c) => {
                            node.insert("$ref".into(), Value::String(c));
                        }
                        None => {
                            problems.push(problem(rel, ptr, ProblemKind::UnresolvedRef(r.clone())))
                        }
                    }
                }
                node.insert(LOC.into(), Value::String(format!("{rel}#{ptr}")));
            });
            docs.insert(rel.clone(), doc);
        }
        let set = SchemaSet {
            root,
            version,
            originals,
            docs,
            manifest,
            paths,
        };
        // Every canonical reference must land on something.
        for (rel, doc) in &set.docs {
            walk_refs(doc, &mut |r, loc| {
                if set.node(r).is_none() {
                    let ptr = loc.split_once('#').map_or("", |(_, p)| p);
                    problems.push(problem(rel, ptr, ProblemKind::UnresolvedRef(r.to_owned())));
                }
            });
        }
        if problems.is_empty() {
            Ok(set)
        } else {
            problems.sort();
            problems.dedup();
            Err(Error::Schemas(problems))
        }
    }

    /// The annotated subschema at a canonical location (`file#pointer`).
    pub(crate) fn node(&self, loc: &str) -> Option<&Value> {
        let (file, ptr) = loc.split_once('#')?;
        self.docs.get(file)?.pointer(ptr)
    }

    /// The original (unannotated) subschema at a canonical location.
    pub(crate) fn original(&self, loc: &str) -> Option<&Value> {
        let (file, ptr) = loc.split_once('#')?;
        self.originals.get(file)?.pointer(ptr)
    }

    /// The AdCP release the tree carries.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every file the set was read from.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The directory the set was read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Schema files in the set, relative to the root.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.originals.keys().map(String::as_str)
    }
}

fn problem(file: &str, pointer: &str, kind: ProblemKind) -> Problem {
    Problem {
        file: file.to_owned(),
        pointer: pointer.to_owned(),
        kind,
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        action: "listing",
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            action: "listing",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            if dir == root && entry.file_name() == "bundled" {
                continue;
            }
            collect_files(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn id_version(doc: &Value) -> Option<String> {
    let id = doc.get("$id")?.as_str()?;
    let rest = id.strip_prefix("/schemas/")?;
    Some(rest.split('/').next()?.to_owned())
}

/// Rewrites a `$ref` found in `file` to `file#pointer` form. Handles the three forms the AdCP
/// trees use: absolute (`/schemas/<release>/core/x.json`), local (`#/definitions/x`, including
/// pointers into nested subschemas) and relative paths (`../core/x.json`).
pub(crate) fn canonical_ref(file: &str, reference: &str) -> Option<String> {
    let (path, fragment) = match reference.split_once('#') {
        Some((p, f)) => (p, f),
        None => (reference, ""),
    };
    if !fragment.is_empty() && !fragment.starts_with('/') {
        return None; // plain-name anchors are not used by AdCP and not supported
    }
    let target = if path.is_empty() {
        file.to_owned()
    } else if let Some(rest) = path.strip_prefix("/schemas/") {
        // Drop the release segment: a tree refers to itself whatever it is called.
        rest.split_once('/')?.1.to_owned()
    } else if path.starts_with('/') {
        return None;
    } else {
        let mut parts: Vec<&str> = file.split('/').collect();
        parts.pop();
        for seg in path.split('/') {
            match seg {
                "." | "" => {}
                ".." => {
                    parts.pop()?;
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    };
    Some(format!("{target}#{fragment}"))
}

/// Escapes one JSON-pointer segment.
pub(crate) fn escape_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

// Keyword readers, shared by lowering and naming.

/// The `$ref` of a schema object.
pub(crate) fn ref_of(m: &Map<String, Value>) -> Option<&str> {
    m.get("$ref").and_then(Value::as_str)
}

/// A list of strings (`required`), empty when absent.
pub(crate) fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The fixed value of a schema: `const`, or an `enum` with one value.
pub(crate) fn fixed_value(m: &Map<String, Value>) -> Option<&Value> {
    if let Some(c) = m.get("const") {
        return Some(c);
    }
    match m.get("enum") {
        Some(Value::Array(v)) if v.len() == 1 => v.first(),
        _ => None,
    }
}

/// Keywords whose value is an object mapping names to subschemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependencies",
];
/// Keywords whose value is one subschema.
const SCHEMA_ONE: &[&str] = &[
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
];
/// Keywords whose value is a list of subschemas.
const SCHEMA_LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "items"];

/// Visits every subschema object (the root included) depth first, with its JSON pointer.
pub(crate) fn annotate(
    node: &mut Value,
    ptr: &str,
    f: &mut impl FnMut(&mut Map<String, Value>, &str),
) {
    let Value::Object(map) = node else { return };
    f(map, ptr);
    for (key, child) in map.iter_mut() {
        let here = format!("{ptr}/{}", escape_segment(key));
        if SCHEMA_MAPS.contains(&key.as_str()) {
            if let Value::Object(entries) = child {
                for (name, sub) in entries.iter_mut() {
                    // `dependencies` also holds plain property lists; those are not schemas.
                    if sub.is_object() {
                        annotate(sub, &format!("{here}/{}", escape_segment(name)), f);
                    }
                }
            }
        } else if SCHEMA_LISTS.contains(&key.as_str()) && child.is_array() {
            if let Value::Array(items) = child {
                for (i, sub) in items.iter_mut().enumerate() {
                    annotate(sub, &format!("{here}/{i}"), f);
                }
            }
        } else if SCHEMA_ONE.contains(&key.as_str()) {
            annotate(child, &here, f);
        }
    }
}

/// Calls `f(reference, location of the referring subschema)` for every `$ref` in a document.
pub(crate) fn walk_refs(node: &Value, f: &mut impl FnMut(&str, &str)) {
    match node {
        Value::Object(map) => {
            if let (Some(Value::String(r)), Some(Value::String(loc))) =
                (map.get("$ref"), map.get(LOC))
            {
                f(r, loc);
            }
            for (k, v) in map {
                if k != "examples" && k != "enum" && k != "const" && k != "default" {
                    walk_refs(v, f);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk_refs(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_ref;

    #[test]
    fn references_take_one_canonical_form() {
        let f = "media-buy/get-products-request.json";
        assert_eq!(
            canonical_ref(f, "/schemas/3.0.18/core/brand-ref.json").as_deref(),
            Some("core/brand-ref.json#")
        );
        assert_eq!(
            canonical_ref(f, "#/definitions/x").as_deref(),
            Some("media-buy/get-products-request.json#/definitions/x")
        );
        assert_eq!(
            canonical_ref(f, "../core/ext.json#/properties/a").as_deref(),
            Some("core/ext.json#/properties/a")
        );
        assert_eq!(canonical_ref(f, "#anchor"), None);
        assert_eq!(canonical_ref(f, "../../../x.json"), None);
    }
}
