//! The impl block, read down to each method's signature and no further: a body is kept as the
//! tokens the adopter wrote and re-emitted untouched, so a mistake inside one is reported by
//! rustc, at its span, once (the macro never reads a body, so it has nothing to say about one).
//!
//! The header (`impl .. Type where ..`) is parsed by syn as an `ItemImpl` with no items; each
//! item is a [`Method`] (attributes, visibility, signature, body as a token group) when it has
//! that shape, and any other item (a `const`, a `type`, a macro call, a method without a body)
//! is parsed by syn as before.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::{ToTokens, TokenStreamExt};
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, ImplItem, ItemImpl, Signature, Token, Visibility};

/// An impl block whose methods' bodies are opaque.
pub(crate) struct ImplBlock {
    /// Everything but the items: attributes (inner ones included), generics, trait, self type.
    pub(crate) header: ItemImpl,
    pub(crate) items: Vec<Item>,
}

// A few per impl block, built once per expansion: boxing either variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Item {
    Method(Method),
    /// Any other item, parsed by syn.
    Other(ImplItem),
}

/// `#[attrs] vis default? fn-signature { body }`.
pub(crate) struct Method {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) defaultness: Option<Token![default]>,
    pub(crate) sig: Signature,
    /// The body, braces included, exactly as written.
    pub(crate) body: Group,
}

/// Why an item did not parse: the header is not an impl block's, or an item inside one is
/// malformed (syn's own error, at its span).
pub(crate) enum ParseError {
    NotAnImpl(syn::Error),
    Item(syn::Error),
}

impl ImplBlock {
    pub(crate) fn parse(tokens: TokenStream) -> Result<ImplBlock, ParseError> {
        let mut header: Vec<TokenTree> = tokens.into_iter().collect();
        let body = match header.pop() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
            other => {
                let span = other.map_or_else(proc_macro2::Span::call_site, |t| t.span());
                return Err(ParseError::NotAnImpl(syn::Error::new(
                    span,
                    "expected `impl`",
                )));
            }
        };
        // The header with an empty body, keeping the braces' span.
        let mut empty = Group::new(Delimiter::Brace, TokenStream::new());
        empty.set_span(body.span());
        header.push(TokenTree::Group(empty));
        let mut header: ItemImpl =
            syn::parse2(header.into_iter().collect()).map_err(ParseError::NotAnImpl)?;
        let parse_body = |input: ParseStream<'_>| {
            let inner = input.call(Attribute::parse_inner)?;
            let mut items = Vec::new();
            while !input.is_empty() {
                items.push(parse_item(input)?);
            }
            Ok((inner, items))
        };
        let (inner, items) = parse_body.parse2(body.stream()).map_err(ParseError::Item)?;
        header.attrs.extend(inner);
        Ok(ImplBlock { header, items })
    }
}

fn parse_item(input: ParseStream<'_>) -> syn::Result<Item> {
    let ahead = input.fork();
    if let Ok(method) = parse_method(&ahead) {
        input.advance_to(&ahead);
        return Ok(Item::Method(method));
    }
    // Not a method with a body (the fork reads every one syn would): a `const`, a `type`, a
    // macro call, or a bodiless `fn`, which rustc rejects in an inherent impl.
    input.parse().map(Item::Other)
}

fn parse_method(input: ParseStream<'_>) -> syn::Result<Method> {
    let attrs = input.call(Attribute::parse_outer)?;
    let vis = input.parse()?;
    let defaultness = input.parse()?;
    let sig = input.parse()?;
    let body = input.step(|cursor| match cursor.token_tree() {
        Some((TokenTree::Group(g), rest)) if g.delimiter() == Delimiter::Brace => Ok((g, rest)),
        _ => Err(cursor.error("expected a method body")),
    })?;
    Ok(Method {
        attrs,
        vis,
        defaultness,
        sig,
        body,
    })
}

impl ToTokens for Method {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append_all(&self.attrs);
        self.vis.to_tokens(tokens);
        self.defaultness.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.body.to_tokens(tokens);
    }
}

impl ToTokens for ImplBlock {
    /// The block as written, but for what the model stripped (the `#[adcp(..)]` helpers).
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let mut block = self.header.clone();
        block.items = self
            .items
            .iter()
            .map(|item| match item {
                Item::Method(m) => ImplItem::Verbatim(m.to_token_stream()),
                Item::Other(other) => other.clone(),
            })
            .collect();
        block.to_tokens(tokens);
    }
}
