//! Deadlines: a client-wide default and a per-handle override; a call past its deadline fails with
//! `RpcError::Timeout`, the server stops it, and the handler can read how long it has.
mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{
    ReplyStatus, ServerFrame, decode_server, encode_call_within,
};
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;

/// A service whose one method reports the call's deadline as the handler sees it.
#[rpc]
trait Clock {
    /// Milliseconds left before the call's deadline, if it has one.
    async fn left_ms(&self) -> HandlerResult<Option<u64>>;
}

#[rpc_handler]
impl Clock for ClockHandler {
    async fn left_ms(&self) -> HandlerResult<Option<u64>> {
        Ok(hardlight::server::call_deadline().map(|deadline| {
            deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_millis() as u64
        }))
    }
}

/// Waits, with round trips rather than sleeps, until the server runs no call.
async fn until_no_call_runs(server: &TestServer, client: &TestClient) {
    within("the server to stop the call", async {
        while server.stats.calls_in_flight() > 0 {
            client.add(0, 0).await.unwrap();
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_client_wide_deadline_fails_the_call_and_the_server_stops_it() {
    let server = TestServer::start().await;
    let client = TestClient::new(
        server
            .client_config()
            .call_timeout(Duration::from_millis(200)),
    );
    within("connect", client.connect()).await.unwrap();
    // Nobody opens the gate. Client and server give up at about the same time: the error is the
    // client's own ("no reply within 200ms") or the server's ("did not finish within 199ms").
    match within("the call to time out", client.gate()).await {
        Err(CallError::Rpc(RpcError::Timeout(message))) => {
            assert!(message.contains("within"), "{message}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    until_no_call_runs(&server, &client).await;
    assert!(client.is_connected());
}

#[tokio::test]
async fn a_handle_can_override_the_deadline() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let hurried = client.with_timeout(Duration::from_millis(100));
    assert!(matches!(
        within("the hurried call", hurried.gate()).await,
        Err(CallError::Rpc(RpcError::Timeout(_)))
    ));
    // The original handle has no deadline; both share the connection.
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    assert_eq!(hurried.add(2, 2).await.unwrap(), 4);
    until_no_call_runs(&server, &client).await;
}

#[tokio::test]
async fn the_deadline_travels_to_the_handler() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0");
    let fingerprint = config.tls().unwrap().fingerprint();
    let bound = Server::new(config, factory!(ClockHandler))
        .bind()
        .await
        .unwrap();
    let address = format!("localhost:{}", bound.local_addr().unwrap().port());
    let task = tokio::spawn(bound.run());
    let client = ClockClient::new(ClientConfig::pinned(address, fingerprint));
    within("connect", client.connect()).await.unwrap();

    assert_eq!(client.left_ms().await.unwrap(), None);
    let left = client
        .with_timeout(Duration::from_secs(5))
        .left_ms()
        .await
        .unwrap()
        .expect("a deadline");
    assert!(left > 3_000 && left <= 5_000, "{left} ms left");
    task.abort();
}

#[tokio::test]
async fn a_raw_call_with_a_budget_is_answered_timed_out() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // `gate` (method 2) with 50 ms to live.
    send_binary(
        &mut ws,
        encode_call_within(3, 2, Some(50), None, &()).unwrap(),
    )
    .await;
    loop {
        match within("the reply", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => {
                if let ServerFrame::Reply {
                    call_id, status, ..
                } = decode_server(&bytes).unwrap()
                {
                    assert_eq!((call_id, status), (3, ReplyStatus::TimedOut));
                    break;
                }
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

/// `Duration::MAX` is a natural way to say "never": every timeout of both ends takes it, and
/// computing a deadline from it (`Instant + Duration`, which panics past the clock's range) must
/// not bring down a connection, a call or the shutdown.
#[tokio::test]
async fn timeouts_of_duration_max_mean_never_and_panic_nowhere() {
    let mut server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .handshake_timeout(Duration::MAX)
            .call_timeout(Duration::MAX)
            .keepalive(Duration::MAX, Duration::MAX)
            .connect_hook_timeout(Duration::MAX)
            .disconnect_hook_timeout(Duration::MAX)
            .message_timeout(Duration::MAX)
            .first_byte_timeout(Duration::MAX),
    )
    .await;
    let client = server
        .client_with(
            server
                .client_config()
                .connect_timeout(Duration::MAX)
                .call_timeout(Duration::MAX)
                .keepalive(Duration::MAX, Duration::MAX),
        )
        .await;
    assert_eq!(within("a call", client.add(1, 2)).await.unwrap(), 3);
    let endless = client.with_timeout(Duration::MAX);
    assert_eq!(within("a call", endless.add(2, 2)).await.unwrap(), 4);

    // An endless grace period: with no call running, the server closes everything at once.
    server.shutdown.shutdown(Duration::MAX);
    within("the server to stop", server.stopped())
        .await
        .expect("a graceful stop");
    within("the client to see the close", client.closed()).await;
}
