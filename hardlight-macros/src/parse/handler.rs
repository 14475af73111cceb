//! `#[rpc_handler]`: `impl RpcTrait for Handler { ... }` → [`HandlerImpl`]; its connection hooks
//! are read by [`super::hooks`].

use proc_macro2::TokenStream;
use syn::{Item, ItemImpl, Path, Type, Visibility};

use super::hooks::take_hooks;
use super::{head, item_head, parse_args, parse_crate_arg, parse_type_arg};
use crate::ctxt::Ctxt;
use crate::model::{CratePath, HandlerImpl};

const PLACEMENT: &str =
    "#[rpc_handler] goes on `impl YourRpcTrait for YourHandler`; the struct is generated for you";

/// Parses `#[rpc_handler(args)]` on `item`.
pub(crate) fn parse(args: TokenStream, item: &Item) -> syn::Result<HandlerImpl> {
    let ctxt = Ctxt::new();
    let (vis, context, krate) = parse_handler_args(&ctxt, args);
    let handler = match item {
        Item::Impl(item) => parse_impl(&ctxt, item, vis, context, krate),
        other => {
            ctxt.error_spanned_by(item_head(other), PLACEMENT);
            None
        }
    };
    ctxt.finish(handler)
}

/// `context = Type, vis = Visibility, crate = "path"`, all optional.
fn parse_handler_args(ctxt: &Ctxt, args: TokenStream) -> (Visibility, Option<Type>, CratePath) {
    let mut vis: Option<Visibility> = None;
    let mut context = None;
    let mut krate = None;
    parse_args(
        ctxt,
        "rpc_handler",
        "`context = Type`, `vis = pub` (or another visibility) and `crate = \"path\"`",
        args,
        |key, input| {
            if key == "context" {
                parse_type_arg(ctxt, &mut context, key, input)?;
            } else if key == "crate" {
                parse_crate_arg(ctxt, &mut krate, key, input)?;
            } else if key == "vis" {
                let value: Visibility = input.parse()?;
                if matches!(value, Visibility::Inherited) {
                    return Err(input.error(
                        "expected a visibility after `vis =`: `pub`, `pub(crate)` or `pub(super)`",
                    ));
                }
                if vis.is_some() {
                    ctxt.error_spanned_by(key, "duplicate argument `vis`: give it once");
                } else {
                    vis = Some(value);
                }
            } else {
                return Ok(false);
            }
            Ok(true)
        },
    );
    (
        vis.unwrap_or(Visibility::Inherited),
        context,
        krate.unwrap_or_default(),
    )
}

fn parse_impl(
    ctxt: &Ctxt,
    item: &ItemImpl,
    vis: Visibility,
    context: Option<Type>,
    krate: CratePath,
) -> Option<HandlerImpl> {
    let Some((negative, service, _)) = &item.trait_ else {
        ctxt.error_spanned_by(head(&item.impl_token, &item.self_ty), PLACEMENT);
        return None;
    };
    if let Some(negative) = negative {
        ctxt.error_spanned_by(negative, "a handler implements its rpc trait: remove `!`");
    }
    if !item.generics.params.is_empty() {
        ctxt.error_spanned_by(
            &item.generics,
            "an #[rpc_handler] impl cannot be generic (the handler struct is generated, with no \
             parameters): remove them",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        ctxt.error_spanned_by(
            where_clause,
            "an #[rpc_handler] impl cannot have a `where` clause: remove it",
        );
    }
    if let Some(unsafety) = &item.unsafety {
        ctxt.error_spanned_by(
            unsafety,
            "rpc traits are safe to implement: remove `unsafe`",
        );
    }
    // A single segment without generic arguments: `Handler`, not `h::Handler` or `Handler<T>`.
    let ident = match &*item.self_ty {
        Type::Path(ty) if ty.qself.is_none() => ty.path.get_ident().cloned(),
        _ => None,
    };
    if ident.is_none() {
        ctxt.error_spanned_by(
            &item.self_ty,
            "the handler must be named by a plain identifier such as `CounterHandler`: \
             #[rpc_handler] defines this struct, so it cannot be a path, a reference or generic",
        );
    }
    let (item, hooks) = take_hooks(ctxt, item);
    Some(HandlerImpl {
        vis,
        ident: ident?,
        service: Path::clone(service),
        context,
        item,
        hooks,
        krate,
    })
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;

    use super::*;

    fn errors(args: TokenStream, item: Item) -> Vec<String> {
        super::super::error_messages(parse(args, &item))
    }

    #[test]
    fn a_trait_impl_parses_with_its_arguments() {
        let item: Item = syn::parse_quote! {
            impl api::Counter for Handler {
                async fn get(&self) -> HandlerResult<u32> { Ok(0) }
            }
        };
        let handler = parse(quote::quote!(context = AppContext, vis = pub(crate)), &item)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(handler.ident, "Handler");
        assert_eq!(
            handler.service.to_token_stream().to_string(),
            "api :: Counter"
        );
        assert!(handler.context.is_some());
        assert!(matches!(handler.vis, Visibility::Restricted(_)));
    }

    #[test]
    fn defaults_are_private_without_context() {
        let item: Item = syn::parse_quote!(impl Counter for Handler {});
        let handler = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(handler.vis, Visibility::Inherited));
        assert!(handler.context.is_none());
    }

    #[test]
    fn not_a_trait_impl_is_rejected() {
        for item in [
            syn::parse_quote!(
                fn handler() {}
            ),
            syn::parse_quote!(
                struct Handler;
            ),
            syn::parse_quote!(impl Handler {}),
        ] {
            assert_eq!(errors(TokenStream::new(), item), [PLACEMENT]);
        }
    }

    #[test]
    fn the_handler_must_be_a_plain_name() {
        for item in [
            syn::parse_quote!(impl Counter for handlers::Handler {}),
            syn::parse_quote!(impl Counter for Handler<u8> {}),
            syn::parse_quote!(impl Counter for &Handler {}),
        ] {
            let errors = errors(TokenStream::new(), item);
            assert_eq!(errors.len(), 1);
            assert!(errors[0].starts_with("the handler must be named by a plain identifier"));
        }
    }

    #[test]
    fn bad_arguments_are_all_reported() {
        let item: Item = syn::parse_quote!(
            impl<T> Counter for Handler {}
        );
        let errors = errors(quote::quote!(state = S, context = A, context = B), item);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].starts_with("unknown argument `state`"));
        assert!(errors[1].starts_with("duplicate argument `context`"));
        assert!(errors[2].starts_with("an #[rpc_handler] impl cannot be generic"));
    }
}
