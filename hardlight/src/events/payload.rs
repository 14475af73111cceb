//! What a client receives for each event.

use std::ops::Range;

use bytes::Bytes;

use crate::topic::Topic;
use crate::wire::Archived;
use crate::wire::shape::ShapeFn;
use crate::wire::{Codable, DecodeError};

/// One event received by a client: the topic it was published to and its payload, already validated
/// and decoded as the service's event type.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<E> {
    /// The topic the event was published to.
    pub topic: Topic,
    /// The event value.
    pub payload: E,
}

/// The payload of an event whose type the service does not declare (`#[rpc]` without `events = ...`):
/// the archived bytes, decoded on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPayload(Vec<u8>);

impl EventPayload {
    /// The archived bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Validates the bytes as an archive of `T` (nested at most
    /// [`DEFAULT_MAX_DEPTH`](crate::wire::codec::DEFAULT_MAX_DEPTH) levels deep) and decodes it.
    pub fn decode<T: Codable>(&self) -> Result<T, DecodeError> {
        T::decode(&self.0)
    }

    /// Like [`EventPayload::decode`], with a maximum nesting depth of `max_depth` (see
    /// [`Codable::decode_within`]).
    pub fn decode_within<T: Codable>(&self, max_depth: usize) -> Result<T, DecodeError> {
        T::decode_within(&self.0, max_depth)
    }
}

/// Marks an emitter that publishes events of any [`Codable`] type: the emitter of a service that
/// declares no event type (its clients receive [`EventPayload`]s and decode them themselves), of a
/// server hosting several services, or one made by `EventEmitter::untyped` to publish to topics
/// shared by services with different event types. No value of it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyEvent {}

/// A type a client can decode received events as: any [`Codable`] type, or [`EventPayload`] to keep
/// the raw archive.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as the event type of a service",
    note = "name a #[codable] type that also derives Clone in `#[rpc(events = ...)]`"
)]
pub trait EventDecode: Clone + Send + Sync + 'static {
    /// How the type is written in the service's schema text (its shape; `EventPayload` for
    /// [`EventPayload`]).
    const SHAPE: ShapeFn;

    /// What the server's emitters publish for clients that decode events as `Self`: `Self` for a
    /// [`Codable`] type, [`AnyEvent`] (any codable type) for [`EventPayload`].
    type Emitted: 'static;

    /// Validates and decodes an event's payload, `message[payload]`, nested at most `max_depth`
    /// levels deep. A view ([`Archived`]) shares `message`.
    fn decode_event(
        message: &Bytes,
        payload: Range<usize>,
        max_depth: usize,
    ) -> Result<Self, DecodeError>;
}

impl<T: Codable + Clone + Sync> EventDecode for T {
    const SHAPE: ShapeFn = T::SHAPE;
    type Emitted = T;

    fn decode_event(
        message: &Bytes,
        payload: Range<usize>,
        max_depth: usize,
    ) -> Result<Self, DecodeError> {
        T::decode_within(bytes_at(message, payload)?, max_depth)
    }
}

/// Events as zero-copy views (`#[rpc(events = Archived<Tick>)]`): each event is validated once and
/// read in place in the received message; the server's emitters publish `T`.
impl<T: Codable + Sync> EventDecode for Archived<T> {
    const SHAPE: ShapeFn = T::SHAPE;
    type Emitted = T;

    fn decode_event(
        message: &Bytes,
        payload: Range<usize>,
        max_depth: usize,
    ) -> Result<Self, DecodeError> {
        Archived::validate(message.clone(), payload, max_depth)
    }
}

fn bytes_at(message: &Bytes, at: Range<usize>) -> Result<&[u8], DecodeError> {
    message
        .get(at)
        .ok_or_else(|| DecodeError::new("event payload out of the message's bounds"))
}

impl EventDecode for EventPayload {
    const SHAPE: ShapeFn = |_, out| out.push_str("EventPayload");
    type Emitted = AnyEvent;

    /// Keeps the bytes as they are: they are validated when [`EventPayload::decode`] is called.
    fn decode_event(message: &Bytes, payload: Range<usize>, _: usize) -> Result<Self, DecodeError> {
        Ok(Self(bytes_at(message, payload)?.to_vec()))
    }
}
