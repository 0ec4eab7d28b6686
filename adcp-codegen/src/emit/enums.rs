//! String enums through typify.
//!
//! For a plain `{"type": "string", "enum": [...]}` typify's output is faithful: one variant per
//! value with `#[serde(rename)]`, `Display`, `FromStr` and `TryFrom`, rejecting any other
//! string. It cannot take AdCP's schemas whole (see `lower/`), so it is handed each lowered
//! string enum as a definition under the name lowering chose. Its output is then checked (every
//! name present) and documented: enum docs are replaced by escaped schema text and every
//! variant gets its `enumDescriptions` entry or its wire value.

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::quote;
use serde_json::{Map, Value, json};
use typify::{TypeSpace, TypeSpaceSettings};

use super::docs;
use crate::ir::{Kind, TypeDef};

/// The enums, and the names of those typify derived `Copy` for.
pub(super) fn emit(enums: &[&TypeDef]) -> Result<(TokenStream, HashSet<String>), String> {
    if enums.is_empty() {
        return Ok((TokenStream::new(), HashSet::new()));
    }
    let mut defs = Map::new();
    let mut by_name: HashMap<&str, &TypeDef> = HashMap::new();
    for t in enums {
        if let Kind::StrEnum { values, .. } = &t.kind {
            defs.insert(t.name.clone(), json!({ "type": "string", "enum": values }));
            by_name.insert(&t.name, t);
        }
    }
    let root: schemars08::schema::RootSchema =
        serde_json::from_value(json!({ "definitions": Value::Object(defs) }))
            .map_err(|e| e.to_string())?;
    let mut settings = TypeSpaceSettings::default();
    settings.with_struct_builder(false);
    let mut space = TypeSpace::new(&settings);
    space
        .add_ref_types(root.definitions)
        .map_err(|e| e.to_string())?;
    let mut file: syn::File = syn::parse2(space.to_stream()).map_err(|e| e.to_string())?;

    let mut found = 0;
    let mut copy = HashSet::new();
    for item in &mut file.items {
        let syn::Item::Enum(e) = item else { continue };
        let name = e.ident.to_string();
        let Some(def) = by_name.get(name.as_str()) else {
            return Err(format!(
                "typify produced an enum `{name}` that was not asked for"
            ));
        };
        let Kind::StrEnum {
            values,
            descriptions,
        } = &def.kind
        else {
            continue;
        };
        found += 1;
        if derives_copy(&e.attrs) {
            copy.insert(name.clone());
        }
        e.attrs.retain(|a| !a.path().is_ident("doc"));
        let doc = docs(
            def.docs.as_deref(),
            &format!("`{name}`, generated from `{}`.", def.loc),
        );
        e.attrs.splice(0..0, attrs(&doc)?);
        for v in &mut e.variants {
            let wire = rename_of(&v.attrs).unwrap_or_else(|| v.ident.to_string());
            let desc = values
                .iter()
                .position(|x| *x == wire)
                .and_then(|i| descriptions[i].as_deref());
            let text = match desc {
                Some(d) => format!("`\"{wire}\"`: {d}"),
                None => format!("`\"{wire}\"`"),
            };
            v.attrs.retain(|a| !a.path().is_ident("doc"));
            v.attrs.splice(0..0, attrs(&docs(Some(&text), ""))?);
        }
    }
    if found != by_name.len() {
        return Err(format!(
            "typify produced {found} of {} enums",
            by_name.len()
        ));
    }
    Ok((quote!(#file), copy))
}

fn derives_copy(attrs: &[syn::Attribute]) -> bool {
    let mut copy = false;
    for a in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = a.parse_nested_meta(|meta| {
            copy |= meta.path.is_ident("Copy");
            Ok(())
        });
    }
    copy
}

fn attrs(tokens: &TokenStream) -> Result<Vec<syn::Attribute>, String> {
    let holder: syn::ItemStruct =
        syn::parse2(quote!(#tokens struct Holder;)).map_err(|e| e.to_string())?;
    Ok(holder.attrs)
}

fn rename_of(attrs: &[syn::Attribute]) -> Option<String> {
    let mut out = None;
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                out = Some(lit.value());
            }
            Ok(())
        });
    }
    out
}
