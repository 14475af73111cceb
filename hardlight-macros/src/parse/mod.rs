//! The parse step: from the `syn` input of each macro to its validated model. Every user mistake is
//! found here and recorded in a [`Ctxt`] with the span of the offending token and how to fix it; a
//! parse function returns its model only when there were none.
//!
//! This module holds what the four macros share: the `key = value` argument list, a short span for an
//! item's head (`struct Name`, `fn name`), and the check that a type can travel over the wire.

pub(crate) mod codable;
pub(crate) mod handler;
pub(crate) mod hooks;
pub(crate) mod rpc;
pub(crate) mod state;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::visit::Visit;
use syn::{Ident, Item, Path, Token, Type};

use crate::ctxt::Ctxt;
use crate::model::CratePath;

/// Parses a macro's arguments, `key = value, ...`.
///
/// `value` is called with each key and the stream positioned at its value; it parses the value and
/// returns `Ok(true)`, or returns `Ok(false)` for a key the macro does not know, which is then reported
/// (`usage` lists the accepted arguments) and its value skipped, so that later arguments are still
/// checked. A malformed list is reported and stops the parse.
pub(crate) fn parse_args(
    ctxt: &Ctxt,
    macro_name: &str,
    usage: &str,
    args: TokenStream,
    mut value: impl FnMut(&Ident, ParseStream) -> syn::Result<bool>,
) {
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            let key = input.call(Ident::parse_any)?;
            if !input.peek(Token![=]) {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("expected `{key} = ...`: #[{macro_name}] accepts {usage}"),
                ));
            }
            input.parse::<Token![=]>()?;
            if !value(&key, input)? {
                ctxt.error_spanned_by(
                    &key,
                    format!("unknown argument `{key}`: #[{macro_name}] accepts {usage}"),
                );
                skip_value(input);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(args) {
        ctxt.syn_error(error);
    }
}

/// Parses the value of `key = Type`, reporting a duplicate `key`.
pub(crate) fn parse_type_arg(
    ctxt: &Ctxt,
    slot: &mut Option<Type>,
    key: &Ident,
    input: ParseStream,
) -> syn::Result<()> {
    let ty: Type = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("expected a type after `{key} =`, such as `{key} = MyType`"),
        )
    })?;
    if slot.is_some() {
        ctxt.error_spanned_by(key, format!("duplicate argument `{key}`: give it once"));
    } else {
        *slot = Some(ty);
    }
    Ok(())
}

/// Parses the value of `crate = "path"`: the path at which the generated code finds the runtime, for a
/// crate that renames `hardlight` or re-exports it (serde's `crate = "..."`). Reports a duplicate, a
/// value that is not a string, and a string that is not a path.
pub(crate) fn parse_crate_arg(
    ctxt: &Ctxt,
    slot: &mut Option<CratePath>,
    key: &Ident,
    input: ParseStream,
) -> syn::Result<()> {
    const WHAT: &str = "the path where the `hardlight` crate is, such as \
                        `crate = \"::hardlight\"` or `crate = \"my_runtime::hardlight\"` (for a \
                        crate that renames or re-exports it)";
    if !input.peek(syn::LitStr) {
        let found: TokenStream = input.step(|cursor| {
            cursor
                .token_tree()
                .map(|(tree, next)| (tree.into_token_stream(), next))
                .ok_or_else(|| cursor.error("missing value"))
        })?;
        ctxt.error_spanned_by(&found, format!("expected a string after `crate =`: {WHAT}"));
        skip_value(input);
        return Ok(());
    }
    let lit: syn::LitStr = input.parse()?;
    let path = match lit.parse_with(Path::parse_mod_style) {
        Ok(path) => Some(path),
        Err(_) => {
            let value = lit.value();
            let what = if value.trim().is_empty() {
                "an empty string is not a path".to_owned()
            } else {
                format!("`{value}` is not a path")
            };
            ctxt.error_spanned_by(&lit, format!("{what}: `crate = ...` gives {WHAT}"));
            None
        }
    };
    if slot.is_some() {
        ctxt.error_spanned_by(key, format!("duplicate argument `{key}`: give it once"));
    } else if let Some(path) = path {
        *slot = Some(CratePath(path));
    }
    Ok(())
}

/// Parses the arguments of a macro whose only argument is `crate = "path"`.
pub(crate) fn parse_crate_only(ctxt: &Ctxt, macro_name: &str, args: TokenStream) -> CratePath {
    let mut krate = None;
    parse_args(
        ctxt,
        macro_name,
        "only `crate = \"path\"` (where the `hardlight` crate is, when renamed)",
        args,
        |key, input| {
            if key != "crate" {
                return Ok(false);
            }
            parse_crate_arg(ctxt, &mut krate, key, input)?;
            Ok(true)
        },
    );
    krate.unwrap_or_default()
}

/// Skips the tokens of an unknown argument's value, up to the next `,` outside `<...>`.
fn skip_value(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        let mut depth = 0usize;
        while let Some((tree, next)) = rest.token_tree() {
            if let TokenTree::Punct(punct) = &tree {
                match punct.as_char() {
                    ',' if depth == 0 => break,
                    '<' => depth += 1,
                    '>' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

/// The head of an item, `struct Name`, `fn name`, `impl Type`...: a short span to point at when the
/// item as a whole is the mistake.
pub(crate) fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Const(item) => head(&item.const_token, &item.ident),
        Item::Enum(item) => head(&item.enum_token, &item.ident),
        Item::ExternCrate(item) => head(&item.extern_token, &item.ident),
        Item::Fn(item) => head(&item.sig.fn_token, &item.sig.ident),
        Item::ForeignMod(item) => item.abi.to_token_stream(),
        Item::Impl(item) => head(&item.impl_token, &item.self_ty),
        Item::Macro(item) => item.mac.path.to_token_stream(),
        Item::Mod(item) => head(&item.mod_token, &item.ident),
        Item::Static(item) => head(&item.static_token, &item.ident),
        Item::Struct(item) => head(&item.struct_token, &item.ident),
        Item::Trait(item) => head(&item.trait_token, &item.ident),
        Item::TraitAlias(item) => head(&item.trait_token, &item.ident),
        Item::Type(item) => head(&item.type_token, &item.ident),
        Item::Union(item) => head(&item.union_token, &item.ident),
        Item::Use(item) => item.use_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}

/// `keyword` followed by `name`, to point an error at both (`fn get`, `struct State`).
pub(crate) fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    let mut tokens = keyword.to_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

/// Reports what in `ty` cannot travel over the wire as a value, or cannot be named from the generated
/// client and dispatch code: borrowed data (`&T`, lifetimes other than `'static`), `impl Trait`, `_`
/// and `Self`. `role` says what the type is, for the message: "argument", "return".
pub(crate) fn check_wire_type(ctxt: &Ctxt, ty: &Type, role: &str) {
    struct Checker<'a> {
        ctxt: &'a Ctxt,
        role: &'a str,
    }

    impl<'ast> Visit<'ast> for Checker<'_> {
        fn visit_type_reference(&mut self, ty: &'ast syn::TypeReference) {
            // Not descending: one error per reference.
            self.ctxt.error_spanned_by(
                ty,
                format!(
                    "rpc {} types must own their data, they are decoded from the wire: use an owned \
                     type (`String` for `&str`, `Vec<T>` for `&[T]`)",
                    self.role
                ),
            );
        }

        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if lifetime.ident != "static" {
                self.ctxt.error_spanned_by(
                    lifetime,
                    format!(
                        "rpc {} types cannot borrow: remove the lifetime `{lifetime}` and use owned \
                         types",
                        self.role
                    ),
                );
            }
        }

        fn visit_type_impl_trait(&mut self, ty: &'ast syn::TypeImplTrait) {
            self.ctxt.error_spanned_by(
                ty,
                format!(
                    "`impl Trait` cannot be an rpc {} type: name a concrete type",
                    self.role
                ),
            );
        }

        fn visit_type_infer(&mut self, ty: &'ast syn::TypeInfer) {
            self.ctxt.error_spanned_by(
                ty,
                format!("rpc {} types must be written out: replace `_`", self.role),
            );
        }

        fn visit_type_path(&mut self, ty: &'ast syn::TypePath) {
            let names_self = ty.qself.is_none()
                && ty
                    .path
                    .segments
                    .first()
                    .is_some_and(|segment| segment.ident == "Self");
            if names_self {
                self.ctxt.error_spanned_by(
                    ty,
                    format!(
                        "`Self` cannot appear in an rpc {} type (the client has no `Self`): name \
                         the type",
                        self.role
                    ),
                );
            } else {
                syn::visit::visit_type_path(self, ty);
            }
        }
    }

    Checker { ctxt, role }.visit_type(ty);
}

/// Every error message of a parse result, in order (empty on success); for the parsers' unit tests.
#[cfg(test)]
pub(crate) fn error_messages<T>(result: syn::Result<T>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(ctxt: Ctxt) -> Vec<String> {
        error_messages(ctxt.check())
    }

    #[test]
    fn unknown_arguments_are_reported_and_later_ones_still_parsed() {
        let ctxt = Ctxt::new();
        let mut seen = Vec::new();
        parse_args(
            &ctxt,
            "rpc",
            "`state = Type`",
            quote::quote!(colour = Vec<u8, u16>, state = State),
            |key, input| {
                if key == "state" {
                    seen.push(input.parse::<Type>()?);
                    Ok(true)
                } else {
                    Ok(false)
                }
            },
        );
        assert_eq!(seen.len(), 1);
        assert_eq!(
            messages(ctxt),
            ["unknown argument `colour`: #[rpc] accepts `state = Type`"]
        );
    }

    #[test]
    fn a_key_without_value_is_reported() {
        let ctxt = Ctxt::new();
        parse_args(
            &ctxt,
            "rpc",
            "`state = Type`",
            quote::quote!(State),
            |_, _| Ok(true),
        );
        assert_eq!(
            messages(ctxt),
            ["expected `State = ...`: #[rpc] accepts `state = Type`"]
        );
    }

    #[test]
    fn duplicate_type_arguments_are_reported() {
        let ctxt = Ctxt::new();
        let mut state = None;
        parse_args(
            &ctxt,
            "rpc",
            "`state = Type`",
            quote::quote!(state = A, state = B),
            |key, input| parse_type_arg(&ctxt, &mut state, key, input).map(|()| true),
        );
        assert_eq!(messages(ctxt), ["duplicate argument `state`: give it once"]);
    }

    #[test]
    fn borrowed_and_unnamed_types_are_rejected() {
        let ctxt = Ctxt::new();
        for ty in [
            syn::parse_quote!(&str),
            syn::parse_quote!(Cow<'a, str>),
            syn::parse_quote!(impl Codable),
            syn::parse_quote!(Vec<_>),
            syn::parse_quote!(Self::Item),
        ] {
            check_wire_type(&ctxt, &ty, "argument");
        }
        let messages = messages(ctxt);
        assert_eq!(messages.len(), 5, "{messages:#?}");
    }

    #[test]
    fn owned_types_pass() {
        let ctxt = Ctxt::new();
        for ty in [
            syn::parse_quote!(u32),
            syn::parse_quote!(Vec<(String, Option<u8>)>),
            syn::parse_quote!(Cow<'static, str>),
            syn::parse_quote!([u8; 32]),
        ] {
            check_wire_type(&ctxt, &ty, "argument");
        }
        assert!(messages(ctxt).is_empty());
    }
}
