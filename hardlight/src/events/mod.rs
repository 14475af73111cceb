//! Topic events: handlers subscribe their connection to topics, emitters publish to topics, and the
//! topic notifier reports topics being created and removed.

mod emitter;
mod payload;
pub(crate) mod registry;
mod subscriptions;

pub use emitter::EventEmitter;
pub use payload::{Event, EventDecode, EventPayload};
pub use registry::{TopicNotification, TopicNotifier};
pub use subscriptions::Subscriptions;
