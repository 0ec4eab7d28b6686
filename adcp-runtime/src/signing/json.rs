//! Finding repeated object keys, which `serde_json` (like most parsers) resolves silently: a
//! signed body whose keys repeat means different things to different parsers.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

const REPEATED: &str = "adcp:repeated-key";

struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom(REPEATED));
            }
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }
}

/// Whether a JSON body repeats a key in some object. Bodies that are not JSON are not judged
/// here (they fail where they are parsed).
pub(crate) fn repeats_keys(body: &[u8]) -> bool {
    let mut d = serde_json::Deserializer::from_slice(body);
    match Unique.deserialize(&mut d) {
        Ok(()) => false,
        Err(e) => e.to_string().starts_with(REPEATED),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_repeats_at_any_depth() {
        assert!(!super::repeats_keys(
            br#"{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}"#
        ));
        assert!(super::repeats_keys(br#"{"a":1,"a":2}"#));
        assert!(super::repeats_keys(br#"{"x":[{"k":1,"k":1}]}"#));
        assert!(!super::repeats_keys(b"not json"));
    }
}
