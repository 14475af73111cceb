//! `#[connection_state]`: a struct with named fields → [`State`].

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::{Attribute, Fields, Item, ItemStruct, Path, Token};

use super::{head, item_head, parse_crate_only};
use crate::ctxt::Ctxt;
use crate::model::{CratePath, State, StateField, StdDerive};

const PLACEMENT: &str = "#[connection_state] goes on a struct with named fields: \
                         `#[connection_state] pub struct State { counter: u32 }`";

/// Parses `#[connection_state(args)]` on `item`.
pub(crate) fn parse(args: TokenStream, item: &Item) -> syn::Result<State> {
    let ctxt = Ctxt::new();
    let krate = parse_crate_only(&ctxt, "connection_state", args);
    let state = match item {
        Item::Struct(item) => parse_struct(&ctxt, item, krate),
        other => {
            ctxt.error_spanned_by(item_head(other), PLACEMENT);
            None
        }
    };
    ctxt.finish(state)
}

fn parse_struct(ctxt: &Ctxt, item: &ItemStruct, krate: CratePath) -> Option<State> {
    if !item.generics.params.is_empty() {
        ctxt.error_spanned_by(
            &item.generics,
            "a #[connection_state] struct cannot have generic or lifetime parameters (its shape is \
             part of the service's schema): remove them",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        ctxt.error_spanned_by(
            where_clause,
            "a #[connection_state] struct cannot have a `where` clause: remove it",
        );
    }
    let named = match &item.fields {
        Fields::Named(named) => named,
        Fields::Unnamed(unnamed) => {
            ctxt.error_spanned_by(unnamed, PLACEMENT);
            return None;
        }
        Fields::Unit => {
            ctxt.error_spanned_by(head(&item.struct_token, &item.ident), PLACEMENT);
            return None;
        }
    };
    let mut fields = Vec::new();
    for (position, field) in named.named.iter().enumerate() {
        let (Ok(index), Some(ident)) = (u16::try_from(position), &field.ident) else {
            ctxt.error_spanned_by(
                field,
                "a connection state has at most 65536 fields (a field's index is a u16 on the \
                 wire): group some in a #[codable] struct",
            );
            break;
        };
        fields.push(StateField {
            ident: ident.clone(),
            index,
            ty: field.ty.clone(),
        });
    }
    let derived = derived_names(&item.attrs);
    let missing_derives = StdDerive::ALL
        .into_iter()
        .filter(|derive| !derived.iter().any(|name| name == derive.name()))
        .collect();
    Some(State {
        ident: item.ident.clone(),
        fields,
        missing_derives,
        item: item.clone(),
        krate,
    })
}

/// The last segment of every path in the item's `#[derive(...)]` attributes (`Clone` for
/// `std::clone::Clone`). A derive list that does not parse is left to the compiler to report.
fn derived_names(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("derive"))
        .filter_map(|attr| {
            attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
                .ok()
        })
        .flatten()
        .filter_map(|path| {
            path.segments
                .last()
                .map(|segment| segment.ident.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(args: TokenStream, item: Item) -> Vec<String> {
        super::super::error_messages(parse(args, &item))
    }

    #[test]
    fn fields() {
        let item: Item = syn::parse_quote! {
            pub struct State {
                counter: u32,
                pub topic: Topic,
                r#type: Vec < u8 >,
            }
        };
        let state = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state.fields.len(), 3);
        assert_eq!(state.fields[2].index, 2);
        assert_eq!(state.missing_derives, StdDerive::ALL);
    }

    #[test]
    fn derives_already_present_are_not_repeated() {
        let item: Item = syn::parse_quote! {
            #[derive(std::clone::Clone, PartialEq)]
            #[derive(Debug)]
            struct State { counter: u32 }
        };
        let state = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state.missing_derives, [StdDerive::Default]);
    }

    #[test]
    fn an_empty_struct_is_a_state() {
        let item: Item = syn::parse_quote!(
            struct Nothing {}
        );
        let state = parse(TokenStream::new(), &item).unwrap_or_else(|e| panic!("{e}"));
        assert!(state.fields.is_empty());
    }

    #[test]
    fn only_structs_with_named_fields_are_accepted() {
        for item in [
            syn::parse_quote!(
                enum State {
                    A,
                }
            ),
            syn::parse_quote!(
                struct State(u32);
            ),
            syn::parse_quote!(
                struct State;
            ),
            syn::parse_quote!(
                fn state() {}
            ),
        ] {
            assert_eq!(errors(TokenStream::new(), item), [PLACEMENT]);
        }
    }

    #[test]
    fn generics_and_arguments_are_rejected() {
        let item: Item = syn::parse_quote!(
            struct State<T>
            where
                T: Send,
            {
                value: T,
            }
        );
        let errors = errors(quote::quote!(sync), item);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with("expected `sync = ...`: #[connection_state] accepts only `crate")
        );
        assert!(errors[1].starts_with("a #[connection_state] struct cannot have generic"));
        assert!(errors[2].starts_with("a #[connection_state] struct cannot have a `where`"));
    }
}
