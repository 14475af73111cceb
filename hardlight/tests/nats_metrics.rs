//! The NATS bridge's metrics (`hardlight_nats_*`): two servers bridged through a real
//! `nats-server`, with a Prometheus recorder installed; an event emitted on one is published once
//! and received once, and the recorder shows it.
//!
//! One test in this binary: a process has one global recorder, and these counters have no labels.
#![cfg(feature = "nats")]
mod common;

use common::nats::Nats;
use common::{Served, within};
use hardlight::metrics::names;
use hardlight::*;
use metrics_exporter_prometheus::PrometheusBuilder;

#[rpc(events = u32)]
trait Room {
    async fn join(&self) -> HandlerResult<()>;
}

#[rpc_handler]
impl Room for Handler {
    async fn join(&self) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from("room"));
        Ok(())
    }
}

/// The value of the unlabelled counter `name` in the rendered text, 0 if absent.
fn counter(rendered: &str, name: &str) -> f64 {
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_bridge_counts_what_it_publishes_and_receives() {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder");
    let nats = Nats::start();
    let start = || async {
        let server = Server::new(
            ServerConfig::new_self_signed("127.0.0.1:0").nats(nats.url()),
            factory!(Handler),
        );
        let bridge = server.nats_bridge().expect("a bridge");
        Served::bind(server, bridge).await
    };
    let (a, b) = (start().await, start().await);
    let on_b = RoomClient::new(b.client_config());
    within("connect", on_b.connect()).await.unwrap();
    let mut events = on_b.subscribe().await.unwrap();
    on_b.join().await.unwrap();
    within("B's bridge to sync", b.ctx.wait_synced()).await;

    // A has no subscriber of its own: the event reaches B through NATS only.
    a.emitter.emit(&Topic::from("room"), 7u32).await.unwrap();
    let event = within("the event through NATS", events.recv())
        .await
        .unwrap();
    assert_eq!(event.payload, 7);

    let rendered = within("the counts", async {
        loop {
            let rendered = prometheus.render();
            if counter(&rendered, names::NATS_PUBLISHED) >= 1.0 {
                return rendered;
            }
            // The publisher counts once NATS took the event, which may be after B has it.
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(counter(&rendered, names::NATS_PUBLISHED), 1.0, "{rendered}");
    assert_eq!(counter(&rendered, names::NATS_RECEIVED), 1.0, "{rendered}");
    assert_eq!(counter(&rendered, names::NATS_DROPPED), 0.0, "{rendered}");
    // B delivered it to its one subscriber; A emitted it.
    assert_eq!(
        counter(&rendered, names::SERVER_EVENTS_EMITTED),
        1.0,
        "{rendered}"
    );
    assert_eq!(
        counter(&rendered, names::SERVER_EVENTS_DELIVERED),
        1.0,
        "{rendered}"
    );
}
