//! One server hosting two `#[rpc]` traits (`Server::service`): each client reaches the service its
//! schema names, on the same address, and both share the server's topics.
mod common;

use common::*;
use hardlight::wire::close;
use hardlight::*;

/// A second service, with its own state, sharing the test service's event type.
#[rpc(state = LobbyState, events = TestEvent)]
trait Lobby {
    /// Subscribes this connection (a `Lobby` one) to `topic`.
    async fn enter(&self, topic: String) -> HandlerResult<()>;
    /// Emits `TestEvent::Text(text)` to `topic`.
    async fn announce(&self, topic: String, text: String) -> HandlerResult<usize>;
}

#[connection_state]
struct LobbyState {
    rooms: Vec<String>,
}

#[rpc_handler]
impl Lobby for LobbyHandler {
    async fn enter(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(topic.as_str()));
        self.state.write().await.rooms.push(topic);
        Ok(())
    }

    async fn announce(&self, topic: String, text: String) -> HandlerResult<usize> {
        Ok(self
            .events
            .emit(&Topic::from(topic), TestEvent::Text(text))
            .await?)
    }
}

/// A third service, with an event type of its own.
#[rpc(events = Notice)]
trait Board {
    /// Subscribes this connection (a `Board` one) to `topic`.
    async fn watch(&self, topic: String) -> HandlerResult<()>;
    /// Emits `Notice { text }` to `topic` with the handler's typed emitter.
    async fn post(&self, topic: String, text: String) -> HandlerResult<usize>;
    /// Emits `TestEvent::Text(text)` to `topic`, for `Test`'s clients: not `Board`'s event type, so
    /// through `untyped()`.
    async fn relay(&self, topic: String, text: String) -> HandlerResult<usize>;
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
struct Notice {
    text: String,
}

#[rpc_handler]
impl Board for BoardHandler {
    async fn watch(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(topic));
        Ok(())
    }

    async fn post(&self, topic: String, text: String) -> HandlerResult<usize> {
        Ok(self
            .events
            .emit(&Topic::from(topic), Notice { text })
            .await?)
    }

    async fn relay(&self, topic: String, text: String) -> HandlerResult<usize> {
        let untyped = self.events.untyped();
        Ok(untyped
            .emit(&Topic::from(topic), TestEvent::Text(text))
            .await?)
    }
}

async fn two_service_server() -> TestServer {
    TestServer::hosting(ServerConfig::new_self_signed("127.0.0.1:0"), |server| {
        server.service(factory!(LobbyHandler))
    })
    .await
}

async fn lobby_client(server: &TestServer) -> LobbyClient {
    let client = LobbyClient::new(server.client_config());
    within("lobby connect", client.connect()).await.unwrap();
    client
}

#[tokio::test]
async fn each_client_reaches_the_service_its_schema_names() {
    let server = two_service_server().await;
    let test = server.client().await;
    let lobby = lobby_client(&server).await;

    assert_eq!(test.add(2, 3).await.unwrap(), 5);
    lobby.enter("hall".into()).await.unwrap();
    test.set_name("ada".into()).await.unwrap();

    // Each connection has its own service's state, synced to its own client.
    assert_eq!(lobby.state().await.unwrap().rooms, vec!["hall".to_owned()]);
    assert_eq!(test.state().await.unwrap().name, "ada");
    // Both are the server's connections.
    assert_eq!(server.stats.connections(), 2);
}

#[tokio::test]
async fn handlers_of_either_trait_share_the_servers_topics() {
    let mut server = two_service_server().await;
    let mut notifier = server.notifier.take().unwrap();
    let test = server.client().await;
    let lobby = lobby_client(&server).await;
    let mut test_events = test.subscribe().await.unwrap();
    let mut lobby_events = lobby.subscribe().await.unwrap();

    // A Lobby handler subscribes its connection; then a Test handler subscribes its own.
    lobby.enter("room".into()).await.unwrap();
    test.join("room".into()).await.unwrap();
    // One topic, created once, whichever service's handlers subscribe to it.
    assert_eq!(
        within("created", notifier.recv()).await,
        Some(TopicNotification::Created(Topic::from("room")))
    );

    // An emit by a handler of one trait reaches the subscribers of both, in order.
    assert_eq!(test.shout("room".into(), 7).await.unwrap(), 2);
    assert_eq!(
        lobby
            .announce("room".into(), "welcome".into())
            .await
            .unwrap(),
        2
    );
    // And so does an emitter outside any handler.
    let delivered = server
        .emitter
        .emit(&Topic::from("room"), TestEvent::Value(8))
        .await
        .unwrap();
    assert_eq!(delivered, 2);

    for events in [&mut test_events, &mut lobby_events] {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(within("event", events.recv()).await.unwrap().payload);
        }
        assert_eq!(
            got,
            vec![
                TestEvent::Value(7),
                TestEvent::Text("welcome".into()),
                TestEvent::Value(8)
            ]
        );
    }

    // The topic ends when its last subscriber, of either service, leaves.
    test.leave("room".into()).await.unwrap();
    lobby.disconnect().await;
    assert_eq!(
        within("removed", notifier.recv()).await,
        Some(TopicNotification::Removed(Topic::from("room")))
    );
    assert_eq!(server.emitter.topic_count(), 0);
}

#[tokio::test]
async fn a_schema_the_server_does_not_host_is_refused_naming_those_it_does() {
    let server = two_service_server().await;
    let test = hardlight::fingerprint::<dyn Test>();
    let lobby = hardlight::fingerprint::<dyn Lobby>();
    let offer = hardlight::__private::wire::handshake::client_offer(0x00de_c0de, None);
    let offer: Vec<&str> = offer.iter().map(String::as_str).collect();
    let mut ws = within("upgrade", raw_connect(server.port, &offer))
        .await
        .expect("upgrade completes so that the close can be read");
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::SCHEMA_MISMATCH);
    assert!(reason.contains("0000000000dec0de"), "{reason}");
    assert!(reason.contains(&format!("{test:016x}")), "{reason}");
    assert!(reason.contains(&format!("{lobby:016x}")), "{reason}");

    // The server goes on serving both.
    assert_eq!(server.client().await.add(1, 1).await.unwrap(), 2);
    lobby_client(&server).await.enter("x".into()).await.unwrap();
}

#[tokio::test]
async fn on_a_topic_shared_by_services_of_different_event_types_each_client_gets_its_own_type() {
    let server = TestServer::hosting(ServerConfig::new_self_signed("127.0.0.1:0"), |server| {
        server.service(factory!(BoardHandler))
    })
    .await;
    let test = server.client().await;
    let board = BoardClient::new(server.client_config());
    within("board connect", board.connect()).await.unwrap();
    let mut test_events = test.subscribe().await.unwrap();
    let mut board_events = board.subscribe().await.unwrap();
    test.join("hall".into()).await.unwrap();
    board.watch("hall".into()).await.unwrap();

    // A notice reaches both connections: the Board client decodes it; the Test client cannot
    // (it is no `TestEvent`) and drops it.
    assert_eq!(board.post("hall".into(), "hi".into()).await.unwrap(), 2);
    // A `TestEvent` sent through the untyped emitter of a Board handler reaches the Test client.
    assert_eq!(board.relay("hall".into(), "psst".into()).await.unwrap(), 2);
    assert_eq!(
        within("notice", board_events.recv()).await.unwrap().payload,
        Notice { text: "hi".into() }
    );
    // The first event the Test client sees is the relayed one: the notice was dropped.
    assert_eq!(
        within("relayed", test_events.recv()).await.unwrap().payload,
        TestEvent::Text("psst".into())
    );
}

#[test]
fn a_one_service_servers_emitter_publishes_its_event_type_a_shared_servers_any() {
    let config = || ServerConfig::new_self_signed("127.0.0.1:0");
    let one = Server::new(config(), factory!(BoardHandler));
    let _: EventEmitter<Notice> = one.get_event_emitter();
    let shared = Server::new(config(), factory!(BoardHandler)).service(factory!(LobbyHandler));
    let any: EventEmitter = shared.get_event_emitter();
    let _: EventEmitter<TestEvent> = any.typed::<TestEvent>();
}

#[test]
fn lists_the_services_it_hosts() {
    let server = Server::new(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(TestHandler, Ctx::new("c")),
    )
    .service(factory!(LobbyHandler));
    assert_eq!(server.service_names(), ["Test", "Lobby"]);
}

#[test]
#[should_panic(expected = "host each #[rpc] trait once")]
fn hosting_one_trait_twice_is_refused_at_startup() {
    let _ = Server::new(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(LobbyHandler),
    )
    .service(factory!(LobbyHandler));
}
