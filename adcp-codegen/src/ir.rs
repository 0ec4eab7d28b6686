//! The intermediate representation: what each schema location becomes in Rust, before any
//! tokens are written. Lowering (`lower/`) builds it; emitters (`emit/`) only read it.

use serde_json::Value;

/// Index of a named type in [`Model::types`].
pub(crate) type TypeId = usize;

/// The Rust type of a value position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Num,
    Str,
    /// No shape given by the schema: any JSON value.
    Any,
    Named(TypeId),
    Vec(Box<Ty>),
    /// A string-keyed map; `Map(Any)` is a plain JSON object.
    Map(Box<Ty>),
    /// The value may be JSON `null`.
    Nullable(Box<Ty>),
    /// A boolean fixed by `const`.
    ConstBool(bool),
    /// Heap indirection that breaks a recursive type.
    Boxed(Box<Ty>),
}

impl Ty {
    /// Named types this type holds without indirection through a collection.
    pub(crate) fn direct_named(&self, out: &mut Vec<TypeId>) {
        match self {
            Ty::Named(id) => out.push(*id),
            Ty::Nullable(t) => t.direct_named(out),
            _ => {}
        }
    }
}

/// A generated named type.
#[derive(Clone, Debug)]
pub(crate) struct TypeDef {
    pub(crate) name: String,
    /// The schema location it was generated from (`file#pointer`).
    pub(crate) loc: String,
    pub(crate) docs: Option<String>,
    pub(crate) kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// Being lowered; only seen while a recursive reference is followed.
    Pending,
    Struct(Struct),
    /// A string `enum`, emitted by typify.
    StrEnum {
        values: Vec<String>,
        descriptions: Vec<Option<String>>,
    },
    /// An integer `enum`.
    IntEnum {
        values: Vec<i64>,
    },
    /// A string fixed by `const` (or a one-value `enum`); shared by value.
    ConstStr(String),
    Union(Union),
    /// A declared schema whose shape is a plain Rust type.
    Alias(Ty),
}

#[derive(Clone, Debug)]
pub(crate) struct Struct {
    pub(crate) fields: Vec<Field>,
    pub(crate) extra: Extra,
}

/// What happens to properties the schema does not name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Extra {
    /// `additionalProperties: false`: rejected.
    Deny,
    /// Allowed and kept as JSON.
    Any,
    /// Allowed with a schema.
    Typed(Ty),
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) json: String,
    pub(crate) rust: String,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    pub(crate) docs: Option<String>,
    pub(crate) deprecated: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Union {
    pub(crate) variants: Vec<Variant>,
}

#[derive(Clone, Debug)]
pub(crate) struct Variant {
    pub(crate) ident: String,
    pub(crate) ty: Ty,
    pub(crate) guard: Guard,
}

/// JSON kinds, as a bit set.
pub(crate) mod kinds {
    pub(crate) const NULL: u8 = 1;
    pub(crate) const BOOL: u8 = 2;
    pub(crate) const INTEGER: u8 = 4;
    pub(crate) const NUMBER: u8 = 8 | INTEGER;
    pub(crate) const STRING: u8 = 16;
    pub(crate) const ARRAY: u8 = 32;
    pub(crate) const OBJECT: u8 = 64;
    pub(crate) const ANY: u8 = 127;
}

/// What a JSON value must look like to be decoded as one union branch: the cheap, structural
/// part of the branch schema (kind, fixed values, required and forbidden properties). Branches
/// are tried in order among those whose guard matches.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Guard {
    pub(crate) kinds: u8,
    /// The whole value is fixed (`const` on a non-object branch).
    pub(crate) value: Option<Value>,
    /// Required properties with a fixed value (discriminators).
    pub(crate) consts: Vec<(String, Value)>,
    pub(crate) required: Vec<String>,
    pub(crate) forbidden: Vec<String>,
    /// Properties the branch declares: when several branches fit, the one that names the most
    /// of the value's properties is tried first.
    pub(crate) known: Vec<String>,
}

/// Everything lowering produced.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) types: Vec<TypeDef>,
}
