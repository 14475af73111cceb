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
use crate::contract::{RawStreamMsg, RawStreamSource};
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
    /// The server broke the protocol in a message that was read only now: close the connection
    /// with `error`.
    fn violated(&self, error: RpcError);
}

/// The caller's side of one streaming call: its items, then one end (the `REPLY`, or why there is
/// none). Dropping it before the end cancels the call.
pub(crate) struct StreamReceiver {
    control: Arc<dyn StreamControl>,
    call_id: u32,
    items: mpsc::UnboundedReceiver<RawStreamMsg>,
    /// Bytes of items read since credit was last granted.
    read: u32,
    /// Credit was just granted: the next poll yields once, so that the connection's task sends
    /// the `CREDIT` frame before this caller goes on through the items it has (see `poll_next`).
    granted: bool,
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
            granted: false,
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
        if std::mem::take(&mut this.granted) {
            // The `CREDIT` just queued leaves when the connection's task runs. A caller with items
            // in hand would otherwise go through all of them first (a window's worth), and the
            // server, out of credit meanwhile, would wait idle instead of producing the next ones
            // at the same time. Yielding once per grant lets that task run first.
            cx.waker().wake_by_ref();
            return Poll::Pending;
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
                    this.granted = true;
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

impl RawStreamSource for StreamReceiver {
    fn violated(&self, error: RpcError) {
        self.control.violated(error);
    }
}

impl Drop for StreamReceiver {
    fn drop(&mut self) {
        if !self.ended {
            self.control.cancel(self.call_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;
    use crate::test_wakers::counting_waker;

    /// Records the credit granted.
    #[derive(Default)]
    struct Grants(Mutex<Vec<(u32, u32)>>);

    impl StreamControl for Grants {
        fn grant(&self, call_id: u32, bytes: u32) {
            self.0.lock().expect("grants").push((call_id, bytes));
        }
        fn cancel(&self, _call_id: u32) {}
        fn closed_error(&self) -> RpcError {
            RpcError::Timeout("unused".into())
        }
        fn violated(&self, _error: RpcError) {}
    }

    fn items(len: usize) -> RawStreamMsg {
        RawStreamMsg::Items {
            message: Bytes::from(vec![0; len]),
            list: 0..len,
        }
    }

    #[test]
    fn a_grant_lets_the_connection_send_it_before_the_next_items() {
        let grants = Arc::new(Grants::default());
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut stream = StreamReceiver::new(grants.clone(), 7, receiver, None, None);
        let (count, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let half = REGRANT_AT as usize / 2;
        for _ in 0..4 {
            sender.send(items(half)).expect("sent");
        }
        let mut poll = || Pin::new(&mut stream).poll_next(&mut cx);
        // Below the threshold: no grant, and the frames come one after the other.
        assert!(matches!(
            poll(),
            Poll::Ready(Some(RawStreamMsg::Items { .. }))
        ));
        assert!(grants.0.lock().expect("grants").is_empty());
        // The frame that reaches it is granted and handed over; the next poll yields once (woken
        // at once), although a frame is waiting, then goes on.
        assert!(matches!(
            poll(),
            Poll::Ready(Some(RawStreamMsg::Items { .. }))
        ));
        assert_eq!(*grants.0.lock().expect("grants"), [(7, 2 * half as u32)]);
        assert!(poll().is_pending());
        assert_eq!(count.get(), 1);
        assert!(matches!(
            poll(),
            Poll::Ready(Some(RawStreamMsg::Items { .. }))
        ));
        assert!(matches!(
            poll(),
            Poll::Ready(Some(RawStreamMsg::Items { .. }))
        ));
        assert_eq!(grants.0.lock().expect("grants").len(), 2);
    }
}
