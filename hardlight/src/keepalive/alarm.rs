//! Alarms: coarse timers kept by one background thread instead of the async runtime's timer wheel.
//!
//! Every connection has a keepalive timer. While any timer is armed in tokio's wheel, each time a
//! worker thread goes idle it parks with a timeout, and on a virtual machine that costs about half a
//! microsecond per park (measured on the benchmark machine: a bare WebSocket echo at one call at a
//! time takes 1.1 µs longer per call once one far-off timer is armed on each runtime). At one call at a
//! time each end parks once per call, so the keepalive alone would cost a sixteenth of a round trip
//! on loopback. Keepalive deadlines are seconds away and need no precision, so one thread for the
//! whole process keeps them all: it sleeps until the earliest deadline, and is woken only when a
//! sooner one is set, which a keepalive does rarely (its deadlines move forward).
//!
//! An alarm may fire early or twice after a reset (the old deadline racing the new one); its user
//! re-checks the time when it fires, as [`Keepalive`](super::Keepalive) does.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures_util::task::AtomicWaker;

use crate::locks::lock;

/// A timer that wakes its task once `deadline` has passed.
pub(crate) struct Alarm {
    inner: Arc<Inner>,
    generation: u64,
    deadline: Instant,
    /// The waker the last poll registered, while it stays registered: until the alarm fires (the
    /// clock takes it) or is reset.
    waiting_with: Option<Waker>,
}

struct Inner {
    /// The current deadline's generation; a scheduled entry of another generation is stale.
    generation: AtomicU64,
    fired: AtomicBool,
    waker: AtomicWaker,
}

impl Alarm {
    /// An alarm set for `deadline`.
    pub(crate) fn new(deadline: Instant) -> Self {
        let inner = Arc::new(Inner {
            generation: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        clock().schedule(deadline, 0, Arc::downgrade(&inner));
        Self {
            inner,
            generation: 0,
            deadline,
            waiting_with: None,
        }
    }

    /// Sets the alarm for `deadline` instead.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        // The clock may have taken the registered waker when the old deadline fired.
        self.waiting_with = None;
        self.generation += 1;
        self.inner
            .generation
            .store(self.generation, Ordering::Release);
        self.inner.fired.store(false, Ordering::Release);
        clock().schedule(deadline, self.generation, Arc::downgrade(&self.inner));
    }

    /// `Ready` once the deadline has passed; registers the task to be woken then otherwise.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.fired.load(Ordering::Acquire) {
            self.waiting_with = None;
            return Poll::Ready(());
        }
        self.inner.waker.register(cx.waker());
        if self.inner.fired.load(Ordering::Acquire) {
            self.waiting_with = None;
            return Poll::Ready(());
        }
        if !self
            .waiting_with
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.waiting_with = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// True if polling now would certainly find the alarm pending with `waker` registered, which
    /// this tells without touching the state the clock shares (a cache miss per connection when
    /// thousands of them take turns): `now`, read during the current poll of the task, is before
    /// the deadline, and the last poll registered `waker`. Should the alarm fire after `now` was
    /// read, it wakes that waker, and the task is polled again.
    pub(crate) fn pending_at(&self, now: Instant, waker: &Waker) -> bool {
        now < self.deadline
            && self
                .waiting_with
                .as_ref()
                .is_some_and(|w| w.will_wake(waker))
    }
}

/// A deadline waiting in the clock.
struct Entry {
    deadline: Instant,
    generation: u64,
    alarm: Weak<Inner>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.deadline.cmp(&self.deadline)
    }
}

/// The process's alarm clock: the pending deadlines, and the thread that fires them.
struct Clock {
    entries: Mutex<BinaryHeap<Entry>>,
    sooner: Condvar,
}

fn clock() -> &'static Clock {
    static CLOCK: OnceLock<&'static Clock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock: &'static Clock = Box::leak(Box::new(Clock {
            entries: Mutex::new(BinaryHeap::new()),
            sooner: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("hardlight-alarms".into())
            .spawn(move || clock.run())
            .expect("spawning the hardlight alarm thread");
        clock
    })
}

impl Clock {
    fn schedule(&self, deadline: Instant, generation: u64, alarm: Weak<Inner>) {
        let mut entries = lock(&self.entries);
        let sooner = entries.peek().is_none_or(|first| deadline < first.deadline);
        entries.push(Entry {
            deadline,
            generation,
            alarm,
        });
        drop(entries);
        if sooner {
            self.sooner.notify_one();
        }
    }

    fn run(&self) {
        let mut due: Vec<Waker> = Vec::new();
        let mut entries = lock(&self.entries);
        loop {
            let now = Instant::now();
            while entries.peek().is_some_and(|first| first.deadline <= now) {
                let Some(entry) = entries.pop() else { break };
                // A dropped alarm, or one reset since: nothing to fire.
                let Some(alarm) = entry.alarm.upgrade() else {
                    continue;
                };
                if alarm.generation.load(Ordering::Acquire) == entry.generation {
                    alarm.fired.store(true, Ordering::Release);
                    if let Some(waker) = alarm.waker.take() {
                        due.push(waker);
                    }
                }
            }
            if !due.is_empty() {
                drop(entries);
                due.drain(..).for_each(Waker::wake);
                entries = lock(&self.entries);
                continue;
            }
            entries = match entries.peek().map(|first| first.deadline - now) {
                Some(wait) => {
                    self.sooner
                        .wait_timeout(entries, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.sooner.wait(entries).unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_after_its_deadline_and_again_after_a_reset() {
        let start = Instant::now();
        let mut alarm = Alarm::new(start + Duration::from_millis(30));
        poll_fn(|cx| alarm.poll(cx)).await;
        assert!(start.elapsed() >= Duration::from_millis(30));
        let reset = Instant::now();
        alarm.reset(reset + Duration::from_millis(30));
        poll_fn(|cx| alarm.poll(cx)).await;
        assert!(reset.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn pending_at_holds_only_before_the_deadline_with_the_registered_waker() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(3600);
        let mut alarm = Alarm::new(deadline);
        let (_, waker) = crate::test_wakers::counting_waker();
        let (_, other) = crate::test_wakers::counting_waker();
        assert!(!alarm.pending_at(start, &waker), "never polled: nothing registered");
        assert!(alarm.poll(&mut Context::from_waker(&waker)).is_pending());
        assert!(alarm.pending_at(start, &waker));
        assert!(!alarm.pending_at(start, &other), "another task's waker");
        assert!(!alarm.pending_at(deadline, &waker), "at the deadline");
        alarm.reset(deadline);
        assert!(!alarm.pending_at(start, &waker), "a reset forgets the registration");
    }

    #[tokio::test]
    async fn a_sooner_deadline_is_not_held_up_by_a_later_one() {
        let _far = Alarm::new(Instant::now() + Duration::from_secs(3600));
        let start = Instant::now();
        let mut near = Alarm::new(start + Duration::from_millis(20));
        tokio::time::timeout(Duration::from_secs(10), poll_fn(|cx| near.poll(cx)))
            .await
            .expect("the near alarm fires although a far one was set first");
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
