//! Graceful shutdown: no new connections, calls in flight finish within the grace period, then
//! every client sees the connection close with 1001.
mod common;

use std::time::Duration;

use common::*;
use hardlight::wire::close;
use hardlight::*;

#[tokio::test]
async fn calls_in_flight_finish_then_clients_see_going_away() {
    let mut server = TestServer::start().await;
    let client = server.client().await;
    let other = server.client().await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;

    server.shutdown.shutdown(Duration::from_secs(30));
    assert!(server.shutdown.is_requested());
    // The idle connection closes at once with 1001; the busy one waits for its call.
    within(
        "the idle connection to close",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    match within("the idle client to see the close", other.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, .. }) => {
            assert_eq!(code, Some(close::GOING_AWAY))
        }
        unexpected => panic!("expected a 1001 close, got {unexpected:?}"),
    }
    assert!(!other.is_connected());
    match other.add(1, 1).await {
        Err(CallError::Rpc(RpcError::NotConnected)) => {}
        unexpected => panic!("expected NotConnected, got {unexpected:?}"),
    }
    // No new connection is accepted.
    let late = TestClient::new(server.client_config());
    assert!(within("a refused connect", late.connect()).await.is_err());

    // The call in flight completes normally, then the last connection closes and `run` returns.
    server.ctx.gate.add_permits(1);
    assert_eq!(within("the gated call", call).await.unwrap().unwrap(), 1);
    within("run to return", server.stopped()).await.unwrap();
    assert_eq!(server.stats.connections(), 0);
    // The client saw a clean 1001 close.
    match within("the client to see the close", client.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, reason, .. }) => {
            assert_eq!(code, Some(close::GOING_AWAY));
            assert_eq!(reason, "server shutting down");
        }
        unexpected => panic!("expected a 1001 close, got {unexpected:?}"),
    }
}

#[tokio::test]
async fn calls_still_running_at_the_deadline_fail_with_going_away() {
    let mut server = TestServer::start().await;
    let client = server.client().await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;

    server.shutdown.shutdown(Duration::from_millis(200));
    // Nobody opens the gate.
    match within("the cut-off call", call).await.unwrap() {
        Err(CallError::Rpc(RpcError::ConnectionClosed { code, reason, .. })) => {
            assert_eq!(code, Some(close::GOING_AWAY));
            assert!(reason.contains("stopped"), "{reason}");
        }
        unexpected => panic!("expected a 1001 close, got {unexpected:?}"),
    }
    within("run to return", server.stopped()).await.unwrap();
    assert_eq!(server.stats.connections(), 0);
    assert_eq!(server.stats.calls_in_flight(), 0);
}
