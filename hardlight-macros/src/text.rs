//! Tokens as text, for messages and for the parts of a type's shape that are written as tokens.

use quote::ToTokens;

/// Tokens as text with all whitespace removed (`Vec < u8 >` → `Vec<u8>`).
pub(crate) fn compact_text(tokens: &impl ToTokens) -> String {
    tokens
        .to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_all_whitespace() {
        let ty: syn::Type = syn::parse_quote!(Result<Vec<(u8, String)>, my::Error>);
        assert_eq!(compact_text(&ty), "Result<Vec<(u8,String)>,my::Error>");
    }
}
