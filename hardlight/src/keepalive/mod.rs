//! Keepalive, the same on both ends: ping a peer that has been silent for an interval, give it up
//! when it has been silent for the idle timeout.

// The clock the keepalive reads (`Instant`): the process's monotonic clock; in a browser,
// `performance.now()` (`std::time::Instant::now()` panics there).
cfg_native! {
    mod alarm;

    use alarm::Alarm;
    pub(crate) use std::time::Instant;
}
cfg_browser! {
    mod browser_alarm;

    use browser_alarm::Alarm;
    pub(crate) use web_time::Instant;
}

use std::task::{Context, Poll};
use std::time::Duration;

/// Default keepalive interval (`ServerConfig::keepalive`, `ClientConfig::keepalive`): 20 seconds.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// Default idle timeout (`ServerConfig::keepalive`, `ClientConfig::keepalive`): 60 seconds.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the keepalive timer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The peer has been silent for the interval: send it a ping.
    Ping,
    /// The peer has been silent for the idle timeout: it is presumed gone.
    Expired,
}

/// One connection's keepalive: a single timer (an [`Alarm`], off the runtime), re-armed when it
/// fires or when the peer answers a ping, so that hearing from the peer otherwise costs an
/// `Instant::now()` and nothing else.
pub(crate) struct Keepalive {
    interval: Duration,
    idle_timeout: Duration,
    last_heard: Instant,
    pinged: bool,
    timer: Alarm,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration, idle_timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            interval,
            idle_timeout: idle_timeout.max(interval),
            last_heard: now,
            pinged: false,
            timer: Alarm::new(now + interval),
        }
    }

    /// Something arrived from the peer. (The client's driver, which also runs in browsers, notes
    /// the time itself: [`Keepalive::heard_at`].)
    #[cfg(hardlight_native)]
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
                self.timer.reset(self.last_heard + self.interval);
            }
        }
    }

    /// The idle timeout.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// [`Keepalive::poll_due`] at `now`, a time read during the current poll of the task: while
    /// `now` is before the timer's deadline and the timer holds this task's waker, `Pending` without
    /// touching the timer's shared state.
    pub(crate) fn poll_due_at(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Due> {
        if self.timer.pending_at(now, cx.waker()) {
            return Poll::Pending;
        }
        self.poll_due(cx)
    }

    /// `Ready` when a ping is due or the peer has expired; registers for the next deadline otherwise.
    pub(crate) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<Due> {
        loop {
            if self.timer.poll(cx).is_pending() {
                return Poll::Pending;
            }
            let (due, next) = self.check(Instant::now());
            self.timer.reset(next);
            if let Some(due) = due {
                if due == Due::Ping {
                    // Registers the waker for the new deadline before reporting.
                    let _ = self.timer.poll(cx);
                }
                return Poll::Ready(due);
            }
        }
    }

    /// What is due at `now`, and when to look again.
    fn check(&mut self, now: Instant) -> (Option<Due>, Instant) {
        let silent = now.saturating_duration_since(self.last_heard);
        if silent >= self.idle_timeout {
            return (Some(Due::Expired), now + self.interval);
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
        (ping.then_some(Due::Ping), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn pings_after_the_interval_and_expires_after_the_timeout() {
        let mut keepalive = Keepalive::new(Duration::from_secs(1), Duration::from_secs(3));
        let start = keepalive.last_heard;
        assert_eq!(keepalive.check(at(start, 999)), (None, at(start, 1000)));
        assert_eq!(
            keepalive.check(at(start, 1000)),
            (Some(Due::Ping), at(start, 3000))
        );
        assert_eq!(keepalive.check(at(start, 2000)), (None, at(start, 3000)));
        assert_eq!(keepalive.check(at(start, 3000)).0, Some(Due::Expired));
    }

    #[test]
    fn hearing_from_the_peer_postpones_both() {
        let mut keepalive = Keepalive::new(Duration::from_secs(1), Duration::from_secs(3));
        let start = keepalive.last_heard;
        keepalive.heard_at(at(start, 800));
        assert_eq!(keepalive.check(at(start, 1000)), (None, at(start, 1800)));
        assert_eq!(
            keepalive.check(at(start, 1800)),
            (Some(Due::Ping), at(start, 3800))
        );
        // The pong: the next ping is an interval after it.
        keepalive.heard_at(at(start, 1850));
        assert_eq!(keepalive.check(at(start, 2850)).0, Some(Due::Ping));
        assert_eq!(keepalive.check(at(start, 4849)).0, None);
        assert_eq!(keepalive.check(at(start, 4850)).0, Some(Due::Expired));
    }

    #[tokio::test]
    async fn the_timer_reports_a_ping_then_the_expiry() {
        let mut keepalive = Keepalive::new(Duration::from_millis(20), Duration::from_millis(60));
        // The keepalive counts from its own start: an instant read after it would be later, and the
        // deadlines would look early by the time between the two reads.
        let start = keepalive.last_heard;
        let patience = Duration::from_secs(10);
        let due = std::future::poll_fn(|cx| keepalive.poll_due(cx));
        let due = tokio::time::timeout(patience, due).await;
        assert_eq!(due.expect("the ping is reported"), Due::Ping);
        assert!(start.elapsed() >= Duration::from_millis(20));
        let due = std::future::poll_fn(|cx| keepalive.poll_due(cx));
        let due = tokio::time::timeout(patience, due).await;
        assert_eq!(due.expect("the expiry is reported"), Due::Expired);
        assert!(start.elapsed() >= Duration::from_millis(60));
    }
}
