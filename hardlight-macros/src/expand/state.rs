//! `#[connection_state]`: the struct with its missing standard derives, and `ConnectionState`.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use super::{in_anonymous_const, private, private_at};
use crate::model::{State, StdDerive};

/// Everything `#[connection_state]` generates.
pub(crate) fn expand(state: &State) -> TokenStream {
    let derives = state.missing_derives.iter().map(|derive| match derive {
        StdDerive::Default => quote!(::core::default::Default),
        StdDerive::Clone => quote!(::core::clone::Clone),
        StdDerive::Debug => quote!(::core::fmt::Debug),
    });
    let derive = (!state.missing_derives.is_empty()).then(|| quote!(#[derive(#(#derives),*)]));
    let item = &state.item;
    let connection_state = in_anonymous_const(connection_state_impl(state));
    quote! {
        #derive
        #item
        #connection_state
    }
}

/// `ConnectionState`: field names, schema text, and per-field encoding by index.
fn connection_state_impl(state: &State) -> TokenStream {
    let ident = &state.ident;
    let private = private(&state.krate);
    let names = state
        .fields
        .iter()
        .map(|field| field.ident.unraw().to_string());
    let name = ident.unraw().to_string();
    // Each field's type is `Codable`: a `where` clause spanned at the type, so that "cannot be sent
    // over a hardlight connection" is reported there, once; the methods assume it.
    let mut seen = std::collections::HashSet::new();
    let bounds: Vec<TokenStream> = state
        .fields
        .iter()
        .map(|field| {
            let ty = &field.ty;
            let private = private_at(&state.krate, ty.span());
            quote_spanned!(ty.span()=> #ty: #private::Codable)
        })
        .filter(|bound| seen.insert(bound.to_string()))
        .collect();
    let shape_arms = state.fields.iter().map(|field| {
        let (index, ty) = (Literal::u16_suffixed(field.index), &field.ty);
        quote! {
            #index => (<#ty as #private::Codable>::SHAPE)(__shapes, __out),
        }
    });
    let encode_arms = state.fields.iter().map(|field| {
        let (index, ident, ty) = (Literal::u16_suffixed(field.index), &field.ident, &field.ty);
        quote! {
            #index => <#ty as #private::Codable>::encode_into(&self.#ident, __out),
        }
    });
    let apply_arms = state.fields.iter().map(|field| {
        let (index, ident, ty) = (Literal::u16_suffixed(field.index), &field.ident, &field.ty);
        let decode = quote! {
            <#ty as #private::Codable>::decode_within(__bytes, __max_depth)
        };
        quote! {
            #index => {
                self.#ident = #decode?;
                ::core::result::Result::Ok(())
            }
        }
    });
    // Without fields, `__bytes` would be unused.
    let unused = state
        .fields
        .is_empty()
        .then(|| quote!(let _ = (__bytes, __max_depth);));
    quote! {
        #[automatically_derived]
        impl #private::ConnectionState for #ident
        where
            #(#bounds,)*
        {
            const FIELDS: &'static [&'static str] = &[#(#names),*];
            const NAME: ::core::option::Option<&'static str> =
                ::core::option::Option::Some(#name);

            fn write_field_shape(
                __index: u16,
                __shapes: &mut #private::Shapes,
                __out: &mut ::std::string::String,
            ) {
                match __index {
                    #(#shape_arms)*
                    _ => {}
                }
            }

            fn encode_field(
                &self,
                __index: u16,
                __out: ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, #private::EncodeError> {
                match __index {
                    #(#encode_arms)*
                    _ => ::core::result::Result::Ok(__out),
                }
            }

            fn apply_field(
                &mut self,
                __index: u16,
                __bytes: &[u8],
                __max_depth: usize,
            ) -> ::core::result::Result<(), #private::DecodeError> {
                #unused
                match __index {
                    #(#apply_arms)*
                    __other => ::core::result::Result::Err(
                        #private::unknown_field(__other),
                    ),
                }
            }
        }
    }
}
