//! Expansion: parse -> model -> validate -> emit. The adopter's impl block is always re-emitted
//! (with the helper attributes stripped), valid or not, so one mistake does not bury the rest of
//! their code under unrelated errors.

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
    let valid = model.and_then(|m| validate::check(m, &args, &errors));
    let generated = match valid {
        Some(v) if errors.is_empty() => {
            let dispatch = dispatch::emit(&v);
            let union = union::emit(&v);
            quote! { #dispatch #union }
        }
        _ => errors.into_compile_errors(),
    };
    quote! { #item #generated }
}

#[cfg(test)]
mod tests;
