//! Waiting on a watch channel beside busier work in one task, without paying for the wait on
//! every wake-up.
//!
//! A connection's task waits for its close and shutdown signals (a `tokio::sync::watch` channel)
//! while it reads and writes. Polling a waiting watch future locks the channel's list of waiters,
//! and the task is polled once per message, event or write. A [`WatchGate`] polls the wait again
//! only when it may have become ready: the first time, when the task's waker changed, or when the
//! channel's version moved since (one atomic load).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::sync::watch;

/// Polls a future that waits on the watch channel of `changes` only when it may have become ready.
pub(crate) struct WatchGate<T> {
    changes: watch::Receiver<T>,
    /// The waker the wait was last polled with: it is registered with the channel.
    waiting_with: Option<Waker>,
}

impl<T> WatchGate<T> {
    /// A gate for a wait on the channel `changes` watches; `changes` starts at the version the wait
    /// starts from (a fresh `subscribe`).
    pub(crate) fn new(changes: watch::Receiver<T>) -> Self {
        Self {
            changes,
            waiting_with: None,
        }
    }

    /// Polls `wait` unless it was already polled with this waker and the channel has not moved
    /// since; then it is `Pending` and the waker it registered still stands.
    pub(crate) fn poll<F: Future>(
        &mut self,
        wait: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let registered = self
            .waiting_with
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        // A closed channel counts as moved: the wait sees it.
        let moved = self.changes.has_changed().unwrap_or(true);
        if registered && !moved {
            return Poll::Pending;
        }
        // Seen before the poll: a change after this is a move the next call notices.
        self.changes.mark_unchanged();
        if !registered {
            self.waiting_with = Some(cx.waker().clone());
        }
        wait.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::test_wakers::counting_waker;

    /// A wait for the value to reach `until` that counts its polls.
    fn counted(
        mut rx: watch::Receiver<u32>,
        polls: &AtomicUsize,
        until: u32,
    ) -> impl Future<Output = ()> + '_ {
        let mut wait = Box::pin(async move {
            let _ = rx.wait_for(|v| *v >= until).await;
        });
        std::future::poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            wait.as_mut().poll(cx)
        })
    }

    #[test]
    fn the_wait_is_polled_again_only_when_the_channel_moved_or_the_waker_changed() {
        let (tx, rx) = watch::channel(0u32);
        let polls = AtomicUsize::new(0);
        let mut gate = WatchGate::new(tx.subscribe());
        let mut wait = pin!(counted(rx, &polls, 2));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);

        assert!(gate.poll(wait.as_mut(), &mut cx).is_pending());
        assert!(gate.poll(wait.as_mut(), &mut cx).is_pending());
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "unchanged: not polled again"
        );

        tx.send_replace(1);
        assert_eq!(wakes.get(), 1, "the first poll registered the waker");
        assert!(gate.poll(wait.as_mut(), &mut cx).is_pending());
        assert!(gate.poll(wait.as_mut(), &mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 2, "moved once: polled once");

        let (_, other) = counting_waker();
        assert!(
            gate.poll(wait.as_mut(), &mut Context::from_waker(&other))
                .is_pending()
        );
        assert_eq!(polls.load(Ordering::Relaxed), 3, "another waker: polled");

        tx.send_replace(2);
        assert!(
            gate.poll(wait.as_mut(), &mut Context::from_waker(&other))
                .is_ready()
        );
    }
}
