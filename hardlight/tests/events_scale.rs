//! Events under load on one server: encode once, order per emitter, slow consumers, 1,000 subscribed
//! connections, and the topic notifier under churn.
mod common;

use std::collections::HashMap;

use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{ServerFrame, decode_server, encode_call};
use hardlight::wire::close;
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;

/// Enough file descriptors for a thousand connections at both ends.
fn raise_fd_limit() {
    let (soft, hard) = rlimit::Resource::NOFILE.get().expect("read RLIMIT_NOFILE");
    if soft < 4096 {
        rlimit::Resource::NOFILE
            .set(hard.min(8192).max(soft), hard)
            .expect("raise RLIMIT_NOFILE");
    }
}

/// For tests where many clients connect at once from one address: load, not abuse, so without the
/// limit on handshakes per address.
fn crowd(config: ServerConfig) -> ServerConfig {
    config.max_handshakes_per_ip(None)
}

#[tokio::test]
async fn an_emit_is_encoded_once_whatever_the_number_of_subscribers() {
    let server = TestServer::with_config(crowd(ServerConfig::new_self_signed("127.0.0.1:0"))).await;
    let clients = futures_util::future::join_all((0..50).map(|_| server.client())).await;
    for client in &clients {
        client.join("wide".into()).await.unwrap();
    }
    let (encoded, queued) = (server.stats.events_encoded(), server.stats.events_queued());
    let reached = server
        .emitter
        .emit(&Topic::from("wide"), TestEvent::Text("to everyone".into()))
        .await
        .unwrap();
    assert_eq!(reached, 50);
    assert_eq!(server.stats.events_encoded() - encoded, 1);
    assert_eq!(server.stats.events_queued() - queued, 50);
}

#[tokio::test]
async fn events_of_one_emitter_arrive_in_emit_order() {
    // More events than any queue on the way holds (the server's outbound queue and the client's
    // event buffer, 1024 each), emitted while the client reads; the emitter keeps at most `AHEAD`
    // unread, so that neither queue can overflow however slowly the reader runs.
    const EVENTS: u32 = 3000;
    const AHEAD: u32 = 256;
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut sub = client.subscribe().await.unwrap();
    client.join("ordered".into()).await.unwrap();
    let emitter = server.emitter.clone();
    let read = tokio::sync::watch::channel(0u32).0;
    let emitting = tokio::spawn({
        let mut read = read.subscribe();
        async move {
            for value in 0..EVENTS {
                within(
                    "the reader to catch up",
                    read.wait_for(|n| value < n + AHEAD),
                )
                .await
                .expect("the reader lives as long as the test");
                emitter
                    .emit(&Topic::from("ordered"), TestEvent::Value(value))
                    .await
                    .unwrap();
            }
        }
    });
    for expected in 0..EVENTS {
        let event = within("next event", sub.recv()).await.unwrap();
        assert_eq!(event.payload, TestEvent::Value(expected));
        read.send_replace(expected + 1);
    }
    within("the emitter", emitting).await.unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_others_keep_up() {
    let server =
        TestServer::with_config(ServerConfig::new_self_signed("127.0.0.1:0").outbound_queue(32))
            .await;
    let good = server.client().await;
    let mut good_events = good.subscribe().await.unwrap();
    good.join("flood".into()).await.unwrap();

    // A raw peer joins the topic and then never reads again.
    let (mut slow, _) = raw_hardlight(server.port, None).await;
    send_binary(
        &mut slow,
        encode_call(1, method::JOIN, &(String::from("flood"),)).unwrap(),
    )
    .await;
    loop {
        match within("join reply", slow.next()).await {
            Some(Ok(Message::Binary(b)))
                if matches!(decode_server(&b), Ok(ServerFrame::Reply { .. })) =>
            {
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }

    // 64 KiB events: the slow peer's socket buffers and queue fill within a few hundred. Once its
    // queue is full an emit reaches only the good client, and the slow one is being disconnected.
    let payload = "x".repeat(64 << 10);
    let mut emitted = 0u32;
    loop {
        let reached = server
            .emitter
            .emit(&Topic::from("flood"), TestEvent::Text(payload.clone()))
            .await
            .unwrap();
        emitted += 1;
        // The well-behaved subscriber keeps up with every event.
        let event = within("event for the good client", good_events.recv())
            .await
            .unwrap();
        assert_eq!(event.payload, TestEvent::Text(payload.clone()));
        if reached == 1 {
            break;
        }
        assert!(emitted < 5_000, "the slow peer's queue never filled");
    }

    // Reading its backlog now, the slow peer finds the slow-consumer close behind it.
    let (code, reason) = expect_close(&mut slow).await;
    assert_eq!(code, close::SLOW_CONSUMER, "{reason}");
    within(
        "the slow peer to be dropped",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    assert_eq!(good.add(1, 1).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribed_connections_receive_every_event() {
    raise_fd_limit();
    // Plain WebSocket keeps a thousand handshakes quick on two cores; TLS is covered elsewhere.
    let server = TestServer::with_config(crowd(ServerConfig::plaintext("127.0.0.1:0"))).await;
    let mut clients = Vec::new();
    for chunk in 0..10 {
        let batch = futures_util::future::join_all((0..100).map(|_| server.client())).await;
        for client in batch {
            let sub = client.subscribe().await.unwrap();
            client.join("all".into()).await.unwrap();
            clients.push((client, sub));
        }
        assert_eq!(clients.len(), (chunk + 1) * 100);
    }
    for value in 0..20 {
        let reached = server
            .emitter
            .emit(&Topic::from("all"), TestEvent::Value(value))
            .await
            .unwrap();
        assert_eq!(reached, 1000);
    }
    for (_, sub) in &mut clients {
        for expected in 0..20 {
            let event = within("event", sub.recv()).await.unwrap();
            assert_eq!(event.payload, TestEvent::Value(expected));
        }
    }
}

/// A small deterministic generator, so the churn is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_reports_each_topic_lifetime_exactly_once_under_churn() {
    let mut server = TestServer::with_config(crowd(ServerConfig::plaintext("127.0.0.1:0"))).await;
    let mut notifier = server.notifier.take().unwrap();
    // Read while the churn runs, as an application would: what waits unread is coalesced (a
    // topic's change and its next one cancel out), so reading only at the end would see little.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut read = Vec::new();
        loop {
            tokio::select! {
                notification = notifier.recv() => match notification {
                    Some(notification) => read.push(notification),
                    None => break,
                },
                _ = &mut stopped => break,
            }
        }
        while let Some(notification) = notifier.try_recv() {
            read.push(notification);
        }
        read
    });
    let mut rng = Lcg(0x5eed);
    let topics = ["a", "b", "c", "d"];

    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..40u64 {
        let seed = rng.next(u64::MAX);
        let port = server.port;
        let config = server.client_config();
        workers.spawn(async move {
            let mut rng = Lcg(seed ^ worker);
            for _ in 0..5 {
                if rng.next(2) == 0 {
                    // A typed client that joins and leaves, then disconnects cleanly or not at all.
                    let client = TestClient::new(config.clone());
                    within("connect", client.connect()).await.unwrap();
                    for _ in 0..rng.next(6) {
                        let topic = topics[rng.next(4) as usize].to_owned();
                        if rng.next(3) == 0 {
                            client.leave(topic).await.unwrap();
                        } else {
                            client.join(topic).await.unwrap();
                        }
                    }
                } else {
                    // A raw peer that joins a topic and vanishes without a close frame.
                    let (mut ws, _) = raw_hardlight_plain(port).await;
                    let topic = String::from(topics[rng.next(4) as usize]);
                    send_binary(&mut ws, encode_call(1, method::JOIN, &(topic,)).unwrap()).await;
                    let _ = within("join reply", ws.next()).await;
                    drop(ws);
                }
            }
        });
    }
    while let Some(result) = within("churn", workers.join_next()).await {
        result.unwrap();
    }
    within(
        "every connection to end",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;

    // Every topic's notifications alternate Created, Removed, ... and end with Removed.
    let mut seen: HashMap<Topic, Vec<TopicNotification>> = HashMap::new();
    let _ = stop.send(());
    for notification in within("the reader", reader).await.unwrap() {
        let topic = notification.topic().clone();
        seen.entry(topic).or_default().push(notification);
    }
    assert!(!seen.is_empty(), "the churn created no topic");
    for (topic, notifications) in &seen {
        for (i, n) in notifications.iter().enumerate() {
            let created = matches!(n, TopicNotification::Created(_));
            assert_eq!(created, i.is_multiple_of(2), "{topic:?}: {notifications:?}");
        }
        assert_eq!(
            notifications.len() % 2,
            0,
            "{topic:?} was not removed: {notifications:?}"
        );
    }
    assert_eq!(server.emitter.topic_count(), 0);
}
