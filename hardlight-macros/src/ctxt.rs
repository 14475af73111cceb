//! Error collection: the parse step records every mistake it finds, each with its span, and reports
//! them all at once (after serde_derive's `internals/ctxt.rs`).

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// Collects the errors of one macro invocation.
///
/// Shared by reference (`&Ctxt`) so that nested parse functions and closures can all record errors;
/// [`Ctxt::check`] consumes it and combines them into one `syn::Error`, which renders as one
/// `compile_error!` per recorded error.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    /// An empty context.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records an error spanning `tokens` (from their first to their last token).
    pub(crate) fn error_spanned_by<T: ToTokens>(&self, tokens: T, message: impl Display) {
        self.syn_error(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at `span`.
    pub(crate) fn error_at(&self, span: Span, message: impl Display) {
        self.syn_error(syn::Error::new(span, message));
    }

    /// Records an error `syn` produced.
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// `Ok` when nothing was recorded; otherwise every recorded error, in the order recorded.
    pub(crate) fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }

    /// `value` when nothing was recorded; otherwise every recorded error, as [`Ctxt::check`].
    ///
    /// A parse function returns `None` only after recording why; should it not have, this still
    /// reports an error instead of panicking.
    pub(crate) fn finish<T>(self, value: Option<T>) -> syn::Result<T> {
        self.check()?;
        value.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "hardlight-macros could not read this item but found no error to report; please \
                 report this as a bug",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_passes_when_nothing_was_recorded() {
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    fn finish_without_value_or_error_is_an_error_not_a_panic() {
        assert!(Ctxt::new().finish::<()>(None).is_err());
        assert_eq!(Ctxt::new().finish(Some(1)).ok(), Some(1));
    }

    #[test]
    fn check_reports_every_error_in_order() {
        let ctxt = Ctxt::new();
        ctxt.error_at(Span::call_site(), "first");
        ctxt.error_spanned_by(quote::quote!(a b), "second");
        let messages: Vec<String> = ctxt
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
    }
}
