//! The catalogue as Rust: static tables (`catalog::TASKS`, `SPECIALISMS`, `ERROR_CODES`, and
//! what the runtime serves itself: `RUNTIME_TASKS`, `RUNTIME_SCENARIOS`), one marker type per
//! task in `tasks` tying its wire name to its request, response and async-arm
//! types, and optionally the raw schema files (`SCHEMA_FILES`) for the runtime validator.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::docs;
use crate::Settings;
use crate::catalog::Catalog;
use crate::load::SchemaSet;
use crate::lower::Lowered;
use crate::naming::pascal;

pub(super) fn emit(
    set: &SchemaSet,
    lowered: &Lowered,
    cat: &Catalog,
    settings: &Settings,
    support: &TokenStream,
) -> TokenStream {
    let version = &set.version;
    let tasks = cat.tasks.iter().map(|t| {
        let (name, protocol, mutating) = (&t.name, &t.protocol, t.mutating);
        let (req_s, resp_s, req_t, resp_t) = (
            &t.request_schema,
            &t.response_schema,
            &t.request_type,
            &t.response_type,
        );
        let arms = t.async_arms.iter().map(|a| {
            let (status, schema, ty) = (&a.status, &a.schema, &a.type_name);
            quote!(#support::AsyncArmSpec { status: #status, schema: #schema, type_name: #ty })
        });
        let specialisms = &t.specialisms;
        let input = serde_json::to_string(&t.input_schema).unwrap_or_default();
        quote! {
            #support::TaskSpec {
                name: #name,
                protocol: #protocol,
                mutating: #mutating,
                request_schema: #req_s,
                response_schema: #resp_s,
                request_type: #req_t,
                response_type: #resp_t,
                async_arms: &[ #( #arms ),* ],
                specialisms: &[ #( #specialisms ),* ],
                input_schema: #input,
            }
        }
    });
    let specialisms = cat.specialisms.iter().map(|s| {
        let (id, protocol, title) = (&s.id, &s.protocol, &s.title);
        let (entry, exercised) = (&s.entry_point_tools, &s.exercised_tools);
        let (required, optional) = (&s.required_tools, &s.optional_tools);
        quote! {
            #support::SpecialismSpec {
                id: #id,
                protocol: #protocol,
                title: #title,
                entry_point_tools: &[ #( #entry ),* ],
                exercised_tools: &[ #( #exercised ),* ],
                required_tools: &[ #( #required ),* ],
                optional_tools: &[ #( #optional ),* ],
            }
        }
    });
    let codes = cat.error_codes.iter().map(|c| {
        let (code, recovery, description) = (&c.code, &c.recovery, &c.description);
        quote!(#support::ErrorCodeSpec { code: #code, recovery: #recovery, description: #description })
    });
    let runtime_tasks = cat.runtime_tasks.iter().map(|t| {
        let (name, why, overridable) = (t.name, t.why, t.overridable);
        quote!(RuntimeTask { name: #name, why: #why, overridable: #overridable })
    });
    let runtime_scenarios = &cat.runtime_scenarios;
    let markers = cat.tasks.iter().enumerate().map(|(i, t)| {
        let marker = format_ident!("{}", pascal(&t.name));
        let name = &t.name;
        let mutating = t.mutating;
        let req = format_ident!("{}", t.request_type);
        let resp = format_ident!("{}", t.response_type);
        let arm = |status: &str| match t.async_arms.iter().find(|a| a.status == status) {
            Some(a) => {
                let ty = format_ident!("{}", a.type_name);
                quote!(super::#ty)
            }
            None => quote!(#support::NoArm),
        };
        let (submitted, working, input_required) =
            (arm("submitted"), arm("working"), arm("input-required"));
        let has_async = !t.async_arms.is_empty();
        let async_marker = has_async.then(|| quote!(impl #support::AsyncTask for #marker {}));
        // The response, and each arm of it when it is a union, may be returned for the task.
        let response_for = t.answers.iter().map(|a| {
            let a = format_ident!("{}", a);
            quote!(impl #support::ResponseFor<#marker> for super::#a {})
        });
        let doc = docs(
            Some(&format!(
                "The `{name}` task: `{}` in, `{}` out{}.",
                t.request_type,
                t.response_type,
                if has_async { ", or an async arm" } else { "" }
            )),
            "",
        );
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
            pub struct #marker;

            impl #support::Task for #marker {
                const NAME: &'static str = #name;
                const MUTATING: bool = #mutating;
                const HAS_ASYNC_ARMS: bool = #has_async;
                type Request = super::#req;
                type Response = super::#resp;
                type Submitted = #submitted;
                type Working = #working;
                type InputRequired = #input_required;
                fn spec() -> &'static #support::TaskSpec {
                    &super::catalog::TASKS[#i]
                }
            }

            #async_marker
            #( #response_for )*
        }
    });
    let files = settings.embed_schemas.as_ref().map(|prefix| {
        let prefix: TokenStream = prefix.parse().unwrap_or_default();
        let entries = set
            .files()
            .map(|f| quote!((#f, include_str!(concat!(#prefix, #f)))));
        quote! {
            /// Every schema file of the tree, unmodified, keyed by path relative to its root:
            /// what the runtime validator checks requests against.
            pub static SCHEMA_FILES: &[(&str, &str)] = &[ #( #entries ),* ];
        }
    });
    let task_arms = cat.tasks.iter().map(|t| {
        let marker = format_ident!("{}", pascal(&t.name));
        let name = &t.name;
        quote!(#name => ::core::option::Option::Some(visitor.visit::<#marker>()),)
    });
    let schema_arms = set.files().filter_map(|f| {
        let name = format_ident!("{}", lowered.name_of(&format!("{f}#"))?);
        Some(quote!(#f => ::core::option::Option::Some(visitor.visit::<super::#name>()),))
    });
    let mut unions: Vec<(&str, &str)> = lowered
        .model
        .types
        .iter()
        .filter(|t| matches!(t.kind, crate::ir::Kind::Union(_)))
        .map(|t| (t.loc.as_str(), t.name.as_str()))
        .collect();
    unions.sort();
    let union_locs = unions.iter().map(|(loc, _)| *loc);
    let union_arms = unions.iter().map(|(loc, name)| {
        let name = format_ident!("{}", name);
        quote!(#loc => ::core::option::Option::Some(visitor.visit::<super::#name>()),)
    });
    let version_doc = format!(" The task catalogue of AdCP {version}.");
    quote! {
        #[doc = #version_doc]
        pub mod catalog {
            /// The AdCP release these types were generated from.
            pub const ADCP_VERSION: &str = #version;
            /// Every task, sorted by name.
            pub static TASKS: &[#support::TaskSpec] = &[ #( #tasks ),* ];
            /// Every specialism, sorted by id.
            pub static SPECIALISMS: &[#support::SpecialismSpec] = &[ #( #specialisms ),* ];
            /// Every standard error code.
            pub static ERROR_CODES: &[#support::ErrorCodeSpec] = &[ #( #codes ),* ];

            /// A task the runtime serves itself, so a platform does not implement it (or, when
            /// `overridable`, need not).
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct RuntimeTask {
                /// Wire name.
                pub name: &'static str,
                /// How the runtime serves it, as a clause (`the runtime derives it from the
                /// platform`).
                pub why: &'static str,
                /// Whether a platform may implement it anyway, to decide more than the runtime
                /// does (`list_accounts`, `sync_accounts`).
                pub overridable: bool,
            }
            /// Tasks the runtime serves itself, sorted by name: the one list that
            /// `#[decisioning_platform]` and the runtime both read.
            pub static RUNTIME_TASKS: &[RuntimeTask] = &[ #( #runtime_tasks ),* ];
            /// Controller scenarios (`comply_test_controller`'s `scenario`) the runtime handles
            /// itself; a platform implements the others as methods named after them.
            pub static RUNTIME_SCENARIOS: &[&str] = &[ #( #runtime_scenarios ),* ];
        }

        /// One marker type per task, tying its wire name to its wire types.
        pub mod tasks {
            #( #markers )*

            /// Calls `visitor` with the marker type of the task named `name`.
            pub fn visit<V: #support::TaskVisitor>(name: &str, visitor: V) -> ::core::option::Option<V::Output> {
                match name {
                    #( #task_arms )*
                    _ => {
                        ::core::mem::drop(visitor);
                        ::core::option::Option::None
                    }
                }
            }
        }

        /// The Rust type of each schema file.
        pub mod schemas {
            /// Calls `visitor` with the type generated for the schema file `file`
            /// (`core/product.json`), when that file's root is a named type.
            pub fn visit<V: #support::TypeVisitor>(file: &str, visitor: V) -> ::core::option::Option<V::Output> {
                match file {
                    #( #schema_arms )*
                    _ => {
                        ::core::mem::drop(visitor);
                        ::core::option::Option::None
                    }
                }
            }

            /// The schema location (`file#pointer`) of every union type.
            pub static UNIONS: &[&str] = &[ #( #union_locs ),* ];

            /// Calls `visitor` with the union generated for the schema location `loc`.
            pub fn visit_union<V: #support::UnionVisitor>(loc: &str, visitor: V) -> ::core::option::Option<V::Output> {
                match loc {
                    #( #union_arms )*
                    _ => {
                        ::core::mem::drop(visitor);
                        ::core::option::Option::None
                    }
                }
            }
        }

        #files
    }
}
