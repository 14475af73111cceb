//! What publishing and subscribing report: [`EmitError`], [`SubscribeError`], [`TopicTooLong`].

use crate::wire::EncodeError;

/// A topic is longer than the server allows (`ServerConfig::max_topic_len`, default 1024 bytes):
/// nobody can be subscribed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("topic of {len} bytes exceeds the limit of {max}")]
#[non_exhaustive]
pub struct TopicTooLong {
    /// The topic's length, in bytes.
    pub len: usize,
    /// The longest topic allowed, in bytes.
    pub max: usize,
}

/// Why `EventEmitter::emit` sent nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event could not be encoded.
    #[error("could not encode the event")]
    Encode(#[from] EncodeError),
    /// The topic is longer than the server allows.
    #[error(transparent)]
    TopicTooLong(#[from] TopicTooLong),
    /// The event's frame would exceed the server's maximum message size
    /// (`ServerConfig::max_message_size`).
    #[error("event of {size} bytes exceeds the maximum message size of {max}")]
    FrameTooLarge {
        /// The frame's size, in bytes.
        size: usize,
        /// The maximum message size, in bytes.
        max: usize,
    },
}

/// Why `Subscriptions::try_add` subscribed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The topic is longer than the server allows.
    #[error(transparent)]
    TopicTooLong(#[from] TopicTooLong),
    /// The connection already holds as many topics as it may
    /// (`ServerConfig::max_topics_per_connection`).
    #[error("a connection may subscribe to at most {max} topics")]
    TooManyTopics {
        /// The most topics a connection may hold.
        max: usize,
    },
}
