//! The runtime the client runs on: timers, the clock and spawning. tokio with the `native` feature;
//! in a browser (`wasm` on wasm32), the browser's timers (gloo-timers), its clock (web-time) and
//! its event loop (wasm-bindgen-futures), since tokio has no runtime or time driver there.
//!
//! Everything that waits or spawns in the client goes through here, so that the protocol logic is
//! the same on both.

use std::future::Future;
use std::time::Duration;

/// A deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

#[cfg(feature = "native")]
mod imp {
    use super::{Duration, Elapsed, Future};

    /// The clock deadlines are measured on: tokio's, so that tests can pause it.
    pub(crate) use tokio::time::Instant;

    /// Waits for `duration`.
    pub(crate) async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Runs `future` for at most `duration`.
    pub(crate) async fn timeout<F: Future>(
        duration: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(duration, future)
            .await
            .map_err(|_| Elapsed)
    }

    /// Runs `future` until `deadline` at most.
    pub(crate) async fn timeout_at<F: Future>(
        deadline: Instant,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        tokio::time::timeout_at(deadline, future)
            .await
            .map_err(|_| Elapsed)
    }

    /// Runs `future` in the background, on the current tokio runtime.
    pub(crate) fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(future);
    }
}

#[cfg(all(not(feature = "native"), feature = "wasm", target_arch = "wasm32"))]
mod imp {
    use super::{Duration, Elapsed, Future};
    use futures_util::future::{Either, select};

    /// The clock deadlines are measured on: the browser's `performance.now()`.
    pub(crate) use web_time::Instant;

    /// Waits for `duration` (a browser timer; at least a millisecond unless zero).
    pub(crate) async fn sleep(duration: Duration) {
        gloo_timers::future::sleep(duration).await;
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

    /// Runs `future` in the background, on the browser's event loop.
    pub(crate) fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + 'static,
    {
        wasm_bindgen_futures::spawn_local(future);
    }
}

pub(crate) use imp::{Instant, sleep, spawn, timeout, timeout_at};
