//! A call's streamed argument as its client sends it: a task that takes the caller's items, each as
//! an `ITEM` frame sent within the credit the server grants, then an `END`.
//!
//! The connection's side (routing the server's `CREDIT` frames, closing the credit when the call
//! ends) is in [`super::session`]; it is reached through [`UploadSink`] so that the two stay apart.
//! The task runs on its own (not inside the caller's future), so that a caller that waits for
//! something else (a bidirectional call's next reply item) never stops its own argument from
//! being sent.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::contract::UploadFrames;
use crate::error::RpcError;
use crate::locks::lock;
use crate::wire::frame::STREAM_WINDOW;

/// A streamed argument to send, once its call has an id: its frames for that id.
pub(crate) type Upload = crate::contract::UploadFn;

/// What the sending task asks of its connection.
pub(crate) trait UploadSink: Send + Sync {
    /// Queues a frame (an `ITEM` or the `END`) of the call's argument; false once the connection
    /// is gone.
    fn send_frame(&self, frame: Vec<u8>) -> bool;
    /// Asks the server to stop call `call_id`, whose caller still waits for its reply.
    fn stop(&self, call_id: u32);
    /// The largest message the server accepts.
    fn max_outgoing(&self) -> usize;
}

/// The credit of one call's streamed argument: bytes of `ITEM` frames the client may still send,
/// as the server granted them ([`STREAM_WINDOW`] with the `CALL`), and whether the call still
/// takes items.
#[derive(Debug)]
pub(crate) struct UploadCredit {
    inner: Mutex<CreditState>,
}

#[derive(Debug)]
struct CreditState {
    available: i64,
    /// The call has ended (or its caller gave up): nothing more is sent.
    closed: bool,
    /// Why the argument stopped early, if it did: the call fails with this.
    failure: Option<RpcError>,
    /// The sending task, waiting for credit or for its caller's next item.
    waiter: Option<Waker>,
}

impl UploadCredit {
    /// The credit of a call just sent: [`STREAM_WINDOW`] bytes.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(CreditState {
                available: i64::from(STREAM_WINDOW),
                closed: false,
                failure: None,
                waiter: None,
            }),
        })
    }

    /// Adds `bytes` (a `CREDIT` frame from the server) and wakes the task if it waits.
    pub(crate) fn grant(&self, bytes: u32) {
        let mut credit = lock(&self.inner);
        credit.available = credit.available.saturating_add(i64::from(bytes));
        if let Some(waiter) = credit.waiter.take() {
            waiter.wake();
        }
    }

    /// The call needs no more items: the task stops (dropping the caller's stream).
    pub(crate) fn close(&self) {
        let mut credit = lock(&self.inner);
        credit.closed = true;
        if let Some(waiter) = credit.waiter.take() {
            waiter.wake();
        }
    }

    /// Why the argument stopped early, if it did.
    pub(crate) fn failure(&self) -> Option<RpcError> {
        lock(&self.inner).failure.clone()
    }

    fn fail(&self, error: RpcError) {
        let mut credit = lock(&self.inner);
        credit.failure.get_or_insert(error);
        credit.closed = true;
    }

    /// `Ready(true)` once the call needs no more items; registers the task to learn it otherwise.
    fn poll_closed(&self, cx: &mut Context<'_>) -> bool {
        let mut credit = lock(&self.inner);
        if !credit.closed {
            credit.waiter = Some(cx.waker().clone());
        }
        credit.closed
    }

    /// Spends `len` bytes if any credit is left (`Ready(true)`), or waits for some; `Ready(false)`
    /// once the call needs no more items.
    fn poll_spend(&self, cx: &mut Context<'_>, len: usize) -> Poll<bool> {
        let mut credit = lock(&self.inner);
        if credit.closed {
            return Poll::Ready(false);
        }
        if credit.available > 0 {
            let len = i64::try_from(len).unwrap_or(i64::MAX);
            credit.available = credit.available.saturating_sub(len);
            Poll::Ready(true)
        } else {
            credit.waiter = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Sends call `call_id`'s streamed argument: each of `frames` once there is credit for it, then
/// `END`. Stops, dropping `frames`, once the call has ended; a frame over the server's size limit,
/// or an error from the caller's stream, stops the call (it fails with that error).
pub(crate) async fn send(
    sink: Arc<dyn UploadSink>,
    call_id: u32,
    credit: Arc<UploadCredit>,
    mut frames: UploadFrames,
    end: Vec<u8>,
) {
    let mut held: Option<Vec<u8>> = None;
    poll_fn(|cx| {
        loop {
            let frame = match held.take() {
                Some(frame) => frame,
                None => {
                    if credit.poll_closed(cx) {
                        return Poll::Ready(());
                    }
                    let next = match frames.as_mut().poll_next(cx) {
                        Poll::Ready(next) => next,
                        Poll::Pending => return Poll::Pending,
                    };
                    match next {
                        Some(Ok(frame)) if frame.len() <= sink.max_outgoing() => frame,
                        Some(Ok(frame)) => {
                            let why = format!(
                                "an item of the streamed argument ({} bytes) exceeds the \
                                 server's maximum message size of {}",
                                frame.len(),
                                sink.max_outgoing()
                            );
                            stop(&*sink, call_id, &credit, RpcError::LimitExceeded(why));
                            return Poll::Ready(());
                        }
                        Some(Err(error)) => {
                            stop(&*sink, call_id, &credit, error);
                            return Poll::Ready(());
                        }
                        None => {
                            // Sent whatever the credit: `END` takes none.
                            if !credit.poll_closed(cx) {
                                sink.send_frame(end.clone());
                            }
                            return Poll::Ready(());
                        }
                    }
                }
            };
            match credit.poll_spend(cx, frame.len()) {
                Poll::Ready(true) => {
                    if !sink.send_frame(frame) {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Pending => {
                    held = Some(frame);
                    return Poll::Pending;
                }
            }
        }
    })
    .await;
}

/// Stops the call because its argument failed with `error`.
fn stop(sink: &dyn UploadSink, call_id: u32, credit: &UploadCredit, error: RpcError) {
    tracing::debug!(call_id, %error, "streamed argument stopped; cancelling its call");
    credit.fail(error);
    sink.stop(call_id);
}
