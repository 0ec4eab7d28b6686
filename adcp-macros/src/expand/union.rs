//! The recipe union: one enum over the declared recipe types, tagged `recipe_kind`, with serde
//! and a JSON Schema (schemars) derived through the runtime's re-exports.

use proc_macro2::TokenStream;
use quote::quote;

use crate::validate::ValidPlatform;

pub(super) fn emit(p: &ValidPlatform) -> TokenStream {
    let Some(recipes) = &p.recipes else {
        return TokenStream::new();
    };
    let krate = &p.krate;
    let union = &recipes.union;
    let vis = &recipes.vis;
    let serde_path = format!(
        "{}::__private::serde",
        quote!(#krate).to_string().replace(' ', "")
    );
    let schemars_path = format!(
        "{}::__private::schemars",
        quote!(#krate).to_string().replace(' ', "")
    );
    let kinds: Vec<&str> = recipes.recipes.iter().map(|r| r.kind.as_str()).collect();
    let variants: Vec<&syn::Ident> = recipes.recipes.iter().map(|r| &r.variant).collect();
    let types: Vec<&syn::Path> = recipes.recipes.iter().map(|r| &r.ty).collect();
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
