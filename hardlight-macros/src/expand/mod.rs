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
    run(
        args,
        input,
        parse::rpc::parse,
        service::expand,
        without_patterns,
    )
}

/// `#[rpc_handler]`. On error an impl block is dropped: its self type is the struct that was not
/// generated, so keeping it would only add "cannot find type" errors.
pub(crate) fn rpc_handler(args: TokenStream, input: TokenStream) -> TokenStream {
    run(
        args,
        input,
        parse::handler::parse,
        handler::expand,
        |item| (!matches!(item, Item::Impl(_))).then_some(item),
    )
}

/// `#[connection_state]`.
pub(crate) fn connection_state(args: TokenStream, input: TokenStream) -> TokenStream {
    run(args, input, parse::state::parse, state::expand, Some)
}

/// `#[codable]`.
pub(crate) fn codable(args: TokenStream, input: TokenStream) -> TokenStream {
    run(args, input, parse::codable::parse, codable::expand, Some)
}

/// `#[oneway]` outside an `#[rpc]` trait (inside one, `#[rpc]` removes it before it expands): an
/// error, and the item unchanged.
pub(crate) fn oneway(_args: TokenStream, input: TokenStream) -> TokenStream {
    // At the item's head (`fn log`) when it can be found, not over its whole body.
    let at = match (
        syn::parse2::<Item>(input.clone()),
        syn::parse2::<syn::TraitItemFn>(input.clone()),
    ) {
        (Ok(item), _) => parse::item_head(&item),
        (_, Ok(method)) => parse::head(&method.sig.fn_token, &method.sig.ident),
        _ => input.clone(),
    };
    let error = syn::Error::new_spanned(
        at,
        "#[oneway] marks a method of an #[rpc] trait: put it on the method's declaration inside \
         the trait that has #[rpc], not on its implementation or another item",
    )
    .to_compile_error();
    quote!(#error #input)
}

/// Parses `input` as an item and the model from it, then expands the model. On error, gives the
/// errors and what `on_error` keeps of the item (usually the item unchanged): the rest of the crate
/// can still name it, so the user sees the macro's errors rather than a cascade of unresolved names.
fn run<M>(
    args: TokenStream,
    input: TokenStream,
    parse: fn(TokenStream, &Item) -> syn::Result<M>,
    expand: fn(&M) -> TokenStream,
    on_error: fn(Item) -> Option<Item>,
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
            let item = on_error(item);
            quote!(#error #item)
        }
    }
}

/// The trait of a failed `#[rpc]`, without its methods' `#[oneway]` attributes (which mean nothing
/// outside `#[rpc]`) and with each argument pattern of a method without body replaced by `_`: the
/// compiler rejects patterns there too, and #[rpc] has already said so.
fn without_patterns(mut item: Item) -> Option<Item> {
    if let Item::Trait(item) = &mut item {
        for trait_item in &mut item.items {
            let syn::TraitItem::Fn(method) = trait_item else {
                continue;
            };
            method
                .attrs
                .retain(|attr| !parse::rpc::is_oneway(attr.path()));
            if method.default.is_some() {
                continue;
            }
            for input in &mut method.sig.inputs {
                if let syn::FnArg::Typed(input) = input
                    && !matches!(&*input.pat, syn::Pat::Ident(pat) if pat.by_ref.is_none()
                        && pat.mutability.is_none() && pat.subpat.is_none())
                {
                    *input.pat = syn::parse_quote!(_);
                }
            }
        }
    }
    Some(item)
}

/// Wraps impls in an anonymous constant, so that nothing they need is visible outside them.
fn in_anonymous_const(items: TokenStream) -> TokenStream {
    quote! {
        const _: () = {
            #items
        };
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    /// The generated code is valid Rust syntax (whether it type-checks is pinned by the runtime's
    /// trybuild tests).
    fn parses(output: TokenStream) -> syn::File {
        syn::parse2(output.clone()).unwrap_or_else(|e| panic!("{e}: {output}"))
    }

    fn has_compile_error(output: &TokenStream) -> bool {
        output.to_string().contains("compile_error")
    }

    #[test]
    fn the_counter_example_expands_to_valid_items() {
        let rpc = rpc(
            quote!(state = State, events = CounterEvent),
            quote! {
                pub trait Counter {
                    /// Creates a new counter.
                    async fn new_counter(&self) -> HandlerResult<()>;
                    async fn increment(&self, amount: u32) -> HandlerResult<()>;
                    async fn get(&self) -> HandlerResult<u32>;
                    #[oneway]
                    async fn reset(&self, to: u32);
                }
            },
        );
        assert!(!has_compile_error(&rpc), "{rpc}");
        assert!(
            !rpc.to_string().contains("# [oneway]"),
            "#[oneway] is consumed"
        );
        let file = parses(rpc);
        let names: Vec<String> = file
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Trait(item) => Some(item.ident.to_string()),
                Item::Struct(item) => Some(item.ident.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["Counter", "CounterClient"]);

        let handler = rpc_handler(
            quote!(context = AppContext),
            quote!(impl Counter for Handler {}),
        );
        assert!(!has_compile_error(&handler), "{handler}");
        parses(handler);

        let state = connection_state(
            TokenStream::new(),
            quote!(
                #[derive(Clone)]
                pub struct State {
                    counter: u32,
                    topic: Topic,
                }
            ),
        );
        assert!(!has_compile_error(&state), "{state}");
        parses(state);

        let codable = codable(
            TokenStream::new(),
            quote!(
                pub enum CounterEvent {
                    Changed(u32),
                }
            ),
        );
        assert!(!has_compile_error(&codable), "{codable}");
        parses(codable);
    }

    #[test]
    fn a_failed_rpc_keeps_the_trait_without_patterns() {
        let output = rpc(
            TokenStream::new(),
            quote! {
                trait Counter {
                    fn get(&self, (a, b): (u32, u32)) -> HandlerResult<u32>;
                }
            },
        );
        assert!(has_compile_error(&output));
        let file = parses(output);
        let Some(Item::Trait(item)) = file.items.last() else {
            panic!("the trait is kept");
        };
        let syn::TraitItem::Fn(method) = &item.items[0] else {
            panic!("the method is kept");
        };
        let Some(syn::FnArg::Typed(arg)) = method.sig.inputs.iter().nth(1) else {
            panic!("the argument is kept");
        };
        assert!(matches!(&*arg.pat, syn::Pat::Wild(_)));
    }

    #[test]
    fn a_failed_rpc_keeps_the_trait_without_oneway_attributes() {
        let output = rpc(
            TokenStream::new(),
            quote! {
                trait Logger {
                    #[oneway]
                    async fn log(&self, line: String) -> HandlerResult<()>;
                }
            },
        );
        assert!(has_compile_error(&output));
        let Some(Item::Trait(item)) = parses(output).items.pop() else {
            panic!("the trait is kept");
        };
        let syn::TraitItem::Fn(method) = &item.items[0] else {
            panic!("the method is kept");
        };
        assert!(method.attrs.is_empty(), "#[oneway] would be reported again");
    }

    #[test]
    fn oneway_outside_rpc_is_an_error_that_keeps_the_item() {
        let output = oneway(
            TokenStream::new(),
            quote!(
                async fn log(line: String) {}
            ),
        );
        assert!(has_compile_error(&output));
        assert!(
            parses(output)
                .items
                .iter()
                .any(|item| matches!(item, Item::Fn(_)))
        );
    }

    #[test]
    fn a_failed_handler_drops_the_impl_but_keeps_other_items() {
        let output = rpc_handler(TokenStream::new(), quote!(impl Handler {}));
        assert!(has_compile_error(&output));
        assert!(
            parses(output)
                .items
                .iter()
                .all(|item| !matches!(item, Item::Impl(_)))
        );

        let output = rpc_handler(
            TokenStream::new(),
            quote!(
                fn handler() {}
            ),
        );
        assert!(
            parses(output)
                .items
                .iter()
                .any(|item| matches!(item, Item::Fn(_)))
        );
    }

    #[test]
    fn input_that_is_not_an_item_is_reported_not_panicked_on() {
        let output = codable(TokenStream::new(), quote!(let x = 1;));
        assert!(has_compile_error(&output));
    }
}
