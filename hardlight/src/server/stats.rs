//! Live counts of what a server holds, for monitoring and for tests that wait on them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use metrics::Gauge;
use tokio::sync::watch;

use crate::events::registry::EventCounts;

/// Bytes held in partly received messages over all of a server's connections: shared with each
/// connection's watch of partial messages (`server::partial`), which adds and releases its own.
#[derive(Debug, Default)]
pub(crate) struct PartialBytes(pub(crate) AtomicU64);

/// Counts of a running server's connections and calls. Cheap to clone; all clones see the same counts.
///
/// ```no_run
/// # async fn f(stats: hardlight::ServerStats) {
/// // Wait until every connection has been cleaned up.
/// stats.wait_for_connections(|n| n == 0).await;
/// # }
/// ```
#[derive(Clone, Default)]
pub struct ServerStats {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    connections: watch::Sender<usize>,
    accepted: AtomicU64,
    refused: AtomicU64,
    accepts_failed: AtomicU64,
    calls: AtomicUsize,
    oneway_received: AtomicU64,
    oneway_refused: AtomicU64,
    events: Arc<EventCounts>,
    partial_bytes: Arc<PartialBytes>,
}

impl ServerStats {
    /// Connections being served now (from TCP accept, or from the upgrade request for a server mounted
    /// in an axum app, until every task of the connection has ended).
    pub fn connections(&self) -> usize {
        *self.inner.connections.borrow()
    }

    /// Connections accepted since the server started.
    pub fn connections_accepted(&self) -> u64 {
        self.inner.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused since the server started, before upgrading: by the connection limit, the
    /// limits per address (handshakes, open connections, rate of new connections), the origin
    /// allow-list, the authentication hook, or one connection per identity.
    pub fn connections_refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    pub(crate) fn connection_refused(&self) {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Times accepting a TCP connection failed since the server started: mostly out of file
    /// descriptors, which a monitor should alert on. The server then pauses accepting (10 ms,
    /// doubling up to 1 s, while it keeps failing) and serves the connections it has meanwhile.
    pub fn accepts_failed(&self) -> u64 {
        self.inner.accepts_failed.load(Ordering::Relaxed)
    }

    pub(crate) fn accept_failed(&self) {
        self.inner.accepts_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls running now, over all connections, one-way messages whose handlers are running
    /// included.
    pub fn calls_in_flight(&self) -> usize {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// One-way messages (`#[oneway]` methods) received with valid arguments and handed to their
    /// handler since the server started.
    pub fn oneways_received(&self) -> u64 {
        self.inner.oneway_received.load(Ordering::Relaxed)
    }

    /// One-way messages refused since the server started: for a method that is not one-way or does
    /// not exist, or with arguments that failed validation. Each closed its connection.
    pub fn oneways_refused(&self) -> u64 {
        self.inner.oneway_refused.load(Ordering::Relaxed)
    }

    pub(crate) fn oneway_refused(&self) {
        self.inner.oneway_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Events encoded by this server's emitters: one per successful `emit`, whatever the number of
    /// subscribers.
    pub fn events_encoded(&self) -> u64 {
        self.inner.events.encoded.load(Ordering::Relaxed)
    }

    /// Event frames queued to connections: one per subscriber reached by each emit.
    pub fn events_queued(&self) -> u64 {
        self.inner.events.queued.load(Ordering::Relaxed)
    }

    /// The counts the server's topic registry keeps of its emits.
    pub(crate) fn event_counts(&self) -> Arc<EventCounts> {
        self.inner.events.clone()
    }

    /// Bytes of messages clients have started to send and not finished, over all connections now
    /// (payload bytes received so far; a message that arrives whole in one read never counts).
    /// Bounded by [`ServerConfig::max_partial_bytes`](crate::ServerConfig::max_partial_bytes).
    pub fn partial_message_bytes(&self) -> u64 {
        self.inner.partial_bytes.0.load(Ordering::Relaxed)
    }

    pub(crate) fn partial_bytes(&self) -> Arc<PartialBytes> {
        self.inner.partial_bytes.clone()
    }

    /// Resolves once the number of live connections satisfies `condition`.
    pub async fn wait_for_connections(&self, condition: impl Fn(usize) -> bool) {
        let mut rx = self.inner.connections.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|n| condition(*n)).await;
    }

    /// A connection is admitted: counted until the returned guard drops, here and in `open` (the
    /// metrics' gauge of open connections).
    pub(crate) fn connection_opened(&self, open: Gauge) -> Counted {
        self.inner.accepted.fetch_add(1, Ordering::Relaxed);
        self.inner.connections.send_modify(|n| *n += 1);
        open.increment(1.0);
        Counted {
            stats: self.clone(),
            kind: Kind::Connection(open),
        }
    }

    /// A one-way message's handler starts: counted as received, and in flight until it ends.
    pub(crate) fn oneway_started(&self) -> Counted {
        self.inner.oneway_received.fetch_add(1, Ordering::Relaxed);
        self.call_started()
    }

    pub(crate) fn call_started(&self) -> Counted {
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        Counted {
            stats: self.clone(),
            kind: Kind::Call,
        }
    }
}

impl std::fmt::Debug for ServerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerStats")
            .field("connections", &self.connections())
            .field("connections_accepted", &self.connections_accepted())
            .field("connections_refused", &self.connections_refused())
            .field("accepts_failed", &self.accepts_failed())
            .field("calls_in_flight", &self.calls_in_flight())
            .field("oneways_received", &self.oneways_received())
            .field("oneways_refused", &self.oneways_refused())
            .field("events_encoded", &self.events_encoded())
            .field("events_queued", &self.events_queued())
            .field("partial_message_bytes", &self.partial_message_bytes())
            .finish()
    }
}

enum Kind {
    Connection(Gauge),
    Call,
}

/// Decrements its count when dropped, however the task holding it ends (an abort included).
pub(crate) struct Counted {
    stats: ServerStats,
    kind: Kind,
}

impl Drop for Counted {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Connection(open) => {
                // The gauge first: whoever waits for the count sees the gauge follow it.
                open.decrement(1.0);
                self.stats.inner.connections.send_modify(|n| *n -= 1);
            }
            Kind::Call => {
                self.stats.inner.calls.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
