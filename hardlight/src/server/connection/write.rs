//! Writing: frames leave in the order they were queued, handed to the socket's buffer while it
//! takes them (large ones as they lie, see [`crate::ws::write`]) and flushed once per round.
//!
//! A call's reply keeps its id and its slot until it is handed to the socket
//! ([`UnwrittenReplies`]): as the client sees it, the call is in flight until then. A reply with
//! nothing queued before it is handed to the socket's buffer as soon as its call ends, without a
//! place in the queue to hold ([`Connection::send_reply`]); its id stays taken until the round's
//! writing starts, since none of those bytes can have left before ([`FreshReplies`]).

use crate::call_ids::{CallIdHash, CallIdSet};
use std::ops::ControlFlow;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::{Connection, Step};
use crate::server::closing::lost;
use crate::server::handler::Handler;
use crate::server::io::Socket;
use crate::wire::compression::{COMPRESSION_THRESHOLD, seal};
use crate::wire::out::OutFrame;

impl<H: Handler> Connection<H> {
    /// Queues a frame of the connection's own (a reply, a state change), counted in the backlog.
    pub(super) fn push_own(&mut self, frame: Bytes) {
        self.outbound.backlog().add(frame.len());
        self.pending.push_back(Queued::frame(frame));
    }

    /// Moves queued events into `pending`, in order; true if any moved. Polling (rather than
    /// `try_recv`) registers the task to be woken by the next event. Both are counted in the same
    /// backlog, so this bounds nothing and delays nothing.
    pub(super) fn take_events(&mut self, cx: &mut Context<'_>) -> bool {
        let mut moved = false;
        // The queue's sender lives in this connection's subscriptions; `None` cannot happen before
        // they are cleared.
        if self.events_parked {
            // The queue holds this wake-up's waker already (a finished call's events are taken
            // here, round after round): look without registering it again.
            while let Ok(frame) = self.events.try_recv() {
                self.pending.push_back(Queued::frame(frame));
                moved = true;
            }
            return moved;
        }
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

    /// Sends a call's reply: handed to the socket's buffer at once when nothing is queued before it
    /// and the buffer has room (it leaves with the round's writing, as a queued one would), queued
    /// otherwise. Most replies go this way under load: no place in the queue, no note of the call
    /// id to keep and drop (measured: benches/PROFILE.md).
    pub(super) fn send_reply(
        &mut self,
        ws: &mut Socket,
        call_id: u32,
        reply: OutFrame,
    ) {
        // Only into room the buffer has: writing out here could let a reply leave while the round
        // still reads, and its id would have to be freed for a client that may have it.
        if self.pending.is_empty() && ws.has_room() {
            self.sent_unrecorded += self.write_frame(ws, reply);
            self.fresh.written(call_id);
            self.needs_flush = true;
            return;
        }
        self.queue_reply(call_id, reply);
    }

    /// Queues a call's reply; its id and slot stay taken until the reply is handed to the socket.
    pub(super) fn queue_reply(&mut self, call_id: u32, reply: impl Into<OutFrame>) {
        let frame = reply.into();
        self.replies.queued(call_id);
        self.outbound.backlog().add(frame.len());
        self.pending.push_back(Queued {
            frame,
            reply_to: Some(call_id),
        });
    }

    /// Writes the ping the keepalive asked for, if the socket takes it now (it is kept for the
    /// next round otherwise).
    pub(super) fn write_ping(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Step {
        if !self.ping_due {
            return ControlFlow::Continue(());
        }
        match ws.poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                ws.ping();
                self.ping_due = false;
                self.needs_flush = true;
            }
            Poll::Ready(Err(e)) => return ControlFlow::Break(lost("write failed", e)),
            Poll::Pending => {}
        }
        ControlFlow::Continue(())
    }

    /// Hands queued frames to the socket's buffer, in order, while it takes them; each leaves the
    /// backlog, and a reply frees its call's id and slot. True if any was handed over.
    pub(super) fn write_pending(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Step<bool> {
        let mut wrote = false;
        let mut sent = std::mem::take(&mut self.sent_unrecorded);
        let step = self.write_frames(cx, ws, &mut wrote, &mut sent);
        if sent > 0 {
            self.shared.metrics().server.sent_bytes.increment(sent);
        }
        step?;
        ControlFlow::Continue(wrote)
    }

    /// Hands frames over for [`Connection::write_pending`]; counts the bytes handed over in `sent`.
    fn write_frames(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
        wrote: &mut bool,
        sent: &mut u64,
    ) -> Step {
        while !self.pending.is_empty() {
            match ws.poll_ready(cx) {
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
            self.outbound.backlog().release(frame.len());
            *sent += self.write_frame(ws, frame);
            self.needs_flush = true;
            *wrote = true;
        }
        ControlFlow::Continue(())
    }

    /// Hands `frame` to the socket's buffer (compressed if the connection compresses and the frame
    /// is worth it); returns the bytes handed over.
    fn write_frame(&self, ws: &mut Socket, frame: OutFrame) -> u64 {
        match self.compression {
            Some(level) if frame.len() >= COMPRESSION_THRESHOLD => {
                let sealed = seal(frame.into_bytes().to_vec(), Some(level));
                let len = sealed.len() as u64;
                ws.binary(Bytes::from(sealed));
                len
            }
            _ => {
                let len = frame.len() as u64;
                frame.write_with(|head, body| ws.binary_parts(head, body));
                len
            }
        }
    }

    /// Flushes what the rounds handed to the socket (and the pong it owes, if any), once per
    /// wake-up; if the socket is full, its waker brings the task back.
    pub(super) fn flush(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Step {
        if self.needs_flush || ws.wants_flush() {
            match ws.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "flush failed");
                    return ControlFlow::Break(lost("flush failed", e));
                }
                Poll::Pending => self.needs_flush = true,
            }
        }
        ControlFlow::Continue(())
    }
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
pub(super) struct UnwrittenReplies {
    ids: CallIdSet,
}

impl Default for UnwrittenReplies {
    fn default() -> Self {
        Self {
            ids: CallIdSet::with_hasher(CallIdHash::random()),
        }
    }
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

/// The calls whose replies were handed straight to the socket's buffer during this round, before
/// its writing starts: none of those bytes can have left, so a `CALL` reusing one of these ids is
/// one the client sent before it could have the reply, and closes the connection as PROTOCOL.md
/// §6 says (two `CALL`s with one id read in one round do). A list to scan, behind a filter of
/// one bit per 1,024th of the ids' hashes: most `CALL`s find their bit clear and scan nothing.
/// Bounded by the messages a round reads and the calls it collects; emptied every round.
pub(super) struct FreshReplies {
    ids: Vec<u32>,
    filter: [u64; FILTER_WORDS],
}

const FILTER_WORDS: usize = 16;

impl Default for FreshReplies {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            filter: [0; FILTER_WORDS],
        }
    }
}

impl FreshReplies {
    /// The filter's word and bit for `call_id`: the top bits of a multiplicative hash, which mixes
    /// every bit of the id into them (ids that differ only in their high bits, as a client's reused
    /// places do, still spread).
    fn bit(call_id: u32) -> (usize, u64) {
        let hash = call_id.wrapping_mul(0x9E37_79B1) >> 22;
        ((hash >> 6) as usize, 1 << (hash & 63))
    }

    pub(super) fn written(&mut self, call_id: u32) {
        let (word, bit) = Self::bit(call_id);
        self.filter[word] |= bit;
        self.ids.push(call_id);
    }

    pub(super) fn holds(&self, call_id: u32) -> bool {
        let (word, bit) = Self::bit(call_id);
        self.filter[word] & bit != 0 && self.ids.contains(&call_id)
    }

    /// The round's writing starts: the replies may leave from here on.
    pub(super) fn clear(&mut self) {
        if !self.ids.is_empty() {
            self.ids.clear();
            self.filter = [0; FILTER_WORDS];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_replies_hold_their_ids_until_cleared() {
        let mut fresh = FreshReplies::default();
        // A client's reused places: ids alike in their low bits, apart in their high ones.
        let ids: Vec<u32> = (0..200u32).map(|i| (i % 8) | (i / 8) << 20).collect();
        for &id in &ids {
            fresh.written(id);
        }
        assert!(ids.iter().all(|&id| fresh.holds(id)));
        assert!(!fresh.holds(8) && !fresh.holds(25 << 20) && !fresh.holds(u32::MAX));
        // Spread over the filter: most ids not written find their bit clear.
        let clear = (1_000_000..1_001_000u32)
            .filter(|&id| {
                let (word, bit) = FreshReplies::bit(id);
                fresh.filter[word] & bit == 0
            })
            .count();
        assert!(clear > 700, "{clear} of 1000 ids not written found their bit clear");
        fresh.clear();
        assert!(ids.iter().all(|&id| !fresh.holds(id)));
        assert_eq!(fresh.filter, [0; FILTER_WORDS]);
    }
}
