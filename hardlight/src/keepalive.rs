//! Keepalive, the same on both ends: ping a peer that has been silent for an interval, give it up
//! when it has been silent for the idle timeout.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until};

/// What the keepalive timer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The peer has been silent for the interval: send it a ping.
    Ping,
    /// The peer has been silent for the idle timeout: it is presumed gone.
    Expired,
}

/// One connection's keepalive: a single timer, re-armed when it fires or when the peer answers a
/// ping, so that hearing from the peer otherwise costs an `Instant::now()` and nothing else.
pub(crate) struct Keepalive {
    interval: Duration,
    idle_timeout: Duration,
    last_heard: Instant,
    pinged: bool,
    timer: Pin<Box<Sleep>>,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration, idle_timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            interval,
            idle_timeout: idle_timeout.max(interval),
            last_heard: now,
            pinged: false,
            timer: Box::pin(sleep_until(now + interval)),
        }
    }

    /// Something arrived from the peer.
    pub(crate) fn heard(&mut self) {
        self.heard_at(Instant::now());
    }

    /// Something arrived from the peer at `at`; earlier news than it has is ignored. After a ping,
    /// the timer is set for the expiry: the answer brings it back to the next ping (once per ping,
    /// so the common case touches no timer).
    pub(crate) fn heard_at(&mut self, at: Instant) {
        if at > self.last_heard {
            self.last_heard = at;
            if self.pinged {
                self.pinged = false;
                self.timer.as_mut().reset(self.last_heard + self.interval);
            }
        }
    }

    /// The idle timeout.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// `Ready` when a ping is due or the peer has expired; registers for the next deadline otherwise.
    pub(crate) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let silent = Instant::now().saturating_duration_since(self.last_heard);
            if silent >= self.idle_timeout {
                return Poll::Ready(Due::Expired);
            }
            let ping = silent >= self.interval && !self.pinged;
            if ping {
                self.pinged = true;
            }
            let next = if self.pinged {
                self.last_heard + self.idle_timeout
            } else {
                self.last_heard + self.interval
            };
            self.timer.as_mut().reset(next);
            if ping {
                // Registers the waker for the new deadline before reporting.
                let _ = self.timer.as_mut().poll(cx);
                return Poll::Ready(Due::Ping);
            }
        }
    }

    /// Waits for the next [`Due`].
    #[cfg(test)]
    pub(crate) async fn due(&mut self) -> Due {
        std::future::poll_fn(|cx| self.poll_due(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pings_after_the_interval_and_expires_after_the_timeout() {
        let mut keepalive = Keepalive::new(Duration::from_secs(1), Duration::from_secs(3));
        let start = Instant::now();
        assert_eq!(keepalive.due().await, Due::Ping);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(keepalive.due().await, Due::Expired);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn hearing_from_the_peer_postpones_both() {
        let mut keepalive = Keepalive::new(Duration::from_secs(1), Duration::from_secs(3));
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(800)).await;
        keepalive.heard();
        assert_eq!(keepalive.due().await, Due::Ping);
        assert_eq!(start.elapsed(), Duration::from_millis(1800));
        // The pong.
        keepalive.heard();
        assert_eq!(keepalive.due().await, Due::Ping);
        assert_eq!(start.elapsed(), Duration::from_millis(2800));
        assert_eq!(keepalive.due().await, Due::Expired);
        assert_eq!(start.elapsed(), Duration::from_millis(4800));
    }
}
