//! Streamed arguments: a method's last argument may be a [`Streaming<T, E>`] of items sent by the
//! client while the call runs (client streaming; with a streaming return, bidirectional).
//!
//! On the wire (`docs/PROTOCOL.md` §5.12) each item is a client's `ITEM` frame within the credit the
//! server grants (`CREDIT` frames, and [`STREAM_WINDOW`](crate::wire::frame::STREAM_WINDOW) bytes
//! granted by the `CALL` itself), and an
//! `END` frame closes the argument. This module is the contract's side of it: what the server's
//! connection hands a handler ([`RawUpload`], made into the handler's `Streaming`), and what the
//! client's connection sends ([`UploadFrames`]). Routing, credit checks and tasks belong to the
//! connections.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::mpsc;

use super::reply::{decode_value, encode_item};
use super::stream::{Streaming, stream_shape};
use crate::error::{CallError, RpcError};
use crate::wire::frame::REGRANT_AT;
use crate::wire::shape::ShapeFn;
use crate::wire::{Codable, DecodeError, WireValue};

/// What a server's connection delivers to one call's streamed argument, in order.
#[derive(Debug)]
pub enum UploadMsg {
    /// An item's archive: `message[range]`.
    Item {
        /// The client's `ITEM` frame (or its inflated bytes).
        message: Bytes,
        /// Where the item's archive lies in it.
        range: Range<usize>,
    },
    /// The client's `END`: no more items.
    End,
}

/// What the reader of a streamed argument asks of its connection.
pub trait UploadControl: Send + Sync {
    /// Lets call `call_id`'s client send `bytes` more bytes of items.
    fn grant(&self, call_id: u32, bytes: u32);
}

/// A streamed argument as the server's connection hands it to the call's dispatch: its items
/// arrive on `items`, and reading them grants the client more credit through `control`.
pub struct RawUpload {
    call_id: u32,
    items: mpsc::UnboundedReceiver<UploadMsg>,
    control: Arc<dyn UploadControl>,
    max_depth: usize,
}

impl RawUpload {
    /// The streamed argument of call `call_id`, whose items arrive on `items`, each validated
    /// nested at most `max_depth` levels deep.
    pub fn new(
        call_id: u32,
        items: mpsc::UnboundedReceiver<UploadMsg>,
        control: Arc<dyn UploadControl>,
        max_depth: usize,
    ) -> Self {
        Self {
            call_id,
            items,
            control,
            max_depth,
        }
    }
}

impl std::fmt::Debug for RawUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawUpload")
            .field("call_id", &self.call_id)
            .finish_non_exhaustive()
    }
}

/// The `ITEM` frames of a streamed argument as a client sends them, or why it stopped early (the
/// call is then cancelled and fails with this error).
pub type UploadFrames = Pin<Box<dyn Stream<Item = Result<Vec<u8>, RpcError>> + Send>>;

/// What a client streams with a call, once the call has an id: its `ITEM` frames for that id.
pub type UploadFn = Box<dyn FnOnce(u32) -> UploadFrames + Send>;

/// A type that can be an rpc method's streamed argument: [`Streaming<T, E>`]. Used by generated
/// code.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a streamed argument",
    note = "a streamed argument is written `Streaming<T>` (or `Streaming<T, E>`) with `T` a #[codable] type"
)]
pub trait StreamArg: Send + Sized + 'static {
    /// How the argument is written in the schema text: `Streaming<T,E>`.
    const SHAPE: ShapeFn;

    /// The server's side: the handler's argument, reading what the client sends.
    #[doc(hidden)]
    fn from_upload(upload: RawUpload) -> Self;

    /// The client's side: the argument as the `ITEM` frames of call `call_id`.
    #[doc(hidden)]
    fn into_frames(self, call_id: u32) -> UploadFrames;
}

impl<T: WireValue, E: Codable> StreamArg for Streaming<T, E> {
    const SHAPE: ShapeFn = stream_shape::<T, E>;

    fn from_upload(upload: RawUpload) -> Self {
        Streaming::from_stream(
            Reader {
                upload,
                read: 0,
                done: false,
            }
            .into_items::<T, E>(),
        )
    }

    fn into_frames(self, call_id: u32) -> UploadFrames {
        Box::pin(self.map(move |item| match item {
            Ok(item) => encode_item(call_id, &item).map_err(RpcError::Encode),
            Err(CallError::Rpc(error)) => Err(RpcError::Cancelled(format!(
                "the streamed argument failed: {error}"
            ))),
            Err(CallError::Handler(_)) => Err(RpcError::Cancelled(
                "the streamed argument yielded an error".into(),
            )),
        }))
    }
}

/// The server's reader of one streamed argument: validates each item as it is taken, and grants
/// the client what was read each time [`REGRANT_AT`] bytes have been.
struct Reader {
    upload: RawUpload,
    /// Bytes of items read since credit was last granted.
    read: u32,
    done: bool,
}

impl Reader {
    fn into_items<T: WireValue, E: Send + 'static>(
        self,
    ) -> impl Stream<Item = Result<T, CallError<E>>> + Send + 'static {
        stream::unfold(self, |mut reader| async move {
            if reader.done {
                return None;
            }
            let item = match reader.upload.items.recv().await {
                Some(UploadMsg::Item { message, range }) => {
                    reader.count(message.len());
                    match decode_value::<T>(&message, range, reader.upload.max_depth) {
                        Ok(item) => Ok(item),
                        Err(e) => {
                            reader.done = true;
                            Err(bad_item::<T>(&e).into())
                        }
                    }
                }
                Some(UploadMsg::End) => return None,
                None => {
                    reader.done = true;
                    Err(RpcError::Cancelled(
                        "the streamed argument ended without its END: the call was stopped or \
                         its connection ended"
                            .into(),
                    )
                    .into())
                }
            };
            Some((item, reader))
        })
    }

    /// Counts an item's frame, as the client counts it, and grants it back in batches.
    fn count(&mut self, len: usize) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.read = self.read.saturating_add(len);
        if self.read >= REGRANT_AT {
            self.upload.control.grant(self.upload.call_id, self.read);
            self.read = 0;
        }
    }
}

/// The error for an item that fails validation; the validator's own text (which can hold memory
/// addresses) is logged, not sent anywhere.
fn bad_item<T>(error: &DecodeError) -> RpcError {
    tracing::debug!(%error, "a streamed argument's item failed validation");
    RpcError::BadArguments(format!(
        "an item of the streamed argument is not a valid archive of {}",
        std::any::type_name::<T>()
    ))
}
