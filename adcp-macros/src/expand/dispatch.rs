//! The dispatch table: one shim per operation (decode, call, encode, all through runtime
//! functions) and the static descriptor that the runtime serves from.

use heck::ToUpperCamelCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::validate::{OpKind, ValidPlatform};

pub(super) fn emit(p: &ValidPlatform) -> TokenStream {
    let krate = &p.krate;
    let self_ty = &p.self_ty;
    let private = quote!(#krate::__private);
    let mut shims = Vec::new();
    let mut handlers = Vec::new();
    let mut scenarios = Vec::new();
    let mut jobs = Vec::new();
    for op in &p.ops {
        let method = &op.method;
        let wire = &op.wire;
        let cfgs = &op.cfgs;
        let shim = format_ident!("__adcp_{}", op.method);
        // The request is bound and passed with the span of the adopter's declared type, so a
        // type mismatch is reported there; binding it with that span too gives the binding and
        // its use one hygiene, also when the impl block comes out of a declarative macro.
        let req = quote_spanned!(op.req_ty.span() => req);
        match &op.kind {
            OpKind::Task { info, hybrid } => {
                let marker = format_ident!("{}", info.name.to_upper_camel_case());
                let marker = quote!(#krate::wire::tasks::#marker);
                let reply = if *hybrid {
                    quote!(reply_hybrid)
                } else {
                    quote!(reply_now)
                };
                shims.push(quote! {
                    #(#cfgs)*
                    fn #shim<'a>(
                        this: &'a #self_ty,
                        ctx: #krate::Ctx,
                        req: #private::Value,
                    ) -> #private::BoxFuture<'a, #krate::AdcpResult<#private::Outcome>> {
                        ::std::boxed::Box::pin(async move {
                            let #req = #private::decode::<#marker>(req)?;
                            #private::#reply::<#marker, _>(this.#method(&ctx, #req).await)
                        })
                    }
                });
                handlers.push(quote! {
                    #(#cfgs)*
                    #private::Handler { task: #wire, call: #shim }
                });
            }
            OpKind::Scenario => {
                shims.push(quote! {
                    #(#cfgs)*
                    fn #shim<'a>(
                        this: &'a #self_ty,
                        ctx: #krate::Ctx,
                        #req: #krate::ScenarioParams,
                    ) -> #private::BoxFuture<'a, #krate::AdcpResult<#krate::ControllerReply>> {
                        ::std::boxed::Box::pin(async move { this.#method(&ctx, #req).await })
                    }
                });
                scenarios.push(quote! {
                    #(#cfgs)*
                    #private::ScenarioHandler { scenario: #wire, call: #shim }
                });
            }
            OpKind::Job { .. } => {
                let input = &op.req_ty;
                shims.push(quote! {
                    #(#cfgs)*
                    fn #shim<'a>(
                        this: &'a #self_ty,
                        ctx: #krate::Ctx,
                        input: #private::Value,
                    ) -> #private::BoxFuture<'a, #krate::AdcpResult<#private::Value>> {
                        ::std::boxed::Box::pin(async move {
                            let input = #private::decode_job::<#input>(input)?;
                            #private::encode_job(this.#method(&ctx, input).await)
                        })
                    }
                });
                jobs.push(quote! {
                    #(#cfgs)*
                    #private::JobHandler { name: #wire, call: #shim }
                });
            }
        }
    }
    let job_consts = job_consts(p);
    let name = &p.name;
    let specialisms = &p.specialisms;
    let accounts = &p.accounts;
    let kinds: Vec<&str> = p
        .recipes
        .iter()
        .flat_map(|r| &r.recipes)
        .map(|r| r.kind.as_str())
        .collect();
    let decode_recipe = p.recipes.as_ref().map(|r| {
        let union = &r.union;
        quote! {
            fn decode_recipe(config: &#private::Value) -> ::core::option::Option<::core::result::Result<::core::option::Option<#krate::CapabilityOverlap>, ::std::string::String>> {
                ::core::option::Option::Some(#private::decode_recipe::<#union>(config))
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #krate::DecisioningPlatform for #self_ty {
            fn descriptor() -> &'static #private::Descriptor<Self> {
                #(#shims)*
                static DESCRIPTOR: #private::Descriptor<#self_ty> = #private::Descriptor {
                    name: #name,
                    specialisms: &[#(#specialisms),*],
                    accounts: #krate::AccountMode::#accounts,
                    handlers: &[#(#handlers),*],
                    scenarios: &[#(#scenarios),*],
                    jobs: &[#(#jobs),*],
                    recipe_kinds: &[#(#kinds),*],
                };
                &DESCRIPTOR
            }
            #decode_recipe
        }
        #job_consts
    }
}

/// The associated constant naming each job (`Self::REVIEW_BUY`), in an `impl` of its own.
fn job_consts(p: &ValidPlatform) -> Option<TokenStream> {
    let krate = &p.krate;
    let consts: Vec<TokenStream> = p
        .ops
        .iter()
        .filter_map(|op| {
            let OpKind::Job { output, constant } = &op.kind else {
                return None;
            };
            let (method, wire, cfgs, vis, input) =
                (&op.method, &op.wire, &op.cfgs, &op.vis, &op.req_ty);
            let doc = format!(
                "The durable job [`Self::{method}`]: hand off to it with `TaskHandoff::job(Self::{constant}, input)`."
            );
            Some(quote! {
                #(#cfgs)*
                #[doc = #doc]
                #[allow(dead_code)]
                #vis const #constant: #krate::Job<#input, #output> = #krate::Job::__new(#wire);
            })
        })
        .collect();
    let self_ty = &p.self_ty;
    (!consts.is_empty()).then(|| {
        quote! {
            #[automatically_derived]
            impl #self_ty {
                #(#consts)*
            }
        }
    })
}

/// What stands in for the expansion while the macro reports an error, so that the error is the
/// only one: a `DecisioningPlatform` impl with empty tables (code passing the platform to
/// `serve` still type-checks) and the constants of the jobs that did validate (code handing off
/// to them still resolves). It never runs: the crate does not compile.
pub(super) fn emit_stub(p: &ValidPlatform) -> TokenStream {
    let krate = &p.krate;
    let private = quote!(#krate::__private);
    let self_ty = &p.self_ty;
    let name = &p.name;
    let job_consts = job_consts(p);
    quote! {
        #[automatically_derived]
        impl #krate::DecisioningPlatform for #self_ty {
            fn descriptor() -> &'static #private::Descriptor<Self> {
                static DESCRIPTOR: #private::Descriptor<#self_ty> = #private::Descriptor {
                    name: #name,
                    specialisms: &[],
                    accounts: #krate::AccountMode::Explicit,
                    handlers: &[],
                    scenarios: &[],
                    jobs: &[],
                    recipe_kinds: &[],
                };
                &DESCRIPTOR
            }
        }
        #job_consts
    }
}
