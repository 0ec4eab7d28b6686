//! The recipe union: one enum over the declared recipe types, tagged `recipe_kind`, with serde
//! and a JSON Schema (schemars) derived through the runtime's re-exports.

use heck::ToUpperCamelCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::attr::PlatformArgs;
use crate::validate::ValidPlatform;

pub(super) fn name(p: &ValidPlatform, args: &PlatformArgs) -> syn::Ident {
    args.recipe_union
        .as_ref()
        .map_or_else(|| format_ident!("{}Recipe", p.name), |(_, n)| n.clone())
}

/// The union's visibility: as written in `recipe_union = <vis> Name`, else `pub(crate)`.
fn visibility(args: &PlatformArgs) -> TokenStream {
    match &args.recipe_union {
        Some((vis, _)) => quote!(#vis),
        None => quote!(pub(crate)),
    }
}

pub(super) fn emit(p: &ValidPlatform, args: &PlatformArgs) -> TokenStream {
    if args.recipes.is_empty() {
        return TokenStream::new();
    }
    let krate = &args.krate;
    let union = name(p, args);
    let vis = visibility(args);
    let serde_path = format!(
        "{}::__private::serde",
        quote!(#krate).to_string().replace(' ', "")
    );
    let schemars_path = format!(
        "{}::__private::schemars",
        quote!(#krate).to_string().replace(' ', "")
    );
    let kinds: Vec<String> = args.recipes.iter().map(|(k, _)| k.to_string()).collect();
    let variants: Vec<syn::Ident> = kinds
        .iter()
        .map(|k| format_ident!("{}", k.to_upper_camel_case()))
        .collect();
    let types: Vec<&syn::Path> = args.recipes.iter().map(|(_, t)| t).collect();
    let doc = format!(
        " The recipes of `{}`, tagged `recipe_kind`: the typed `implementation_config` of its products.",
        p.name
    );
    quote! {
        #[doc = #doc]
        #[derive(
            ::core::clone::Clone,
            ::core::fmt::Debug,
            ::core::cmp::PartialEq,
            #krate::__private::serde::Serialize,
            #krate::__private::serde::Deserialize,
            #krate::__private::schemars::JsonSchema,
        )]
        #[serde(crate = #serde_path, tag = "recipe_kind")]
        #[schemars(crate = #schemars_path)]
        #vis enum #union {
            #(
                #[doc = concat!(" `recipe_kind: \"", #kinds, "\"`")]
                #[serde(rename = #kinds)]
                #variants(#types),
            )*
        }

        #[automatically_derived]
        impl #krate::RecipeUnion for #union {
            const KINDS: &'static [&'static str] = &[#(#kinds),*];

            fn kind(&self) -> &'static str {
                match self {
                    #( Self::#variants(_) => #kinds, )*
                }
            }

            fn capability_overlap(&self) -> ::core::option::Option<#krate::CapabilityOverlap> {
                match self {
                    #( Self::#variants(r) => <#types as #krate::Recipe>::capability_overlap(r), )*
                }
            }
        }
    }
}
