//! Events: subscriptions made by handlers, emitters, and the topic notifier.
mod common;

use common::*;
use hardlight::*;

#[tokio::test]
async fn subscribed_clients_receive_typed_events_from_any_emitter() {
    let server = TestServer::start().await;
    let a = server.client().await;
    let b = server.client().await;
    let outsider = server.client().await;
    let mut sub_a = a.subscribe().await.unwrap();
    let mut sub_b = b.subscribe().await.unwrap();
    let mut sub_out = outsider.subscribe().await.unwrap();
    a.join("news".into()).await.unwrap();
    b.join("news".into()).await.unwrap();
    outsider.join("other".into()).await.unwrap();

    // From outside any handler.
    let delivered = server
        .emitter
        .emit(&Topic::from("news"), TestEvent::Text("hello".into()))
        .await
        .unwrap();
    assert_eq!(delivered, 2);
    // From a handler, with a second emitter kind.
    assert_eq!(a.shout("news".into(), 7).await.unwrap(), 2);

    for sub in [&mut sub_a, &mut sub_b] {
        let first = within("first event", sub.recv()).await.unwrap();
        assert_eq!(first.topic, Topic::from("news"));
        assert_eq!(first.payload, TestEvent::Text("hello".into()));
        let second = within("second event", sub.recv()).await.unwrap();
        assert_eq!(second.payload, TestEvent::Value(7));
    }
    // The client on another topic got nothing: prove it after a round trip that would carry it.
    outsider.add(0, 0).await.unwrap();
    assert!(sub_out.try_recv().is_none());
}

#[tokio::test]
async fn an_event_emitted_by_a_handler_arrives_before_its_reply() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut sub = client.subscribe().await.unwrap();
    client.join("t".into()).await.unwrap();
    for value in 0..50 {
        client.shout("t".into(), value).await.unwrap();
        // Already here when the call returned.
        let event = sub.try_recv().expect("event before reply").unwrap();
        assert_eq!(event.payload, TestEvent::Value(value));
    }
}

#[tokio::test]
async fn unsubscribed_clients_stop_receiving() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut sub = client.subscribe().await.unwrap();
    client.join("t".into()).await.unwrap();
    client.leave("t".into()).await.unwrap();
    assert_eq!(
        server
            .emitter
            .emit(&Topic::from("t"), TestEvent::Value(1))
            .await
            .unwrap(),
        0
    );
    client.add(0, 0).await.unwrap();
    assert!(sub.try_recv().is_none());
}

#[tokio::test]
async fn the_notifier_reports_created_and_removed_exactly_once() {
    let mut server = TestServer::start().await;
    let mut notifier = server.notifier.take().unwrap();
    let clients: Vec<_> = futures_util::future::join_all((0..3).map(|_| server.client())).await;
    for client in &clients {
        client.join("lobby".into()).await.unwrap();
        // Subscribing twice is not a second subscription.
        client.join("lobby".into()).await.unwrap();
    }
    assert_eq!(
        within("Created", notifier.recv()).await,
        Some(TopicNotification::Created(Topic::from("lobby")))
    );
    assert_eq!(notifier.try_recv(), None, "Created is reported once");

    clients[0].leave("lobby".into()).await.unwrap();
    clients[1].leave("lobby".into()).await.unwrap();
    assert_eq!(
        notifier.try_recv(),
        None,
        "the topic still has a subscriber"
    );

    // The last subscriber disconnects instead of leaving.
    let mut clients = clients;
    let last = clients.pop().unwrap();
    drop(last);
    assert_eq!(
        within("Removed", notifier.recv()).await,
        Some(TopicNotification::Removed(Topic::from("lobby")))
    );
    within(
        "connections to end",
        server.stats.wait_for_connections(|n| n == 2),
    )
    .await;
    assert_eq!(notifier.try_recv(), None, "Removed is reported once");
}

#[tokio::test]
async fn a_server_has_one_topic_notifier() {
    #[rpc]
    trait Nothing {}
    #[rpc_handler]
    impl Nothing for NothingHandler {}
    let server = Server::new(
        ServerConfig::plaintext("127.0.0.1:0"),
        factory!(NothingHandler),
    );
    let _first = server.get_topic_notifier().unwrap();
    assert!(matches!(server.get_topic_notifier(), Err(NotifierTaken)));
}
