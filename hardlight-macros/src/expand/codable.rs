//! `#[codable]`: rkyv's derives, through the runtime's copy of rkyv.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Fields, GenericParam, Item};

use super::{private, private_at};
use crate::model::{CodableItem, CratePath};
use crate::text::compact_text;

/// The item with `Archive`, `Serialize` and `Deserialize` derived. With rkyv's `bytecheck` feature
/// (which the runtime enables), `Archive` also derives the validation `Codable::decode` runs.
pub(crate) fn expand(codable: &CodableItem) -> TokenStream {
    let item = &codable.item;
    let private = private(&codable.krate);
    // A recursive type's fields that contain it are derived without bounds (`omit_bounds`); what
    // encoding, decoding and validation need of rkyv's strategies is then stated here instead.
    let recursion_bounds = codable.recursive.then(|| {
        quote! {
            #[rkyv(
                serialize_bounds(
                    __S: #private::rkyv::ser::Writer
                        + #private::rkyv::ser::Allocator,
                    __S::Error: #private::rkyv::rancor::Source,
                ),
                deserialize_bounds(__D::Error: #private::rkyv::rancor::Source),
                bytecheck(bounds(
                    __C: #private::rkyv::validation::ArchiveContext,
                    __C::Error: #private::rkyv::rancor::Source,
                )),
            )]
        }
    });
    // The derives come first: `#[rkyv(...)]`, here and in the user's attributes, is their helper
    // attribute and must follow them.
    // rkyv's derives write `?Sized` without a path: under `#![no_implicit_prelude]` it resolves
    // through this import, elsewhere to the same trait.
    let shape = shape_impl(item, &codable.krate);
    quote! {
        #[allow(unused_imports)]
        use #private::derive_scope::*;

        #[derive(
            #private::rkyv::Archive,
            #private::rkyv::Serialize,
            #private::rkyv::Deserialize,
        )]
        #[rkyv(crate = #private::rkyv)]
        #recursion_bounds
        #item

        #shape
    }
}

/// `Shape` for the item: its name with its generic arguments, and its definition (fields and
/// variants in declaration order, each field's type reached at its own span, so that a field type
/// that cannot describe itself is reported there). Type parameters must be `Shape` themselves.
fn shape_impl(item: &Item, krate: &CratePath) -> TokenStream {
    let private = private(krate);
    let (ident, generics) = match item {
        Item::Struct(s) => (&s.ident, &s.generics),
        Item::Enum(e) => (&e.ident, &e.generics),
        _ => return TokenStream::new(),
    };
    let definition = match item {
        Item::Struct(s) => {
            let fields = fields_shape(&s.fields, krate);
            quote!(#private::Definition::Struct(#fields))
        }
        Item::Enum(e) => {
            let variants = e.variants.iter().map(|variant| {
                let name = variant.ident.unraw().to_string();
                let fields = fields_shape(&variant.fields, krate);
                let discriminant = match &variant.discriminant {
                    Some((_, expr)) => {
                        let text = compact_text(expr);
                        quote!(::core::option::Option::Some(#text))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote! {
                    #private::Variant {
                        name: #name,
                        discriminant: #discriminant,
                        fields: #fields,
                    }
                }
            });
            quote!(#private::Definition::Enum(&[#(#variants),*]))
        }
        _ => return TokenStream::new(),
    };
    let args = generics.params.iter().filter_map(|param| match param {
        GenericParam::Type(t) => {
            let t = &t.ident;
            Some(quote!(#private::TypeArg::Type(<#t as #private::Shape>::write_shape)))
        }
        GenericParam::Const(c) => {
            let c = &c.ident;
            Some(quote!(#private::TypeArg::Const(&#c)))
        }
        GenericParam::Lifetime(_) => None,
    });
    let mut shape_generics = generics.clone();
    for param in shape_generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(#private::Shape));
    }
    let (impl_generics, _, where_clause) = shape_generics.split_for_impl();
    let (_, ty_generics, _) = generics.split_for_impl();
    let name = ident.unraw().to_string();
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Shape for #ident #ty_generics #where_clause {
            fn write_shape(
                __shapes: &mut #private::Shapes,
                __out: &mut ::std::string::String,
            ) {
                __shapes.named::<Self>(__out, #name, &[#(#args),*], #definition);
            }
        }
    }
}

/// The `Fields` of a struct or variant. A field with `#[rkyv(with = ...)]` is archived through that
/// wrapper, not as its type: the wrapper is written after the type (`u32 with AsBox`).
fn fields_shape(fields: &Fields, krate: &CratePath) -> TokenStream {
    let private = private(krate);
    let shape = |field: &syn::Field| {
        let ty = &field.ty;
        let at = private_at(krate, ty.span());
        match rkyv_with(field) {
            Some(with) => {
                let suffix = format!(" with {}", wrapper_name(&with));
                quote_spanned! {ty.span()=>
                    |__shapes: &mut #at::Shapes, __out: &mut ::std::string::String| {
                        <#ty as #at::Shape>::write_shape(__shapes, __out);
                        __out.push_str(#suffix);
                    }
                }
            }
            None => quote_spanned!(ty.span()=> <#ty as #at::Shape>::write_shape),
        }
    };
    match fields {
        Fields::Named(named) => {
            let entries = named.named.iter().map(|field| {
                let name = field
                    .ident
                    .as_ref()
                    .map(|ident| ident.unraw().to_string())
                    .unwrap_or_default();
                let shape = shape(field);
                quote!((#name, #shape))
            });
            quote!(#private::Fields::Named(&[#(#entries),*]))
        }
        Fields::Unnamed(unnamed) => {
            let entries = unnamed.unnamed.iter().map(shape);
            quote!(#private::Fields::Unnamed(&[#(#entries),*]))
        }
        Fields::Unit => quote!(#private::Fields::Unit),
    }
}

/// A wrapper as the schema text writes it: its last path segment, with its generic arguments
/// (`rkyv::with::Niche` and `Niche` are both `Niche`).
fn wrapper_name(with: &syn::Type) -> String {
    match with {
        syn::Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .map_or_else(|| compact_text(with), compact_text),
        other => compact_text(other),
    }
}

/// The wrapper of `#[rkyv(with = Wrapper)]` on a field, if it has one.
fn rkyv_with(field: &syn::Field) -> Option<syn::Type> {
    let mut with = None;
    for attr in field
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("rkyv"))
    {
        // Anything else in `#[rkyv(...)]` is rkyv's to judge; this only looks for `with`.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("with") {
                with = Some(meta.value()?.parse::<syn::Type>()?);
            } else if let Ok(value) = meta.value() {
                value.parse::<proc_macro2::TokenStream>()?;
            }
            Ok(())
        });
    }
    with
}
