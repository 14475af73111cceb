//! `#[codable]`: rkyv's derives, through the runtime's copy of rkyv.

use proc_macro2::TokenStream;
use quote::quote;

use super::private;
use crate::model::CodableItem;

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
    }
}
