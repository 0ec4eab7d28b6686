//! What generated code calls: union decoding by shape, constant types, the catalogue types and
//! the [`Task`] trait. Protocol logic lives here, in ordinary code, never in generated tokens.

use std::fmt::Write as _;

use serde::de::{DeserializeOwned, Error as _, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// JSON kinds, as bits (the same set the generator uses).
pub mod kinds {
    /// `null`.
    pub const NULL: u8 = 1;
    /// `true`/`false`.
    pub const BOOL: u8 = 2;
    /// Integers.
    pub const INTEGER: u8 = 4;
    /// Any number (integers included).
    pub const NUMBER: u8 = 8 | INTEGER;
    /// Strings.
    pub const STRING: u8 = 16;
    /// Arrays.
    pub const ARRAY: u8 = 32;
    /// Objects.
    pub const OBJECT: u8 = 64;
    /// Anything.
    pub const ANY: u8 = 127;
}

/// A fixed JSON value in a [`Shape`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Json {
    /// A string.
    Str(&'static str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// `null`.
    Null,
    /// Anything else, as JSON text.
    Other(&'static str),
}

impl Json {
    fn matches(self, v: &Value) -> bool {
        match self {
            Json::Str(s) => v.as_str() == Some(s),
            Json::Bool(b) => v.as_bool() == Some(b),
            Json::Int(i) => v.as_i64() == Some(i),
            Json::Null => v.is_null(),
            Json::Other(text) => serde_json::from_str::<Value>(text).is_ok_and(|o| &o == v),
        }
    }

    fn show(self) -> String {
        match self {
            Json::Str(s) => format!("\"{s}\""),
            Json::Bool(b) => b.to_string(),
            Json::Int(i) => i.to_string(),
            Json::Null => "null".into(),
            Json::Other(t) => t.into(),
        }
    }
}

/// What a JSON value must look like for one union variant to be tried.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Variant name, for messages.
    pub variant: &'static str,
    /// Allowed JSON kinds ([`kinds`]).
    pub kinds: u8,
    /// The whole value is fixed.
    pub value: Option<Json>,
    /// Properties with fixed values (discriminators).
    pub consts: &'static [(&'static str, Json)],
    /// Properties that must be present.
    pub required: &'static [&'static str],
    /// Properties that must be absent.
    pub forbidden: &'static [&'static str],
    /// Properties the variant declares.
    pub known: &'static [&'static str],
}

fn kind_of(v: &Value) -> u8 {
    match v {
        Value::Null => kinds::NULL,
        Value::Bool(_) => kinds::BOOL,
        Value::Number(n) if n.is_i64() || n.is_u64() => kinds::INTEGER,
        Value::Number(_) => kinds::NUMBER & !kinds::INTEGER,
        Value::String(_) => kinds::STRING,
        Value::Array(_) => kinds::ARRAY,
        Value::Object(_) => kinds::OBJECT,
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Shape {
    /// Whether `v` fits this shape.
    pub fn matches(&self, v: &Value) -> bool {
        if self.kinds & kind_of(v) == 0 {
            return false;
        }
        if let Some(fixed) = self.value
            && !fixed.matches(v)
        {
            return false;
        }
        let Value::Object(m) = v else { return true };
        self.consts
            .iter()
            .all(|(k, c)| m.get(*k).is_some_and(|x| c.matches(x)))
            && self.required.iter().all(|k| m.contains_key(*k))
            && !self.forbidden.iter().any(|k| m.contains_key(*k))
    }

    /// How many of an object's properties this variant names.
    fn fit(&self, v: &Value) -> usize {
        v.as_object().map_or(0, |m| {
            m.keys()
                .filter(|k| self.known.contains(&k.as_str()))
                .count()
        })
    }

    fn describe(&self) -> String {
        if let Some(v) = self.value {
            return v.show();
        }
        let mut s = String::new();
        if self.kinds == kinds::OBJECT {
            s.push_str("an object");
            let with: Vec<String> = self
                .required
                .iter()
                .map(|r| match self.consts.iter().find(|(k, _)| k == r) {
                    Some((k, c)) => format!("`{k}: {}`", c.show()),
                    None => format!("`{r}`"),
                })
                .collect();
            if !with.is_empty() {
                let _ = write!(s, " with {}", with.join(", "));
            }
            if !self.forbidden.is_empty() {
                let without: Vec<String> =
                    self.forbidden.iter().map(|f| format!("`{f}`")).collect();
                let _ = write!(s, " without {}", without.join(", "));
            }
        } else {
            let names = [
                (kinds::OBJECT, "an object"),
                (kinds::ARRAY, "an array"),
                (kinds::STRING, "a string"),
                (kinds::NUMBER, "a number"),
                (kinds::INTEGER, "an integer"),
                (kinds::BOOL, "a boolean"),
                (kinds::NULL, "null"),
            ];
            let mut rest = self.kinds;
            let mut parts = Vec::new();
            for (bit, n) in names {
                if rest & bit == bit {
                    rest &= !bit;
                    parts.push(n);
                }
            }
            s.push_str(&parts.join(" or "));
        }
        s
    }
}

/// Why no variant of a union was chosen, in words.
fn mismatch(union: &str, shapes: &[Shape], v: &Value) -> String {
    // A discriminator: a property every shape fixes.
    let disc = shapes.first().and_then(|first| {
        first
            .consts
            .iter()
            .map(|(k, _)| *k)
            .find(|k| shapes.iter().all(|s| s.consts.iter().any(|(j, _)| j == k)))
    });
    if let (Some(key), Value::Object(m)) = (disc, v) {
        let expected: Vec<String> = shapes
            .iter()
            .filter_map(|s| {
                s.consts
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, c)| format!("`{}`", c.show()))
            })
            .collect();
        return match m.get(key) {
            None => format!("missing field `{key}` (one of {})", expected.join(", ")),
            Some(found) => {
                let found = match found {
                    Value::String(s) if s.len() <= 64 => format!("\"{s}\""),
                    Value::String(_) => "a long string".to_owned(),
                    other => kind_name(other).to_owned(),
                };
                format!(
                    "at `{key}`: unknown value {found}; expected one of {}",
                    expected.join(", ")
                )
            }
        };
    }
    let expected: Vec<String> = shapes.iter().map(Shape::describe).collect();
    format!(
        "{} matches none of the shapes of `{union}`: expected {}",
        kind_name(v),
        expected.join("; or ")
    )
}

/// A variant that failed to decode.
#[derive(Debug)]
pub struct VariantError(String);

/// Decodes a union: the value is read once, the variants whose [`Shape`] it fits are tried,
/// those naming more of its properties first (schema order among equals), and the first that
/// decodes wins. With none fitting, the error says why in terms of
/// the discriminator when there is one.
pub fn decode_union<'de, D, T>(
    deserializer: D,
    union: &'static str,
    shapes: &[Shape],
    decode: impl Fn(usize, Value) -> Result<T, VariantError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    let mut candidates: Vec<usize> = (0..shapes.len())
        .filter(|i| shapes[*i].matches(&value))
        .collect();
    if candidates.len() > 1 {
        candidates.sort_by_key(|i| std::cmp::Reverse(shapes[*i].fit(&value)));
    }
    let Some((&last, rest)) = candidates.split_last() else {
        return Err(D::Error::custom(mismatch(union, shapes, &value)));
    };
    let mut first_error = None;
    for &i in rest {
        match decode(i, value.clone()) {
            Ok(t) => return Ok(t),
            Err(e) => {
                first_error.get_or_insert((i, e));
            }
        }
    }
    match decode(last, value) {
        Ok(t) => Ok(t),
        Err(e) => {
            let (_, VariantError(msg)) = first_error.unwrap_or((last, e));
            Err(D::Error::custom(msg))
        }
    }
}

/// Decodes one variant from an already-read value, keeping the path inside it in the message.
pub fn decode_variant<T: DeserializeOwned>(value: Value) -> Result<T, VariantError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let (inner_path, msg) = split_at_path(&e.inner().to_string());
        let full = join_path(if path == "." { "" } else { &path }, &inner_path);
        VariantError(if full.is_empty() {
            msg
        } else {
            format!("at `{full}`: {msg}")
        })
    })
}

/// Never called: the index always names a variant.
pub fn no_variant(index: usize) -> VariantError {
    VariantError(format!("no variant {index}"))
}

/// Splits `at `a.b`: message` into its path and message.
pub(crate) fn split_at_path(msg: &str) -> (String, String) {
    if let Some(rest) = msg.strip_prefix("at `")
        && let Some((path, tail)) = rest.split_once("`: ")
    {
        return (path.to_owned(), tail.to_owned());
    }
    (String::new(), msg.to_owned())
}

/// Joins two field paths (`a[0]` + `b` -> `a[0].b`).
pub(crate) fn join_path(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_owned(),
        (_, true) => outer.to_owned(),
        _ if inner.starts_with('[') => format!("{outer}{inner}"),
        _ => format!("{outer}.{inner}"),
    }
}

/// Accepts exactly the string `expected`.
pub fn expect_str<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: &'static str,
) -> Result<(), D::Error> {
    struct V(&'static str);
    impl Visitor<'_> for V {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "the string \"{}\"", self.0)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
            if v == self.0 {
                Ok(())
            } else {
                Err(E::custom(format!("expected \"{}\", found \"{v}\"", self.0)))
            }
        }
    }
    deserializer.deserialize_str(V(expected))
}

/// Accepts one of the `allowed` integers.
pub fn expect_int<'de, D: Deserializer<'de>>(
    deserializer: D,
    allowed: &[i64],
) -> Result<i64, D::Error> {
    let v = i64::deserialize(deserializer)?;
    if allowed.contains(&v) {
        Ok(v)
    } else {
        let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
        Err(D::Error::custom(format!(
            "expected one of {}, found {v}",
            list.join(", ")
        )))
    }
}

/// An optional field that may also be `null`: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A required field that may be `null`: it must be present.
pub fn required_nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// A boolean fixed by `const`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstBool<const B: bool>;

impl<const B: bool> Serialize for ConstBool<B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(B)
    }
}

impl<'de, const B: bool> Deserialize<'de> for ConstBool<B> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = bool::deserialize(deserializer)?;
        if v == B {
            Ok(ConstBool)
        } else {
            Err(D::Error::custom(format!("expected `{B}`, found `{v}`")))
        }
    }
}

/// The absence of an async arm: a task without one can only answer synchronously.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoArm {}

/// One task of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// Wire name (`get_products`).
    pub name: &'static str,
    /// Protocol or domain (`media-buy`, `protocol`, ...).
    pub protocol: &'static str,
    /// Whether it changes state (and so requires an `idempotency_key`).
    pub mutating: bool,
    /// Request schema path, relative to the schema root.
    pub request_schema: &'static str,
    /// Response schema path.
    pub response_schema: &'static str,
    /// Rust request type name.
    pub request_type: &'static str,
    /// Rust response type name.
    pub response_type: &'static str,
    /// Async arms.
    pub async_arms: &'static [AsyncArmSpec],
    /// Specialisms that exercise the task.
    pub specialisms: &'static [&'static str],
    /// The request schema bundled into one document (JSON text): the MCP `inputSchema`.
    pub input_schema: &'static str,
}

/// An async response arm of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncArmSpec {
    /// `submitted`, `working` or `input-required`.
    pub status: &'static str,
    /// Schema path.
    pub schema: &'static str,
    /// Rust type name.
    pub type_name: &'static str,
}

/// A specialism of the registry manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialismSpec {
    /// snake_case id.
    pub id: &'static str,
    /// Its protocol.
    pub protocol: &'static str,
    /// Title.
    pub title: &'static str,
    /// Tasks a buyer starts with.
    pub entry_point_tools: &'static [&'static str],
    /// Every task its storyboards exercise.
    pub exercised_tools: &'static [&'static str],
    /// Tasks a claimant implements (the macro refuses a claim without them).
    pub required_tools: &'static [&'static str],
    /// Tasks its storyboards exercise that a claimant may leave out (reported at boot).
    pub optional_tools: &'static [&'static str],
}

/// A standard error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCodeSpec {
    /// UPPER_SNAKE code.
    pub code: &'static str,
    /// `correctable`, `transient` or `terminal`.
    pub recovery: &'static str,
    /// Meaning.
    pub description: &'static str,
}

/// A task's wire name tied to its wire types; implemented by the marker types in `tasks`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an AdCP task",
    note = "tasks are the marker types in `adcp_wire::tasks`, one per catalogue entry"
)]
pub trait Task: 'static {
    /// Wire name.
    const NAME: &'static str;
    /// Whether it changes state.
    const MUTATING: bool;
    /// Whether it may answer with a task hand-off.
    const HAS_ASYNC_ARMS: bool;
    /// Request type.
    type Request: Serialize + DeserializeOwned + Send + 'static;
    /// Response type.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// The `submitted` arm, or [`NoArm`].
    type Submitted: Serialize + DeserializeOwned + Send + 'static;
    /// The `working` arm, or [`NoArm`].
    type Working: Serialize + DeserializeOwned + Send + 'static;
    /// The `input-required` arm, or [`NoArm`].
    type InputRequired: Serialize + DeserializeOwned + Send + 'static;
    /// Its catalogue entry.
    fn spec() -> &'static TaskSpec;
}

/// A task whose response may be an async arm (`submitted`, `working`, `input-required`), so
/// that a handler may hand the work off and answer later.
#[diagnostic::on_unimplemented(
    message = "the `{Self}` task has no async arms, so it cannot answer with a task hand-off",
    note = "return the response itself, not `Hybrid<...>`; only tasks whose schema defines \
            submitted/working/input-required arms (create_media_buy, update_media_buy, \
            get_products, sync_creatives, sync_catalogs, build_creative) may hand off"
)]
pub trait AsyncTask: Task {}

/// `Self` is a valid answer to task `T`: its response type, or one arm of it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a response of the `{T}` task",
    note = "return the task's response type, or one of its variants (for example \
            `CreateMediaBuySuccess` for `create_media_buy`)"
)]
pub trait ResponseFor<T: Task>: Serialize + Send + 'static {}

/// What every generated union offers: its variant names, in schema order, and which one a
/// value is.
pub trait UnionType {
    /// Variant names, in the order of the schema's branches.
    const VARIANTS: &'static [&'static str];
    /// The name of this value's variant.
    fn variant(&self) -> &'static str;
}

/// A generic function over unions, called through `schemas::visit_union` with the union at a
/// schema location.
pub trait UnionVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the union type.
    fn visit<T: UnionType + Serialize + DeserializeOwned + std::fmt::Debug + 'static>(
        self,
    ) -> Self::Output;
}

/// A generic function over tasks, called through `tasks::visit` with a task chosen by name.
pub trait TaskVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the task's marker type.
    fn visit<T: Task>(self) -> Self::Output;
}

/// A generic function over wire types, called through `schemas::visit` with the type of a
/// schema file chosen by path.
pub trait TypeVisitor {
    /// What the visit returns.
    type Output;
    /// Called with the type.
    fn visit<T: Serialize + DeserializeOwned + std::fmt::Debug + PartialEq + 'static>(
        self,
    ) -> Self::Output;
}
