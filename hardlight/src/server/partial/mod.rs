//! Messages a connection has started to receive and not finished: how long they may take, and how
//! many bytes all of them together may hold.
//!
//! tungstenite assembles a fragmented message (or a large frame) in its own buffers, out of sight.
//! So the connection's byte stream is read through a [`Watched`] stream, which follows the frame
//! headers going by ([`frames`]) and so knows whether a data message is in progress, since when,
//! and how many of its payload bytes have arrived. The connection then closes (1008) a peer whose
//! message does not complete within [`ServerConfig::message_timeout`](crate::ServerConfig::message_timeout)
//! (control frames are no progress), or whose partial message takes the server's total over
//! [`ServerConfig::max_partial_bytes`](crate::ServerConfig::max_partial_bytes).

mod frames;

use std::io;
use std::pin::Pin;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};
use tokio_tungstenite::WebSocketStream;

use self::frames::FrameScanner;
use crate::events::outbound::CloseReason;
use super::io::{Io, Stream};
use super::stats::PartialBytes;
use crate::locks::lock;
use crate::wire::close;

/// What the watched stream tells its connection.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    /// The message being received, if any: its number and when its first byte arrived.
    message: Option<(u64, Instant)>,
    /// The server's total when this connection's partial message took it over the budget.
    over_budget: Option<u64>,
}

/// Reads a connection's bytes for tungstenite and follows the frames in them; writes pass through.
struct Watched {
    inner: Stream,
    scanner: FrameScanner,
    progress: Arc<Mutex<Progress>>,
    total: Arc<PartialBytes>,
    budget: u64,
    /// What this connection adds to `total` now.
    charged: u64,
    /// This connection took the total over the budget: it reads nothing more (tungstenite sees the
    /// end of the stream), so that it holds no more while it is being closed.
    cut: bool,
}

impl Watched {
    fn account(&mut self) {
        let held = self.scanner.held();
        if held > self.charged {
            let more = held - self.charged;
            let total = self.total.0.fetch_add(more, Ordering::Relaxed) + more;
            self.charged = held;
            if total > self.budget {
                lock(&self.progress).over_budget.get_or_insert(total);
                self.cut = true;
            }
        } else if held < self.charged {
            self.total
                .0
                .fetch_sub(self.charged - held, Ordering::Relaxed);
            self.charged = held;
        }
        let mut progress = lock(&self.progress);
        progress.message = match (self.scanner.in_message(), progress.message) {
            (false, _) => None,
            (true, Some((n, since))) if n == self.scanner.started() => Some((n, since)),
            (true, _) => Some((self.scanner.started(), Instant::now())),
        };
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.total.0.fetch_sub(self.charged, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.cut {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read
            && let Some(new) = buf.filled().get(before..)
            && !new.is_empty()
        {
            self.scanner.scan(new);
            self.account();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A connection's view of the messages it is receiving, and the limits on them.
pub(super) struct PartialMessages {
    progress: Arc<Mutex<Progress>>,
    timeout: Duration,
    /// The deadline of the message in progress, once armed: that message's number, and the timer.
    deadline: Option<(u64, Pin<Box<Sleep>>)>,
    /// While the server does not read the connection, time does not count against its message:
    /// how much of it was left when reading stopped.
    paused: Option<(u64, Duration)>,
}

impl PartialMessages {
    /// Limits messages to `timeout` each; [`Self::watch`] then follows a connection's stream.
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            progress: Arc::default(),
            timeout,
            deadline: None,
            paused: None,
        }
    }

    /// Makes `ws` read through a watching stream that counts partly received messages in `total`
    /// and reports when that goes over `budget`. Called before anything is read from `ws` after its
    /// handshake: bytes tungstenite had already read would go unseen.
    pub(super) fn watch(
        &self,
        ws: &mut WebSocketStream<Io>,
        total: Arc<PartialBytes>,
        budget: u64,
    ) {
        let progress = self.progress.clone();
        ws.get_mut().wrap(|inner| {
            Box::new(Watched {
                inner,
                scanner: FrameScanner::default(),
                progress,
                total,
                budget,
                charged: 0,
                cut: false,
            })
        });
    }

    /// The close called for by a partial message over the server's budget, if any.
    pub(super) fn over_budget(&self) -> Option<CloseReason> {
        let total = lock(&self.progress).over_budget?;
        Some(super::closing::reason(
            close::POLICY_VIOLATION,
            format!(
                "partly received messages hold {total} bytes on this server, over its budget; \
                 send smaller messages or retry later"
            ),
        ))
    }

    /// The close the messages being received call for, if any: `reading` says whether the server
    /// is reading the connection now (time it spends not reading does not count).
    pub(super) fn poll_violation(
        &mut self,
        cx: &mut Context<'_>,
        reading: bool,
    ) -> Option<CloseReason> {
        if let Some(reason) = self.over_budget() {
            return Some(reason);
        }
        let progress = *lock(&self.progress);
        let Some((number, since)) = progress.message else {
            self.deadline = None;
            self.paused = None;
            return None;
        };
        if !reading {
            if let Some((armed, timer)) = self.deadline.take()
                && armed == number
            {
                let left = timer.deadline().saturating_duration_since(Instant::now());
                self.paused = Some((number, left));
            }
            return None;
        }
        if self.deadline.as_ref().is_none_or(|(armed, _)| *armed != number) {
            let at = match self.paused.take() {
                Some((paused, left)) if paused == number => Instant::now() + left,
                _ => since + self.timeout,
            };
            self.deadline = Some((number, Box::pin(sleep_until(at))));
        }
        let (_, timer) = self.deadline.as_mut()?;
        timer.as_mut().poll(cx).is_ready().then(|| {
            super::closing::reason(
                close::POLICY_VIOLATION,
                format!("message not completed within {:?}", self.timeout),
            )
        })
    }
}
