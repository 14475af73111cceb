//! What moves a byte stream's bytes: on the server, between the handler's reader and writer and
//! the call's frames ([`serve`]); on the client, between the caller's reads and writes and the
//! call's frames ([`upload`], [`Remote`]).

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::StreamExt;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use super::pipe::{PipeReader, PipeWriter};
use super::{ByteIo, CHUNK, io_error};
use crate::contract::reply::encode_reply_vec;
use crate::contract::stream::{FrameSource, ItemSource, RawStream, SourceItem, Streaming};
use crate::contract::upload::{RawUpload, StreamArg, UploadFn};
use crate::error::{CallError, RpcError};
use crate::locks::lock;
use crate::wire::frame::{ReplyStatus, encode_reply_text, item_header};
use crate::wire::view::{SLICE_ROOT, encode_slice_into};
use crate::wire::{Archived, Codable};

/// The handler's reader and writer, shared by the call's two directions.
type SharedIo = Arc<Mutex<Pin<Box<dyn ByteIo>>>>;

/// Serves byte-stream call `call_id` from the handler's `io`: what `io` gives becomes the call's
/// `ITEM` frames, then its `REPLY` (at `io`'s end, or its failure); what the client sends
/// (`upload`) is written into `io` by a task of its own, which the call's end stops.
pub(super) fn serve<E>(io: Pin<Box<dyn ByteIo>>, call_id: u32, upload: RawUpload) -> ItemSource
where
    E: Codable + fmt::Debug + Sync,
{
    let io: SharedIo = Arc::new(Mutex::new(io));
    let (failed, failure) = oneshot::channel();
    let items = <Streaming<Archived<Vec<u8>>, E> as StreamArg>::from_upload(upload);
    let (abort, registration) = AbortHandle::new_pair();
    let writing = Abortable::new(write_upload(items, io.clone(), failed), registration);
    crate::rt::spawn(async move {
        let _ = writing.await;
    });
    Box::pin(Served::<E> {
        io: Some(io),
        call_id,
        failure: Some(failure),
        chunk: Vec::new(),
        abort,
        _error: std::marker::PhantomData,
    })
}

/// Writes the client's chunks into `io`, in order, then shuts `io`'s writing down at the client's
/// `END`. A chunk that fails validation stops the call (through `failed`); `io` refusing a write
/// stops the writing only (the handler's side no longer reads, and the client's credit runs out).
async fn write_upload<E: Send + 'static>(
    mut items: Streaming<Archived<Vec<u8>>, E>,
    io: SharedIo,
    failed: oneshot::Sender<RpcError>,
) {
    while let Some(item) = items.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(CallError::Rpc(error)) => {
                let _ = failed.send(error);
                return;
            }
            Err(CallError::Handler(_)) => return,
        };
        let mut bytes: &[u8] = chunk.as_slice();
        while !bytes.is_empty() {
            match poll_fn(|cx| lock(&io).as_mut().poll_write(cx, bytes)).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes = &bytes[n..],
            }
        }
    }
    let _ = poll_fn(|cx| lock(&io).as_mut().poll_shutdown(cx)).await;
}

/// The frames of a served byte stream.
struct Served<E> {
    /// The handler's reader and writer, until the stream's end.
    io: Option<SharedIo>,
    call_id: u32,
    /// Why the client's side failed, if it did.
    failure: Option<oneshot::Receiver<RpcError>>,
    /// The buffer chunks are read into, [`CHUNK`] bytes once the first is read.
    chunk: Vec<u8>,
    /// Stops the writing task when the call ends.
    abort: AbortHandle,
    _error: std::marker::PhantomData<fn() -> E>,
}

impl<E> Drop for Served<E> {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl<E: Codable + fmt::Debug + Sync> FrameSource for Served<E> {
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SourceItem>> {
        let call_id = self.call_id;
        let Some(io) = self.io.clone() else {
            return Poll::Ready(None);
        };
        if let Some(failure) = self.failure.as_mut()
            && let Poll::Ready(failed) = Pin::new(failure).poll(cx)
        {
            self.failure = None;
            if let Ok(error) = failed {
                self.io = None;
                let status = match error {
                    RpcError::BadArguments(_) => ReplyStatus::BadArguments,
                    _ => ReplyStatus::Cancelled,
                };
                let reply = encode_reply_text(call_id, status, &error.to_string());
                return Poll::Ready(Some(SourceItem::End(reply)));
            }
        }
        // The buffer is kept from read to read: filled once, then each chunk is copied from it
        // into its frame, once.
        if self.chunk.is_empty() {
            self.chunk = vec![0; CHUNK];
        }
        let mut buf = ReadBuf::new(&mut self.chunk);
        let read = lock(&io).as_mut().poll_read(cx, &mut buf);
        let end = match read {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                let header = item_header(call_id, buf.filled().len() + SLICE_ROOT);
                match encode_slice_into(buf.filled(), header) {
                    Ok(frame) => return Poll::Ready(Some(SourceItem::Item(frame))),
                    Err(e) => crate::contract::reply::internal_reply(call_id, &e),
                }
            }
            Poll::Ready(Ok(())) => encode_reply_vec::<(), E>(call_id, Ok(())),
            Poll::Ready(Err(error)) => failed_reply::<E>(call_id, error),
        };
        // The stream has ended: the handler's reader and writer are released.
        self.io = None;
        self.abort.abort();
        Poll::Ready(Some(SourceItem::End(end)))
    }
}

/// The `REPLY` for a handler's side whose read failed with `error`: the typed error it carries,
/// or its text as an internal failure.
fn failed_reply<E: Codable + fmt::Debug + Sync>(call_id: u32, error: io::Error) -> Vec<u8> {
    let text = error.to_string();
    match error
        .into_inner()
        .map(|inner| inner.downcast::<CallError<E>>())
    {
        Some(Ok(typed)) => match *typed {
            CallError::Handler(error) => encode_reply_vec::<(), E>(call_id, Err(error)),
            CallError::Rpc(error) => encode_reply_text(
                call_id,
                ReplyStatus::Internal,
                &format!("the byte stream failed: {error}"),
            ),
        },
        _ => encode_reply_text(
            call_id,
            ReplyStatus::Internal,
            &format!("the byte stream failed: {text}"),
        ),
    }
}

/// The client's outgoing bytes as the call's `ITEM` frames, a chunk at a time, then its `END` once
/// the caller shut down its writing (or dropped the stream).
pub(super) fn upload(mut reader: PipeReader) -> UploadFn {
    Box::new(move |call_id| {
        Box::pin(futures_util::stream::poll_fn(move |cx| {
            match reader.poll_chunk(cx, CHUNK) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(Some(chunk))) => {
                    let header = item_header(call_id, chunk.len() + SLICE_ROOT);
                    let frame = encode_slice_into(&chunk, header);
                    Poll::Ready(Some(frame.map_err(RpcError::Encode)))
                }
                Poll::Ready(Ok(None)) => Poll::Ready(None),
                Poll::Ready(Err(error)) => Poll::Ready(Some(Err(RpcError::Cancelled(format!(
                    "the byte stream's writing failed: {error}"
                ))))),
            }
        }))
    })
}

/// A byte stream as the client reads and writes it: the call's items, then its end, and the pipe
/// its writes go into.
pub(super) struct Remote<E> {
    items: Streaming<Archived<Vec<u8>>, E>,
    /// The chunk being read, and how much of it was.
    chunk: Option<(Archived<Vec<u8>>, usize)>,
    /// The stream's end was read (or its failure).
    done: bool,
    writer: PipeWriter,
}

impl<E: Codable> Remote<E> {
    pub(super) fn new(raw: RawStream, writer: PipeWriter, max_depth: usize) -> Self {
        Self {
            items: Streaming::remote(raw, max_depth),
            chunk: None,
            done: false,
            writer,
        }
    }
}

impl<E: fmt::Debug + Send + Sync + 'static> AsyncRead for Remote<E> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let bytes = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = bytes.len().min(buf.remaining());
        buf.put_slice(&bytes[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

/// The chunk being read, lent where its frame arrived.
impl<E: fmt::Debug + Send + Sync + 'static> AsyncBufRead for Remote<E> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        // Past the chunks read to their end (or empty), to the next one with bytes, or the end.
        while !this.done
            && this
                .chunk
                .as_ref()
                .is_none_or(|(chunk, at)| *at >= chunk.len())
        {
            this.chunk = None;
            match this.items.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.chunk = Some((chunk, 0)),
                Poll::Ready(None) => this.done = true,
                Poll::Ready(Some(Err(error))) => {
                    this.done = true;
                    return Poll::Ready(Err(io_error(error)));
                }
            }
        }
        Poll::Ready(Ok(match &this.chunk {
            Some((chunk, at)) => chunk.as_slice().get(*at..).unwrap_or_default(),
            None => &[],
        }))
    }

    fn consume(mut self: Pin<&mut Self>, amount: usize) {
        if let Some((chunk, at)) = self.chunk.as_mut() {
            *at = at.saturating_add(amount).min(chunk.len());
        }
    }
}

impl<E> AsyncWrite for Remote<E> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}
