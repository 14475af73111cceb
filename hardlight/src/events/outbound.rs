//! A connection's outbound side, as topics and the connection share it: the bounded queue events
//! are delivered to ([`Outbound`]), the count of everything waiting to be written ([`Backlog`]), and
//! the signal that asks the connection to close ([`CloseSignal`]; a slow consumer's full queue is one
//! reason). It lives with events so that topics deliver without knowing the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::wire::close;

/// Why and how a connection is being closed: the close code and reason sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseReason {
    pub code: u16,
    pub reason: String,
}

/// Asks a connection's tasks to stop; the first request wins.
#[derive(Clone)]
pub(crate) struct CloseSignal {
    tx: Arc<watch::Sender<Option<CloseReason>>>,
}

impl CloseSignal {
    pub(crate) fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(None).0),
        }
    }

    /// Requests the close; ignored if one was already requested.
    pub(crate) fn request(&self, code: u16, reason: impl Into<String>) {
        let reason = close::truncate_reason(reason.into());
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(CloseReason { code, reason });
            true
        });
    }

    /// The close requested so far, if any.
    pub(crate) fn current(&self) -> Option<CloseReason> {
        self.tx.borrow().clone()
    }

    /// A receiver whose `has_changed` tells, without a lock, that a close was requested since.
    pub(crate) fn changes(&self) -> watch::Receiver<Option<CloseReason>> {
        self.tx.subscribe()
    }

    /// Resolves once a close is requested.
    pub(crate) async fn requested(&self) -> CloseReason {
        let mut rx = self.tx.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_else(unreachable_reason),
            // The sender lives in `self`, so it cannot be dropped while we wait.
            Err(_) => unreachable_reason(),
        }
    }
}

fn unreachable_reason() -> CloseReason {
    CloseReason {
        code: close::INTERNAL_ERROR,
        reason: String::new(),
    }
}

/// Everything waiting to be written to one connection, events queued by other tasks and frames
/// the connection holds (replies, state changes, events taken from the queue) alike: one count of
/// frames and one of bytes, each with its limit.
///
/// Events are refused beyond the limits (the connection is then closed as a slow consumer). The
/// connection's own frames are always counted in, and it stops reading and running calls once
/// half of either limit is taken ([`Backlog::holds_back`]): what a call can add after that (its
/// reply and state change) still fits in the other half, since the byte limit is at least two
/// messages of the largest size.
#[derive(Debug)]
pub(crate) struct Backlog {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    max_frames: usize,
    max_bytes: usize,
}

impl Backlog {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            frames: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    /// Counts in a frame of `len` bytes if both limits allow it; false (nothing counted) if not.
    fn try_reserve(&self, len: usize) -> bool {
        let fits = |max: usize, add: usize| {
            move |now: usize| now.checked_add(add).filter(|total| *total <= max)
        };
        if self
            .bytes
            .fetch_update(
                Ordering::AcqRel,
                Ordering::Acquire,
                fits(self.max_bytes, len),
            )
            .is_err()
        {
            return false;
        }
        if self
            .frames
            .fetch_update(
                Ordering::AcqRel,
                Ordering::Acquire,
                fits(self.max_frames, 1),
            )
            .is_err()
        {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Counts in a frame of `len` bytes whatever the limits: the connection's own output, which is
    /// bounded by its holding back.
    pub(crate) fn add(&self, len: usize) {
        self.bytes.fetch_add(len, Ordering::AcqRel);
        self.frames.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts out a frame of `len` bytes: written, or dropped.
    pub(crate) fn release(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::AcqRel);
        self.frames.fetch_sub(1, Ordering::AcqRel);
    }

    /// True once half of either limit is taken: the connection then reads no message and runs no
    /// call until the client has read some of its output.
    pub(crate) fn holds_back(&self) -> bool {
        self.bytes.load(Ordering::Acquire) >= self.max_bytes / 2
            || self.frames.load(Ordering::Acquire) >= self.max_frames.div_ceil(2)
    }

    /// Bytes waiting now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

/// The sending side of one connection's outbound queue; cheap to clone.
#[derive(Clone)]
pub(crate) struct Outbound {
    inner: Arc<Inner>,
}

// The backlog lives here rather than in an allocation of its own: a delivery counts the event in,
// and the connection's wake-up counts it out, and with thousands of connections taking turns each
// separate place touched is a cache miss.
struct Inner {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    backlog: Backlog,
    close: CloseSignal,
}

impl Outbound {
    /// The queue of connection `id`, with `backlog` counting what waits in it and what the
    /// connection holds (see [`Outbound::backlog`]); the receiver is the connection's.
    pub(crate) fn new(
        id: u64,
        backlog: Backlog,
        close: CloseSignal,
    ) -> (Self, mpsc::Receiver<Bytes>) {
        // Never full before the backlog's frame limit is reached.
        let (tx, rx) = mpsc::channel(backlog.max_frames);
        (
            Self {
                inner: Arc::new(Inner {
                    id,
                    tx,
                    backlog,
                    close,
                }),
            },
            rx,
        )
    }

    /// The connection's id, unique within its server.
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// The count of everything waiting to be written to the connection.
    pub(crate) fn backlog(&self) -> &Backlog {
        &self.inner.backlog
    }

    /// Queues a frame shared with other connections (an event) without waiting. A full queue means the
    /// client stopped reading: it is disconnected rather than let memory grow or slow other subscribers.
    ///
    /// Full means the connection's output (events and replies together) would exceed its frame or
    /// byte limit.
    pub(crate) fn push_shared(&self, frame: Bytes) -> bool {
        let len = frame.len();
        if !self.inner.backlog.try_reserve(len) {
            self.slow_consumer();
            return false;
        }
        match self.inner.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner.backlog.release(len);
                self.slow_consumer();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.inner.backlog.release(len);
                false
            }
        }
    }

    fn slow_consumer(&self) {
        tracing::warn!(
            conn = self.inner.id,
            "outbound queue full; disconnecting slow consumer"
        );
        self.inner.close.request(
            close::SLOW_CONSUMER,
            "outbound queue full: the client is not reading fast enough",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_refused_beyond_either_limit_and_replies_hold_back_at_half() {
        let (outbound, mut rx) = Outbound::new(1, Backlog::new(4, 1000), CloseSignal::new());
        let backlog = outbound.backlog();
        assert!(outbound.push_shared(Bytes::from(vec![0; 400])));
        assert!(!backlog.holds_back());
        backlog.add(100);
        assert!(backlog.holds_back());
        assert!(outbound.push_shared(Bytes::from(vec![0; 500])));
        assert!(!outbound.push_shared(Bytes::from(vec![0; 1])), "bytes");
        assert_eq!(backlog.bytes(), 1000);
        if let Ok(frame) = rx.try_recv() {
            backlog.release(frame.len());
        }
        assert!(outbound.push_shared(Bytes::from(vec![0; 1])));
        assert!(outbound.push_shared(Bytes::from(vec![0; 1])));
        assert!(!outbound.push_shared(Bytes::from(vec![0; 1])), "frames");
    }
}
