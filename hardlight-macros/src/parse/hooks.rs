//! Connection hooks in an `#[rpc_handler]` impl: the methods marked `#[on_connect]` and
//! `#[on_disconnect]` → [`Hooks`], and the impl without them.
//!
//! A hook is `async fn name(&self)`; an `on_disconnect` hook may take the reason,
//! `async fn name(&self, why: hardlight::Disconnect)`. Hooks are not trait methods: they are taken
//! out of the trait impl and generated as inherent methods of the handler.

use quote::ToTokens;
use syn::{Attribute, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Signature, Type};

use crate::ctxt::Ctxt;
use crate::model::{Hook, HookKind, Hooks};

/// Takes the hook methods out of `item`; every mistake in them is recorded in `ctxt`.
pub(crate) fn take_hooks(ctxt: &Ctxt, item: &ItemImpl) -> (ItemImpl, Hooks) {
    let mut hooks = Hooks::default();
    let mut rest = item.clone();
    rest.items.clear();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            rest.items.push(impl_item.clone());
            continue;
        };
        report_misspelled_hooks(ctxt, &method.attrs);
        let marks: Vec<(HookKind, &Attribute)> = method
            .attrs
            .iter()
            .filter_map(|attr| hook_kind(attr).map(|kind| (kind, attr)))
            .collect();
        let Some(&(kind, attr)) = marks.first() else {
            rest.items.push(impl_item.clone());
            continue;
        };
        for (other, attr) in &marks[1..] {
            ctxt.error_spanned_by(
                attr,
                format!(
                    "`{}` is already marked #[{}]: a method is one hook at most; write a separate \
                     method for #[{}]",
                    method.sig.ident,
                    kind.attribute(),
                    other.attribute()
                ),
            );
        }
        if attr.meta.require_path_only().is_err() {
            ctxt.error_spanned_by(
                &attr.meta,
                format!(
                    "#[{0}] takes no arguments: write `#[{0}]`",
                    kind.attribute()
                ),
            );
        }
        let reason = check_signature(ctxt, kind, &method.sig);
        let mut method = ImplItemFn::clone(method);
        method.attrs.retain(|attr| hook_kind(attr).is_none());
        let slot = hooks.slot(kind);
        match slot {
            Some(first) => ctxt.error_spanned_by(
                attr,
                format!(
                    "duplicate #[{}]: `{}` is already this handler's {} hook; a handler has at most \
                     one, so do both things in one method",
                    kind.attribute(),
                    first.method.sig.ident,
                    kind.attribute()
                ),
            ),
            None => *slot = Some(Hook { method, reason }),
        }
    }
    (rest, hooks)
}

/// The hook an attribute marks, if it is `#[on_connect]` or `#[on_disconnect]`.
fn hook_kind(attr: &Attribute) -> Option<HookKind> {
    let name = attr.path().get_ident()?;
    HookKind::ALL
        .into_iter()
        .find(|kind| name == kind.attribute())
}

/// Reports `#[on_conect]` and the like, which would otherwise be left on a trait method and fail as
/// an unknown attribute far from what the user meant.
fn report_misspelled_hooks(ctxt: &Ctxt, attrs: &[Attribute]) {
    for attr in attrs {
        let Some(name) = attr.path().get_ident().map(ToString::to_string) else {
            continue;
        };
        let meant = HookKind::ALL
            .into_iter()
            .find(|kind| name != kind.attribute() && edit_distance(&name, kind.attribute()) <= 2);
        if let Some(meant) = meant {
            ctxt.error_spanned_by(
                attr.path(),
                format!(
                    "unknown attribute `#[{name}]`: the connection hooks are #[on_connect] and \
                     #[on_disconnect]; did you mean #[{}]?",
                    meant.attribute()
                ),
            );
        }
    }
}

/// Levenshtein distance, for the short names above.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Checks a hook's signature; returns the type of an `on_disconnect` hook's reason argument.
fn check_signature(ctxt: &Ctxt, kind: HookKind, sig: &Signature) -> Option<Type> {
    let attribute = kind.attribute();
    let name = &sig.ident;
    let usage = match kind {
        HookKind::OnConnect => format!("`async fn {name}(&self)`"),
        HookKind::OnDisconnect => format!(
            "`async fn {name}(&self)` or `async fn {name}(&self, why: hardlight::Disconnect)`"
        ),
    };
    if let Some(constness) = &sig.constness {
        ctxt.error_spanned_by(
            constness,
            format!("an #[{attribute}] hook cannot be `const`: remove it"),
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        ctxt.error_spanned_by(
            unsafety,
            format!("an #[{attribute}] hook cannot be `unsafe`: remove it"),
        );
    }
    if let Some(abi) = &sig.abi {
        ctxt.error_spanned_by(
            abi,
            format!("an #[{attribute}] hook cannot be `extern`: remove it"),
        );
    }
    if sig.asyncness.is_none() {
        ctxt.error_spanned_by(
            sig.fn_token,
            format!("an #[{attribute}] hook is an `async fn`: write {usage}"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        ctxt.error_spanned_by(
            &sig.generics,
            format!(
                "an #[{attribute}] hook cannot be generic: remove the parameters; write {usage}"
            ),
        );
    }

    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some()
                && receiver.mutability.is_none()
                && receiver.colon_token.is_none() => {}
        Some(other) => ctxt.error_spanned_by(
            other,
            format!(
                "an #[{attribute}] hook takes `&self` (the handler is shared by the connection's \
                 calls): write {usage}"
            ),
        ),
        None => ctxt.error_spanned_by(
            name,
            format!("an #[{attribute}] hook takes `&self`: write {usage}"),
        ),
    }
    let arguments: Vec<&FnArg> = inputs.collect();
    let allowed = match kind {
        HookKind::OnConnect => 0,
        HookKind::OnDisconnect => 1,
    };
    if arguments.len() > allowed {
        let extra: proc_macro2::TokenStream = arguments[allowed..]
            .iter()
            .map(|arg| arg.to_token_stream())
            .collect();
        ctxt.error_spanned_by(
            extra,
            format!("an #[{attribute}] hook takes no other arguments: write {usage}"),
        );
    }

    if let ReturnType::Type(_, ty) = &sig.output
        && !matches!(&**ty, Type::Tuple(unit) if unit.elems.is_empty())
    {
        ctxt.error_spanned_by(
            ty,
            format!(
                "an #[{attribute}] hook returns nothing (nobody could receive an error: log it; a \
                 panic is contained): remove `-> {}`",
                ty.to_token_stream()
            ),
        );
    }

    match (kind, arguments.first()) {
        (HookKind::OnDisconnect, Some(FnArg::Typed(arg))) => Some(Type::clone(&arg.ty)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(item: ItemImpl) -> (ItemImpl, Hooks, Vec<String>) {
        let ctxt = Ctxt::new();
        let (rest, hooks) = take_hooks(&ctxt, &item);
        (rest, hooks, super::super::error_messages(ctxt.check()))
    }

    #[test]
    fn hooks_are_taken_out_of_the_trait_impl() {
        let (rest, hooks, errors) = take(syn::parse_quote! {
            impl Chat for Handler {
                async fn say(&self, text: String) -> HandlerResult<()> { Ok(()) }
                /// Joins the lobby.
                #[on_connect]
                async fn joined(&self) {}
                #[on_disconnect]
                async fn left(&self, why: hardlight::Disconnect) -> () {}
            }
        });
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(rest.items.len(), 1);
        let joined = hooks.on_connect.expect("on_connect");
        assert_eq!(joined.method.sig.ident, "joined");
        // The doc comment stays, the hook attribute goes.
        assert_eq!(joined.method.attrs.len(), 1);
        assert!(joined.reason.is_none());
        let left = hooks.on_disconnect.expect("on_disconnect");
        assert_eq!(
            left.reason.map(|ty| ty.to_token_stream().to_string()),
            Some("hardlight :: Disconnect".to_owned())
        );
    }

    #[test]
    fn the_reason_is_optional() {
        let (_, hooks, errors) = take(syn::parse_quote! {
            impl Chat for Handler {
                #[on_disconnect]
                async fn left(&self) {}
            }
        });
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(
            hooks
                .on_disconnect
                .is_some_and(|hook| hook.reason.is_none())
        );
    }

    #[test]
    fn every_mistake_is_reported() {
        let (_, _, errors) = take(syn::parse_quote! {
            impl Chat for Handler {
                #[on_connect]
                fn not_async(&self) {}
                #[on_connect]
                async fn second(&self) {}
                #[on_disconnect]
                async fn mutable(&mut self, why: Disconnect, extra: u32) -> bool { true }
                #[on_connect(now)]
                #[on_disconnect]
                async fn both<T>(self: Arc<Self>) {}
                #[on_conect]
                async fn typo(&self) {}
            }
        });
        let starts = [
            "an #[on_connect] hook is an `async fn`",
            "duplicate #[on_connect]: `not_async` is already",
            "an #[on_disconnect] hook takes `&self`",
            "an #[on_disconnect] hook takes no other arguments",
            "an #[on_disconnect] hook returns nothing",
            "`both` is already marked #[on_connect]",
            "#[on_connect] takes no arguments",
            "an #[on_connect] hook cannot be generic",
            "an #[on_connect] hook takes `&self`",
            "duplicate #[on_connect]: `not_async`",
            "unknown attribute `#[on_conect]`",
        ];
        assert_eq!(errors.len(), starts.len(), "{errors:#?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(
                error.starts_with(start),
                "{error:?} should start with {start:?}"
            );
        }
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("on_connect", "on_connect"), 0);
        assert_eq!(edit_distance("on_conect", "on_connect"), 1);
        assert_eq!(edit_distance("on_disconect", "on_disconnect"), 1);
        assert_eq!(edit_distance("onconnect", "on_connect"), 1);
        assert!(edit_distance("inline", "on_connect") > 2);
    }
}
