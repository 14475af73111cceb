//! What clients can make the server keep for topics: subscriptions per connection, topic length,
//! and the topic notifier's queue when the application does not read it.
mod common;

use common::*;
use hardlight::*;

#[tokio::test]
async fn subscriptions_beyond_the_per_connection_limit_are_refused() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_topics_per_connection(3),
    )
    .await;
    let client = server.client().await;
    for topic in ["a", "b", "c", "d", "e"] {
        client.join(topic.to_owned()).await.unwrap();
    }
    assert_eq!(server.emitter.topic_count(), 3);
    let emitter = server.emitter.clone();
    let queued = |topic: &'static str| {
        let emitter = emitter.clone();
        async move { emitter.emit(&Topic::from(topic), TestEvent::Value(1)).await }
    };
    assert_eq!(queued("c").await.unwrap(), 1);
    assert_eq!(
        queued("d").await.unwrap(),
        0,
        "over the limit: not subscribed"
    );
    // Leaving one makes room for another.
    client.leave("a".to_owned()).await.unwrap();
    client.join("d".to_owned()).await.unwrap();
    assert_eq!(queued("d").await.unwrap(), 1);
    // Another connection has its own limit.
    let other = server.client().await;
    other.join("e".to_owned()).await.unwrap();
    assert_eq!(queued("e").await.unwrap(), 1);
}

#[tokio::test]
async fn topics_longer_than_the_limit_are_neither_subscribed_nor_emitted_to() {
    let server =
        TestServer::with_config(ServerConfig::new_self_signed("127.0.0.1:0").max_topic_len(16))
            .await;
    let client = server.client().await;
    let long = "x".repeat(17);
    client.join(long.clone()).await.unwrap();
    client.join("x".repeat(16)).await.unwrap();
    assert_eq!(server.emitter.topic_count(), 1);
    match server
        .emitter
        .emit(&Topic::from(long.as_str()), TestEvent::Value(1))
        .await
    {
        Err(EmitError::TopicTooLong(too_long)) => {
            assert_eq!((too_long.len, too_long.max), (17, 16));
            assert!(
                too_long.to_string().contains("topic of 17 bytes"),
                "{too_long}"
            );
        }
        other => panic!("expected TopicTooLong, got {other:?}"),
    }
}

#[tokio::test]
async fn the_default_topic_length_limit_is_1024_bytes() {
    let server = TestServer::start().await;
    let client = server.client().await;
    client.join("y".repeat(1025)).await.unwrap();
    assert_eq!(server.emitter.topic_count(), 0);
    client.join("y".repeat(1024)).await.unwrap();
    assert_eq!(server.emitter.topic_count(), 1);
}

#[tokio::test]
async fn an_unread_topic_notifier_holds_at_most_one_notification_per_topic() {
    let mut server = TestServer::start().await;
    let mut notifier = server.notifier.take().expect("notifier");
    let client = server.client().await;
    // A client that joins and leaves a room over and over, while nobody reads the notifier.
    for _ in 0..500 {
        client.join("room".to_owned()).await.unwrap();
        client.leave("room".to_owned()).await.unwrap();
    }
    client.join("kept".to_owned()).await.unwrap();
    client.join("room".to_owned()).await.unwrap();
    let mut waiting = Vec::new();
    while let Some(notification) = notifier.try_recv() {
        waiting.push(notification);
    }
    assert_eq!(
        waiting,
        vec![
            TopicNotification::Created(Topic::from("kept")),
            TopicNotification::Created(Topic::from("room")),
        ]
    );
    // Read from here on, changes still come one by one, alternating per topic.
    client.leave("room".to_owned()).await.unwrap();
    assert_eq!(
        within("the removal", notifier.recv()).await,
        Some(TopicNotification::Removed(Topic::from("room")))
    );
}
