//! Topic events: handlers subscribe their connection to topics, emitters publish to topics, and the
//! topic notifier reports topics being created and removed. With the `nats` feature, `NatsBridge`
//! carries events between servers.

mod changes;
mod emitter;
#[cfg(hardlight_nats)]
mod nats;
pub(crate) mod outbound;
mod payload;
pub(crate) mod registry;
mod subscriptions;

pub use emitter::EventEmitter;
#[cfg(hardlight_nats)]
pub use nats::{
    DEFAULT_NATS_QUEUE, DEFAULT_SUBJECT_PREFIX, MAX_BRIDGED_TOPIC, NatsBridge, NatsConfig,
    NatsStatus, ORIGIN_HEADER,
};
pub use payload::{Event, EventDecode, EventPayload};
pub use registry::{TopicNotification, TopicNotifier};
pub use subscriptions::Subscriptions;
