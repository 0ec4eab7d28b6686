//! Accessors on unions: one inherent method per property that every arm declares with the same
//! Rust type, so that an adopter reads `option.currency()` rather than matching every arm (or
//! encoding the value to JSON to look the property up).
//!
//! A union qualifies when each of its arms is a struct, or a union that itself has the
//! accessor (the method delegates). What a method returns:
//! - `&str` for a string, `&[T]` for an array, `&T` through a `Box`, the value itself for
//!   `bool`, `i64`, `f64` and `Copy` enums, `&T` for anything else;
//! - wrapped in `Option` when any arm may leave the property out (or holds `null`);
//! - `&'static str` for a property every arm fixes by a string `const` (a discriminator such as
//!   `pricing_model`): the arm's value.
//!
//! Properties fixed to a boolean, optional constants and properties that are both optional and
//! nullable get no accessor, nor does a name the enum already answers to (`variant`, `clone`).

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::quote;

use super::{Emitter, docs, ident};
use crate::ir::{Field, Kind, Model, Ty, TypeId};

/// Method names an accessor must not take: an inherent method would shadow the trait method
/// of the same name (`UnionType::variant`, the derives, the blanket conversions).
const TAKEN: &[&str] = &[
    "new",
    "variant",
    "clone",
    "clone_from",
    "clone_into",
    "to_owned",
    "fmt",
    "eq",
    "ne",
    "serialize",
    "deserialize",
    "from",
    "into",
    "try_from",
    "try_into",
    "borrow",
    "borrow_mut",
    "type_id",
];

/// What an accessor returns, before any `Option`.
#[derive(Clone, Debug, PartialEq)]
enum Returns {
    /// The string every arm fixes by `const`, as `&'static str`.
    Wire,
    /// A view of a value of this (alias-resolved, non-nullable) type.
    Value(Ty),
}

/// How one arm holds a property.
#[derive(Clone, Debug)]
enum Via {
    /// A struct field; `option` when its Rust type is `Option<_>`.
    Field { option: bool },
    /// The nested union's own accessor; `option` when it returns `Option<_>`.
    Method { option: bool },
    /// A `const` string field: the fixed value.
    Const(String),
}

/// A property as one arm declares it.
#[derive(Clone, Debug)]
struct Member {
    json: String,
    returns: Returns,
    via: Via,
    docs: Option<String>,
    deprecated: bool,
}

impl Member {
    fn option(&self) -> bool {
        matches!(
            self.via,
            Via::Field { option: true } | Via::Method { option: true }
        )
    }
}

/// One accessor of a union.
#[derive(Clone, Debug)]
pub(super) struct Accessor {
    rust: String,
    json: String,
    returns: Returns,
    option: bool,
    docs: Option<String>,
    deprecated: bool,
    /// Per variant, in declaration order: its ident and how it holds the property.
    arms: Vec<(String, Via)>,
}

/// The accessors of every union that has any, by union name.
pub(super) fn plan(model: &Model) -> HashMap<String, Vec<Accessor>> {
    let mut p = Planner {
        model,
        done: HashMap::new(),
        visiting: HashSet::new(),
    };
    for (id, t) in model.types.iter().enumerate() {
        if matches!(t.kind, Kind::Union(_)) {
            p.union(id);
        }
    }
    p.done
        .into_iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(id, a)| (model.types[id].name.clone(), a))
        .collect()
}

struct Planner<'a> {
    model: &'a Model,
    done: HashMap<TypeId, Vec<Accessor>>,
    visiting: HashSet<TypeId>,
}

impl Planner<'_> {
    /// A named type seen through aliases and boxes (`Box<T>` reads as `&T`).
    fn target(&self, ty: &Ty) -> Option<TypeId> {
        match ty {
            Ty::Named(id) => match &self.model.types[*id].kind {
                Kind::Alias(t) => self.target(t),
                _ => Some(*id),
            },
            Ty::Boxed(t) => self.target(t),
            _ => None,
        }
    }

    fn union(&mut self, id: TypeId) -> Vec<Accessor> {
        if let Some(done) = self.done.get(&id) {
            return done.clone();
        }
        if !self.visiting.insert(id) {
            return Vec::new();
        }
        let accessors = self.accessors(id).unwrap_or_default();
        self.visiting.remove(&id);
        self.done.insert(id, accessors.clone());
        accessors
    }

    fn accessors(&mut self, id: TypeId) -> Option<Vec<Accessor>> {
        let Kind::Union(u) = &self.model.types[id].kind else {
            return None;
        };
        let mut arms: Vec<(String, Vec<(String, Member)>)> = Vec::new();
        for v in &u.variants {
            let arm = self.target(&v.ty)?;
            let members = match &self.model.types[arm].kind {
                Kind::Struct(s) => s.fields.iter().filter_map(|f| self.member(f)).collect(),
                Kind::Union(_) => self
                    .union(arm)
                    .into_iter()
                    .map(|a| {
                        let m = Member {
                            json: a.json,
                            returns: a.returns,
                            via: Via::Method { option: a.option },
                            docs: a.docs,
                            deprecated: a.deprecated,
                        };
                        (a.rust, m)
                    })
                    .collect(),
                _ => return None,
            };
            arms.push((v.ident.clone(), members));
        }
        let (first, rest) = arms.split_first()?;
        let mut out = Vec::new();
        'names: for (rust, m) in &first.1 {
            if TAKEN.contains(&rust.trim_start_matches("r#")) {
                continue;
            }
            let mut held = vec![(first.0.clone(), m.clone())];
            for (variant, members) in rest {
                match members.iter().find(|(r, _)| r == rust) {
                    Some((_, other)) if other.returns == m.returns => {
                        held.push((variant.clone(), other.clone()));
                    }
                    _ => continue 'names,
                }
            }
            let option = held.iter().any(|(_, m)| m.option());
            if option && m.returns == Returns::Wire {
                continue;
            }
            let texts: HashSet<&str> = held.iter().filter_map(|(_, m)| m.docs.as_deref()).collect();
            let docs = match texts.len() {
                1 => texts.into_iter().next().map(str::to_owned),
                _ => None,
            };
            out.push(Accessor {
                rust: rust.clone(),
                json: m.json.clone(),
                returns: m.returns.clone(),
                option,
                docs,
                deprecated: held.iter().any(|(_, m)| m.deprecated),
                arms: held.into_iter().map(|(v, m)| (v, m.via)).collect(),
            });
        }
        Some(out)
    }

    /// A struct field as an accessor could read it, unless it cannot.
    fn member(&self, f: &Field) -> Option<(String, Member)> {
        let (returns, via) = match self.resolve(&f.ty) {
            Ty::ConstBool(_) => return None,
            Ty::Named(id) => match &self.model.types[id].kind {
                Kind::ConstStr(v) if f.required => (Returns::Wire, Via::Const(v.clone())),
                Kind::ConstStr(_) => return None,
                _ => (
                    Returns::Value(Ty::Named(id)),
                    Via::Field {
                        option: !f.required,
                    },
                ),
            },
            Ty::Nullable(inner) => {
                let inner = self.resolve(&inner);
                let constant = match &inner {
                    Ty::ConstBool(_) => true,
                    Ty::Named(id) => matches!(self.model.types[*id].kind, Kind::ConstStr(_)),
                    _ => false,
                };
                if !f.required || constant {
                    return None;
                }
                (Returns::Value(inner), Via::Field { option: true })
            }
            ty => (
                Returns::Value(ty),
                Via::Field {
                    option: !f.required,
                },
            ),
        };
        let member = Member {
            json: f.json.clone(),
            returns,
            via,
            docs: f.docs.clone(),
            deprecated: f.deprecated,
        };
        Some((f.rust.clone(), member))
    }

    /// A type with aliases replaced by what they name (the same Rust type).
    fn resolve(&self, ty: &Ty) -> Ty {
        match ty {
            Ty::Named(id) => match &self.model.types[*id].kind {
                Kind::Alias(t) => self.resolve(t),
                _ => ty.clone(),
            },
            Ty::Nullable(t) => Ty::Nullable(Box::new(self.resolve(t))),
            Ty::Boxed(t) => Ty::Boxed(Box::new(self.resolve(t))),
            _ => ty.clone(),
        }
    }
}

/// How a value of a type is handed out.
#[derive(Clone, Copy)]
enum View {
    /// By value.
    Copy,
    /// `String` as `&str`.
    Str,
    /// `Vec<T>` as `&[T]`.
    Slice,
    /// `Box<T>` as `&T`.
    Unbox,
    /// By reference.
    Ref,
}

impl Emitter<'_> {
    fn view(&self, ty: &Ty) -> View {
        match ty {
            Ty::Bool | Ty::Int | Ty::Num => View::Copy,
            Ty::Named(id) => match &self.model.types[*id].kind {
                Kind::IntEnum { .. } => View::Copy,
                Kind::StrEnum { .. } if self.copy_enums.contains(&self.model.types[*id].name) => {
                    View::Copy
                }
                _ => View::Ref,
            },
            Ty::Str => View::Str,
            Ty::Vec(_) => View::Slice,
            Ty::Boxed(_) => View::Unbox,
            _ => View::Ref,
        }
    }

    /// The type an accessor returns for a value of `ty`, before any `Option`.
    fn view_ty(&self, ty: &Ty) -> TokenStream {
        match (self.view(ty), ty) {
            (View::Copy, _) => self.ty(ty),
            (View::Str, _) => quote!(&str),
            (View::Slice, Ty::Vec(t)) => {
                let t = self.ty(t);
                quote!(&[#t])
            }
            (View::Unbox, Ty::Boxed(t)) => {
                let t = self.ty(t);
                quote!(&#t)
            }
            _ => {
                let t = self.ty(ty);
                quote!(&#t)
            }
        }
    }

    /// `impl Union { accessors }`, or nothing.
    pub(super) fn accessors(&self, name: &str) -> TokenStream {
        let Some(accessors) = self.accessors.get(name) else {
            return TokenStream::new();
        };
        let methods = accessors.iter().map(|a| self.accessor(a));
        let name = ident(name);
        quote! {
            impl #name {
                #( #methods )*
            }
        }
    }

    fn accessor(&self, a: &Accessor) -> TokenStream {
        let method = ident(&a.rust);
        let fallback = match a.returns {
            Returns::Wire => format!(
                "The `{}` of whichever arm this is: the value that arm fixes.",
                a.json
            ),
            Returns::Value(_) => format!("The `{}` of whichever arm this is.", a.json),
        };
        let mut text = a.docs.clone().unwrap_or(fallback);
        if a.deprecated {
            text.push_str("\n\nDeprecated by the schema.");
        }
        let doc = docs(Some(&text), "");
        let ret = match &a.returns {
            Returns::Wire => quote!(&'static str),
            Returns::Value(ty) => self.view_ty(ty),
        };
        let ret = if a.option {
            quote!(::core::option::Option<#ret>)
        } else {
            ret
        };
        let arms = a.arms.iter().map(|(variant, via)| {
            let variant = ident(variant);
            let (binding, read, option) = match via {
                Via::Const(v) => (quote!(_), quote!(#v), false),
                Via::Method { option } => (quote!(v), quote!(v.#method()), *option),
                Via::Field { option } => {
                    let view = match &a.returns {
                        Returns::Value(ty) => self.view(ty),
                        Returns::Wire => View::Ref,
                    };
                    let read = match (view, option) {
                        (View::Copy, _) => quote!(v.#method),
                        (View::Str | View::Slice | View::Unbox, true) => {
                            quote!(v.#method.as_deref())
                        }
                        (View::Str, false) => quote!(v.#method.as_str()),
                        (View::Slice, false) => quote!(v.#method.as_slice()),
                        (View::Unbox, false) => quote!(&*v.#method),
                        (View::Ref, true) => quote!(v.#method.as_ref()),
                        (View::Ref, false) => quote!(&v.#method),
                    };
                    (quote!(v), read, *option)
                }
            };
            let read = if a.option && !option {
                quote!(::core::option::Option::Some(#read))
            } else {
                read
            };
            quote!(Self::#variant(#binding) => #read,)
        });
        quote! {
            #doc
            pub fn #method(&self) -> #ret {
                match self {
                    #( #arms )*
                }
            }
        }
    }
}
