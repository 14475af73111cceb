//! `#[rpc]`: a trait of `async fn` methods → [`Service`].

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::visit::Visit;
use syn::{
    Attribute, FnArg, GenericArgument, Item, ItemTrait, Meta, Pat, Path, PathArguments, ReturnType,
    Signature, TraitItem, TraitItemFn, Type,
};

use super::{check_wire_type, head, item_head, parse_args, parse_crate_arg, parse_type_arg};
use crate::ctxt::Ctxt;
use crate::model::{Arg, CratePath, Method, MethodKind, Service};
use crate::names;

/// The most arguments a method can take: its arguments travel as one tuple, and rkyv 0.8 implements
/// `Archive` for tuples of up to 13 elements.
pub(crate) const MAX_ARGS: usize = 13;

/// Parses `#[rpc(args)]` on `item`.
pub(crate) fn parse(args: TokenStream, item: &Item) -> syn::Result<Service> {
    let ctxt = Ctxt::new();
    let args = parse_rpc_args(&ctxt, args);
    let service = match item {
        Item::Trait(item) => Some(parse_trait(&ctxt, item, args)),
        other => {
            ctxt.error_spanned_by(
                item_head(other),
                "#[rpc] goes on a trait: `#[rpc] pub trait Counter { async fn get(&self) -> \
                 HandlerResult<u32>; }`",
            );
            None
        }
    };
    ctxt.finish(service)
}

/// The arguments of `#[rpc(...)]`.
struct RpcArgs {
    /// `state = Type`.
    state: Option<Type>,
    /// `events = Type`.
    events: Option<Type>,
    /// `crate = "path"`.
    krate: CratePath,
}

/// `state = Type, events = Type, crate = "path"`, all optional.
fn parse_rpc_args(ctxt: &Ctxt, args: TokenStream) -> RpcArgs {
    let mut state = None;
    let mut events = None;
    let mut krate = None;
    parse_args(
        ctxt,
        "rpc",
        "`state = Type`, `events = Type` and `crate = \"path\"`",
        args,
        |key, input| {
            let slot = if key == "state" {
                &mut state
            } else if key == "events" {
                &mut events
            } else if key == "crate" {
                parse_crate_arg(ctxt, &mut krate, key, input)?;
                return Ok(true);
            } else {
                return Ok(false);
            };
            parse_type_arg(ctxt, slot, key, input)?;
            Ok(true)
        },
    );
    RpcArgs {
        state,
        events,
        krate: krate.unwrap_or_default(),
    }
}

fn parse_trait(ctxt: &Ctxt, item: &ItemTrait, args: RpcArgs) -> Service {
    let RpcArgs {
        state,
        events,
        krate,
    } = args;
    if let Some(auto) = &item.auto_token {
        ctxt.error_spanned_by(
            auto,
            "an #[rpc] trait cannot be an `auto trait`: remove `auto`",
        );
    }
    if !item.generics.params.is_empty() {
        ctxt.error_spanned_by(
            &item.generics,
            "an #[rpc] trait cannot have generic or lifetime parameters (`dyn Trait` must name one \
             service): remove them",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        ctxt.error_spanned_by(
            where_clause,
            "an #[rpc] trait cannot have a `where` clause: remove it",
        );
    }

    let mut methods = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            TraitItem::Fn(method) => {
                let index = match u16::try_from(methods.len()) {
                    Ok(index) => index,
                    Err(_) => {
                        ctxt.error_spanned_by(
                            &method.sig.ident,
                            "an #[rpc] trait has at most 65536 methods (a method's index is a u16 \
                             on the wire): split the service",
                        );
                        break;
                    }
                };
                methods.push(parse_method(ctxt, item, method, index, &krate));
            }
            TraitItem::Const(item) => {
                not_a_method(ctxt, head(&item.const_token, &item.ident), "const")
            }
            TraitItem::Type(item) => {
                not_a_method(ctxt, head(&item.type_token, &item.ident), "associated type")
            }
            TraitItem::Macro(item) => not_a_method(ctxt, &item.mac, "macro"),
            other => not_a_method(ctxt, other, "item"),
        }
    }

    Service {
        attrs: item.attrs.clone(),
        vis: item.vis.clone(),
        unsafety: item.unsafety,
        ident: item.ident.clone(),
        supertraits: item.supertraits.clone(),
        state,
        events,
        methods,
        krate,
    }
}

fn not_a_method(ctxt: &Ctxt, tokens: impl ToTokens, what: &str) {
    ctxt.error_spanned_by(
        tokens,
        format!("an #[rpc] trait holds only `async fn` methods: move this {what} out of the trait"),
    );
}

fn parse_method(
    ctxt: &Ctxt,
    service: &ItemTrait,
    method: &TraitItemFn,
    index: u16,
    krate: &CratePath,
) -> Method {
    let sig = &method.sig;
    let (oneway, attrs) = parse_method_attrs(ctxt, &method.attrs, krate);
    check_signature_head(ctxt, sig);
    check_generics(ctxt, sig);
    let args = parse_inputs(ctxt, sig);
    if let Some(variadic) = &sig.variadic {
        ctxt.error_spanned_by(variadic, "rpc methods cannot be variadic: remove `...`");
    }
    check_streams(ctxt, sig, &args, oneway);
    let (args, upload) = split_upload(args, oneway);
    let kind = if oneway {
        // A one-way method that streams is reported once, as such.
        if !returns_a_stream(sig) {
            check_oneway_output(ctxt, sig);
        }
        MethodKind::Oneway
    } else {
        MethodKind::Call {
            output: Box::new(parse_call_output(ctxt, sig)),
        }
    };
    if let Some(body) = &method.default {
        ctxt.error_at(
            body.brace_token.span.open(),
            "rpc trait methods cannot have a default body: end the declaration with `;` and \
             implement the method in your #[rpc_handler] impl",
        );
    }
    check_name(ctxt, service, sig);
    Method {
        attrs,
        ident: sig.ident.clone(),
        index,
        args,
        upload,
        kind,
    }
}

/// An rpc method becomes a method of the generated client: it cannot take the name of one of the
/// client's own methods, which it would hide (or which would hide it).
fn check_name(ctxt: &Ctxt, service: &ItemTrait, sig: &Signature) {
    let name = sig.ident.unraw().to_string();
    if names::CLIENT_METHODS.contains(&name.as_str()) {
        let client = names::client(&service.ident);
        let reserved = names::CLIENT_METHODS
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        ctxt.error_spanned_by(
            &sig.ident,
            format!(
                "an rpc method cannot be named `{name}`: the generated `{client}` has its own \
                 method `{name}`, and the two would clash; rename the rpc method (for example \
                 `{}_{name}`). The client's own methods are {reserved}",
                snake_case(&service.ident.unraw().to_string()),
            ),
        );
    }
}

/// `ChatRoom` → `chat_room`, for suggested names.
fn snake_case(name: &str) -> String {
    let mut snake = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// Splits `#[oneway]` off a method's attributes: whether it is there, and the other attributes.
fn parse_method_attrs(
    ctxt: &Ctxt,
    attrs: &[Attribute],
    krate: &CratePath,
) -> (bool, Vec<Attribute>) {
    let mut oneway = false;
    let mut others = Vec::new();
    for attr in attrs {
        if !is_oneway(attr.path(), krate) {
            others.push(attr.clone());
            continue;
        }
        if !matches!(attr.meta, Meta::Path(_)) {
            ctxt.error_spanned_by(
                attr,
                "#[oneway] takes no arguments: write `#[oneway]` on its own",
            );
        }
        if oneway {
            ctxt.error_spanned_by(attr, "duplicate #[oneway]: give it once");
        }
        oneway = true;
    }
    (oneway, others)
}

/// `oneway`, `hardlight::oneway` or `::hardlight::oneway`, or `<crate>::oneway` with
/// `crate = "<crate>"`.
pub(crate) fn is_oneway(path: &Path, krate: &CratePath) -> bool {
    fn segments(path: &Path) -> Option<Vec<String>> {
        path.segments
            .iter()
            .map(|segment| {
                segment
                    .arguments
                    .is_none()
                    .then(|| segment.ident.unraw().to_string())
            })
            .collect()
    }
    let Some(names) = segments(path) else {
        return false;
    };
    let Some((last, prefix)) = names.split_last() else {
        return false;
    };
    if last != "oneway" {
        return false;
    }
    match prefix {
        [] => path.leading_colon.is_none(),
        _ => prefix == ["hardlight"] || segments(&krate.0).is_some_and(|krate| prefix == krate),
    }
}

/// `Streaming` is a method's way of sending many values: it may be the success type of a call's
/// return (`HandlerResult<Streaming<T>>`, `Result<Streaming<T, E>, E>`: the server streams), and
/// the whole type of a call's last argument (`items: Streaming<T>`: the client streams). Anywhere
/// else (nested in a value, an argument before the last, a one-way method) it is reported, with
/// what to write instead.
fn check_streams(ctxt: &Ctxt, sig: &Signature, args: &[Arg], oneway: bool) {
    let last = args.len().saturating_sub(1);
    for (i, arg) in args.iter().enumerate() {
        for stream in streams_in(&arg.ty) {
            let whole = std::ptr::eq(stream, &arg.ty);
            if !whole {
                ctxt.error_spanned_by(
                    stream,
                    "a `Streaming` argument is the argument's whole type (`items: Streaming<T>`), \
                     with `T` a #[codable] type: a stream inside a value, or a stream of streams, \
                     cannot travel",
                );
            } else if i != last {
                ctxt.error_spanned_by(
                    stream,
                    format!(
                        "a streamed argument comes last, and a method takes at most one: move \
                         `{}` to the end of the arguments",
                        arg.ident
                    ),
                );
            } else if oneway {
                ctxt.error_spanned_by(
                    stream,
                    format!(
                        "a #[oneway] method cannot take a streamed argument: its items need a call \
                         to belong to; remove #[oneway] to make `{}` a call",
                        sig.ident
                    ),
                );
            }
        }
    }
    let ReturnType::Type(_, ty) = &sig.output else {
        return;
    };
    if oneway {
        if let Some(stream) = streams_in(ty).first() {
            ctxt.error_spanned_by(
                stream,
                format!(
                    "a #[oneway] method cannot stream: nothing is ever sent back for it; remove \
                     #[oneway] to make `{}` a streaming call",
                    sig.ident
                ),
            );
        }
        return;
    }
    // A byte stream carries the client's bytes itself: a streamed argument beside it could not
    // travel (a call streams one thing each way).
    if result_ok_type(ty).is_some_and(|ok| last_segment_is(ok, "ByteStream"))
        && let Some(upload) = args.last().filter(|arg| is_streaming(&arg.ty))
    {
        ctxt.error_spanned_by(
            &upload.ty,
            format!(
                "a method that returns a `ByteStream` cannot also take a streamed argument: the \
                 client writes into the byte stream instead; remove `{}` from `{}`'s arguments",
                upload.ident, sig.ident
            ),
        );
    }
    // The one place a stream may be: the first type argument of the returned `Result`.
    let allowed = result_ok_type(ty).filter(|ok| is_streaming(ok));
    for stream in streams_in(ty) {
        if !allowed.is_some_and(|ok| std::ptr::eq(ok, stream)) {
            ctxt.error_spanned_by(
                stream,
                "`Streaming` can only be the success type of what a method returns: \
                 `-> HandlerResult<Streaming<T>>` or `-> Result<Streaming<T, E>, E>`, with `T` \
                 a #[codable] type (a stream of streams, or a stream inside a value, cannot \
                 travel)",
            );
        }
    }
}

/// Splits a call's streamed argument (its last, if its type is `Streaming<...>`) off its other
/// arguments. A misplaced stream was reported by [`check_streams`].
fn split_upload(mut args: Vec<Arg>, oneway: bool) -> (Vec<Arg>, Option<Arg>) {
    let streams = args.last().is_some_and(|arg| is_streaming(&arg.ty));
    let upload = if streams && !oneway { args.pop() } else { None };
    (args, upload)
}

/// True if the method's return type holds a `Streaming`.
fn returns_a_stream(sig: &Signature) -> bool {
    matches!(&sig.output, ReturnType::Type(_, ty) if !streams_in(ty).is_empty())
}

/// True if `ty` is a path whose last segment is `Streaming`.
fn is_streaming(ty: &Type) -> bool {
    last_segment_is(ty, "Streaming")
}

/// True if `ty` is a path whose last segment is `name`.
fn last_segment_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|last| last.ident == name))
}

/// Every `Streaming<...>` in `ty`, outermost first.
fn streams_in(ty: &Type) -> Vec<&Type> {
    struct Finder<'a>(Vec<&'a Type>);
    impl<'ast> Visit<'ast> for Finder<'ast> {
        fn visit_type(&mut self, ty: &'ast Type) {
            if is_streaming(ty) {
                self.0.push(ty);
            }
            syn::visit::visit_type(self, ty);
        }
    }
    let mut finder = Finder(Vec::new());
    finder.visit_type(ty);
    finder.0
}

/// `T` of a return type written `HandlerResult<T>` or `Result<T, E>` (by any path).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" && last.ident != "HandlerResult" {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// A one-way method returns nothing: no return type, or `-> ()`.
fn check_oneway_output(ctxt: &Ctxt, sig: &Signature) {
    let ReturnType::Type(_, ty) = &sig.output else {
        return;
    };
    if matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty()) {
        return;
    }
    ctxt.error_spanned_by(
        ty,
        format!(
            "a #[oneway] method has no reply, so it returns nothing: remove `-> {}`, or remove \
             #[oneway] to make `{}` a call whose caller waits for the result",
            crate::text::compact_text(ty),
            sig.ident
        ),
    );
}

/// A call's return type (`HandlerResult<T>`, `Result<T, E>`), checked to be a wire type.
fn parse_call_output(ctxt: &Ctxt, sig: &Signature) -> Type {
    match &sig.output {
        ReturnType::Type(_, ty) => {
            check_wire_type(ctxt, ty, "return");
            (**ty).clone()
        }
        ReturnType::Default => {
            ctxt.error_spanned_by(
                &sig.ident,
                format!(
                    "rpc method `{}` has no return type: rpc methods return `HandlerResult<T>` or \
                     `Result<T, E>`; add `-> HandlerResult<()>` after the arguments, or mark the \
                     method `#[oneway]` if its caller should not wait for a reply",
                    sig.ident
                ),
            );
            syn::parse_quote!(())
        }
    }
}

/// `async fn`, without `const`, `unsafe` or `extern`.
fn check_signature_head(ctxt: &Ctxt, sig: &Signature) {
    if let Some(constness) = &sig.constness {
        ctxt.error_spanned_by(constness, "rpc methods cannot be `const`: remove `const`");
    }
    if sig.asyncness.is_none() {
        ctxt.error_spanned_by(
            head(&sig.fn_token, &sig.ident),
            "rpc methods must be `async fn`: add `async` before `fn`",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        ctxt.error_spanned_by(unsafety, "rpc methods cannot be `unsafe`: remove `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        ctxt.error_spanned_by(abi, "rpc methods cannot have an ABI: remove `extern`");
    }
}

fn check_generics(ctxt: &Ctxt, sig: &Signature) {
    if !sig.generics.params.is_empty() {
        ctxt.error_spanned_by(
            &sig.generics,
            "rpc methods cannot have generic or lifetime parameters (the client and the wire need \
             concrete types): remove them",
        );
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        ctxt.error_spanned_by(
            where_clause,
            "rpc methods cannot have a `where` clause: remove it",
        );
    }
}

/// `&self`, then at most [`MAX_ARGS`] arguments `name: Type`.
fn parse_inputs(ctxt: &Ctxt, sig: &Signature) -> Vec<Arg> {
    let mut inputs = sig.inputs.iter();
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => {
            inputs.next();
            let is_ref_self = matches!(receiver.reference, Some((_, None)))
                && receiver.mutability.is_none()
                && receiver.colon_token.is_none();
            if !is_ref_self {
                ctxt.error_spanned_by(
                    receiver,
                    "rpc methods take `&self` (one handler serves all of a connection's calls, \
                     concurrently): write `&self`",
                );
            }
        }
        _ => ctxt.error_at(
            sig.paren_token.span.join(),
            format!(
                "rpc methods take `&self` first: write `fn {}(&self, ...)`",
                sig.ident
            ),
        ),
    }

    let excess: TokenStream = sig
        .inputs
        .iter()
        .filter(|input| matches!(input, FnArg::Typed(_)))
        .skip(MAX_ARGS)
        .map(ToTokens::to_token_stream)
        .collect();
    if !excess.is_empty() {
        ctxt.error_spanned_by(
            excess,
            format!(
                "rpc methods take at most {MAX_ARGS} arguments (they travel as one tuple, and the \
                 wire encodes tuples of up to {MAX_ARGS}): group some in a #[codable] struct"
            ),
        );
    }

    let mut args = Vec::new();
    for input in inputs {
        let FnArg::Typed(input) = input else {
            ctxt.error_spanned_by(input, "`self` must be the first parameter");
            continue;
        };
        if let Some(attr) = input.attrs.first() {
            ctxt.error_spanned_by(attr, "rpc arguments cannot have attributes: remove it");
        }
        check_wire_type(ctxt, &input.ty, "argument");
        match &*input.pat {
            Pat::Ident(pat)
                if pat.by_ref.is_none() && pat.mutability.is_none() && pat.subpat.is_none() =>
            {
                args.push(Arg {
                    ident: pat.ident.clone(),
                    ty: (*input.ty).clone(),
                });
            }
            pat => ctxt.error_spanned_by(
                pat,
                "rpc arguments must be plain names such as `amount: u32` (no `mut`, `ref`, `_` or \
                 destructuring): name the argument",
            ),
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(args: TokenStream, item: Item) -> Vec<String> {
        super::super::error_messages(parse(args, &item))
    }

    fn counter() -> Item {
        syn::parse_quote! {
            pub trait Counter {
                /// Creates a new counter.
                async fn new_counter(&self) -> HandlerResult<()>;
                async fn increment(&self, amount: u32) -> HandlerResult<()>;
                async fn get(&self) -> HandlerResult<u32>;
            }
        }
    }

    #[test]
    fn counter_parses() {
        let service = parse(
            quote::quote!(state = State, events = CounterEvent),
            &counter(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = service
            .methods
            .iter()
            .map(|m| m.ident.to_string())
            .collect();
        assert_eq!(names, ["new_counter", "increment", "get"]);
        assert_eq!(service.methods[1].index, 1);
        assert_eq!(service.methods[1].args[0].ident, "amount");
        assert_eq!(service.methods[0].docs().count(), 1);
    }

    #[test]
    fn events_default_to_none() {
        let item: Item = syn::parse_quote! {
            trait Chat {
                async fn send(&self, room: String, text: Vec<u8>, at: Option<(u64, u32)>)
                    -> Result<(), ChatError>;
            }
        };
        let service = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert!(service.state.is_none());
    }

    #[test]
    fn a_trait_without_methods_is_a_service() {
        let item: Item = syn::parse_quote!(
            pub trait Empty {}
        );
        let service = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert!(service.methods.is_empty());
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let item: Item = syn::parse_quote! {
            trait Bad<T> where T: Send {
                type Item;
                const N: usize;
                fn not_async(&self) -> HandlerResult<()>;
                async fn no_self(amount: u32) -> HandlerResult<()>;
                async fn by_value(self) -> HandlerResult<()>;
                async fn by_mut(&mut self) -> HandlerResult<()>;
                async fn generic<U>(&self, u: U) -> HandlerResult<()>;
                async fn bounded(&self) -> HandlerResult<()> where Self: Sized;
                async fn default_body(&self) -> HandlerResult<()> { Ok(()) }
                async fn pattern(&self, (a, b): (u32, u32), mut c: u8) -> HandlerResult<()>;
                async fn no_return(&self);
                async fn borrowed(&self, name: &str) -> HandlerResult<()>;
                async fn new(&self) -> HandlerResult<()>;
            }
        };
        let errors = errors(quote::quote!(state = S, colour = Red, state = T), item);
        let expected = [
            "unknown argument `colour`: #[rpc] accepts `state = Type`, `events = Type` and `crate",
            "duplicate argument `state`: give it once",
            "an #[rpc] trait cannot have generic or lifetime parameters",
            "an #[rpc] trait cannot have a `where` clause",
            "move this associated type out of the trait",
            "move this const out of the trait",
            "rpc methods must be `async fn`: add `async` before `fn`",
            "rpc methods take `&self` first: write `fn no_self(&self, ...)`",
            "rpc methods take `&self` (one handler",
            "rpc methods take `&self` (one handler",
            "rpc methods cannot have generic or lifetime parameters",
            "rpc methods cannot have a `where` clause",
            "rpc trait methods cannot have a default body",
            "rpc arguments must be plain names",
            "rpc arguments must be plain names",
            "rpc method `no_return` has no return type",
            "rpc argument types must own their data",
            "an rpc method cannot be named `new`",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, expected) in errors.iter().zip(expected) {
            assert!(
                error.starts_with(expected) || error.contains(expected),
                "{error:?} ≠ {expected:?}"
            );
        }
    }

    #[test]
    fn the_client_s_own_method_names_are_refused_with_what_to_do() {
        let item: Item = syn::parse_quote! {
            trait ChatRoom {
                async fn connect(&self) -> HandlerResult<()>;
                async fn r#state(&self) -> HandlerResult<u32>;
                #[oneway]
                async fn subscribe(&self, topic: String);
                async fn clone(&self) -> HandlerResult<()>;
                async fn call(&self) -> HandlerResult<()>;
            }
        };
        let errors = errors(TokenStream::new(), item);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "an rpc method cannot be named `connect`: the generated `ChatRoomClient` has its own \
                 method `connect`, and the two would clash; rename the rpc method (for example \
                 `chat_room_connect`)"
            ),
            "{}",
            errors[0]
        );
        assert!(errors[1].starts_with("an rpc method cannot be named `state`"));
        assert!(errors[2].starts_with("an rpc method cannot be named `subscribe`"));
    }

    #[test]
    fn the_crate_path_is_parsed_and_bad_values_are_reported() {
        let item: Item = syn::parse_quote!(
            trait Empty {}
        );
        let service = parse(quote::quote!(crate = "::hl"), &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(service.krate.0.to_token_stream().to_string(), ":: hl");
        let service = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            service.krate.0.to_token_stream().to_string(),
            ":: hardlight"
        );

        let errors = errors(
            quote::quote!(
                crate = hl,
                crate = "not a path",
                crate = "a::b",
                crate = "c"
            ),
            item,
        );
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with(
                "expected a string after `crate =`: the path where the `hardlight` crate is"
            ),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("`not a path` is not a path"),
            "{}",
            errors[1]
        );
        assert_eq!(errors[2], "duplicate argument `crate`: give it once");
    }

    #[test]
    fn oneway_under_the_renamed_crate_is_oneway() {
        let item: Item = syn::parse_quote! {
            trait Logger {
                #[hl::oneway]
                async fn log(&self, line: String);
            }
        };
        let service = parse(quote::quote!(crate = "::hl"), &item).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(service.methods[0].kind, MethodKind::Oneway));
    }

    #[test]
    fn oneway_methods_are_marked_in_the_model() {
        let item: Item = syn::parse_quote! {
            trait Logger {
                /// Appends a line.
                #[oneway]
                async fn log(&self, line: String, level: u8);
                #[hardlight::oneway]
                async fn flush(&self) -> ();
                async fn count(&self) -> HandlerResult<u64>;
            }
        };
        let service = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        let oneway: Vec<bool> = service
            .methods
            .iter()
            .map(|m| matches!(m.kind, MethodKind::Oneway))
            .collect();
        assert_eq!(oneway, [true, true, false]);
        // `#[oneway]` is consumed; the docs stay.
        assert_eq!(service.methods[0].attrs.len(), 1);
        assert_eq!(service.methods[0].docs().count(), 1);
        assert!(service.methods[1].attrs.is_empty());
    }

    #[test]
    fn oneway_mistakes_are_reported() {
        let item: Item = syn::parse_quote! {
            trait Logger {
                #[oneway]
                async fn returns(&self) -> HandlerResult<()>;
                #[oneway(reply)]
                async fn with_arguments(&self);
                #[oneway]
                #[oneway]
                async fn twice(&self);
                #[oneway]
                fn not_async(&self);
                async fn neither(&self);
            }
        };
        let errors = errors(TokenStream::new(), item);
        let expected = [
            "a #[oneway] method has no reply, so it returns nothing: remove `-> HandlerResult<()>`",
            "#[oneway] takes no arguments",
            "duplicate #[oneway]",
            "rpc methods must be `async fn`",
            "rpc method `neither` has no return type",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.starts_with(expected), "{error:?} ≠ {expected:?}");
        }
        assert!(errors[4].contains("`#[oneway]`"), "{}", errors[4]);
    }

    #[test]
    fn only_the_oneway_paths_are_oneway() {
        for (path, expected) in [
            (quote::quote!(oneway), true),
            (quote::quote!(hardlight::oneway), true),
            (quote::quote!(::hardlight::oneway), true),
            (quote::quote!(::oneway), false),
            (quote::quote!(other::oneway), false),
            (quote::quote!(hardlight::oneway::more), false),
            (quote::quote!(doc), false),
        ] {
            let path: Path = syn::parse2(path.clone()).unwrap();
            assert_eq!(
                is_oneway(&path, &CratePath::default()),
                expected,
                "{}",
                path.to_token_stream()
            );
        }
    }

    #[test]
    fn more_than_13_arguments_are_rejected_once() {
        let item: Item = syn::parse_quote! {
            trait Wide {
                async fn wide(&self, a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8,
                    i: u8, j: u8, k: u8, l: u8, m: u8, n: u8, o: u8) -> HandlerResult<()>;
                async fn widest_allowed(&self, a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8,
                    h: u8, i: u8, j: u8, k: u8, l: u8, m: u8) -> HandlerResult<()>;
            }
        };
        let errors = errors(TokenStream::new(), item);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("rpc methods take at most 13 arguments"));
    }

    #[test]
    fn not_a_trait_is_rejected() {
        let item: Item = syn::parse_quote!(
            struct Counter;
        );
        let errors = errors(TokenStream::new(), item);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("#[rpc] goes on a trait"));
    }
}
