//! The NATS bridge: two hardlight servers and a real `nats-server` on a free loopback port.
//!
//! `scripts/test` installs `nats-server` when it is missing; without it these tests fail, they never
//! skip.
#![cfg(feature = "nats")]
mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nats::{Nats, nats_url};
use common::{HeldPort, Served, within};
use hardlight::events::{NatsConfig, ORIGIN_HEADER};
use hardlight::*;

/// Patience for what waits on NATS (re)connecting: the client's backoff between attempts reaches 4 s.
const NATS_PATIENCE: Duration = Duration::from_secs(30);

async fn eventually<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(NATS_PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
enum TestEvent {
    Value(u32),
}

/// Rooms (topics) that clients join, and events sent to them from handlers.
#[rpc(state = TestState, events = TestEvent)]
trait Rooms {
    async fn join(&self, topic: String) -> HandlerResult<()>;
    async fn leave(&self, topic: String) -> HandlerResult<()>;
    /// Emits `value` to `topic`; returns how many local subscribers got it.
    async fn shout(&self, topic: String, value: u32) -> HandlerResult<usize>;
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
}

#[connection_state]
struct TestState {
    joined: u32,
}

#[rpc_handler]
impl Rooms for Handler {
    async fn join(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(topic));
        self.state.write().await.joined += 1;
        Ok(())
    }

    async fn leave(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.remove(&Topic::from(topic));
        Ok(())
    }

    async fn shout(&self, topic: String, value: u32) -> HandlerResult<usize> {
        Ok(self
            .events
            .emit(&Topic::from(topic), TestEvent::Value(value))
            .await?)
    }

    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        a.checked_add(b).ok_or_else(|| "overflow".into())
    }
}

/// A running test server bridged to NATS.
type Bridged = Served<NatsBridge>;

impl Bridged {
    async fn start(nats: impl Into<NatsConfig>) -> Self {
        let server = Server::new(
            ServerConfig::new_self_signed("127.0.0.1:0").nats(nats),
            factory!(Handler),
        );
        let bridge = server.nats_bridge().expect("a bridge was configured");
        Served::bind(server, bridge).await
    }

    fn bridge(&self) -> &NatsBridge {
        &self.ctx
    }

    async fn client(&self) -> RoomsClient {
        let client = RoomsClient::new(self.client_config());
        within("connect", client.connect()).await.expect("connect");
        client
    }

    /// Waits until subscriptions made here receive what other servers emit.
    async fn synced(&self) {
        eventually("the bridge to sync with NATS", self.bridge().wait_synced()).await;
    }
}

async fn next_value(sub: &mut Subscription<TestEvent>) -> u32 {
    let event = within("an event", sub.recv()).await.expect("event");
    assert_eq!(event.topic, room());
    let TestEvent::Value(value) = event.payload;
    value
}

/// Proves nothing more is queued for `client`: a call's reply comes after every frame queued before it.
async fn assert_no_more_events(client: &RoomsClient, sub: &mut Subscription<TestEvent>) {
    client.add(0, 0).await.unwrap();
    if let Some(extra) = sub.try_recv() {
        panic!("unexpected extra event {extra:?}");
    }
}

fn room() -> Topic {
    Topic::from("room")
}

#[tokio::test]
async fn events_cross_between_servers_both_ways_exactly_once() {
    let nats = Nats::start();
    let (a, b) = (
        Bridged::start(nats.url()).await,
        Bridged::start(nats.url()).await,
    );
    let on_a = a.client().await;
    let on_b = b.client().await;
    let mut sub_a = on_a.subscribe().await.unwrap();
    let mut sub_b = on_b.subscribe().await.unwrap();
    on_a.join("room".into()).await.unwrap();
    on_b.join("room".into()).await.unwrap();
    a.synced().await;
    b.synced().await;

    // From B's emitter and from a handler on B: B's client gets them locally, A's through NATS.
    assert_eq!(
        b.emitter.emit(&room(), TestEvent::Value(1)).await.unwrap(),
        1
    );
    assert_eq!(on_b.shout("room".into(), 2).await.unwrap(), 1);
    for sub in [&mut sub_a, &mut sub_b] {
        assert_eq!(next_value(sub).await, 1);
        assert_eq!(next_value(sub).await, 2);
    }
    // From A, after A's client has both: had NATS sent 1 or 2 back to B, they would reach B before 3.
    assert_eq!(
        a.emitter.emit(&room(), TestEvent::Value(3)).await.unwrap(),
        1
    );
    assert_eq!(next_value(&mut sub_a).await, 3);
    assert_eq!(next_value(&mut sub_b).await, 3);
    // And from B again: a second copy of anything at A would precede 4.
    assert_eq!(on_b.shout("room".into(), 4).await.unwrap(), 1);
    assert_eq!(next_value(&mut sub_a).await, 4);
    assert_eq!(next_value(&mut sub_b).await, 4);
    assert_no_more_events(&on_a, &mut sub_a).await;
    assert_no_more_events(&on_b, &mut sub_b).await;

    let (status_a, status_b) = (a.bridge().status(), b.bridge().status());
    assert_eq!((status_a.received, status_b.received), (3, 1));
    assert_eq!((status_a.rejected, status_b.rejected), (0, 0));
    assert_eq!((status_a.dropped, status_b.dropped), (0, 0));
}

#[tokio::test]
async fn a_thousand_events_from_one_emitter_arrive_in_order_on_the_other_server() {
    const EVENTS: u32 = 1000;
    let nats = Nats::start();
    let (a, b) = (
        Bridged::start(nats.url()).await,
        Bridged::start(nats.url()).await,
    );
    let on_a = a.client().await;
    let mut sub_a = on_a.subscribe().await.unwrap();
    on_a.join("room".into()).await.unwrap();
    a.synced().await;

    let started = Instant::now();
    for value in 0..EVENTS {
        b.emitter
            .emit(&room(), TestEvent::Value(value))
            .await
            .unwrap();
    }
    for expected in 0..EVENTS {
        assert_eq!(next_value(&mut sub_a).await, expected);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{EVENTS} events across the bridge in {elapsed:?} ({:.0} events/s)",
        f64::from(EVENTS) / elapsed.as_secs_f64()
    );
    assert_no_more_events(&on_a, &mut sub_a).await;
    b.bridge()
        .wait_for(|s| s.published == u64::from(EVENTS))
        .await;
    assert_eq!(a.bridge().status().received, u64::from(EVENTS));
}

#[tokio::test]
async fn a_server_holds_a_nats_subscription_only_while_it_has_local_subscribers() {
    let nats = Nats::start();
    let (mut a, b) = (
        Bridged::start(nats.url()).await,
        Bridged::start(nats.url()).await,
    );
    let mut notifier = a.notifier.take().unwrap();
    a.synced().await;
    b.synced().await;
    assert_eq!(a.bridge().status().subscriptions, 0);

    let first = a.client().await;
    let second = a.client().await;
    let mut sub = first.subscribe().await.unwrap();
    first.join("room".into()).await.unwrap();
    second.join("room".into()).await.unwrap();
    a.synced().await;
    assert_eq!(a.bridge().status().subscriptions, 1);
    // The user's notifier sees each change exactly once, as without a bridge (read as they
    // happen: unread, a topic's change and its next one would cancel out).
    let mut seen = Vec::new();
    seen.extend(notifier.try_recv());
    // B has no local subscriber, so no NATS subscription, though A's topic exists.
    b.synced().await;
    assert_eq!(b.bridge().status().subscriptions, 0);

    first.leave("room".into()).await.unwrap();
    a.synced().await;
    assert_eq!(a.bridge().status().subscriptions, 1);
    drop(second);
    eventually(
        "the last subscriber's departure to end the NATS subscription",
        a.bridge().wait_for(|s| s.subscriptions == 0),
    )
    .await;
    seen.extend(notifier.try_recv());

    // Subscribing again subscribes on NATS again, and events flow.
    first.join("room".into()).await.unwrap();
    a.synced().await;
    assert_eq!(a.bridge().status().subscriptions, 1);
    b.emitter.emit(&room(), TestEvent::Value(7)).await.unwrap();
    assert_eq!(next_value(&mut sub).await, 7);

    while let Some(notification) = notifier.try_recv() {
        seen.push(notification);
    }
    assert_eq!(
        seen,
        [
            TopicNotification::Created(room()),
            TopicNotification::Removed(room()),
            TopicNotification::Created(room()),
        ]
    );
}

#[tokio::test]
async fn a_server_started_without_nats_serves_calls_and_bridges_once_nats_is_up() {
    let port = Arc::new(HeldPort::new());
    let (a, b) = (
        Bridged::start(nats_url(port.port)).await,
        Bridged::start(nats_url(port.port)).await,
    );
    let on_a = a.client().await;
    let mut sub_a = on_a.subscribe().await.unwrap();
    assert_eq!(on_a.add(1, 2).await.unwrap(), 3);
    on_a.join("room".into()).await.unwrap();
    // Local events do not wait for NATS.
    assert_eq!(
        a.emitter.emit(&room(), TestEvent::Value(1)).await.unwrap(),
        1
    );
    assert_eq!(next_value(&mut sub_a).await, 1);
    assert!(!a.bridge().status().connected);

    let _nats = Nats::start_on(port, &[]);
    a.synced().await;
    b.synced().await;
    b.emitter.emit(&room(), TestEvent::Value(2)).await.unwrap();
    assert_eq!(next_value(&mut sub_a).await, 2);
    assert_no_more_events(&on_a, &mut sub_a).await;
}

#[tokio::test]
async fn the_bridge_reconnects_and_resubscribes_after_nats_restarts() {
    let mut nats = Nats::start();
    let (a, b) = (
        Bridged::start(nats.url()).await,
        Bridged::start(nats.url()).await,
    );
    let on_a = a.client().await;
    let mut sub_a = on_a.subscribe().await.unwrap();
    on_a.join("room".into()).await.unwrap();
    a.synced().await;
    b.synced().await;
    b.emitter.emit(&room(), TestEvent::Value(1)).await.unwrap();
    assert_eq!(next_value(&mut sub_a).await, 1);

    nats.kill();
    eventually("A to see NATS go", a.bridge().wait_for(|s| !s.connected)).await;
    eventually("B to see NATS go", b.bridge().wait_for(|s| !s.connected)).await;
    // Calls and local events go on meanwhile.
    assert_eq!(on_a.add(2, 3).await.unwrap(), 5);
    assert_eq!(
        a.emitter.emit(&room(), TestEvent::Value(2)).await.unwrap(),
        1
    );
    assert_eq!(next_value(&mut sub_a).await, 2);

    let _nats = nats.restart();
    // A subscribed before the outage: the subscription is renewed on the new connection.
    a.synced().await;
    b.synced().await;
    assert_eq!(a.bridge().status().subscriptions, 1);
    b.emitter.emit(&room(), TestEvent::Value(3)).await.unwrap();
    assert_eq!(next_value(&mut sub_a).await, 3);
    assert_no_more_events(&on_a, &mut sub_a).await;
}

#[tokio::test]
async fn messages_on_a_bridged_subject_that_are_not_events_for_it_are_rejected() {
    let nats = Nats::start();
    let a = Bridged::start(nats.url()).await;
    let on_a = a.client().await;
    let mut sub_a = on_a.subscribe().await.unwrap();
    on_a.join("room".into()).await.unwrap();
    a.synced().await;

    // The documented subject: the prefix, then the topic's bytes in lowercase hex.
    let subject = "hardlight.events.726f6f6d";
    let event = |topic: &[u8], value| {
        hardlight::__private::wire::frame::encode_event(topic, &TestEvent::Value(value))
            .unwrap()
            .into()
    };
    let raw = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    raw.publish(subject, b"not a frame".as_slice().into())
        .await
        .unwrap();
    raw.publish(subject, event(b"other", 1)).await.unwrap();
    // Carrying this server's own origin: taken for its own publication and ignored.
    let mut own = async_nats::HeaderMap::new();
    own.insert(ORIGIN_HEADER, a.bridge().origin());
    raw.publish_with_headers(subject, own, event(b"room", 2))
        .await
        .unwrap();
    raw.publish(subject, event(b"room", 3)).await.unwrap();
    raw.flush().await.unwrap();

    // NATS keeps the order of one publisher: the valid event comes after the others were handled.
    assert_eq!(next_value(&mut sub_a).await, 3);
    assert_no_more_events(&on_a, &mut sub_a).await;
    let status = a.bridge().status();
    assert_eq!((status.received, status.rejected), (1, 2));
}

#[tokio::test]
async fn a_full_queue_drops_events_for_other_servers_and_never_blocks_emit() {
    const EVENTS: u32 = 5000;
    // Nothing listens there: every event waits for NATS, and the small queue overflows.
    let nowhere = HeldPort::new();
    let a = Bridged::start(NatsConfig::new(nats_url(nowhere.port)).queue(8)).await;
    let on_a = a.client().await;
    within("emits while NATS is away", async {
        for value in 0..EVENTS {
            a.emitter
                .emit(&room(), TestEvent::Value(value))
                .await
                .unwrap();
        }
    })
    .await;
    let status = a.bridge().status();
    assert!(!status.connected);
    assert!(
        status.dropped > 0 && status.dropped < u64::from(EVENTS),
        "{status:?}"
    );
    assert_eq!(on_a.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_malformed_nats_url_or_subject_prefix_fails_bind() {
    for nats in [
        NatsConfig::new("nats://127.0.0.1:4222").subject_prefix("has space"),
        NatsConfig::new("nats://127.0.0.1:4222").subject_prefix("wild.*"),
        NatsConfig::new("nats://[::1"),
    ] {
        let what = format!("{nats:?}");
        let server = Server::new(
            ServerConfig::new_self_signed("127.0.0.1:0").nats(nats),
            factory!(Handler),
        );
        match server.bind().await {
            Err(ServerError::InvalidNatsUrl { .. } | ServerError::InvalidNatsPrefix { .. }) => {}
            Err(other) => panic!("{what}: unexpected error {other}"),
            Ok(_) => panic!("{what}: bound"),
        }
    }
}

#[tokio::test]
async fn while_nats_is_away_topic_changes_wait_at_most_one_per_topic() {
    // Nothing listens at this address: the bridge keeps retrying, and cannot apply changes.
    let nowhere = HeldPort::new();
    let server = Bridged::start(nats_url(nowhere.port)).await;
    let client = server.client().await;
    for _ in 0..500 {
        within("join", client.join("room".to_owned()))
            .await
            .unwrap();
        within("leave", client.leave("room".to_owned()))
            .await
            .unwrap();
    }
    within("join", client.join("kept".to_owned()))
        .await
        .unwrap();
    let status = server.bridge().status();
    assert!(!status.connected);
    assert!(
        status.pending_changes <= 1,
        "{} topic changes wait for one topic",
        status.pending_changes
    );
}
