//! The attribute's arguments:
//! `#[decisioning_platform(specialisms(a, b), accounts = explicit, recipes(kind = Type, ..),
//! recipe_union = Name, crate = ::adcp_runtime)]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::{Ident, Path};

use crate::errors::Errors;

pub(crate) struct PlatformArgs {
    pub(crate) specialisms: Vec<Ident>,
    pub(crate) accounts: Option<Ident>,
    pub(crate) recipes: Vec<(Ident, Path)>,
    pub(crate) recipe_union: Option<(syn::Visibility, Ident)>,
    pub(crate) krate: Path,
}

impl PlatformArgs {
    pub(crate) fn parse(attr: TokenStream, errors: &Errors) -> PlatformArgs {
        let mut args = PlatformArgs {
            specialisms: Vec::new(),
            accounts: None,
            recipes: Vec::new(),
            recipe_union: None,
            krate: syn::parse_quote!(::adcp_runtime),
        };
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("specialisms") {
                meta.parse_nested_meta(|inner| {
                    match inner.path.get_ident() {
                        Some(id) => args.specialisms.push(id.clone()),
                        None => {
                            return Err(inner.error(
                                "expected a specialism name such as `sales_non_guaranteed`",
                            ));
                        }
                    }
                    Ok(())
                })
            } else if meta.path.is_ident("accounts") {
                args.accounts = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("recipes") {
                meta.parse_nested_meta(|inner| {
                    let Some(kind) = inner.path.get_ident().cloned() else {
                        return Err(inner.error("expected `kind = Type`"));
                    };
                    let ty: Path = inner.value()?.parse()?;
                    args.recipes.push((kind, ty));
                    Ok(())
                })
            } else if meta.path.is_ident("recipe_union") {
                let input = meta.value()?;
                let vis: syn::Visibility = input.parse()?;
                let name: Ident = input.parse()?;
                args.recipe_union = Some((vis, name));
                Ok(())
            } else if meta.path.is_ident("crate") {
                args.krate = meta.value()?.parse()?;
                Ok(())
            } else {
                Err(meta.error(
                    "unknown argument; expected `specialisms(..)`, `accounts = ..`, `recipes(..)`, \
                     `recipe_union = ..` or `crate = ..`",
                ))
            }
        });
        if let Err(e) = parser.parse2(attr) {
            errors.add(e);
        }
        args
    }
}
