//! The keepalive's timer in a browser: one browser timeout, replaced when the deadline moves. (The
//! native [`Alarm`](super::alarm) keeps every timer on one thread, which browsers do not have.)

use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use gloo_timers::future::TimeoutFuture;

use super::Instant;

/// A timer that is `Ready` once its deadline has passed.
pub(crate) struct Alarm {
    deadline: Instant,
    timer: TimeoutFuture,
}

impl Alarm {
    /// An alarm set for `deadline`.
    pub(crate) fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            timer: timer_until(deadline),
        }
    }

    /// Sets the alarm for `deadline` instead.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.timer = timer_until(deadline);
    }

    /// Never true: a browser's timer may fire a little before the deadline (it counts whole
    /// milliseconds), and [`Alarm::poll`] must see that to set the next one.
    pub(crate) fn pending_at(&self, _now: Instant, _waker: &std::task::Waker) -> bool {
        false
    }

    /// `Ready` once the deadline has passed; registers the task to be woken then otherwise.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if Instant::now() >= self.deadline {
                return Poll::Ready(());
            }
            if self.timer.poll_unpin(cx).is_pending() {
                return Poll::Pending;
            }
            // The browser fired early (its timers count whole milliseconds): wait for the rest.
            self.timer = timer_until(self.deadline);
        }
    }
}

/// A browser timeout that fires at `deadline` or (rounded up to the millisecond) just after it.
fn timer_until(deadline: Instant) -> TimeoutFuture {
    let left = deadline.saturating_duration_since(Instant::now());
    let millis = left
        .as_nanos()
        .div_ceil(Duration::from_millis(1).as_nanos());
    // `setTimeout` fires at once when given more than `i32::MAX` milliseconds (about 24.8 days):
    // a longer wait takes several timers (`poll` sets the next one).
    TimeoutFuture::new(u32::try_from(millis.min(i32::MAX as u128)).unwrap_or(u32::MAX))
}
