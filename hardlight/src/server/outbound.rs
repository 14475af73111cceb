//! A connection's bounded outbound queue, and the signal that asks the connection to close.

use std::sync::Arc;

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

/// The sending side of one connection's outbound queue; cheap to clone.
#[derive(Clone)]
pub(crate) struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    tx: mpsc::Sender<Bytes>,
    close: CloseSignal,
}

impl Outbound {
    pub(crate) fn new(
        id: u64,
        capacity: usize,
        close: CloseSignal,
    ) -> (Self, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                inner: Arc::new(Inner { id, tx, close }),
            },
            rx,
        )
    }

    /// The connection's id, unique within its server.
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// Queues a frame shared with other connections (an event) without waiting. A full queue means the
    /// client stopped reading: it is disconnected rather than let memory grow or slow other subscribers.
    pub(crate) fn push_shared(&self, frame: Bytes) -> bool {
        match self.inner.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    conn = self.inner.id,
                    "outbound queue full; disconnecting slow consumer"
                );
                self.inner.close.request(
                    close::SLOW_CONSUMER,
                    "outbound queue full: the client is not reading fast enough",
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
