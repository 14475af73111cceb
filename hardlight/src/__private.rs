//! What generated code uses. Not a public API: names here change without notice.
//!
//! The macros reach the runtime only through this module (`::hardlight::__private::...`, or
//! `<crate>::__private::...` with `crate = "..."`), so that the paths they write stay valid whatever
//! the public modules become, and the user's crate needs no dependency other than `hardlight`.

pub use rkyv;

pub use crate::client::{Client, ClientConfig, ConnectionEvents, StateWatcher, Subscription};
pub use crate::error::{CallError, Error};
pub use crate::events::{EventEmitter, EventPayload, Subscriptions};
pub use crate::server::handler::{
    Args, CallFuture, ConnectionParts, Dispatch, DispatchError, Handler, MethodReturn,
    OnewayFuture, ServiceSchema, call, decode_args, oneway,
};
pub use crate::server::hooks::{Disconnect, DisconnectArg};
pub use crate::server::identity::Identity;
pub use crate::state::{ConnectionState, StateHandle, unknown_field};
pub use crate::wire::handshake::{fnv1a64, fnv1a64_extend};
pub use crate::wire::{Codable, Compression, DecodeError, EncodeError};
pub use std::sync::Arc;

/// What rkyv's derives name without a path: `#[codable]` glob-imports this next to the type, so that
/// it also derives in a module under `#![no_implicit_prelude]`. A glob import, so that it yields to
/// any `Sized` the module has, and two of them in one module do not clash.
pub mod derive_scope {
    pub use core::marker::Sized;
}
