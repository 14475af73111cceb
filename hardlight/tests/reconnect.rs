//! The client's connection lifecycle over real sockets: connection events, automatic reconnect with
//! backoff after a server restart or crash, a fresh state after it, calls made while disconnected
//! (waiting or failing, by configuration), giving up on a refusal, and a user's disconnect.

mod common;

use std::time::Duration;

use common::*;
use hardlight::client::{ConnectionEvent, ConnectionEvents, Reconnect, WhenDisconnected};
use hardlight::*;

/// Fast attempts, so the tests do not wait on the default backoff.
fn quick_reconnect() -> Reconnect {
    Reconnect::default().delays(Duration::from_millis(10), Duration::from_millis(100))
}

async fn plaintext_server() -> TestServer {
    TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await
}

/// A server on `port`, where one may have run before and another may run after.
async fn plaintext_server_on(port: &HeldPort) -> TestServer {
    TestServer::with_config(ServerConfig::plaintext(port.address())).await
}

/// A client connected with `config`, and its connection events from before it connected (the
/// `Connected` already read).
async fn connected(config: ClientConfig) -> (TestClient, ConnectionEvents) {
    let client = TestClient::new(config);
    let mut events = client.connection_events();
    within("connect", client.connect()).await.unwrap();
    match within("the connect event", events.recv()).await {
        Ok(ConnectionEvent::Connected) => {}
        other => panic!("expected Connected, got {other:?}"),
    }
    (client, events)
}

/// Shuts `server` down gracefully and waits for the client to report the disconnect.
async fn stop(server: &mut TestServer, events: &mut ConnectionEvents) {
    server.shutdown.shutdown(Duration::from_secs(5));
    within("the server to stop", server.stopped())
        .await
        .unwrap();
    assert!(matches!(
        next_settled(events).await,
        ConnectionEvent::Disconnected { .. }
    ));
}

/// The next event that is not a `Reconnecting` (those come in any number while the server is down).
async fn next_settled(events: &mut ConnectionEvents) -> ConnectionEvent {
    loop {
        match within("a connection event", events.recv()).await {
            Ok(ConnectionEvent::Reconnecting { .. }) => continue,
            Ok(event) => return event,
            Err(e) => panic!("connection events ended: {e}"),
        }
    }
}

#[tokio::test]
async fn the_client_reconnects_after_a_restart_with_a_fresh_state() {
    let port = HeldPort::new();
    let mut server = plaintext_server_on(&port).await;
    let (client, mut events) = connected(server.client_config().reconnect(quick_reconnect())).await;
    client.bump().await.unwrap();
    client.bump().await.unwrap();
    assert_eq!(client.state().await.unwrap().counter, 2);

    server.shutdown.shutdown(Duration::from_secs(5));
    within("the server to stop", server.stopped())
        .await
        .unwrap();
    match within("the disconnect", events.recv()).await.unwrap() {
        ConnectionEvent::Disconnected {
            code,
            reason,
            clean,
        } => {
            assert_eq!(code, Some(1001), "{reason}");
            assert!(clean, "a graceful shutdown closes with a handshake");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Attempts fail while nothing listens, each announced with its number.
    for expected in 1..=3 {
        match within("a reconnect attempt", events.recv()).await.unwrap() {
            ConnectionEvent::Reconnecting { attempt, delay } => {
                assert_eq!(attempt, expected);
                assert!(delay <= Duration::from_millis(100));
            }
            other => panic!("expected Reconnecting, got {other:?}"),
        }
    }

    let _server = plaintext_server_on(&port).await;
    assert!(matches!(
        next_settled(&mut events).await,
        ConnectionEvent::Connected
    ));
    // A new connection: the state is the new server's snapshot, not the old one's.
    assert_eq!(client.state().await.unwrap().counter, 0);
    assert_eq!(client.bump().await.unwrap(), 1);
}

#[tokio::test]
async fn a_lost_connection_is_reported_unclean_and_subscriptions_carry_on() {
    let port = HeldPort::new();
    let server = plaintext_server_on(&port).await;
    let (client, mut events) = connected(server.client_config().reconnect(quick_reconnect())).await;
    let mut subscription = client.subscribe().await.unwrap();
    client.join("news".into()).await.unwrap();
    client.shout("news".into(), 1).await.unwrap();
    let first = within("the first event", subscription.recv())
        .await
        .unwrap();
    assert_eq!(first.payload, TestEvent::Value(1));

    // A crash: the sockets close with no close frame.
    server.kill();
    drop(server);
    let disconnected = next_settled(&mut events).await;
    let ConnectionEvent::Disconnected { clean, .. } = disconnected else {
        panic!("expected Disconnected, got {disconnected:?}");
    };
    assert!(!clean, "a crash is not a clean close");

    let _server = plaintext_server_on(&port).await;
    assert!(matches!(
        next_settled(&mut events).await,
        ConnectionEvent::Connected
    ));
    // The new connection subscribes again (as a connect hook would); the old subscription
    // receives its events.
    client.join("news".into()).await.unwrap();
    client.shout("news".into(), 2).await.unwrap();
    let second = within("an event after the reconnect", subscription.recv())
        .await
        .unwrap();
    assert_eq!(second.payload, TestEvent::Value(2));
}

#[tokio::test]
async fn a_call_made_while_reconnecting_waits_for_the_connection() {
    let port = HeldPort::new();
    let mut server = plaintext_server_on(&port).await;
    let (client, mut events) = connected(server.client_config().reconnect(quick_reconnect())).await;
    stop(&mut server, &mut events).await;
    assert!(!client.is_connected());

    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.add(2, 3).await }
    });
    // The call is still waiting once the client has made another attempt.
    assert!(matches!(
        within("an attempt", events.recv()).await.unwrap(),
        ConnectionEvent::Reconnecting { .. }
    ));
    assert!(!waiting.is_finished());

    let _server = plaintext_server_on(&port).await;
    let sum = within("the waiting call", waiting).await.unwrap().unwrap();
    assert_eq!(sum, 5);
}

#[tokio::test]
async fn a_waiting_call_fails_at_its_deadline() {
    let mut server = plaintext_server().await;
    let (client, mut events) = connected(server.client_config().reconnect(quick_reconnect())).await;
    stop(&mut server, &mut events).await;
    let started = tokio::time::Instant::now();
    let result = within(
        "the deadline",
        client.with_timeout(Duration::from_millis(150)).add(1, 1),
    )
    .await;
    match result {
        Err(CallError::Rpc(RpcError::Timeout(_))) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn calls_fail_at_once_while_reconnecting_when_configured_to() {
    let mut server = plaintext_server().await;
    let (client, mut events) = connected(
        server
            .client_config()
            .reconnect(quick_reconnect())
            .when_disconnected(WhenDisconnected::Fail),
    )
    .await;
    stop(&mut server, &mut events).await;
    // No deadline: only failing at once can end this call.
    match within("the call to fail", client.add(1, 1)).await {
        Err(CallError::Rpc(RpcError::NotConnected)) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }
}

/// Another service, so that a server of it refuses clients of `Test` at the handshake.
#[rpc]
trait Other {
    async fn ping(&self) -> HandlerResult<()>;
}

#[rpc_handler]
impl Other for OtherHandler {
    async fn ping(&self) -> HandlerResult<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_refusal_ends_the_attempts_and_fails_the_waiting_calls() {
    let port = HeldPort::new();
    let mut server = plaintext_server_on(&port).await;
    let (client, mut events) = connected(server.client_config().reconnect(quick_reconnect())).await;
    stop(&mut server, &mut events).await;

    // The port now serves another schema: no attempt can succeed.
    let _other = Served::spawn(
        ServerConfig::plaintext(port.address()),
        factory!(OtherHandler),
    )
    .await;
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.add(2, 3).await }
    });
    match next_settled(&mut events).await {
        ConnectionEvent::GaveUp { error, attempts } => {
            assert!(attempts >= 1);
            assert!(
                matches!(error, ConnectError::HandshakeRefused { .. }),
                "expected a handshake refusal, got {error:?}"
            );
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    match within("the waiting call", waiting).await.unwrap() {
        Err(CallError::Rpc(RpcError::NotConnected)) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }
    assert!(!client.is_connected());
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    let mut server = plaintext_server().await;
    let (client, mut events) = connected(
        server
            .client_config()
            .reconnect(quick_reconnect().max_attempts(3)),
    )
    .await;
    server.shutdown.shutdown(Duration::from_secs(5));
    within("the server to stop", server.stopped())
        .await
        .unwrap();
    let mut attempts = 0;
    loop {
        match within("a connection event", events.recv()).await.unwrap() {
            ConnectionEvent::Disconnected { .. } => {}
            ConnectionEvent::Reconnecting { attempt, .. } => attempts = attempt,
            ConnectionEvent::GaveUp { attempts: made, .. } => {
                assert_eq!((attempts, made), (3, 3));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!client.is_connected());
}

#[tokio::test]
async fn a_disconnect_by_the_user_is_clean_and_not_followed_by_attempts() {
    let server = plaintext_server().await;
    let (client, mut events) = connected(server.client_config().reconnect(quick_reconnect())).await;
    client.disconnect().await;
    match within("the disconnect", events.recv()).await.unwrap() {
        ConnectionEvent::Disconnected { code, clean, .. } => {
            assert_eq!(code, Some(1000));
            assert!(clean);
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // The server sees the connection go, and the client makes no attempt: the next event is the
    // one a new connect makes.
    within(
        "the server to drop the connection",
        server.stats.wait_for_connections(|c| c == 0),
    )
    .await;
    within("connect again", client.connect()).await.unwrap();
    assert!(matches!(
        events.recv().await.unwrap(),
        ConnectionEvent::Connected
    ));
}

#[tokio::test]
async fn without_reconnect_a_subscription_ends_with_the_connection() {
    let server = plaintext_server().await;
    let (client, mut events) = connected(server.client_config()).await;
    let mut subscription = client.subscribe().await.unwrap();
    server.kill();
    assert!(matches!(
        next_settled(&mut events).await,
        ConnectionEvent::Disconnected { clean: false, .. }
    ));
    match within("the subscription to end", subscription.recv()).await {
        Err(RecvError::Closed) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(
        subscription.try_recv(),
        Some(Err(RecvError::Closed))
    ));
    assert!(matches!(
        client.add(1, 1).await,
        Err(CallError::Rpc(RpcError::NotConnected))
    ));
}

#[tokio::test]
async fn rejected_credentials_end_the_attempts_at_once() {
    let port = HeldPort::new();
    let mut server = plaintext_server_on(&port).await;
    let (_client, mut events) = connected(
        server
            .client_config()
            .auth_token("old-token")
            .reconnect(quick_reconnect()),
    )
    .await;
    stop(&mut server, &mut events).await;

    // The restarted server no longer accepts the token.
    let _server = TestServer::with_config(ServerConfig::plaintext(port.address()).authenticate(
        |_request: hardlight::server::UpgradeRequest| async {
            Err(hardlight::server::Rejection::new("token expired"))
        },
    ))
    .await;
    match next_settled(&mut events).await {
        ConnectionEvent::GaveUp { error, .. } => match error {
            ConnectError::Unauthorized { status, reason } => {
                assert_eq!(status, 401);
                assert!(reason.contains("token expired"), "{reason}");
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        },
        other => panic!("expected GaveUp, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_replaced_by_a_newer_connection_of_its_identity_does_not_reconnect() {
    let server = TestServer::with_config(
        ServerConfig::plaintext("127.0.0.1:0")
            .authenticate(|request: hardlight::server::UpgradeRequest| async move {
                let token = request
                    .token()
                    .ok_or_else(|| hardlight::server::Rejection::new("no token"))?;
                Ok(hardlight::server::Identity::new(token))
            })
            .one_connection_per_identity(hardlight::server::IdentityPolicy::ReplaceOld),
    )
    .await;
    let config = server
        .client_config()
        .auth_token("ada")
        .reconnect(quick_reconnect());
    let (old, mut old_events) = connected(config.clone()).await;
    let (new, _new_events) = connected(config).await;
    match within("the old client's disconnect", old_events.recv())
        .await
        .unwrap()
    {
        ConnectionEvent::Disconnected { code, .. } => {
            assert_eq!(code, Some(hardlight::wire::close::REPLACED));
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Not reconnecting: a call (which would wait for a reconnect) fails at once, and the newer
    // connection keeps working.
    assert!(matches!(
        within("the old client's call", old.add(1, 1)).await,
        Err(CallError::Rpc(RpcError::NotConnected))
    ));
    assert_eq!(new.add(1, 1).await.unwrap(), 2);
}
