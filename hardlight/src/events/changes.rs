//! A queue of topic changes that holds at most one per topic: what the topic notifier and the NATS
//! bridge read.
//!
//! Subscribing is synchronous in handlers, so changes are queued without waiting, and a reader that
//! falls behind (or never reads) must not let the queue grow with every subscription a client
//! makes. A change waiting for a topic and the next change of that topic cancel out: they always
//! alternate (`Created`, `Removed`, `Created`, ...), so the reader, who has not seen the first,
//! need not see either, and what it reads still alternates per topic. What waits is then at most one
//! change per topic: those created since the reader last looked, and those it knows of that have
//! since been removed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::locks::lock;
use crate::topic::Topic;

/// A topic's life events, reported to the server's one
/// [`TopicNotifier`](crate::events::TopicNotifier).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TopicNotification {
    /// The topic got its first subscriber on this server.
    Created(Topic),
    /// The topic lost its last subscriber on this server (it unsubscribed or disconnected).
    Removed(Topic),
}

impl TopicNotification {
    /// The topic this notification is about.
    pub fn topic(&self) -> &Topic {
        match self {
            Self::Created(topic) | Self::Removed(topic) => topic,
        }
    }
}

/// The queue, shared by its one writer ([`ChangesSender`]) and its reader.
#[derive(Debug, Default)]
pub(crate) struct TopicChanges {
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    /// The change waiting for each topic: its number and whether it is `Created`.
    waiting: HashMap<Topic, (u64, bool)>,
    /// Waiting changes in order, by number; entries of changes since cancelled are skipped.
    order: VecDeque<(u64, Topic)>,
    /// Changes pushed so far; the last one's number.
    pushed: u64,
    /// The writer is gone: nothing more will come.
    closed: bool,
}

impl Queue {
    /// Drops cancelled entries from the front of `order`.
    fn skip_cancelled(&mut self) {
        while let Some((number, topic)) = self.order.front() {
            if self.waiting.get(topic).is_some_and(|(n, _)| n == number) {
                break;
            }
            self.order.pop_front();
        }
    }
}

impl TopicChanges {
    /// A new queue and its writer.
    pub(crate) fn channel() -> (ChangesSender, Arc<Self>) {
        let queue = Arc::new(Self::default());
        (ChangesSender(queue.clone()), queue)
    }

    fn push(&self, change: &TopicNotification) {
        let (topic, created) = match change {
            TopicNotification::Created(topic) => (topic, true),
            TopicNotification::Removed(topic) => (topic, false),
        };
        let mut queue = lock(&self.queue);
        queue.pushed += 1;
        let number = queue.pushed;
        match queue.waiting.entry(topic.clone()) {
            // The opposite change of the same topic: both cancel out.
            Entry::Occupied(waiting) => {
                waiting.remove();
                // Cancelled entries are skipped when read; compacted here so that a reader that
                // never reads does not keep them.
                if queue.order.len() > 2 * queue.waiting.len() + 64 {
                    let Queue { waiting, order, .. } = &mut *queue;
                    order.retain(|(n, t)| waiting.get(t).is_some_and(|(w, _)| w == n));
                }
            }
            Entry::Vacant(slot) => {
                slot.insert((number, created));
                queue.order.push_back((number, topic.clone()));
            }
        }
        drop(queue);
        self.ready.notify_one();
    }

    /// The oldest waiting change, if any.
    pub(crate) fn try_pop(&self) -> Option<TopicNotification> {
        let mut queue = lock(&self.queue);
        queue.skip_cancelled();
        let (_, topic) = queue.order.pop_front()?;
        let (_, created) = queue.waiting.remove(&topic)?;
        Some(if created {
            TopicNotification::Created(topic)
        } else {
            TopicNotification::Removed(topic)
        })
    }

    /// The oldest waiting change; `None` once the writer is gone and nothing waits.
    pub(crate) async fn pop(&self) -> Option<TopicNotification> {
        loop {
            // Registered before looking, so that a push in between wakes it.
            let ready = self.ready.notified();
            if let Some(change) = self.try_pop() {
                return Some(change);
            }
            if lock(&self.queue).closed {
                return None;
            }
            ready.await;
        }
    }

    /// Changes waiting now: at most one per topic.
    pub(crate) fn len(&self) -> usize {
        lock(&self.queue).waiting.len()
    }

    /// How many of the changes pushed so far are behind the reader (read, or cancelled out): every
    /// change numbered up to this one. (The NATS bridge waits on it.)
    #[cfg(any(hardlight_nats, test))]
    pub(crate) fn done_through(&self) -> u64 {
        let mut queue = lock(&self.queue);
        queue.skip_cancelled();
        match queue.order.front() {
            Some((number, _)) => number - 1,
            None => queue.pushed,
        }
    }
}

/// The writing side; dropping it tells the reader that nothing more will come.
#[derive(Debug)]
pub(crate) struct ChangesSender(Arc<TopicChanges>);

impl ChangesSender {
    /// Queues `change` without waiting.
    pub(crate) fn send(&self, change: &TopicNotification) {
        self.0.push(change);
    }
}

impl Drop for ChangesSender {
    fn drop(&mut self) {
        lock(&self.0.queue).closed = true;
        self.0.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(t: &str) -> TopicNotification {
        TopicNotification::Created(Topic::from(t))
    }

    fn removed(t: &str) -> TopicNotification {
        TopicNotification::Removed(Topic::from(t))
    }

    #[test]
    fn opposite_changes_of_a_topic_cancel_out_and_order_is_kept() {
        let (tx, queue) = TopicChanges::channel();
        tx.send(&created("a"));
        tx.send(&created("b"));
        tx.send(&removed("a"));
        tx.send(&created("c"));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.done_through(), 1, "change 2 (b) waits");
        assert_eq!(queue.try_pop(), Some(created("b")));
        assert_eq!(queue.done_through(), 3);
        tx.send(&removed("b"));
        tx.send(&created("a"));
        assert_eq!(queue.try_pop(), Some(created("c")));
        assert_eq!(queue.try_pop(), Some(removed("b")));
        assert_eq!(queue.try_pop(), Some(created("a")));
        assert_eq!(queue.try_pop(), None);
        assert_eq!(queue.done_through(), 6);
    }

    #[test]
    fn churn_that_nobody_reads_keeps_nothing() {
        let (tx, queue) = TopicChanges::channel();
        for i in 0..10_000 {
            let topic = format!("t{}", i % 7);
            tx.send(&created(&topic));
            tx.send(&removed(&topic));
        }
        assert_eq!(queue.len(), 0);
        assert!(lock(&queue.queue).order.len() <= 64);
        assert_eq!(queue.done_through(), 20_000);
    }

    #[tokio::test]
    async fn the_reader_ends_when_the_writer_is_gone() {
        let (tx, queue) = TopicChanges::channel();
        tx.send(&created("a"));
        drop(tx);
        assert_eq!(queue.pop().await, Some(created("a")));
        assert_eq!(queue.pop().await, None);
    }
}
