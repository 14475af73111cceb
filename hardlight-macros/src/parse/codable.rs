//! `#[codable]`: a struct or enum → [`CodableItem`].

use proc_macro2::TokenStream;
use syn::Item;

use super::{item_head, reject_args};
use crate::ctxt::Ctxt;
use crate::model::CodableItem;

const PLACEMENT: &str = "#[codable] goes on a struct or enum: it derives the type's wire encoding";

/// Parses `#[codable(args)]` on `item`.
pub(crate) fn parse(args: TokenStream, item: &Item) -> syn::Result<CodableItem> {
    let ctxt = Ctxt::new();
    reject_args(&ctxt, "codable", args);
    let codable = match item {
        Item::Struct(_) | Item::Enum(_) => Some(CodableItem { item: item.clone() }),
        other => {
            ctxt.error_spanned_by(item_head(other), PLACEMENT);
            None
        }
    };
    ctxt.finish(codable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(args: TokenStream, item: Item) -> Vec<String> {
        super::super::error_messages(parse(args, &item))
    }

    #[test]
    fn structs_and_enums_are_accepted() {
        assert!(
            errors(
                TokenStream::new(),
                syn::parse_quote!(
                    struct A(u8);
                )
            )
            .is_empty()
        );
        assert!(
            errors(
                TokenStream::new(),
                syn::parse_quote!(
                    enum B {
                        X,
                        Y(u8),
                    }
                )
            )
            .is_empty()
        );
    }

    #[test]
    fn other_items_and_arguments_are_rejected() {
        assert_eq!(
            errors(
                TokenStream::new(),
                syn::parse_quote!(
                    fn f() {}
                )
            ),
            [PLACEMENT]
        );
        assert_eq!(
            errors(TokenStream::new(), syn::parse_quote!(union U { a: u8 })),
            [PLACEMENT]
        );
        assert_eq!(
            errors(
                quote::quote!(compare),
                syn::parse_quote!(
                    struct A;
                )
            ),
            ["#[codable] takes no arguments: write `#[codable]`"]
        );
    }
}
