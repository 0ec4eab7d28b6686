//! Rust names for schema things, all in one place: identifiers from schema words (`pascal`,
//! `field_ident`), the type named after each schema location and file (`Namer`), union branch
//! labels and variant names, constant types. Every name is a pure function of the schema text,
//! so the same schema always produces the same name whatever else is in the tree.

use std::collections::{BTreeMap, HashMap, HashSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::Value;

use crate::Settings;
use crate::load::{SchemaSet, escape_segment, fixed_value, ref_of, str_list};

/// `get-products-request` / `non_guaranteed` / `Publisher Tags Source` -> UpperCamelCase,
/// keeping only identifier characters.
pub(crate) fn pascal(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned.to_upper_camel_case()
}

/// Words that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Rust keywords, strict and reserved, in edition 2024.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// A JSON property name as a Rust field name (`r#type` for keywords).
pub(crate) fn field_ident(json: &str) -> String {
    let mut s: String = json
        .to_snake_case()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        s.push_str("field");
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if NOT_RAW.contains(&s.as_str()) {
        s.push('_');
    } else if KEYWORDS.contains(&s.as_str()) {
        s.insert_str(0, "r#");
    }
    s
}

/// Splits an UpperCamelCase name into its words.
fn words(name: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in name.char_indices().skip(1) {
        if c.is_ascii_uppercase() {
            out.push(&name[start..i]);
            start = i;
        }
    }
    out.push(&name[start..]);
    out
}

/// `candidate` without the words it shares at the front with the union's own name
/// (`CreateMediaBuyResponse` + `CreateMediaBuySuccess` -> `Success`), unless nothing usable
/// would be left.
fn strip_shared_prefix(union: &str, candidate: &str) -> String {
    let a = words(union);
    let b = words(candidate);
    let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let rest: String = b[shared..].concat();
    if rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()) {
        candidate.to_owned()
    } else {
        rest
    }
}

/// The name of a union variant: the branch's title, else the name of the type the branch
/// references (`referenced`, given only where that type is the branch), each without the
/// words it shares with the union's name; else the branch's label.
pub(crate) fn variant_ident(
    union: &str,
    title: Option<&str>,
    referenced: Option<&str>,
    label: &str,
) -> String {
    match (title, referenced) {
        (Some(title), _) => strip_shared_prefix(union, &pascal(title)),
        (None, Some(name)) => strip_shared_prefix(union, name),
        (None, None) => label.to_owned(),
    }
}

/// The name of the unit type of a string constant: `ConstCpm`, and `ConstEmpty` for `""`.
pub(crate) fn const_name(value: &str) -> String {
    let mut name = format!("Const{}", pascal(value));
    if name == "Const" {
        name.push_str("Empty");
    }
    name
}

/// Type names of one schema set: each file's base name, and from it the name of every
/// location in the file.
pub(crate) struct Namer<'a> {
    set: &'a SchemaSet,
    /// Each file's type name, by file.
    base_names: BTreeMap<String, String>,
    /// Every file's type name: a titled union branch takes its title as its whole name unless
    /// a file already has it.
    file_names: HashSet<String>,
    /// Branch labels of every union lowered so far, by union location: a union merged in
    /// from another file (`allOf: [$ref: a union]`) has no branches in its own document.
    labels: HashMap<String, Vec<String>>,
}

impl<'a> Namer<'a> {
    /// Names every file of the set.
    pub(crate) fn new(set: &'a SchemaSet, settings: &Settings) -> Self {
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
        Namer {
            set,
            base_names,
            file_names,
            labels: HashMap::new(),
        }
    }

    /// The Rust type name of a location: the file's name, then one word per step of the
    /// pointer (`properties/x` -> `X`, `items` -> `Item`, a union branch -> its label; a titled
    /// branch starts afresh from its title).
    pub(crate) fn name_for(&self, loc: &str) -> String {
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

    /// The labels of the branches of the union at `loc` (under `kw`), recorded for the names
    /// of its inline branch types, whichever document they are reached from.
    pub(crate) fn label_branches(
        &mut self,
        loc: &str,
        kw: &str,
        branches: &[Value],
    ) -> Vec<String> {
        let labels = self.labels_of(branches);
        self.labels.insert(format!("{loc}/{kw}"), labels.clone());
        labels
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

    /// One label per branch, numbered where two would be the same.
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
}

fn join_ptr(segs: &[String]) -> String {
    segs.iter()
        .map(|s| format!("/{}", escape_segment(s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(pascal("get-products-request"), "GetProductsRequest");
        assert_eq!(pascal("non_guaranteed"), "NonGuaranteed");
        assert_eq!(pascal("Publisher Tags Source"), "PublisherTagsSource");
        assert_eq!(
            pascal("automotive.electric_vehicles"),
            "AutomotiveElectricVehicles"
        );
        assert_eq!(field_ident("type"), "r#type");
        assert_eq!(field_ident("self"), "self_");
        assert_eq!(field_ident("3d"), "_3d");
        assert_eq!(field_ident("camelCase"), "camel_case");
        assert_eq!(
            strip_shared_prefix("CreateMediaBuyResponse", "CreateMediaBuySuccess"),
            "Success"
        );
        assert_eq!(
            strip_shared_prefix("PricingOption", "CpmOption"),
            "CpmOption"
        );
        assert_eq!(strip_shared_prefix("Foo", "Foo"), "Foo");
        assert_eq!(
            variant_ident(
                "CreateMediaBuyResponse",
                None,
                Some("CreateMediaBuySuccess"),
                "L"
            ),
            "Success"
        );
        assert_eq!(
            variant_ident("PricingOption", Some("cpm option"), None, "L"),
            "CpmOption"
        );
        assert_eq!(variant_ident("Refine", None, None, "Request"), "Request");
        assert_eq!(const_name("cpm"), "ConstCpm");
        assert_eq!(const_name(""), "ConstEmpty");
    }
}
