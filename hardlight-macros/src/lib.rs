//! Procedural macros of [hardlight](https://example.invalid/hardlight). Use them through the runtime
//! crate, which re-exports them as `hardlight::{rpc, rpc_handler, connection_state, codable}`; the code
//! they generate names everything through `::hardlight::__private`, so a user's crate depends on
//! `hardlight` alone.
//!
//! Every macro takes `crate = "path"` for a crate that reaches the runtime under another path (it
//! renames the dependency, or re-exports `hardlight` from a crate of its own), as serde's
//! `#[serde(crate = "...")]`: `#[rpc(crate = "::my_runtime::hardlight")]`. The generated code then
//! names `<path>::__private::...` only. It compiles under `#![no_implicit_prelude]`.
//!
//! Each macro works in three steps, as `serde_derive` does:
//!
//! 1. `parse` turns the `syn` input into a small validated model (`model`), reporting every user
//!    mistake at once, each at the offending token with a sentence saying how to fix it (`ctxt`);
//! 2. `expand` writes the generated items from the model only;
//! 3. on error, the item is given back unchanged next to the errors, so the rest of the crate still
//!    resolves its name and the user sees only the errors that matter.
//!
//! The canonical schema text that client and server fingerprint at the handshake is built at run
//! time from what the macros generate (`hardlight::wire::shape`, `docs/PROTOCOL.md` §3): `#[rpc]`
//! lists each method's argument and return types, `#[connection_state]` its fields' types, and
//! `#[codable]` describes its type's structure (`Shape`). Names of generated items (`CounterClient`, the handler's fields) live in
//! `names`.
//!
//! The examples below are not compiled here (this crate cannot depend on the runtime); the runtime's
//! tests compile them, and pin every error message (`hardlight/tests/ui/`).

#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate proc_macro;

use proc_macro::TokenStream;

pub(crate) mod ctxt;
pub(crate) mod expand;
pub(crate) mod model;
pub(crate) mod names;
pub(crate) mod parse;
pub(crate) mod text;

/// Turns a trait into an rpc service: the trait handlers implement, its wire description and
/// dispatch, and a typed client.
///
/// Arguments, all optional: `state = Type` (a `#[connection_state]` struct; `()` when absent),
/// `events = Type` (the `#[codable]` type of the events clients receive; `hardlight::EventPayload`,
/// the raw bytes, when absent) and `crate = "path"` (where the runtime is, `::hardlight` by default).
///
/// ```ignore
/// use hardlight::{HandlerResult, rpc};
///
/// #[rpc(state = State, events = CounterEvent)]
/// pub trait Counter {
///     /// Creates a new counter.
///     async fn new_counter(&self) -> HandlerResult<()>;
///     async fn increment(&self, amount: u32) -> HandlerResult<()>;
///     async fn get(&self) -> HandlerResult<u32>;
/// }
/// ```
///
/// Every method is `async fn name(&self, arg: Type, ...) -> Return`, with at most 13 arguments (they
/// travel as one rkyv tuple), owned `hardlight::Codable` argument types, and a return type that is
/// `HandlerResult<T>` or `Result<T, E>` of codable types; or, marked `#[oneway]`, without a return
/// type: the client sends it and does not wait (see [`macro@oneway`]). A method's index on the wire is
/// its position in the trait, so reordering methods changes the protocol (and the schema fingerprint).
///
/// Generates:
/// - the trait, each method rewritten as `fn ... -> impl Future<Output = Return> + Send` (so handlers
///   still write `async fn`, and their futures are checked to be `Send`);
/// - `ServiceSchema` and `Dispatch<H>` for `dyn Trait` (name, method list, the types that make up its
///   schema text and fingerprint; decoding a call's arguments and running the handler method);
/// - `TraitClient`, a cloneable typed client with the trait's visibility: `new(config)`,
///   `new_self_signed(address, compression)`, `with_timeout(duration)`, the connection's own methods
///   (`config`, `connect`, `disconnect`, `closed`, `is_connected`, `state`, `watch_state`,
///   `subscribe`, `connection_events`, forwarded to the untyped `hardlight::client::Client` it holds),
///   and one `async fn` per method returning `Result<T, hardlight::CallError<E>>`
///   (`Result<(), hardlight::RpcError>` for a one-way method). It does not deref to that `Client`:
///   every method a user calls is the generated client's own.
///
/// An rpc method cannot take one of the client's own names (`connect`, `state`, ...): it is an error
/// at the method's name, which says to rename it. Each argument type, and the `T` and `E` of a
/// `HandlerResult<T>` or `Result<T, E>` return type, is checked to be `Codable` at its own span: a
/// type that is not is reported there, with "add `#[hardlight::codable]`".
#[proc_macro_attribute]
pub fn rpc(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::rpc(args.into(), item.into()).into()
}

/// Marks a method of an `#[rpc]` trait one-way: the client sends it without waiting for a reply.
///
/// Meaningful only on a method inside an `#[rpc]` trait, which reads and removes it; anywhere else it
/// is an error. The method has no return type (or `-> ()`); the handler implements it as
/// `async fn log(&self, line: String) {}`, and the generated client's method returns
/// `Result<(), hardlight::RpcError>`, `Ok` once the message has been written to the connection. The
/// server validates the arguments and runs the handler like a call's, within the same limits, and
/// sends nothing back.
///
/// ```ignore
/// #[rpc]
/// pub trait Logger {
///     #[oneway]
///     async fn log(&self, line: String);
/// }
/// ```
#[proc_macro_attribute]
pub fn oneway(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::oneway(args.into(), item.into()).into()
}

/// Implements an `#[rpc]` trait for a handler, generating the handler struct itself.
///
/// Goes on `impl RpcTrait for Handler { ... }`; `Handler` must not be defined elsewhere. The struct has
/// the fields `state` (a `StateHandle` of the service's connection state), `subscriptions` (the
/// connection's topic subscriptions), `events` (an emitter to publish events), `identity` (who the
/// connection belongs to, as the server's authentication hook said; `Identity::anonymous()` without
/// one) and, with `context = Type`, `context` (an `Arc<Type>` shared by all connections). The server
/// makes one handler per connection.
///
/// Connection hooks: the impl may also hold one method marked `#[on_connect]`
/// (`async fn name(&self)`, run before the client gets `HELLO`) and one marked `#[on_disconnect]`
/// (`async fn name(&self)` or `async fn name(&self, why: hardlight::Disconnect)`, run exactly once
/// when a connection whose `on_connect` completed ends). They are not trait methods: they become
/// methods of the generated struct.
///
/// Arguments, all optional: `context = Type`; `vis = pub` or `vis = pub(crate)` for the struct's
/// visibility (private by default); `crate = "path"` (where the runtime is).
///
/// ```ignore
/// #[rpc_handler(context = AppContext)]
/// impl Counter for Handler {
///     async fn get(&self) -> HandlerResult<u32> {
///         Ok(self.state.read().await.counter)
///     }
///     // ...
///
///     #[on_connect]
///     async fn joined(&self) {
///         self.subscriptions.add(&Topic::new("counter"));
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn rpc_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::rpc_handler(args.into(), item.into()).into()
}

/// Makes a struct with named fields a connection state: a value kept on the server for each connection
/// and mirrored, field by field, on the client.
///
/// Derives `Default`, `Clone` and `Debug` unless the struct already derives them, and implements
/// `ConnectionState` (field names and indices, the fields' types for the schema text, per-field
/// encoding). Every
/// field's type must be `Codable`.
///
/// Argument, optional: `crate = "path"` (where the runtime is).
///
/// Write `#[connection_state]` above the struct's own `#[derive(...)]`: an attribute sees only the
/// attributes below it, so a `#[derive(Clone)]` above it would be derived twice.
///
/// ```ignore
/// #[connection_state]
/// pub struct State {
///     counter: u32,
///     topic: Topic,
/// }
/// ```
#[proc_macro_attribute]
pub fn connection_state(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::connection_state(args.into(), item.into()).into()
}

/// Makes a struct or enum `Codable`: derives its rkyv archive, with validation, through hardlight's
/// own copy of rkyv (users need no rkyv dependency), and implements `Shape`, the description of its
/// structure (field names, order and types; variants) that services using it fold into their
/// schema fingerprint. Other attributes and derives are kept. Argument, optional:
/// `crate = "path"` (where the runtime is).
///
/// ```ignore
/// #[codable]
/// #[derive(Debug, Clone, PartialEq)]
/// pub enum CounterEvent {
///     Changed(u32),
/// }
/// ```
#[proc_macro_attribute]
pub fn codable(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::codable(args.into(), item.into()).into()
}
