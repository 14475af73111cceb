//! `#[codable]`: rkyv's derives, through the runtime's copy of rkyv.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::CodableItem;

/// The item with `Archive`, `Serialize` and `Deserialize` derived. With rkyv's `bytecheck` feature
/// (which the runtime enables), `Archive` also derives the validation `Codable::decode` runs.
pub(crate) fn expand(codable: &CodableItem) -> TokenStream {
    let item = &codable.item;
    // The derives come first: `#[rkyv(...)]`, here and in the user's attributes, is their helper
    // attribute and must follow them.
    quote! {
        #[derive(
            ::hardlight::__private::rkyv::Archive,
            ::hardlight::__private::rkyv::Serialize,
            ::hardlight::__private::rkyv::Deserialize,
        )]
        #[rkyv(crate = ::hardlight::__private::rkyv)]
        #item
    }
}
