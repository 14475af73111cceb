//! A connection's own topic subscriptions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::outbound::Outbound;
use super::registry::TopicRegistry;
use crate::error::SubscribeError;
use crate::locks::lock;
use crate::topic::Topic;

/// The topics one connection is subscribed to (the `subscriptions` field of a handler).
///
/// Subscribing is immediate: an event emitted to the topic after `add` returns reaches the client. All
/// subscriptions end when the connection does.
///
/// A connection holds at most `ServerConfig::max_topics_per_connection` topics (default 1024), each
/// at most `ServerConfig::max_topic_len` bytes long (default 1024): topics often come from what
/// clients send, and each costs the server memory (and, with a NATS bridge, a NATS subscription).
#[derive(Clone)]
pub struct Subscriptions {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<TopicRegistry>,
    conn: Outbound,
    topics: Mutex<HashSet<Topic>>,
    max_topics: usize,
}

impl Subscriptions {
    pub(crate) fn new(registry: Arc<TopicRegistry>, conn: Outbound, max_topics: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                conn,
                topics: Mutex::new(HashSet::new()),
                max_topics,
            }),
        }
    }

    /// Subscribes this connection to `topic`; returns false if it already was, or if a limit
    /// refused it (logged; [`Subscriptions::try_add`] tells the two apart).
    pub fn add(&self, topic: &Topic) -> bool {
        match self.try_add(topic) {
            Ok(added) => added,
            Err(e) => {
                tracing::warn!(conn = self.inner.conn.id(), %e, "subscription refused");
                false
            }
        }
    }

    /// Subscribes this connection to `topic`; `Ok(false)` if it already was.
    ///
    /// # Errors
    /// [`SubscribeError::TopicTooLong`] if the topic is longer than `ServerConfig::max_topic_len`,
    /// [`SubscribeError::TooManyTopics`] if the connection already holds
    /// `ServerConfig::max_topics_per_connection` topics; nothing is subscribed then.
    pub fn try_add(&self, topic: &Topic) -> Result<bool, SubscribeError> {
        self.inner.registry.check_topic(topic.as_bytes())?;
        let mut topics = self.topics();
        if topics.contains(topic) {
            return Ok(false);
        }
        if topics.len() >= self.inner.max_topics {
            return Err(SubscribeError::TooManyTopics {
                max: self.inner.max_topics,
            });
        }
        topics.insert(topic.clone());
        Ok(self.inner.registry.subscribe(topic, &self.inner.conn))
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
