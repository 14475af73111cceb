//! Names of the items and fields the macros generate, in one place.
//!
//! Names that users see (the client struct, its constructors, the handler's fields) are chosen here.
//! Locals of generated function bodies start with `__` and are written where they are used.

use proc_macro2::Span;
use quote::format_ident;
use syn::Ident;

/// `Counter` → `CounterClient`: the typed client `#[rpc]` generates. Spanned at the trait's name, so a
/// clash with another item points there.
pub(crate) fn client(service: &Ident) -> Ident {
    // `format_ident!` drops the `r#` of a raw identifier: `r#type` → `typeClient`.
    format_ident!("{}Client", service, span = service.span())
}

/// The generated client's own methods, besides one per rpc method: its constructors and the engine's
/// methods it forwards (`expand::client` writes them; a unit test there checks this list against
/// what it writes). An `#[rpc]` method cannot take one of these names.
///
/// The engine, `hardlight::client::Client`, has a public method for each name after `with_timeout`;
/// one added there must be forwarded by the generated client, and named here.
pub(crate) const CLIENT_METHODS: [&str; 15] = [
    "new",
    "new_self_signed",
    "with_timeout",
    "with_trace_parent",
    "with_metadata",
    "config",
    "connect",
    "disconnect",
    "closed",
    "is_connected",
    "server_schemas",
    "state",
    "watch_state",
    "subscribe",
    "connection_events",
];

/// The client's field holding the engine, the untyped `Client`.
pub(crate) fn client_inner() -> Ident {
    Ident::new("inner", Span::call_site())
}

/// The generated handler struct's fields.
pub(crate) mod handler {
    use proc_macro2::Span;
    use syn::Ident;

    /// The connection state (`StateHandle<State>`).
    pub(crate) fn state() -> Ident {
        Ident::new("state", Span::call_site())
    }

    /// The connection's topic subscriptions.
    pub(crate) fn subscriptions() -> Ident {
        Ident::new("subscriptions", Span::call_site())
    }

    /// The event emitter.
    pub(crate) fn events() -> Ident {
        Ident::new("events", Span::call_site())
    }

    /// Who the connection belongs to (`Identity`).
    pub(crate) fn identity() -> Ident {
        Ident::new("identity", Span::call_site())
    }

    /// The application context (`Arc<Context>`), present with `#[rpc_handler(context = ...)]`.
    pub(crate) fn context() -> Ident {
        Ident::new("context", Span::call_site())
    }
}

/// The `Handler` trait's methods that run the connection hooks.
pub(crate) mod hooks {
    use proc_macro2::Span;
    use syn::Ident;

    /// Runs the `#[on_connect]` method.
    pub(crate) fn on_connect() -> Ident {
        Ident::new("on_connect", Span::call_site())
    }

    /// Runs the `#[on_disconnect]` method.
    pub(crate) fn on_disconnect() -> Ident {
        Ident::new("on_disconnect", Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_name_appends_client() {
        let service: Ident = syn::parse_quote!(Counter);
        assert_eq!(client(&service), "CounterClient");
        let raw: Ident = syn::parse_quote!(r#type);
        assert_eq!(client(&raw), "typeClient");
    }
}
