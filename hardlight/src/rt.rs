//! The runtime the client runs on: timers, the clock and spawning. tokio with the `native` feature;
//! in a browser (`wasm` on wasm32), the browser's timers (gloo-timers), its clock (web-time) and
//! its event loop (wasm-bindgen-futures), since tokio has no runtime or time driver there.
//!
//! Everything that waits or spawns in the client goes through here, so that the protocol logic is
//! the same on both.

use std::future::Future;
use std::time::Duration;

/// The longest wait taken literally: 100 years. A longer timeout (`Duration::MAX` is a common way
/// to say "never") is shortened to it wherever a configuration takes one, because a deadline
/// further away would overflow the clock (`Instant + Duration` panics).
pub(crate) const LONGEST_WAIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `wait`, at most [`LONGEST_WAIT`]: what a configuration stores for a timeout it is given.
pub(crate) fn bounded(wait: Duration) -> Duration {
    wait.min(LONGEST_WAIT)
}

/// A timer a `Send` value can hold and poll: see [`timer`].
pub(crate) type Timer = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

#[cfg(hardlight_native)]
mod imp {
    use futures_util::FutureExt;

    use super::{Duration, Elapsed, Future};

    /// The clock deadlines are measured on: tokio's, so that tests can pause it.
    pub(crate) use tokio::time::Instant;

    /// Waits for `duration`.
    pub(crate) async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Runs `future` for at most `duration`.
    ///
    /// Not an `async fn`: that would hold `future` twice (as its argument, then inside tokio's
    /// timeout), and a call's future is what every call moves around.
    pub(crate) fn timeout<F: Future>(
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> {
        tokio::time::timeout(duration, future).map(|done| done.map_err(|_| Elapsed))
    }

    /// Runs `future` until `deadline` at most (not an `async fn`, as [`timeout`] is not).
    pub(crate) fn timeout_at<F: Future>(
        deadline: Instant,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> {
        tokio::time::timeout_at(deadline, future).map(|done| done.map_err(|_| Elapsed))
    }

    /// A timer that fires at `deadline`, for a value that polls it itself.
    pub(crate) fn timer(deadline: Instant) -> Option<super::Timer> {
        Some(Box::pin(tokio::time::sleep_until(deadline)))
    }

    /// Runs `future` in the background, on the current tokio runtime.
    pub(crate) fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }
}

#[cfg(hardlight_browser)]
mod imp {
    use super::{Duration, Elapsed, Future};
    use futures_util::future::{Either, select};

    /// The clock deadlines are measured on: the browser's `performance.now()`.
    pub(crate) use web_time::Instant;

    /// The longest one browser timer waits: `setTimeout` takes a signed 32-bit number of
    /// milliseconds (about 24.8 days) and fires at once when given more; gloo panics past `u32`.
    const LONGEST_TIMER: Duration = Duration::from_millis(i32::MAX as u64);

    /// Waits for `duration` (browser timers, one after the other for a wait longer than one may
    /// be; at least a millisecond unless zero).
    pub(crate) async fn sleep(duration: Duration) {
        let mut left = duration;
        loop {
            let step = left.min(LONGEST_TIMER);
            gloo_timers::future::sleep(step).await;
            left -= step;
            if left.is_zero() {
                break;
            }
        }
    }

    /// Runs `future` for at most `duration`.
    pub(crate) async fn timeout<F: Future>(
        duration: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        let future = std::pin::pin!(future);
        let timer = std::pin::pin!(sleep(duration));
        match select(future, timer).await {
            Either::Left((output, _)) => Ok(output),
            Either::Right(((), _)) => Err(Elapsed),
        }
    }

    /// Runs `future` until `deadline` at most.
    pub(crate) async fn timeout_at<F: Future>(
        deadline: Instant,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        timeout(deadline.saturating_duration_since(Instant::now()), future).await
    }

    /// None: a browser's timers cannot be sent between threads, so a `Send` value cannot hold one.
    /// What needs a deadline there relies on the server's (a call's budget travels with it).
    pub(crate) fn timer(_deadline: Instant) -> Option<super::Timer> {
        None
    }

    /// Runs `future` in the background, on the browser's event loop.
    pub(crate) fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + 'static,
    {
        wasm_bindgen_futures::spawn_local(future);
    }
}

pub(crate) use imp::{Instant, sleep, spawn, timeout, timeout_at, timer};
