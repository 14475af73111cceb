//! The service contract both ends build on, below the client and the server (as tonic's `codegen`
//! support sits apart from its client and server): what `#[rpc]` generates for every service.
//!
//! - [`schema`](mod@schema): a service's description and fingerprint ([`ServiceSchema`]); the
//!   client makes calls from it.
//! - [`method`]: what a method returns ([`MethodReturn`]): one value, or a [`Streaming`] of items;
//!   what that starts on the server ([`Started`]) and what the client makes of what it receives.
//! - [`stream`]: [`Streaming<T, E>`], the items of a streaming call on both ends.
//! - [`upload`]: a method's streamed argument ([`StreamArg`]): what the server hands the handler,
//!   what the client sends.
//! - [`bytes`]: [`ByteStream<E>`], a byte channel bound to one call (`AsyncRead` + `AsyncWrite`
//!   on both ends), carried as a bidirectional stream of chunks.
//! - [`reply`]: a handler's result as a `REPLY` frame, an item as an `ITEM` frame, and back.
//! - [`compare`]: what differs between two schema texts, for a client refused at the handshake.
//! - [`dispatch`]: running a received call on a handler ([`Dispatch`]), from validated arguments to
//!   the `REPLY` frame; the server runs calls through it.
//!
//! Nothing here knows sockets, connections or tasks: the contract depends on the wire format and the
//! value types alone.

pub mod bytes;
pub mod compare;
pub mod dispatch;
pub mod intercept;
pub mod method;
pub mod reply;
pub mod schema;
pub mod stream;
pub mod upload;

pub use bytes::{BytePipe, ByteStream};
pub use dispatch::{Args, Dispatch, DispatchError, OnewayFuture, decode_args, oneway, take_upload};
pub use method::{CallFuture, DuplexStart, MethodReturn, Received, Started, StreamFuture, call};
pub use reply::RawReply;
pub use stream::{
    Fill, FrameSource, ItemSource, RawStream, RawStreamMsg, RawStreamSource, SourceItem, Streaming,
};
pub use upload::{RawUpload, StreamArg, UploadControl, UploadFn, UploadFrames, UploadMsg};
// `schema::schema` and `schema::fingerprint` are re-exported at the crate root only: here, `schema`
// names the module.
pub use schema::{EmittedBy, Schema, SchemaWriter, ServiceSchema};
