//! Publishing events: [`EventEmitter`], typed by the event type of the service it publishes for.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;

use super::payload::AnyEvent;
use super::registry::TopicRegistry;
use crate::error::{EmitError, TopicTooLong};
use crate::topic::Topic;
use crate::wire::Codable;
use crate::wire::frame::{EventEncodeError, encode_event};

/// Publishes events to topics.
///
/// An emitter is typed by the events it publishes, `E`: a handler's `events` field and
/// `Server::get_event_emitter` of a server hosting one service publish that service's event type
/// (`#[rpc(events = ...)]`), the only type its clients decode, so that emitting another type is a
/// compile error. `EventEmitter<AnyEvent>` (the default, `EventEmitter`) publishes any codable type:
/// it is the emitter of a service that declares no event type, and of a server hosting several
/// services; [`EventEmitter::untyped`] and [`EventEmitter::typed`] convert between the two.
///
/// Make as many as you like; clones are cheap.
///
/// ```compile_fail
/// # use hardlight::prelude::*;
/// # #[codable] #[derive(Clone)] enum Score { Goal }
/// # #[rpc(events = Score)] trait Match { async fn kick(&self) -> HandlerResult<()>; }
/// # #[rpc_handler] impl Match for MatchHandler {
/// async fn kick(&self) -> HandlerResult<()> {
///     // `Match`'s clients decode `Score`s: a `String` does not compile.
///     self.events.emit(&Topic::from("match-1"), String::from("goal")).await?;
///     Ok(())
/// }
/// # }
/// ```
pub struct EventEmitter<E = AnyEvent> {
    registry: Arc<TopicRegistry>,
    _event: PhantomData<fn(E)>,
}

impl EventEmitter {
    pub(crate) fn new(registry: Arc<TopicRegistry>) -> Self {
        Self {
            registry,
            _event: PhantomData,
        }
    }
}

impl<E> EventEmitter<E> {
    /// An emitter on the same server that publishes any codable type, for topics shared by services
    /// with different event types. A client decodes every event as its own service's event type
    /// and drops, with a warning in its log, one that does not validate as that type; subscribe a
    /// client to a shared topic only if what is published there is its service's event type.
    pub fn untyped(&self) -> EventEmitter {
        self.retyped()
    }

    /// An emitter on the same server that publishes `T`s only: for a server hosting several services
    /// whose clients decode the same event type.
    pub fn typed<T: Codable>(&self) -> EventEmitter<T> {
        self.retyped()
    }

    /// The same emitter, typed as publishing `T`s: for the server, which knows `T` from the service.
    pub(crate) fn retyped<T>(&self) -> EventEmitter<T> {
        EventEmitter {
            registry: self.registry.clone(),
            _event: PhantomData,
        }
    }

    /// Encodes `event` once and queues it to `topic`'s subscribers; see [`EventEmitter::emit`].
    fn publish<T: Codable>(&self, topic: &Topic, event: &T) -> Result<usize, EmitError> {
        self.registry.check_topic(topic.as_bytes())?;
        let frame = encode_event(topic.as_bytes(), event).map_err(|e| match e {
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

impl<E: Codable> EventEmitter<E> {
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
    pub async fn emit(&self, topic: &Topic, event: E) -> Result<usize, EmitError> {
        self.publish(topic, &event)
    }
}

impl EventEmitter<AnyEvent> {
    /// Like [`EventEmitter::emit`], for a value of any codable type: see [`AnyEvent`] for which
    /// emitters publish any type, and [`EventEmitter::untyped`] for what clients then see.
    ///
    /// # Errors
    /// As [`EventEmitter::emit`].
    pub async fn emit<T: Codable>(&self, topic: &Topic, event: T) -> Result<usize, EmitError> {
        self.publish(topic, &event)
    }
}

impl<E> Clone for EventEmitter<E> {
    fn clone(&self) -> Self {
        self.retyped()
    }
}

impl<E> std::fmt::Debug for EventEmitter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventEmitter")
            .field("event", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}
