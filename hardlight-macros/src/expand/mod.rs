//! The expand step: generated items, written from the models only.
//!
//! Generated code names everything by absolute path, the runtime through its hidden re-export module
//! `::hardlight::__private` and the standard library through `::core`/`::std`, so it compiles under
//! `#![no_implicit_prelude]` and next to any user item names. Trait impls are wrapped in
//! `const _: () = { ... };` so their helper items never leak into the user's namespace.

mod bounds;
mod client;
mod codable;
mod handler;
mod service;
mod state;

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;
use syn::Item;

use crate::model::{CratePath, Service};
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
                .retain(|attr| !parse::rpc::is_oneway(attr.path(), &CratePath::default()));
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

/// `<crate>::__private`: the runtime's module for generated code, through which every generated path
/// to the runtime goes (`::hardlight`, or the path given as `crate = "..."`).
fn private(krate: &CratePath) -> TokenStream {
    let krate = &krate.0;
    quote!(#krate::__private)
}

/// `tokens` with every token at `span`: a path written by the macro, interpolated into a
/// `quote_spanned!` at the user's type, must be at that type too, or the error is reported at the
/// attribute.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = TokenTree::Group(respanned);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// [`private`], at `span`.
fn private_at(krate: &CratePath, span: Span) -> TokenStream {
    respan(private(krate), span)
}

/// The service's connection state type: `state = Type`, or `()`.
fn state_type(service: &Service) -> TokenStream {
    match &service.state {
        Some(state) => quote!(#state),
        None => quote!(()),
    }
}

/// The service's event type: `events = Type`, or the raw payload.
fn events_type(service: &Service) -> TokenStream {
    match &service.events {
        Some(events) => quote!(#events),
        None => {
            let private = private(&service.krate);
            quote!(#private::EventPayload)
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

    /// `crate = "..."` reaches every generated path: with the runtime renamed, nothing names
    /// `hardlight` any more (docs aside), and every path into it goes through its `__private`.
    #[test]
    fn a_renamed_crate_is_used_for_every_path() {
        let outputs = [
            rpc(
                quote!(crate = "::hl", state = State),
                quote!(
                    pub trait Counter {
                        async fn get(&self, key: String) -> HandlerResult<u32>;
                        #[hl::oneway]
                        async fn reset(&self);
                    }
                ),
            ),
            rpc(
                quote!(crate = "::hl"),
                quote!(
                    pub trait Empty {}
                ),
            ),
            rpc_handler(
                quote!(crate = "::hl", context = Ctx),
                quote!(
                    impl Counter for Handler {
                        #[on_connect]
                        async fn joined(&self) {}
                        #[on_disconnect]
                        async fn left(&self, why: hl::Disconnect) {}
                    }
                ),
            ),
            connection_state(
                quote!(crate = "::hl"),
                quote!(
                    struct State {
                        counter: u32,
                    }
                ),
            ),
            codable(
                quote!(crate = "::hl"),
                quote!(
                    enum Tree {
                        Leaf(u32),
                        Node(Vec<Tree>),
                    }
                ),
            ),
        ];
        for output in outputs {
            assert!(!has_compile_error(&output), "{output}");
            let file = parses(output);
            // Doc strings mention `hardlight` in prose: only the tokens are checked.
            let without_docs: String = file
                .items
                .iter()
                .map(|item| strip_docs(quote!(#item)).to_string())
                .collect();
            assert!(!without_docs.contains("hardlight"), "{without_docs}");
            let mut rest = without_docs.as_str();
            while let Some(at) = rest.find(":: hl ::") {
                rest = &rest[at + ":: hl ::".len()..];
                assert!(rest.starts_with(" __private"), "{without_docs}");
            }
        }
    }

    /// `tokens` without `#[doc = "..."]` attributes, at any depth.
    fn strip_docs(tokens: TokenStream) -> TokenStream {
        use proc_macro2::{Group, TokenTree};
        let mut out = Vec::new();
        let mut trees = tokens.into_iter().peekable();
        while let Some(tree) = trees.next() {
            if let TokenTree::Punct(punct) = &tree
                && punct.as_char() == '#'
                && let Some(TokenTree::Group(group)) = trees.peek()
                && group.to_string().starts_with("[doc")
            {
                trees.next();
                continue;
            }
            out.push(match tree {
                TokenTree::Group(group) => {
                    let mut stripped = Group::new(group.delimiter(), strip_docs(group.stream()));
                    stripped.set_span(group.span());
                    TokenTree::Group(stripped)
                }
                other => other,
            });
        }
        out.into_iter().collect()
    }

    /// The generated client's methods other than the rpc methods are exactly the names an rpc method
    /// cannot take.
    #[test]
    fn the_client_s_own_methods_are_the_reserved_names() {
        let output = rpc(
            TokenStream::new(),
            quote!(
                pub trait Counter {
                    async fn get(&self) -> HandlerResult<u32>;
                }
            ),
        );
        let file = parses(output);
        let mut own = Vec::new();
        for item in &file.items {
            let Item::Const(konst) = item else { continue };
            let syn::Expr::Block(block) = &*konst.expr else {
                continue;
            };
            for stmt in &block.block.stmts {
                if let syn::Stmt::Item(Item::Impl(imp)) = stmt
                    && imp.trait_.is_none()
                {
                    for item in &imp.items {
                        if let syn::ImplItem::Fn(f) = item {
                            own.push(f.sig.ident.to_string());
                        }
                    }
                }
            }
        }
        assert_eq!(own.pop().as_deref(), Some("get"), "{own:?}");
        assert_eq!(own, crate::names::CLIENT_METHODS);
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
