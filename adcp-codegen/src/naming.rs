//! Rust names for schema things. Every name is a pure function of the schema text, so the same
//! schema always produces the same name whatever else is in the tree.

use heck::{ToSnakeCase, ToUpperCamelCase};

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

/// The name of a union variant: `candidate` without the words it shares at the front with
/// the union's own name (`CreateMediaBuyResponse` + `CreateMediaBuySuccess` -> `Success`),
/// unless nothing usable would be left.
pub(crate) fn strip_shared_prefix(union: &str, candidate: &str) -> String {
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
    }
}
