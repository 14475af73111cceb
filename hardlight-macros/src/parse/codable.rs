//! `#[codable]`: a struct or enum → [`CodableItem`].

use proc_macro2::TokenStream;
use syn::visit::Visit;
use syn::{Fields, Ident, Item};

use super::{item_head, parse_crate_only};
use crate::ctxt::Ctxt;
use crate::model::{CodableItem, CratePath};

const PLACEMENT: &str = "#[codable] goes on a struct or enum: it derives the type's wire encoding";

/// The most variants an enum can have: its archived tag is one byte (docs/PROTOCOL.md §4.3).
const MAX_VARIANTS: usize = 256;

const TOO_MANY_VARIANTS: &str = "a #[codable] enum has at most 256 variants: the variant travels as a \
                                 one-byte tag (docs/PROTOCOL.md §4.3); group some variants into an \
                                 enum of their own, held by one variant";

/// Parses `#[codable(args)]` on `item`.
pub(crate) fn parse(args: TokenStream, item: &Item) -> syn::Result<CodableItem> {
    let ctxt = Ctxt::new();
    let krate = parse_crate_only(&ctxt, "codable", args);
    let codable = match item {
        // rkyv's derive would refuse it too, but among hundreds of follow-on errors.
        Item::Enum(e) if e.variants.len() > MAX_VARIANTS => {
            ctxt.error_spanned_by(&e.ident, TOO_MANY_VARIANTS);
            None
        }
        Item::Struct(_) | Item::Enum(_) => Some(mark_recursion(item.clone(), krate)),
        other => {
            ctxt.error_spanned_by(item_head(other), PLACEMENT);
            None
        }
    };
    ctxt.finish(codable)
}

/// Marks the fields whose type names the item itself (`Self` or its own name) with
/// `#[rkyv(omit_bounds)]`, so that a recursive type derives without an infinite chain of bounds.
/// A type that contains itself only through another type (`A` holds `B` holds `A`) is not seen here:
/// the README says how to mark such a field by hand.
fn mark_recursion(mut item: Item, krate: CratePath) -> CodableItem {
    let (ident, fields): (Ident, Vec<&mut Fields>) = match &mut item {
        Item::Struct(s) => (s.ident.clone(), vec![&mut s.fields]),
        Item::Enum(e) => (
            e.ident.clone(),
            e.variants.iter_mut().map(|v| &mut v.fields).collect(),
        ),
        _ => unreachable!("parse only calls this for structs and enums"),
    };
    let mut recursive = false;
    for field in fields.into_iter().flat_map(|fields| fields.iter_mut()) {
        let mut finder = NamesType {
            ident: &ident,
            found: false,
        };
        finder.visit_type(&field.ty);
        if finder.found {
            recursive = true;
            field.attrs.push(syn::parse_quote!(#[rkyv(omit_bounds)]));
        }
    }
    CodableItem {
        item,
        recursive,
        krate,
    }
}

/// Finds `Self` or the type's own name anywhere in a field's type.
struct NamesType<'a> {
    ident: &'a Ident,
    found: bool,
}

impl<'ast> Visit<'ast> for NamesType<'_> {
    fn visit_path_segment(&mut self, segment: &'ast syn::PathSegment) {
        if segment.ident == *self.ident || segment.ident == "Self" {
            self.found = true;
        }
        syn::visit::visit_path_segment(self, segment);
    }
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
    fn fields_that_contain_the_type_are_marked() {
        let parsed = parse(
            TokenStream::new(),
            &syn::parse_quote!(
                enum Tree {
                    Leaf(u32),
                    Node(Vec<Tree>),
                    Boxed {
                        next: Option<Box<Self>>,
                        label: String,
                    },
                }
            ),
        )
        .unwrap();
        assert!(parsed.recursive);
        let Item::Enum(e) = parsed.item else {
            panic!("an enum")
        };
        let marked: Vec<usize> = e
            .variants
            .iter()
            .map(|v| v.fields.iter().filter(|f| !f.attrs.is_empty()).count())
            .collect();
        assert_eq!(marked, [0, 1, 1]);
        let plain = parse(
            TokenStream::new(),
            &syn::parse_quote!(
                struct A(Vec<u8>);
            ),
        )
        .unwrap();
        assert!(!plain.recursive);
    }

    #[test]
    fn enums_of_up_to_256_variants_are_accepted_and_wider_ones_refused() {
        let enum_of = |count: usize| -> Item {
            let variants = (0..count).map(|i| quote::format_ident!("V{i}"));
            syn::parse_quote!(
                enum Wide { #(#variants),* }
            )
        };
        assert!(errors(TokenStream::new(), enum_of(MAX_VARIANTS)).is_empty());
        assert_eq!(
            errors(TokenStream::new(), enum_of(MAX_VARIANTS + 1)),
            [TOO_MANY_VARIANTS]
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
            [
                "expected `compare = ...`: #[codable] accepts only `crate = \"path\"` (where the \
                 `hardlight` crate is, when renamed)"
            ]
        );
    }
}
