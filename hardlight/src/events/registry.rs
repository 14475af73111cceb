//! The server-wide map from topics to subscribed connections, and the topic notifier.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

pub use super::changes::TopicNotification;
use super::changes::{ChangesSender, TopicChanges};
use super::outbound::Outbound;
use crate::error::TopicTooLong;
use crate::locks::{lock, read, write};
use crate::metrics::EventMetrics;
use crate::topic::Topic;

/// Receives [`TopicNotification`]s; get it with `Server::get_topic_notifier`.
///
/// Bridge topics to other infrastructure with it (another server, a message bus): subscribe upstream on
/// `Created`, unsubscribe on `Removed`. For each topic, `Created` and `Removed` alternate, starting with
/// `Created`, each exactly once per lifetime of the topic.
///
/// Notifications wait for you to read them, at most one per topic: a topic created and removed
/// again before you read its `Created` shows neither (and one removed and created again before
/// you read its `Removed`, neither), so reading late, or never, costs no memory beyond one entry per
/// topic, and what you read still alternates.
#[derive(Debug)]
pub struct TopicNotifier {
    pub(crate) queue: Arc<TopicChanges>,
}

impl TopicNotifier {
    /// The next notification; `None` once the server is gone.
    pub async fn recv(&mut self) -> Option<TopicNotification> {
        self.queue.pop().await
    }

    /// A notification if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<TopicNotification> {
        self.queue.try_pop()
    }

    /// Notifications waiting to be read: at most one per topic.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True if no notification waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a server's emits did: events encoded and frames queued (read by `ServerStats`).
#[derive(Debug, Default)]
pub(crate) struct EventCounts {
    /// One per emit that reached the registry, whatever the number of subscribers.
    pub(crate) encoded: AtomicU64,
    /// One per subscriber an emit's frame was queued to.
    pub(crate) queued: AtomicU64,
    /// Whether the metrics below are recorded (the server's `ServerConfig::metrics`).
    pub(crate) metrics_enabled: std::sync::atomic::AtomicBool,
    metrics: std::sync::OnceLock<EventMetrics>,
}

impl EventCounts {
    /// The metrics' handles, registered on first use.
    fn metrics(&self) -> &EventMetrics {
        self.metrics
            .get_or_init(|| EventMetrics::new(self.metrics_enabled.load(Ordering::Relaxed)))
    }
}

/// Topics and their subscribers.
pub(crate) struct TopicRegistry {
    /// Largest frame that may be sent: the server's maximum message size.
    pub(crate) max_frame: usize,
    /// Longest topic that may be subscribed to or emitted to.
    max_topic_len: usize,
    counts: Arc<EventCounts>,
    topics: RwLock<HashMap<Topic, HashMap<u64, Outbound>>>,
    // Never waits, since subscribing is synchronous in handlers, and holds at most one entry per
    // topic; nothing if nobody took it.
    notifier: Mutex<Option<ChangesSender>>,
    notifier_taken: Mutex<bool>,
    // Internal listeners (the NATS bridge), fixed before the registry is shared. Kept apart from the
    // user's notifier so that taking it, or not, changes nothing for them.
    observers: Vec<TopicObserver>,
    relay: Option<EventRelay>,
}

/// Told of every [`TopicNotification`], under the registry's lock, so in order.
pub(crate) type TopicObserver = Box<dyn Fn(&TopicNotification) + Send + Sync>;

/// Given the frame of every event emitted on this server, after local delivery; it must not block.
pub(crate) type EventRelay = Box<dyn Fn(&Bytes) + Send + Sync>;

impl TopicRegistry {
    pub(crate) fn new(max_frame: usize, max_topic_len: usize, counts: Arc<EventCounts>) -> Self {
        Self {
            max_frame,
            max_topic_len,
            counts,
            topics: RwLock::default(),
            notifier: Mutex::default(),
            notifier_taken: Mutex::default(),
            observers: Vec::new(),
            relay: None,
        }
    }

    /// Adds an internal observer of topic changes. Only before the registry is shared, so it sees
    /// every topic from its creation.
    #[cfg(hardlight_nats)]
    pub(crate) fn add_observer(&mut self, observer: TopicObserver) {
        self.observers.push(observer);
    }

    /// Sets where this server's emits go after local delivery (other servers).
    #[cfg(hardlight_nats)]
    pub(crate) fn set_relay(&mut self, relay: EventRelay) {
        self.relay = Some(relay);
    }

    pub(crate) fn take_notifier(&self) -> Option<TopicNotifier> {
        let mut taken = lock(&self.notifier_taken);
        if *taken {
            return None;
        }
        *taken = true;
        let (tx, queue) = TopicChanges::channel();
        *lock(&self.notifier) = Some(tx);
        Some(TopicNotifier { queue })
    }

    /// Refuses a topic longer than the server allows.
    pub(crate) fn check_topic(&self, topic: &[u8]) -> Result<(), TopicTooLong> {
        if topic.len() > self.max_topic_len {
            return Err(TopicTooLong {
                len: topic.len(),
                max: self.max_topic_len,
            });
        }
        Ok(())
    }

    /// Adds `conn` to `topic`; returns false if it was already there.
    pub(crate) fn subscribe(&self, topic: &Topic, conn: &Outbound) -> bool {
        let mut topics = write(&self.topics);
        let subscribers = topics.entry(topic.clone()).or_default();
        if subscribers.contains_key(&conn.id()) {
            return false;
        }
        subscribers.insert(conn.id(), conn.clone());
        if subscribers.len() == 1 {
            // Sent under the lock so that Created and Removed of one topic are never reordered.
            self.notify(TopicNotification::Created(topic.clone()));
        }
        true
    }

    /// Removes connection `id` from `topic`; returns false if it was not there.
    pub(crate) fn unsubscribe(&self, topic: &Topic, id: u64) -> bool {
        let mut topics = write(&self.topics);
        let Some(subscribers) = topics.get_mut(topic) else {
            return false;
        };
        if subscribers.remove(&id).is_none() {
            return false;
        }
        if subscribers.is_empty() {
            topics.remove(topic);
            self.notify(TopicNotification::Removed(topic.clone()));
        }
        true
    }

    /// An emit on this server: queues `frame` on every local subscriber of `topic`, counts it, and hands
    /// it to the relay for other servers; returns how many local subscribers got it.
    pub(crate) fn publish(&self, topic: &[u8], frame: &Bytes) -> usize {
        let queued = self.deliver(topic, frame);
        self.counts.encoded.fetch_add(1, Ordering::Relaxed);
        self.counts.metrics().emitted.increment(1);
        self.counts
            .queued
            .fetch_add(queued as u64, Ordering::Relaxed);
        if let Some(relay) = &self.relay {
            relay(frame);
        }
        queued
    }

    /// Queues `frame` on every local subscriber of `topic`; returns how many got it. Events from other
    /// servers come in here: they are not this server's emits, so they are neither counted in
    /// [`EventCounts`] (`ServerStats::events_encoded`) nor relayed again.
    pub(crate) fn deliver(&self, topic: &[u8], frame: &Bytes) -> usize {
        let topics = read(&self.topics);
        let Some(subscribers) = topics.get(topic) else {
            return 0;
        };
        // Every subscriber gets the same frame: a reference count, not a copy.
        let queued = subscribers
            .values()
            .filter(|conn| conn.push_shared(frame.clone()))
            .count();
        let metrics = self.counts.metrics();
        metrics.delivered.increment(queued as u64);
        let dropped = subscribers.len() - queued;
        if dropped > 0 {
            metrics.dropped.increment(dropped as u64);
        }
        queued
    }

    /// Number of topics with at least one subscriber.
    pub(crate) fn topic_count(&self) -> usize {
        read(&self.topics).len()
    }

    fn notify(&self, notification: TopicNotification) {
        for observer in &self.observers {
            observer(&notification);
        }
        if let Some(tx) = lock(&self.notifier).as_ref() {
            tx.send(&notification);
        }
    }
}
