//! What an rpc method returns ([`MethodReturn`]), and what that makes of a call on each end: on the
//! server, a future that ends in a `REPLY` ([`Started::Call`]) or a stream of `ITEM`s that ends in
//! one ([`Started::Stream`]); on the client, the value decoded from the `REPLY`, or the
//! [`Streaming`] of the items.

use std::future::Future;
use std::pin::Pin;

use super::reply::{RawReply, decode_reply, encode_reply, encode_reply_vec};
use super::stream::{ItemSource, RawStream, Streaming, stream_shape};
use super::upload::{RawUpload, UploadFn};
use crate::error::{CallError, ProtocolError};
use crate::wire::out::OutFrame;
use crate::wire::shape::{ShapeFn, Shapes};
use crate::wire::{Codable, WireValue};

/// A running call: resolves to its encoded `REPLY` frame.
pub type CallFuture = Pin<Box<dyn Future<Output = OutFrame> + Send + 'static>>;

/// A streaming call's handler, running: resolves to the stream's frames, or to the `REPLY` frame
/// that refused to stream (the handler returned an error).
pub type StreamFuture = Pin<Box<dyn Future<Output = Result<ItemSource, Vec<u8>>> + Send + 'static>>;

/// A call the server has started.
pub enum Started {
    /// A call answered by one `REPLY`.
    Call(CallFuture),
    /// A streaming call: `ITEM` frames within the client's credit, then its `REPLY`.
    Stream(StreamFuture),
    /// A streaming call that also reads what the client streams (a byte stream): started with
    /// the call's streamed argument, which the connection opens for it.
    Duplex(DuplexStart),
}

/// Starts a [`Started::Duplex`] call with its streamed argument.
pub type DuplexStart = Box<dyn FnOnce(RawUpload) -> StreamFuture + Send + 'static>;

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Started::Call(_) => "Started::Call",
            Started::Stream(_) => "Started::Stream",
            Started::Duplex(_) => "Started::Duplex",
        })
    }
}

/// What a client receives for a call: its `REPLY`, or for a streaming call its handler accepted
/// (`OPENED`), the stream of its items.
pub enum Received {
    /// The `REPLY` of a call (for a streaming call, the one that refused it).
    Reply(RawReply),
    /// The items of a streaming call, then its `REPLY`.
    Stream(RawStream),
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Received::Reply(reply) => f.debug_tuple("Received::Reply").field(reply).finish(),
            Received::Stream(_) => f.write_str("Received::Stream"),
        }
    }
}

/// The return type of an rpc method: `Result<T, E>` with `T` a [`WireValue`] and `E` codable, or
/// `Result<Streaming<T, E>, E>` for a streaming method.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by an rpc method",
    note = "rpc methods return `HandlerResult<T>` or `Result<T, E>` where `T` and `E` are #[codable] types, `HandlerResult<Streaming<T>>` / `Result<Streaming<T, E>, E>` for a stream of `T`, or `HandlerResult<ByteStream>` / `Result<ByteStream<E>, E>` for a byte channel"
)]
pub trait MethodReturn: Send + 'static {
    /// What the client's method returns on success: the value, or the [`Streaming`] of items.
    type Ok: Send + 'static;
    /// The handler's error value.
    type Err: Codable;
    /// How the return type is written in the schema text: as the `Result` of the wire types, so
    /// that a view (`Archived<T>`) is written as `T`; a stream as `Streaming<T,E>`.
    const SHAPE: ShapeFn;
    /// Whether the method streams its reply.
    #[doc(hidden)]
    const STREAMING: bool;
    /// What the client keeps of what it sends with a call besides its arguments (the writing half
    /// of a byte stream).
    #[doc(hidden)]
    type Outgoing: Send;

    /// The server's side: the handler's future, as the call it starts.
    #[doc(hidden)]
    fn start<F>(call_id: u32, future: F) -> Started
    where
        F: Future<Output = Self> + Send + 'static;

    /// The client's side, before the call: what it streams to the server besides a streamed
    /// argument (a byte stream's writing), and what the caller keeps of it.
    #[doc(hidden)]
    fn outgoing() -> (Option<UploadFn>, Self::Outgoing);

    /// The client's side: the value of what was received, validated (nested at most `max_depth`
    /// levels deep).
    #[doc(hidden)]
    fn receive(
        received: Received,
        outgoing: Self::Outgoing,
        max_depth: usize,
    ) -> Result<Self::Ok, CallError<Self::Err>>;
}

/// `Result<T,E>`, as the shape of `Result` writes it, with `T`'s wire type.
fn result_shape<T: WireValue, E: Codable>(shapes: &mut Shapes, out: &mut String) {
    out.push_str("Result<");
    (<T as WireValue>::SHAPE)(shapes, out);
    out.push(',');
    (E::SHAPE)(shapes, out);
    out.push('>');
}

/// What a client gets when the received value does not match the method's kind: only a peer that
/// breaks the protocol (or a bug) gets there.
fn wrong_kind<E>(what: &str) -> CallError<E> {
    ProtocolError::Unexpected(format!("{what} received for a method that does not stream")).into()
}

impl<T: WireValue, E: Codable> MethodReturn for Result<T, E> {
    type Ok = T;
    type Err = E;
    const SHAPE: ShapeFn = result_shape::<T, E>;
    const STREAMING: bool = false;
    type Outgoing = ();

    fn start<F>(call_id: u32, future: F) -> Started
    where
        F: Future<Output = Self> + Send + 'static,
    {
        Started::Call(Box::pin(async move { encode_reply(call_id, future.await) }))
    }

    fn outgoing() -> (Option<UploadFn>, ()) {
        (None, ())
    }

    fn receive(received: Received, (): (), max_depth: usize) -> Result<T, CallError<E>> {
        match received {
            Received::Reply(reply) => decode_reply(&reply, max_depth),
            Received::Stream(_) => Err(wrong_kind("a stream")),
        }
    }
}

impl<T: WireValue, E: Codable> MethodReturn for Result<Streaming<T, E>, E> {
    type Ok = Streaming<T, E>;
    type Err = E;
    const SHAPE: ShapeFn = stream_shape::<T, E>;
    const STREAMING: bool = true;
    type Outgoing = ();

    fn start<F>(call_id: u32, future: F) -> Started
    where
        F: Future<Output = Self> + Send + 'static,
    {
        Started::Stream(Box::pin(async move {
            match future.await {
                Ok(items) => Ok(items.into_source(call_id)),
                Err(error) => Err(encode_reply_vec::<(), E>(call_id, Err(error))),
            }
        }))
    }

    fn outgoing() -> (Option<UploadFn>, ()) {
        (None, ())
    }

    fn receive(
        received: Received,
        (): (),
        max_depth: usize,
    ) -> Result<Streaming<T, E>, CallError<E>> {
        match received {
            Received::Stream(raw) => Ok(Streaming::remote(raw, max_depth)),
            // The handler refused the call: the reply says why.
            Received::Reply(reply) => match decode_reply::<(), E>(&reply, max_depth) {
                Err(e) => Err(e),
                Ok(()) => Err(ProtocolError::Unexpected(
                    "a streaming call ended before it was opened".into(),
                )
                .into()),
            },
        }
    }
}

/// Starts a handler method's future as the call it answers (used by generated code).
pub fn call<R, F>(call_id: u32, future: F) -> Started
where
    R: MethodReturn,
    F: Future<Output = R> + Send + 'static,
{
    R::start(call_id, future)
}
