//! Accumulated errors: every problem is reported, each at its own span, in one compilation.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::{Span, TokenStream};

#[derive(Default)]
pub(crate) struct Errors(RefCell<Vec<syn::Error>>);

impl Errors {
    pub(crate) fn push(&self, span: Span, message: impl Display) {
        self.0.borrow_mut().push(syn::Error::new(span, message));
    }

    pub(crate) fn push_spanned(&self, tokens: &impl quote::ToTokens, message: impl Display) {
        self.0
            .borrow_mut()
            .push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn add(&self, e: syn::Error) {
        self.0.borrow_mut().push(e);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.0
            .into_inner()
            .into_iter()
            .map(|e| e.to_compile_error())
            .collect()
    }
}
