//! `#[codable]`: rkyv's derives, through the runtime's copy of rkyv.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::CodableItem;

/// The item with `Archive`, `Serialize` and `Deserialize` derived. With rkyv's `bytecheck` feature
/// (which the runtime enables), `Archive` also derives the validation `Codable::decode` runs.
pub(crate) fn expand(codable: &CodableItem) -> TokenStream {
    let item = &codable.item;
    // A recursive type's fields that contain it are derived without bounds (`omit_bounds`); what
    // encoding, decoding and validation need of rkyv's strategies is then stated here instead.
    let recursion_bounds = codable.recursive.then(|| {
        quote! {
            #[rkyv(
                serialize_bounds(
                    __S: ::hardlight::__private::rkyv::ser::Writer
                        + ::hardlight::__private::rkyv::ser::Allocator,
                    __S::Error: ::hardlight::__private::rkyv::rancor::Source,
                ),
                deserialize_bounds(__D::Error: ::hardlight::__private::rkyv::rancor::Source),
                bytecheck(bounds(
                    __C: ::hardlight::__private::rkyv::validation::ArchiveContext,
                    __C::Error: ::hardlight::__private::rkyv::rancor::Source,
                )),
            )]
        }
    });
    // The derives come first: `#[rkyv(...)]`, here and in the user's attributes, is their helper
    // attribute and must follow them.
    quote! {
        #[derive(
            ::hardlight::__private::rkyv::Archive,
            ::hardlight::__private::rkyv::Serialize,
            ::hardlight::__private::rkyv::Deserialize,
        )]
        #[rkyv(crate = ::hardlight::__private::rkyv)]
        #recursion_bounds
        #item
    }
}
