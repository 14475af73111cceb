//! The expand step: generated items, written from the models only.
//!
//! Generated code names everything by absolute path, the runtime through its hidden re-export module
//! `::hardlight::__private` and the standard library through `::core`/`::std`, so it compiles under
//! `#![no_implicit_prelude]` and next to any user item names. Trait impls are wrapped in
//! `const _: () = { ... };` so their helper items never leak into the user's namespace.

mod client;
mod codable;
mod handler;
mod service;
mod state;

use proc_macro2::TokenStream;
use quote::quote;
use syn::Item;

use crate::parse;

/// `#[rpc]`.
pub(crate) fn rpc(args: TokenStream, input: TokenStream) -> TokenStream {
    run(args, input, parse::rpc::parse, service::expand, |_| true)
}

/// `#[rpc_handler]`. On error an impl block is dropped: its self type is the struct that was not
/// generated, so keeping it would only add "cannot find type" errors.
pub(crate) fn rpc_handler(args: TokenStream, input: TokenStream) -> TokenStream {
    run(
        args,
        input,
        parse::handler::parse,
        handler::expand,
        |item| !matches!(item, Item::Impl(_)),
    )
}

/// `#[connection_state]`.
pub(crate) fn connection_state(args: TokenStream, input: TokenStream) -> TokenStream {
    run(args, input, parse::state::parse, state::expand, |_| true)
}

/// `#[codable]`.
pub(crate) fn codable(args: TokenStream, input: TokenStream) -> TokenStream {
    run(args, input, parse::codable::parse, codable::expand, |_| {
        true
    })
}

/// Parses `input` as an item and the model from it, then expands the model. On error, gives the
/// errors and, where `keep_on_error` says so, the item unchanged: the rest of the crate can still
/// name it, so the user sees the macro's errors rather than a cascade of unresolved names.
fn run<M>(
    args: TokenStream,
    input: TokenStream,
    parse: fn(TokenStream, &Item) -> syn::Result<M>,
    expand: fn(&M) -> TokenStream,
    keep_on_error: fn(&Item) -> bool,
) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #input);
        }
    };
    match parse(args, &item) {
        Ok(model) => expand(&model),
        Err(error) => {
            let error = error.to_compile_error();
            let item = keep_on_error(&item).then_some(&item);
            quote!(#error #item)
        }
    }
}

/// Wraps impls in an anonymous constant, so that nothing they need is visible outside them.
fn in_anonymous_const(items: TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #items
        };
    }
}
