//! `#[proposal_manager(refine, finalize, hold = <Duration>, grace = <Duration>)]`: a proposal manager's
//! capabilities declared once, checked against the methods of its impl block, and its
//! `ProposalManager` impl derived. A capability declared without its method, or a method whose
//! capability is not declared, is a compile error: capabilities are declared, never inferred.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ItemImpl, Path};

use crate::errors::Errors;

/// The methods a manager's block may have, with their signatures as shown in errors.
const METHODS: &[(&str, &str)] = &[
    (
        "get_products",
        "async fn get_products(&self, ctx: &Ctx, req: &GetProductsRequest) -> AdcpResult<GetProductsResponse>",
    ),
    (
        "refine",
        "async fn refine(&self, ctx: &Ctx, req: &GetProductsRequest, drafts: &[ProposalRecord]) -> AdcpResult<GetProductsResponse>",
    ),
    (
        "finalize",
        "async fn finalize(&self, ctx: &Ctx, draft: &ProposalRecord) -> AdcpResult<Proposal> (or AdcpResult<Hybrid<Proposal>>)",
    ),
    (
        "product",
        "async fn product(&self, ctx: &Ctx, product_id: &str) -> AdcpResult<Option<Product>>",
    ),
    (
        "packages",
        "fn packages(&self, proposal: &Proposal, total_budget: &CreateMediaBuyRequestTotalBudget) -> AdcpResult<Vec<PackageRequest>>",
    ),
];

fn signature(name: &str) -> &'static str {
    METHODS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, s)| s)
}

struct Args {
    refine: Option<Ident>,
    finalize: Option<Ident>,
    hold: Option<syn::Expr>,
    grace: Option<syn::Expr>,
    krate: Path,
}

fn parse_args(attr: TokenStream, errors: &Errors) -> Args {
    let mut args = Args {
        refine: None,
        finalize: None,
        hold: None,
        grace: None,
        krate: syn::parse_quote!(::adcp_runtime),
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("refine") {
            args.refine = meta.path.get_ident().cloned();
            Ok(())
        } else if meta.path.is_ident("finalize") {
            args.finalize = meta.path.get_ident().cloned();
            Ok(())
        } else if meta.path.is_ident("hold") {
            args.hold = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("grace") {
            args.grace = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            args.krate = meta.value()?.parse()?;
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument; expected `refine`, `finalize`, `hold = <Duration>`, `grace = <Duration>` or `crate = ..`",
            ))
        }
    });
    if let Err(e) = parser.parse2(attr) {
        errors.add(e);
    }
    args
}

pub(crate) fn proposal_manager(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::default();
    let block: ItemImpl = match syn::parse2(item.clone()) {
        Ok(b) => b,
        Err(e) => {
            let mut out = item;
            out.extend(
                syn::Error::new(e.span(), "`#[proposal_manager]` goes on an `impl` block")
                    .to_compile_error(),
            );
            return out;
        }
    };
    let args = parse_args(attr, &errors);
    if let Some((t, _)) = &block.trait_ {
        errors.push_spanned(
            t,
            "`#[proposal_manager]` goes on the manager's own `impl` block, not a trait impl: it derives `ProposalManager`",
        );
        return quote! { #block }
            .into_iter()
            .chain(errors.into_compile_errors())
            .collect();
    }
    let mut found: Vec<(&'static str, Span)> = Vec::new();
    for it in &block.items {
        let ImplItem::Fn(f) = it else { continue };
        let name = f.sig.ident.to_string();
        let Some((known, _)) = METHODS.iter().find(|(n, _)| *n == name) else {
            continue; // a helper
        };
        let sync = *known == "packages";
        if f.sig.asyncness.is_none() != sync {
            let what = if sync {
                "a plain `fn`"
            } else {
                "an `async fn`"
            };
            errors.push_spanned(
                &f.sig.fn_token,
                format!("`{name}` must be {what}: {}", signature(known)),
            );
        }
        let arity = if *known == "refine" { 4 } else { 3 };
        let has_self = matches!(f.sig.inputs.first(), Some(syn::FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)));
        if f.sig.inputs.len() != arity || !has_self {
            errors.push_spanned(
                &f.sig.inputs,
                format!("`{name}` takes other arguments: {}", signature(known)),
            );
        }
        found.push((known, f.sig.ident.span()));
    }
    let has = |n: &str| found.iter().find(|(k, _)| *k == n).map(|(_, s)| *s);
    let self_ty = &block.self_ty;
    if has("get_products").is_none() {
        errors.push_spanned(
            self_ty,
            format!(
                "a proposal manager answers `get_products` (brief and wholesale): add {}",
                signature("get_products")
            ),
        );
    }
    for (cap, declared) in [("refine", &args.refine), ("finalize", &args.finalize)] {
        match (declared, has(cap)) {
            (Some(d), None) => errors.push(
                d.span(),
                format!(
                    "`{cap}` is declared but the block has no `{cap}` method: add {}",
                    signature(cap)
                ),
            ),
            (None, Some(span)) => errors.push(
                span,
                format!(
                    "`{cap}` is implemented but not declared: add `{cap}` to `#[proposal_manager(..)]` (capabilities are declared, never inferred)"
                ),
            ),
            _ => {}
        }
    }
    if !errors.is_empty() {
        let errs = errors.into_compile_errors();
        return quote! { #block #errs };
    }
    let k = &args.krate;
    let refine = args.refine.is_some();
    let finalize = args.finalize.is_some();
    let hold = match &args.hold {
        Some(h) => quote_spanned!(h.span()=> #h),
        None => quote!(#k::ProposalCapabilities::default().hold),
    };
    let grace = match &args.grace {
        Some(g) => quote_spanned!(g.span()=> #g),
        None => quote!(#k::proposals::EXPIRY_GRACE),
    };
    let (imp, _, wh) = block.generics.split_for_impl();
    let refine_arm = if refine {
        quote! {
            if req.buying_mode == #k::wire::GetProductsRequestBuyingMode::Refine {
                return <#self_ty>::refine(self, ctx, req, drafts).await;
            }
        }
    } else {
        quote! { let _ = drafts; }
    };
    let finalize_fn = finalize.then(|| {
        quote! {
            fn finalize<'a>(
                &'a self,
                ctx: &'a #k::Ctx,
                draft: &'a #k::store::ProposalRecord,
            ) -> #k::store::BoxFuture<'a, #k::AdcpResult<#k::Hybrid<#k::wire::Proposal>>> {
                ::std::boxed::Box::pin(async move {
                    <#self_ty>::finalize(self, ctx, draft)
                        .await
                        .map(::core::convert::Into::into)
                })
            }
        }
    });
    let product_fn = has("product").map(|_| {
        quote! {
            fn product<'a>(
                &'a self,
                ctx: &'a #k::Ctx,
                product_id: &'a str,
            ) -> #k::store::BoxFuture<'a, #k::AdcpResult<::std::option::Option<#k::wire::Product>>> {
                ::std::boxed::Box::pin(<#self_ty>::product(self, ctx, product_id))
            }
        }
    });
    let packages_fn = has("packages").map(|_| {
        quote! {
            fn packages(
                &self,
                proposal: &#k::wire::Proposal,
                total_budget: &#k::wire::CreateMediaBuyRequestTotalBudget,
            ) -> #k::AdcpResult<::std::vec::Vec<#k::wire::PackageRequest>> {
                <#self_ty>::packages(self, proposal, total_budget)
            }
        }
    });
    quote! {
        #block

        impl #imp #k::ProposalManager for #self_ty #wh {
            fn capabilities(&self) -> #k::ProposalCapabilities {
                #k::ProposalCapabilities { refine: #refine, finalize: #finalize, hold: #hold, grace: #grace }
            }

            fn get_products<'a>(
                &'a self,
                ctx: &'a #k::Ctx,
                req: &'a #k::wire::GetProductsRequest,
                drafts: &'a [#k::store::ProposalRecord],
            ) -> #k::store::BoxFuture<'a, #k::AdcpResult<#k::wire::GetProductsResponse>> {
                ::std::boxed::Box::pin(async move {
                    #refine_arm
                    <#self_ty>::get_products(self, ctx, req).await
                })
            }

            #finalize_fn
            #product_fn
            #packages_fn
        }
    }
}
