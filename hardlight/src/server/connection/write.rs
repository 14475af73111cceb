//! Writing: frames leave in the order they were queued, handed to tungstenite's buffer while the
//! socket takes them and flushed once per wake-up.
//!
//! A call's reply keeps its id and its slot until it is handed to the socket
//! ([`UnwrittenReplies`]): as the client sees it, the call is in flight until then.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::{Connection, Step};
use crate::server::closing::lost;
use crate::server::handler::Handler;
use crate::server::io::Io;
use crate::wire::compression::{COMPRESSION_THRESHOLD, seal};
use crate::wire::out::OutFrame;

impl<H: Handler> Connection<H> {
    /// Queues a frame of the connection's own (a reply, a state change), counted in the backlog.
    pub(super) fn push_own(&mut self, frame: Bytes) {
        self.backlog.add(frame.len());
        self.pending.push_back(Queued::frame(frame));
    }

    /// Moves queued events into `pending`, in order; true if any moved. Polling (rather than
    /// `try_recv`) registers the task to be woken by the next event. Both are counted in the same
    /// backlog, so this bounds nothing and delays nothing.
    pub(super) fn take_events(&mut self, cx: &mut Context<'_>) -> bool {
        let mut moved = false;
        // The queue's sender lives in this connection's subscriptions; `None` cannot happen before
        // they are cleared.
        loop {
            match self.events.poll_recv(cx) {
                Poll::Ready(Some(frame)) => {
                    self.pending.push_back(Queued::frame(frame));
                    moved = true;
                }
                Poll::Pending => {
                    self.events_parked = true;
                    break;
                }
                Poll::Ready(None) => break,
            }
        }
        moved
    }

    /// Queues the `CREDIT` frames the handlers' readers of streamed arguments gave back; true if
    /// any.
    pub(super) fn take_grants(&mut self, cx: &mut Context<'_>) -> bool {
        let mut granted = false;
        while let Some(frame) = self.uploads.next_grant(cx) {
            self.push_own(Bytes::from(frame));
            granted = true;
        }
        granted
    }

    fn seal(&self, frame: Bytes) -> Message {
        match self.compression {
            Some(level) if frame.len() >= COMPRESSION_THRESHOLD => {
                Message::Binary(seal(frame.to_vec(), Some(level)).into())
            }
            _ => Message::Binary(frame),
        }
    }

    /// Queues a call's reply; its id and slot stay taken until the reply is handed to the socket.
    pub(super) fn queue_reply(&mut self, call_id: u32, reply: impl Into<OutFrame>) {
        let frame = reply.into();
        self.replies.queued(call_id);
        self.backlog.add(frame.len());
        self.pending.push_back(Queued {
            frame,
            reply_to: Some(call_id),
        });
    }

    /// Writes the ping the keepalive asked for, if the socket takes it now (it is kept for the
    /// next round otherwise).
    pub(super) fn write_ping(&mut self, cx: &mut Context<'_>, ws: &mut WebSocketStream<Io>) -> Step {
        if !self.ping_due {
            return ControlFlow::Continue(());
        }
        match ws.poll_ready_unpin(cx) {
            Poll::Ready(Ok(())) => {
                if let Err(e) = ws.start_send_unpin(Message::Ping(Bytes::new())) {
                    return ControlFlow::Break(lost("write failed", e));
                }
                self.ping_due = false;
                self.needs_flush = true;
            }
            Poll::Ready(Err(e)) => return ControlFlow::Break(lost("write failed", e)),
            Poll::Pending => {}
        }
        ControlFlow::Continue(())
    }

    /// Hands queued frames to tungstenite's buffer, in order, while the socket takes them; each
    /// leaves the backlog, and a reply frees its call's id and slot. True if any was handed over.
    pub(super) fn write_pending(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut WebSocketStream<Io>,
    ) -> Step<bool> {
        let mut wrote = false;
        let mut sent = 0;
        let step = self.write_frames(cx, ws, &mut wrote, &mut sent);
        if sent > 0 {
            self.shared.metrics().server.sent_bytes.increment(sent);
        }
        step?;
        ControlFlow::Continue(wrote)
    }

    /// Hands frames over for [`Connection::write_pending`]; counts the bytes handed over in `sent`.
    /// A large frame that is not compressed goes past tungstenite's buffer (see [`Io`]): once that
    /// buffer is flushed, its parts are queued on the socket as they are.
    fn write_frames(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut WebSocketStream<Io>,
        wrote: &mut bool,
        sent: &mut u64,
    ) -> Step {
        while let Some(next) = self.pending.front() {
            let direct = self.goes_direct(&next.frame);
            // A direct frame must not overtake what tungstenite holds: flushed first.
            let ready = if direct {
                ws.poll_flush_unpin(cx)
            } else {
                ws.poll_ready_unpin(cx)
            };
            match ready {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "write failed");
                    return ControlFlow::Break(lost("write failed", e));
                }
                Poll::Pending => break,
            }
            let Some(Queued { frame, reply_to }) = self.pending.pop_front() else {
                break;
            };
            if let Some(call_id) = reply_to {
                self.replies.written(call_id);
            }
            self.backlog.release(frame.len());
            if direct {
                let header = websocket_header(frame.len());
                *sent += (header.len() + frame.len()) as u64;
                ws.get_mut().send_direct(frame.into_parts(header));
            } else {
                let frame = frame.into_bytes_from(&mut self.arena);
                let message = self.seal(frame);
                *sent += message.len() as u64;
                if let Err(e) = ws.start_send_unpin(message) {
                    tracing::debug!(error = %e, "write failed");
                    return ControlFlow::Break(lost("write failed", e));
                }
            }
            self.needs_flush = true;
            *wrote = true;
        }
        ControlFlow::Continue(())
    }

    /// Whether `frame` is written past tungstenite: large, and not to be compressed.
    fn goes_direct(&self, frame: &OutFrame) -> bool {
        frame.len() >= DIRECT_MIN
            && !(self.compression.is_some() && frame.len() >= COMPRESSION_THRESHOLD)
    }

    /// Flushes what the rounds handed to tungstenite, once per wake-up; if the socket is full, its
    /// waker brings the task back.
    pub(super) fn flush(&mut self, cx: &mut Context<'_>, ws: &mut WebSocketStream<Io>) -> Step {
        if self.needs_flush {
            match ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "flush failed");
                    return ControlFlow::Break(lost("flush failed", e));
                }
                Poll::Pending => {}
            }
        }
        ControlFlow::Continue(())
    }
}

/// Frames of at least this many bytes are written past tungstenite's buffer (see [`Io`]): below
/// it, copying a frame costs less than the flush and the system call of its own it would need.
const DIRECT_MIN: usize = 16 * 1024;

/// The header of an unmasked, final, binary WebSocket frame of `len` bytes (RFC 6455 §5.2), as
/// tungstenite writes it, with room for the frame's own header after it.
fn websocket_header(len: usize) -> Vec<u8> {
    let mut header = Vec::with_capacity(32);
    let binary = FrameHeader {
        opcode: OpCode::Data(Data::Binary),
        ..FrameHeader::default()
    };
    // Writing into a `Vec` cannot fail.
    let _ = binary.format(len as u64, &mut header);
    header
}

/// A frame waiting in `pending`, and the call it answers if it is a reply.
pub(super) struct Queued {
    frame: OutFrame,
    reply_to: Option<u32>,
}

impl Queued {
    fn frame(frame: Bytes) -> Self {
        Queued {
            frame: OutFrame::from(frame),
            reply_to: None,
        }
    }
}

/// The calls whose replies are queued and not yet handed to the socket.
#[derive(Default)]
pub(super) struct UnwrittenReplies {
    ids: HashSet<u32>,
}

impl UnwrittenReplies {
    pub(super) fn queued(&mut self, call_id: u32) {
        self.ids.insert(call_id);
    }

    /// Notes that call `call_id`'s reply left `pending` for the socket: the call is over.
    pub(super) fn written(&mut self, call_id: u32) {
        self.ids.remove(&call_id);
    }

    pub(super) fn holds(&self, call_id: u32) -> bool {
        self.ids.contains(&call_id)
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}
