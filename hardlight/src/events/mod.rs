//! Topic events: handlers subscribe their connection to topics, emitters publish to topics, and the
//! topic notifier reports topics being created and removed. With the `nats` feature, `NatsBridge`
//! carries events between servers.

mod payload;

pub use payload::{AnyEvent, Event, EventDecode, EventPayload};

// Publishing is the server's: a browser client only receives.
cfg_native! {
    mod changes;
    mod emitter;
    pub(crate) mod outbound;
    pub(crate) mod registry;
    mod subscriptions;

    pub use emitter::EventEmitter;
    pub use registry::{TopicNotification, TopicNotifier};
    pub use subscriptions::Subscriptions;
}

cfg_nats! {
    mod nats;

    pub use nats::{
        DEFAULT_NATS_QUEUE, DEFAULT_SUBJECT_PREFIX, MAX_BRIDGED_TOPIC, NatsBridge, NatsConfig,
        NatsStatus, ORIGIN_HEADER,
    };
}
