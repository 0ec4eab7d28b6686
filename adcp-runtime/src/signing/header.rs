//! The `Signature-Input`, `Signature` and `Content-Digest` fields (RFC 9421, RFC 9530, RFC 8941
//! structured fields), parsed strictly: a dictionary key or a parameter given twice, a string
//! parameter without quotes, or a byte sequence mixing the base64 and base64url alphabets is
//! malformed rather than resolved by "last one wins".

use base64::Engine;
use sfv::{BareItem, Dictionary, ListEntry, Parser};

/// The first (or `sig1`) signature of a request.
#[derive(Clone, Debug)]
pub(crate) struct SignatureInput {
    pub(crate) label: String,
    pub(crate) components: Vec<String>,
    pub(crate) created: Option<i64>,
    pub(crate) expires: Option<i64>,
    pub(crate) nonce: Option<String>,
    pub(crate) keyid: Option<String>,
    pub(crate) alg: Option<String>,
    pub(crate) tag: Option<String>,
    /// The `@signature-params` value: the inner list serialised again.
    pub(crate) params_value: String,
}

/// A malformed field; the reason is logged, never sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

/// Splits a structured field at top-level `sep`, outside strings, byte sequences and inner
/// lists.
fn split_top(input: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut depth, mut in_str, mut in_bytes, mut escaped) =
        (0, 0u32, false, false, false);
    for (i, c) in input.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if in_bytes {
            in_bytes = c != ':';
            continue;
        }
        match c {
            '"' => in_str = true,
            ':' => in_bytes = true,
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                parts.push(&input[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

/// The key of a dictionary member or parameter (`key=value` or a bare `key`).
fn member_key(member: &str) -> &str {
    let m = member.trim_start_matches([' ', '\t']);
    m.split(['=', ';']).next().unwrap_or("").trim()
}

/// Rejects a dictionary whose top-level keys repeat.
pub(crate) fn unique_keys(field: &str) -> Result<(), Malformed> {
    let mut seen = Vec::new();
    for member in split_top(field, ',') {
        let key = member_key(member);
        if seen.contains(&key) {
            return Err(Malformed("a dictionary key is given twice"));
        }
        seen.push(key);
    }
    Ok(())
}

fn dictionary(field: &str) -> Result<Dictionary, Malformed> {
    unique_keys(field)?;
    Parser::new(field)
        .parse::<Dictionary>()
        .map_err(|_| Malformed("not a structured-field dictionary"))
}

fn serialize_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Parses `Signature-Input`, keeping the `sig1` member (else the first).
pub(crate) fn signature_input(field: &str) -> Result<SignatureInput, Malformed> {
    let dict = dictionary(field)?;
    let (label, entry) = match dict.get_key_value("sig1") {
        Some((k, v)) => (k.as_str().to_owned(), v),
        None => {
            let (k, v) = dict.first().ok_or(Malformed("no signature is declared"))?;
            (k.as_str().to_owned(), v)
        }
    };
    let ListEntry::InnerList(list) = entry else {
        return Err(Malformed("a signature's value is a list of components"));
    };
    // The raw member, to catch a parameter given twice (the parser keeps the last).
    let raw = split_top(field, ',')
        .into_iter()
        .find(|m| member_key(m) == label)
        .unwrap_or("");
    let after_list = raw.rfind(')').map_or("", |i| &raw[i + 1..]);
    let raw_params: Vec<&str> = split_top(after_list, ';')
        .into_iter()
        .skip(1)
        .map(member_key)
        .collect();
    if raw_params.len() != list.params.len() {
        return Err(Malformed("a signature parameter is given twice"));
    }
    let mut components = Vec::with_capacity(list.items.len());
    let mut value = String::from("(");
    for (i, item) in list.items.iter().enumerate() {
        let BareItem::String(s) = &item.bare_item else {
            return Err(Malformed("components are strings"));
        };
        if !item.params.is_empty() {
            return Err(Malformed(
                "component parameters are not part of the profile",
            ));
        }
        if i > 0 {
            value.push(' ');
        }
        value.push_str(&serialize_string(s.as_str()));
        components.push(s.as_str().to_owned());
    }
    value.push(')');
    let mut input = SignatureInput {
        label,
        components,
        created: None,
        expires: None,
        nonce: None,
        keyid: None,
        alg: None,
        tag: None,
        params_value: String::new(),
    };
    for (key, item) in &list.params {
        let key = key.as_str();
        value.push(';');
        value.push_str(key);
        match item {
            BareItem::Integer(n) => {
                let n = i64::from(*n);
                value.push('=');
                value.push_str(&n.to_string());
                match key {
                    "created" => input.created = Some(n),
                    "expires" => input.expires = Some(n),
                    "nonce" | "keyid" | "alg" | "tag" => {
                        return Err(Malformed("a string parameter must be quoted"));
                    }
                    _ => {}
                }
            }
            BareItem::String(s) => {
                value.push('=');
                value.push_str(&serialize_string(s.as_str()));
                let s = Some(s.as_str().to_owned());
                match key {
                    "nonce" => input.nonce = s,
                    "keyid" => input.keyid = s,
                    "alg" => input.alg = s,
                    "tag" => input.tag = s,
                    "created" | "expires" => {
                        return Err(Malformed("created and expires are integers"));
                    }
                    _ => {}
                }
            }
            _ => return Err(Malformed("signature parameters are strings or integers")),
        }
    }
    input.params_value = value;
    Ok(input)
}

/// Rewrites base64url inside byte sequences to base64; mixing both alphabets is malformed.
fn standard_alphabet(field: &str) -> Result<String, Malformed> {
    let mut out = String::with_capacity(field.len());
    let (mut in_str, mut in_bytes, mut escaped) = (false, false, false);
    let (mut url_safe, mut standard) = (false, false);
    for c in field.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            out.push(c);
            continue;
        }
        if in_bytes {
            match c {
                ':' => {
                    if url_safe && standard {
                        return Err(Malformed("a byte sequence mixes base64 alphabets"));
                    }
                    (in_bytes, url_safe, standard) = (false, false, false);
                    out.push(c);
                }
                '-' => {
                    url_safe = true;
                    out.push('+');
                }
                '_' => {
                    url_safe = true;
                    out.push('/');
                }
                '+' | '/' | '=' => {
                    standard = true;
                    out.push(c);
                }
                c => out.push(c),
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            ':' => in_bytes = true,
            _ => {}
        }
        out.push(c);
    }
    Ok(out)
}

/// The bytes of signature `label` in a `Signature` field.
pub(crate) fn signature(field: &str, label: &str) -> Result<Vec<u8>, Malformed> {
    let dict = dictionary(&standard_alphabet(field)?)?;
    match dict.get(label) {
        Some(ListEntry::Item(item)) => match &item.bare_item {
            BareItem::ByteSequence(b) => Ok(b.clone()),
            _ => Err(Malformed("a signature is a byte sequence")),
        },
        _ => Err(Malformed("the Signature field lacks the declared label")),
    }
}

/// The digests of a `Content-Digest` field, by algorithm.
pub(crate) fn content_digest(field: &str) -> Result<Vec<(String, Vec<u8>)>, Malformed> {
    let dict = dictionary(&standard_alphabet(field)?)?;
    dict.iter()
        .map(|(k, v)| match v {
            ListEntry::Item(item) => match &item.bare_item {
                BareItem::ByteSequence(b) => Ok((k.as_str().to_owned(), b.clone())),
                _ => Err(Malformed("a digest is a byte sequence")),
            },
            ListEntry::InnerList(_) => Err(Malformed("a digest is a byte sequence")),
        })
        .collect()
}

/// Whether a field value holds more than one value (a top-level comma).
pub(crate) fn is_multi_valued(field: &str) -> bool {
    split_top(field, ',').len() > 1
}

/// Decodes an unpadded base64url nonce; `None` when padded or not base64url.
pub(crate) fn nonce_bytes(nonce: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(nonce)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &str = r#"sig1=("@method" "@target-uri" "@authority" "content-type");created=1776520800;expires=1776521100;nonce="KXYnfEfJ0PBRZXQyVXfVQA";keyid="test-ed25519-2026";alg="ed25519";tag="adcp/request-signing/v1""#;

    #[test]
    fn parses_the_profile_and_serialises_the_params_back() {
        let s = signature_input(INPUT).unwrap();
        assert_eq!(s.label, "sig1");
        assert_eq!(
            s.components,
            ["@method", "@target-uri", "@authority", "content-type"]
        );
        assert_eq!(
            (s.created, s.expires),
            (Some(1_776_520_800), Some(1_776_521_100))
        );
        assert_eq!(s.keyid.as_deref(), Some("test-ed25519-2026"));
        assert_eq!(s.params_value, INPUT.trim_start_matches("sig1="));
    }

    #[test]
    fn repeats_and_unquoted_strings_are_malformed() {
        assert!(signature_input(&format!("{INPUT}, sig1=(\"@method\")")).is_err());
        assert!(signature_input(&format!("{INPUT};tag=\"x\"")).is_err());
        assert!(
            signature_input(&INPUT.replace("keyid=\"test-ed25519-2026\"", "keyid=test")).is_err()
        );
        assert!(signature_input("sig1=not a valid structured-field value!!!").is_err());
        assert!(content_digest("sha-256=:AAAA:, sha-256=:BBBB:").is_err());
    }

    #[test]
    fn signatures_take_either_alphabet_but_not_both() {
        assert_eq!(signature("sig1=:-_8:", "sig1").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(signature("sig1=:+/8=:", "sig1").unwrap(), vec![0xfb, 0xff]);
        assert!(signature("sig1=:-/8=:", "sig1").is_err());
        assert!(signature("sig2=:AAAA:", "sig1").is_err());
    }
}
