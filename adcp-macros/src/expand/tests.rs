//! Expansion snapshots: what the attribute writes for representative platforms, and the rule
//! that generated code never names an item the adopter could shadow.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;

fn expand(attr: TokenStream, item: TokenStream) -> String {
    let out = super::decisioning_platform(attr, item);
    let file: syn::File = syn::parse2(out).expect("the expansion parses");
    prettyplease::unparse(&file)
}

fn seller() -> TokenStream {
    quote! {
        impl Seller {
            fn helper(&self) -> u32 { 1 }

            async fn get_products(&self, ctx: &Ctx, req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
                todo!()
            }

            #[cfg(feature = "buying")]
            async fn create_media_buy(&self, ctx: &Ctx, req: CreateMediaBuyRequest)
                -> AdcpResult<Hybrid<CreateMediaBuySuccess>> {
                todo!()
            }

            async fn update_media_buy(&self, ctx: &Ctx, req: UpdateMediaBuyRequest) -> AdcpResult<UpdateMediaBuyResponse> {
                todo!()
            }

            async fn get_media_buys(&self, ctx: &Ctx, req: GetMediaBuysRequest) -> AdcpResult<GetMediaBuysResponse> {
                todo!()
            }

            async fn get_media_buy_delivery(&self, ctx: &Ctx, req: GetMediaBuyDeliveryRequest) -> AdcpResult<GetMediaBuyDeliveryResponse> {
                todo!()
            }

            async fn sync_creatives(&self, ctx: &Ctx, req: SyncCreativesRequest) -> AdcpResult<SyncCreativesResponse> {
                todo!()
            }

            async fn seed_product(&self, ctx: &Ctx, params: ScenarioParams) -> AdcpResult<ControllerReply> {
                todo!()
            }

            #[adcp(job)]
            async fn review_media_buy(&self, ctx: &Ctx, buy: Buy) -> AdcpResult<CreateMediaBuySuccess> {
                todo!()
            }
        }
    }
}

#[test]
fn a_seller() {
    insta::assert_snapshot!(expand(
        quote!(specialisms(sales_non_guaranteed), accounts = from_auth),
        seller()
    ));
}

#[test]
fn recipes() {
    let item = quote! {
        impl Signals {
            async fn get_signals(&self, ctx: &Ctx, req: GetSignalsRequest) -> AdcpResult<GetSignalsResponse> {
                todo!()
            }
        }
    };
    insta::assert_snapshot!(expand(
        quote!(recipes(gam = GamRecipe, kevel = KevelRecipe)),
        item
    ));
}

#[test]
fn errors_keep_the_adopters_code() {
    let item = quote! {
        impl Seller {
            async fn get_product(&self, ctx: &Ctx, req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
                todo!()
            }
        }
    };
    let out = expand(quote!(specialisms(sales_guaranteed)), item);
    assert!(
        out.contains("async fn get_product("),
        "the impl block is re-emitted:\n{out}"
    );
    assert!(
        out.contains("impl ::adcp_runtime::DecisioningPlatform for Seller")
            && out.contains("handlers: &[]"),
        "an invalid platform gets a stub with empty tables:\n{out}"
    );
    assert!(out.contains("compile_error!"));
    insta::assert_snapshot!(out);
}

#[test]
fn an_invalid_platform_keeps_its_valid_jobs() {
    let item = quote! {
        impl Seller {
            async fn get_products(&self, ctx: &Ctx, req: GetMediaBuysRequest) -> AdcpResult<GetProductsResponse> {
                todo!()
            }

            #[adcp(job)]
            async fn review_buy(&self, ctx: &Ctx, key: String) -> AdcpResult<CreateMediaBuySuccess> {
                todo!()
            }

            #[adcp(job)]
            async fn borrowed(&self, ctx: &Ctx, key: &str) -> AdcpResult<CreateMediaBuySuccess> {
                todo!()
            }
        }
    };
    let out = expand(TokenStream::new(), item);
    assert!(out.contains("const REVIEW_BUY"), "{out}");
    assert!(!out.contains("const BORROWED"), "{out}");
    assert!(!out.contains("__adcp_get_products"), "{out}");
}

#[test]
fn bodies_are_re_emitted_unparsed() {
    let item = quote! {
        impl Seller {
            #![allow(dead_code)]
            const LIMIT: u32 = 10;

            async fn get_products(&self, ctx: &Ctx, req: GetProductsRequest) -> AdcpResult<GetProductsResponse> {
                let products = Vec::new() + ;
            }
        }
    };
    let out = super::decisioning_platform(TokenStream::new(), item).to_string();
    assert!(
        !out.contains("compile_error"),
        "a body is rustc's to check:\n{out}"
    );
    assert!(out.contains("let products = Vec :: new () + ;"), "{out}");
    assert!(out.contains("# ! [allow (dead_code)]"), "{out}");
    assert!(out.contains("impl :: adcp_runtime :: DecisioningPlatform for Seller"));
}

/// Names an adopter's code may shadow (`type Result<T> = ..;`, `use my::Box;`) must never appear
/// unqualified in generated code.
const SHADOWABLE: &[&str] = &[
    "Result", "Option", "Box", "Vec", "String", "Ok", "Err", "Some", "None", "Default",
];

fn assert_no_shadowable_idents(generated: &TokenStream) {
    fn walk(tokens: TokenStream, prev_colons: &mut bool, found: &mut Vec<String>) {
        for tt in tokens {
            match tt {
                TokenTree::Group(g) => walk(g.stream(), &mut false, found),
                TokenTree::Ident(i) => {
                    let s = i.to_string();
                    if SHADOWABLE.contains(&s.as_str()) && !*prev_colons {
                        found.push(s);
                    }
                    *prev_colons = false;
                }
                TokenTree::Punct(p) => *prev_colons = p.as_char() == ':',
                TokenTree::Literal(_) => *prev_colons = false,
            }
        }
    }
    let mut found = Vec::new();
    walk(generated.clone(), &mut false, &mut found);
    assert!(found.is_empty(), "unqualified {found:?} in generated code");
}

#[test]
fn generated_code_names_nothing_the_adopter_can_shadow() {
    for (attr, item) in [
        (quote!(specialisms(sales_non_guaranteed)), seller()),
        (
            quote!(recipes(gam = GamRecipe)),
            quote!(impl S { async fn get_signals(&self, ctx: &Ctx, req: GetSignalsRequest) -> AdcpResult<GetSignalsResponse> { todo!() } }),
        ),
    ] {
        let full = super::decisioning_platform(attr, item.clone());
        // Only what the macro adds: drop the re-emitted impl block.
        let added: TokenStream = full.into_iter().skip(item.into_iter().count()).collect();
        assert!(!added.is_empty());
        assert_no_shadowable_idents(&added);
    }
}
