//! Messages a connection has started to receive and not finished: how long they may take, and how
//! many bytes all of them together may hold.
//!
//! The connection's frame reader says, each time it is about to read more, how far the data message
//! being received has come ([`Progress`]): its number and the payload bytes of it in hand. The
//! connection then closes (1008) a peer whose message does not complete within
//! [`ServerConfig::message_timeout`](crate::ServerConfig::message_timeout) (control frames are no
//! progress), or whose partial message takes the server's total over
//! [`ServerConfig::max_partial_bytes`](crate::ServerConfig::max_partial_bytes): then it reads
//! nothing more, so that it holds no more while it is being closed.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until};

use super::stats::PartialBytes;
use crate::events::outbound::CloseReason;
use crate::wire::close;
use crate::ws::server::Progress;

/// A connection's view of the messages it is receiving, and the limits on them.
pub(super) struct PartialMessages {
    /// The message being received, if any: its number and when its first frame's header arrived.
    message: Option<(u64, Instant)>,
    /// The server's total when this connection's partial message took it over the budget.
    over_budget: Option<u64>,
    /// Partly received bytes over all of the server's connections.
    total: Arc<PartialBytes>,
    budget: u64,
    /// What this connection adds to `total` now.
    charged: u64,
    timeout: Duration,
    /// The deadline of the message in progress, once armed: that message's number, and the timer.
    deadline: Option<(u64, Pin<Box<Sleep>>)>,
    /// While the server does not read the connection, time does not count against its message:
    /// how much of it was left when reading stopped.
    paused: Option<(u64, Duration)>,
}

impl PartialMessages {
    /// Limits messages to `timeout` each, and the partly received bytes of all the server's
    /// connections (counted in `total`) to `budget`.
    pub(super) fn new(timeout: Duration, total: Arc<PartialBytes>, budget: u64) -> Self {
        Self {
            message: None,
            over_budget: None,
            total,
            budget,
            charged: 0,
            timeout,
            deadline: None,
            paused: None,
        }
    }

    /// Takes how far the message being received has come; breaks once its bytes take the
    /// server's total over the budget (see [`Self::over_budget`]).
    pub(super) fn observe(&mut self, progress: Option<Progress>) -> ControlFlow<()> {
        let held = progress.map_or(0, |p| p.held);
        if held > self.charged {
            let more = held - self.charged;
            let total = self.total.0.fetch_add(more, Ordering::Relaxed) + more;
            self.charged = held;
            if total > self.budget {
                self.over_budget.get_or_insert(total);
            }
        } else if held < self.charged {
            self.total
                .0
                .fetch_sub(self.charged - held, Ordering::Relaxed);
            self.charged = held;
        }
        self.message = match (progress, self.message) {
            (None, _) => None,
            (Some(p), Some((n, since))) if n == p.number => Some((n, since)),
            (Some(p), _) => Some((p.number, Instant::now())),
        };
        if self.over_budget.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// The close called for by a partial message over the server's budget, if any.
    pub(super) fn over_budget(&self) -> Option<CloseReason> {
        let total = self.over_budget?;
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
        let Some((number, since)) = self.message else {
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

impl Drop for PartialMessages {
    fn drop(&mut self) {
        self.total.0.fetch_sub(self.charged, Ordering::Relaxed);
    }
}
