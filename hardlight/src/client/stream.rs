//! A streaming call as its caller receives it: the items the connection routes to it, within the
//! credit the client grants as they are read, and the cancel that dropping it sends.
//!
//! The connection's side (routing `ITEM` frames, checking that the server keeps within the credit)
//! is in [`super::session`]; this is the caller's side, which grants credit and cancels. The
//! session is reached through [`StreamControl`] so that the two stay apart.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use super::upload::UploadCredit;
use crate::contract::RawStreamMsg;
use crate::error::RpcError;
use crate::rt::{self, Instant, Timer};

pub(crate) use crate::wire::frame::{REGRANT_AT, STREAM_WINDOW};

/// What a stream's receiver asks of its connection.
pub(crate) trait StreamControl: Send + Sync {
    /// Lets streaming call `call_id` send `bytes` more bytes of items.
    fn grant(&self, call_id: u32, bytes: u32);
    /// Stops waiting for call `call_id` and asks the server to stop it.
    fn cancel(&self, call_id: u32);
    /// Why the connection ended (or ends).
    fn closed_error(&self) -> RpcError;
}

/// The caller's side of one streaming call: its items, then one end (the `REPLY`, or why there is
/// none). Dropping it before the end cancels the call.
pub(crate) struct StreamReceiver {
    control: Arc<dyn StreamControl>,
    call_id: u32,
    items: mpsc::UnboundedReceiver<RawStreamMsg>,
    /// Bytes of items read since credit was last granted.
    read: u32,
    ended: bool,
    /// The call's deadline, where the client keeps one itself (see [`rt::timer`]).
    deadline: Option<Timer>,
    /// The credit of the call's streamed argument (a bidirectional call): its failure, if it
    /// stopped the call, is the stream's end.
    upload: Option<Arc<UploadCredit>>,
}

impl StreamReceiver {
    /// The receiver of streaming call `call_id`, whose messages arrive on `items`; `deadline` ends
    /// it with [`RpcError::Timeout`] (and cancels the call) when it passes first.
    pub(crate) fn new(
        control: Arc<dyn StreamControl>,
        call_id: u32,
        items: mpsc::UnboundedReceiver<RawStreamMsg>,
        deadline: Option<Instant>,
        upload: Option<Arc<UploadCredit>>,
    ) -> Self {
        Self {
            control,
            call_id,
            items,
            read: 0,
            ended: false,
            deadline: deadline.and_then(rt::timer),
            upload,
        }
    }
}

impl Stream for StreamReceiver {
    type Item = RawStreamMsg;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RawStreamMsg>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let message = match this.items.poll_recv(cx) {
            Poll::Ready(message) => message,
            Poll::Pending => {
                if let Some(timer) = &mut this.deadline
                    && timer.as_mut().poll(cx).is_ready()
                {
                    this.control.cancel(this.call_id);
                    this.ended = true;
                    return Poll::Ready(Some(RawStreamMsg::Failed(RpcError::Timeout(
                        "the stream did not end within the call's deadline".into(),
                    ))));
                }
                return Poll::Pending;
            }
        };
        match message {
            Some(items) if items.item_frame_len().is_some() => {
                // The frame's length, as the server counts it: one frame, however many items.
                let len = items.item_frame_len().unwrap_or_default();
                let len = u32::try_from(len).unwrap_or(u32::MAX);
                this.read = this.read.saturating_add(len);
                if this.read >= REGRANT_AT {
                    this.control.grant(this.call_id, this.read);
                    this.read = 0;
                }
                Poll::Ready(Some(items))
            }
            Some(RawStreamMsg::Opened) => Poll::Ready(Some(RawStreamMsg::Opened)),
            Some(end) => {
                this.ended = true;
                // A streamed argument that failed stopped the call: its error is the stream's.
                if let Some(failure) = this.upload.as_ref().and_then(|upload| upload.failure()) {
                    return Poll::Ready(Some(RawStreamMsg::Failed(failure)));
                }
                Poll::Ready(Some(end))
            }
            // The connection ended: every pending call's sender was dropped.
            None => {
                this.ended = true;
                Poll::Ready(Some(RawStreamMsg::Failed(this.control.closed_error())))
            }
        }
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        if !self.ended {
            self.control.cancel(self.call_id);
        }
    }
}
