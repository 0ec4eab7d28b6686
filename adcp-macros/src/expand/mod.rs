//! Expansion: parse -> model -> validate -> emit. The adopter's impl block is always re-emitted
//! (with the helper attributes stripped), valid or not, and an invalid platform still gets a
//! stub of what the expansion provides (`dispatch::emit_stub`, the recipe union when its
//! declaration is sound), so one mistake does not bury the rest of their code under unrelated
//! errors.

mod dispatch;
mod union;

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::PlatformArgs;
use crate::errors::Errors;
use crate::model::Platform;
use crate::parse::{ImplBlock, ParseError};
use crate::validate;

pub(crate) fn decisioning_platform(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::default();
    let mut item = match ImplBlock::parse(item.clone()) {
        Ok(block) => block,
        Err(e) => {
            let e = match e {
                ParseError::NotAnImpl(e) => syn::Error::new(
                    e.span(),
                    "`#[decisioning_platform]` goes on an `impl` block",
                ),
                // A malformed signature or item (never a body: bodies are not parsed).
                ParseError::Item(e) => e,
            };
            let mut out = item;
            out.extend(e.to_compile_error());
            return out;
        }
    };
    let args = PlatformArgs::parse(attr, &errors);
    let model = Platform::from_impl(&mut item, &errors);
    let valid = model.map(|m| validate::check(m, &args, &errors));
    let generated = match valid {
        Some(v) if errors.is_empty() => {
            let dispatch = dispatch::emit(&v);
            let union = union::emit(&v);
            quote! { #dispatch #union }
        }
        // One mistake, one error: what other code relies on is still provided, as stubs, so
        // that rustc does not add its own errors about it to the macro's.
        Some(v) => {
            let stub = dispatch::emit_stub(&v);
            let union = union::emit(&v);
            let errors = errors.into_compile_errors();
            quote! { #errors #stub #union }
        }
        // Not a platform at all (a trait impl, a generic one): nothing to stand in for.
        None => errors.into_compile_errors(),
    };
    quote! { #item #generated }
}

#[cfg(test)]
mod tests;
