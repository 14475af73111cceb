//! The service contract both ends build on, below the client and the server (as tonic's `codegen`
//! support sits apart from its client and server): what `#[rpc]` generates for every service.
//!
//! - [`schema`](mod@schema): a service's description and fingerprint ([`ServiceSchema`]), and what its methods
//!   return ([`MethodReturn`]); the client makes calls from them.
//! - [`compare`]: what differs between two schema texts, for a client refused at the handshake.
//! - [`dispatch`]: running a received call on a handler ([`Dispatch`]), from validated arguments to
//!   the `REPLY` frame; the server runs calls through it.
//!
//! Nothing here knows sockets, connections or tasks: the contract depends on the wire format and the
//! value types alone.

pub mod compare;
pub mod dispatch;
pub mod schema;

pub use dispatch::{
    Args, CallFuture, Dispatch, DispatchError, OnewayFuture, call, decode_args, oneway,
};
// `schema::schema` and `schema::fingerprint` are re-exported at the crate root only: here, `schema`
// names the module.
pub use schema::{EmittedBy, MethodReturn, Schema, SchemaWriter, ServiceSchema};
