//! What generated code uses. Not a public API: names here change without notice.

pub use rkyv;

pub use crate::client::Client;
pub use crate::contract::{
    Args, CallFuture, Dispatch, DispatchError, MethodReturn, OnewayFuture, ServiceSchema, call,
    decode_args, oneway,
};
pub use crate::server::disconnect::{Disconnect, DisconnectArg};
pub use crate::server::handler::{ConnectionParts, Handler};
pub use crate::server::identity::Identity;
pub use crate::state::{ConnectionState, StateHandle, unknown_field};
pub use crate::wire::handshake::{fnv1a64, fnv1a64_extend};
pub use crate::wire::{Codable, DecodeError, EncodeError};
pub use std::sync::Arc;
