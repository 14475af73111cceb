//! The warning a server logs when it authenticates without an origin allow-list.
//!
//! In a test binary of its own: `tracing` caches whether a log line is wanted once per process,
//! the first time any thread reaches it, so a sibling test running the same code on a thread
//! without this test's subscriber could make it never log here.

mod common;

use std::sync::{Arc, Mutex};

use common::counter::CounterHandler;
use hardlight::*;

/// Collects the messages of the warnings logged on this thread while it is the default subscriber.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    fn mentioning(&self, text: &str) -> usize {
        let logged = self.0.lock().unwrap();
        logged.iter().filter(|w| w.contains(text)).count()
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn authenticating_without_an_origin_allow_list_warns_at_start() {
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let hook = |_: UpgradeRequest| async { Ok::<_, Rejection>(Identity::new("ada")) };
    let bind = |config: ServerConfig| async {
        Server::new(config, factory!(CounterHandler))
            .bind()
            .await
            .expect("bind")
    };

    // A hook, and pages of any origin may connect: a cookie-trusting hook would let them in.
    let _risky = bind(ServerConfig::plaintext("127.0.0.1:0").authenticate(hook)).await;
    assert_eq!(warnings.mentioning("allowed_origins"), 1);

    // With an allow-list, or without a hook, nothing to warn about.
    let _listed = bind(
        ServerConfig::plaintext("127.0.0.1:0")
            .authenticate(hook)
            .allowed_origins(["https://app.example.com"]),
    )
    .await;
    let _open = bind(ServerConfig::plaintext("127.0.0.1:0")).await;
    assert_eq!(warnings.mentioning("allowed_origins"), 1);
}
