//! Publishing events.

use std::sync::Arc;

use bytes::Bytes;

use super::registry::TopicRegistry;
use crate::error::{EmitError, TopicTooLong};
use crate::topic::Topic;
use crate::wire::Codable;
use crate::wire::frame::{EventEncodeError, encode_event};

/// Publishes events to topics. Get one from `Server::get_event_emitter` (as many as you like; clones
/// are cheap) or use a handler's `events` field.
#[derive(Clone)]
pub struct EventEmitter {
    registry: Arc<TopicRegistry>,
}

impl EventEmitter {
    pub(crate) fn new(registry: Arc<TopicRegistry>) -> Self {
        Self { registry }
    }

    /// Sends `event` to every connection subscribed to `topic`; returns how many it was queued for on
    /// this server.
    ///
    /// The event is encoded once, whatever the number of subscribers. Events of one emitter on one topic
    /// reach each subscriber in emit order, and an event emitted by a handler reaches that handler's
    /// client before the call's reply. With a NATS bridge (`ServerConfig::nats`, feature `nats`) the
    /// same bytes also go to the topic's subscribers on the other servers, without waiting for NATS.
    ///
    /// # Errors
    /// [`EmitError::Encode`] if the event cannot be encoded (rkyv's error as the source);
    /// [`EmitError::TopicTooLong`] if the topic is longer than the server's `max_topic_len`
    /// (default 1024 bytes; nobody can be subscribed to it); [`EmitError::FrameTooLarge`] if the
    /// frame would exceed the server's maximum message size.
    pub async fn emit<E: Codable>(&self, topic: &Topic, event: E) -> Result<usize, EmitError> {
        self.registry.check_topic(topic.as_bytes())?;
        let frame = encode_event(topic.as_bytes(), &event).map_err(|e| match e {
            EventEncodeError::Encode(e) => EmitError::Encode(e),
            EventEncodeError::TopicTooLong { len, max } => TopicTooLong { len, max }.into(),
        })?;
        if frame.len() > self.registry.max_frame {
            return Err(EmitError::FrameTooLarge {
                size: frame.len(),
                max: self.registry.max_frame,
            });
        }
        Ok(self.registry.publish(topic.as_bytes(), &Bytes::from(frame)))
    }

    /// Number of topics that have at least one subscriber on this server.
    pub fn topic_count(&self) -> usize {
        self.registry.topic_count()
    }
}

impl std::fmt::Debug for EventEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventEmitter").finish_non_exhaustive()
    }
}
