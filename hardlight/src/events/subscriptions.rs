//! A connection's own topic subscriptions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::registry::TopicRegistry;
use crate::locks::lock;
use crate::server::outbound::Outbound;
use crate::topic::Topic;

/// The topics one connection is subscribed to (the `subscriptions` field of a handler).
///
/// Subscribing is immediate: an event emitted to the topic after `add` returns reaches the client. All
/// subscriptions end when the connection does.
#[derive(Clone)]
pub struct Subscriptions {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<TopicRegistry>,
    conn: Outbound,
    topics: Mutex<HashSet<Topic>>,
}

impl Subscriptions {
    pub(crate) fn new(registry: Arc<TopicRegistry>, conn: Outbound) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                conn,
                topics: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Subscribes this connection to `topic`; returns false if it already was.
    pub fn add(&self, topic: &Topic) -> bool {
        let mut topics = self.topics();
        if !topics.insert(topic.clone()) {
            return false;
        }
        self.inner.registry.subscribe(topic, &self.inner.conn)
    }

    /// Unsubscribes this connection from `topic`; returns false if it was not subscribed.
    pub fn remove(&self, topic: &Topic) -> bool {
        let mut topics = self.topics();
        if !topics.remove(topic) {
            return false;
        }
        self.inner.registry.unsubscribe(topic, self.inner.conn.id())
    }

    /// True if this connection is subscribed to `topic`.
    pub fn contains(&self, topic: &Topic) -> bool {
        self.topics().contains(topic)
    }

    /// The topics this connection is subscribed to.
    pub fn topics_list(&self) -> Vec<Topic> {
        self.topics().iter().cloned().collect()
    }

    /// Unsubscribes this connection from every topic.
    pub fn clear(&self) {
        let mut topics = self.topics();
        for topic in topics.drain() {
            self.inner
                .registry
                .unsubscribe(&topic, self.inner.conn.id());
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashSet<Topic>> {
        lock(&self.inner.topics)
    }
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Subscriptions")
            .field(&*self.topics())
            .finish()
    }
}
