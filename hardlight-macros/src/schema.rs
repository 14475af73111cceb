//! The canonical schema text of a service and of a connection state.
//!
//! Client and server compare a fingerprint of these texts at the handshake, so a client built from a
//! different version of the trait or of the state is refused before any call is made. The texts are
//! computed at compile time from the tokens the user wrote; `docs/PROTOCOL.md` quotes this description.
//!
//! # Service text (`ServiceSchema::SCHEMA`)
//!
//! One line per item, each ending in `\n`:
//!
//! 1. `service <TraitName>`;
//! 2. `events <EventType>`: the type given as `#[rpc(events = ...)]`, or `EventPayload` when absent;
//! 3. one line per method, in declaration order:
//!    `fn <name>(<argument types, comma-separated>) -> <return type>` for a call, and
//!    `oneway fn <name>(<argument types, comma-separated>)` for a `#[oneway]` method (whether it
//!    is written without a return type or with `-> ()`).
//!
//! Every type is rendered as its tokens with all whitespace removed (`HandlerResult < u32 >` and
//! `HandlerResult<u32>` both give `HandlerResult<u32>`). Types are compared as written, not resolved:
//! `HandlerResult<u32>` and `Result<u32, HandlerError>` differ, and so do `Topic` and
//! `hardlight::Topic`. Argument names are not part of the text. Trait and method names are written without `r#`
//! (`r#type` gives `type`); inside a type, a raw identifier keeps it.
//!
//! For example,
//!
//! ```text
//! #[rpc(state = State, events = CounterEvent)]
//! pub trait Counter {
//!     async fn new_counter(&self) -> HandlerResult<()>;
//!     async fn increment(&self, amount: u32) -> HandlerResult<()>;
//!     async fn get(&self) -> HandlerResult<u32>;
//! }
//! ```
//!
//! has the text
//!
//! ```text
//! service Counter
//! events CounterEvent
//! fn new_counter() -> HandlerResult<()>
//! fn increment(u32) -> HandlerResult<()>
//! fn get() -> HandlerResult<u32>
//! ```
//!
//! # State text (`ConnectionState::SCHEMA`)
//!
//! `state <StructName>`, then one line per field in declaration order: `<field>: <type>` (a raw field
//! name without its `r#`, the type rendered as above); each line ends in `\n`. A service without state
//! uses `()`, which the runtime describes as `()`.
//!
//! ```text
//! state State
//! counter: u32
//! topic: Topic
//! ```
//!
//! # Fingerprint (`ServiceSchema::FINGERPRINT`)
//!
//! FNV-1a-64 over the service text followed by the state text, as if they were one byte string:
//! `fnv1a64_extend(fnv1a64(service_text), state_text)`.

use std::fmt::Write;

use quote::ToTokens;
use syn::ext::IdentExt;

use crate::model::{Service, State};

/// The event type's name in the service text when the trait names none.
const DEFAULT_EVENTS: &str = "EventPayload";

/// The canonical text of a service (see the module docs).
pub(crate) fn service_text(service: &Service) -> String {
    let mut text = format!("service {}\n", service.ident.unraw());
    let events = match &service.events {
        Some(ty) => type_text(ty),
        None => DEFAULT_EVENTS.to_owned(),
    };
    // `write!` into a `String` cannot fail.
    let _ = writeln!(text, "events {events}");
    for method in &service.methods {
        let args: Vec<String> = method.args.iter().map(|arg| type_text(&arg.ty)).collect();
        let (name, args) = (method.ident.unraw(), args.join(","));
        let _ = match method.output() {
            Some(output) => writeln!(text, "fn {name}({args}) -> {}", type_text(output)),
            None => writeln!(text, "oneway fn {name}({args})"),
        };
    }
    text
}

/// The canonical text of a connection state (see the module docs).
pub(crate) fn state_text(state: &State) -> String {
    let mut text = format!("state {}\n", state.ident.unraw());
    for field in &state.fields {
        let _ = writeln!(text, "{}: {}", field.ident.unraw(), type_text(&field.ty));
    }
    text
}

/// A type's tokens with all whitespace removed.
pub(crate) fn type_text(ty: &impl ToTokens) -> String {
    ty.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_text_removes_all_whitespace() {
        let ty: syn::Type = syn::parse_quote!(Result<Vec<(u8, String)>, my::Error>);
        assert_eq!(type_text(&ty), "Result<Vec<(u8,String)>,my::Error>");
    }
}
