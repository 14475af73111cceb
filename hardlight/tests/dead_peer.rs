//! Keepalive against a dead peer: a TCP relay between client and server stops forwarding in both
//! directions without closing anything (no FIN, no RST, every packet lost), and each end with a short
//! keepalive finds out by itself within its idle timeout. The client fails its calls in flight and
//! `closed()` with 4009; the server drops the connection and goes on serving others. The end with a
//! long keepalive is told nothing, which shows the relay really is a black hole; and while the relay
//! still forwards, pings and pongs keep an idle connection alive on both ends.
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::relay::Relay;
use common::*;
use hardlight::wire::close;
use hardlight::*;

/// The short keepalive under test: ping after this much silence...
const INTERVAL: Duration = Duration::from_millis(100);
/// ...and give the peer up after this much.
const IDLE: Duration = Duration::from_secs(1);
/// A keepalive that cannot fire during a test.
const LONG_INTERVAL: Duration = Duration::from_secs(30);
const LONG_IDLE: Duration = Duration::from_secs(60);

/// The longest a detection may take after the cut: the idle timeout, then (on the server) the time
/// to hand the close frame to the socket, with seconds to spare for a loaded machine.
const DETECTION_BOUND: Duration = Duration::from_secs(5);

/// Asserts that `end` gave its peer up only after hearing nothing for the idle timeout: from the
/// moment the relay last began handing it bytes (nothing reached it after the cut) until `gave_up`,
/// an instant read once the detection was seen. Anything sooner was not the keepalive. The client
/// notes when it heard the server to the millisecond, rounded down, which the bound allows for.
fn assert_silent_for_the_idle_timeout(end: &str, last_forwarded: Instant, gave_up: Instant) {
    let silence = gave_up.saturating_duration_since(last_forwarded);
    assert!(
        silence >= IDLE - Duration::from_millis(1),
        "the {end} gave up after {silence:?} of silence: too soon for an idle timeout of {IDLE:?}"
    );
}

/// Awaits a detection, failing the test if it takes longer than [`DETECTION_BOUND`].
async fn detected<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(DETECTION_BOUND, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} was not detected within {DETECTION_BOUND:?} of the cut"),
    }
}

fn server_config(interval: Duration, idle: Duration) -> ServerConfig {
    ServerConfig::new_self_signed("127.0.0.1:0").keepalive(interval, idle)
}

/// Checks that the client gave the server up by itself: 4009 with its own reason (the server's
/// close, had it arrived, would say `nothing received for ...`).
fn assert_client_idle_timeout(error: &RpcError) {
    match error {
        RpcError::ConnectionClosed { code, reason, .. } => {
            assert_eq!(*code, Some(close::IDLE_TIMEOUT), "{reason}");
            assert!(
                reason.contains("nothing received from the server for 1s"),
                "{reason}"
            );
        }
        other => panic!("expected the client's idle timeout (4009), got {other:?}"),
    }
}

/// As [`assert_client_idle_timeout`], for what `closed()` says.
fn assert_closed_by_idle_timeout(error: &ClosedError) {
    match error {
        ClosedError::Ended(error) => assert_client_idle_timeout(error),
        other => panic!("expected the client's idle timeout (4009), got {other:?}"),
    }
}

#[tokio::test]
async fn the_client_detects_a_dead_route_and_fails_its_call_in_flight_with_4009() {
    // The server would wait a minute: only the client's keepalive can notice.
    let server = TestServer::with_config(server_config(LONG_INTERVAL, LONG_IDLE)).await;
    let relay = Relay::to(&server).await;
    let client = server
        .client_with(relay.client_config(&server).keepalive(INTERVAL, IDLE))
        .await;
    assert_eq!(relay.accepted(), 1);
    assert_eq!(within("a call", client.add(1, 2)).await.unwrap(), 3);

    // A call the server holds when the route dies.
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    server.ctx.wait_entered(1).await;
    relay.cut();

    let result = detected("the dead route (by the client)", call)
        .await
        .expect("the call's task panicked");
    let gave_up = Instant::now();
    match result {
        Err(CallError::Rpc(error)) => assert_client_idle_timeout(&error),
        other => panic!("expected the call to fail with 4009, got {other:?}"),
    }
    assert_silent_for_the_idle_timeout("client", relay.last_forwarded_to_client(), gave_up);
    assert_closed_by_idle_timeout(&within("closed()", client.closed()).await);
    assert!(!client.is_connected());
    match within("a call after the end", client.add(1, 1)).await {
        Err(CallError::Rpc(RpcError::NotConnected)) => {}
        other => panic!("expected NotConnected, got {other:?}"),
    }

    // Nothing reached the server, not even the client's close: it still holds the connection and
    // the call.
    assert_eq!(server.stats.connections(), 1);
    assert_eq!(server.stats.calls_in_flight(), 1);
}

#[tokio::test]
async fn the_server_detects_a_dead_route_and_drops_the_connection() {
    let server = TestServer::with_config(server_config(INTERVAL, IDLE)).await;
    let relay = Relay::to(&server).await;
    // The client would wait a minute: only the server's keepalive can notice.
    let client = server
        .client_with(
            relay
                .client_config(&server)
                .keepalive(LONG_INTERVAL, LONG_IDLE),
        )
        .await;
    assert_eq!(within("a call", client.add(1, 2)).await.unwrap(), 3);
    assert_eq!(server.stats.connections(), 1);

    relay.cut();
    detected(
        "the dead route (by the server)",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    assert_silent_for_the_idle_timeout("server", relay.last_forwarded_to_server(), Instant::now());
    assert_eq!(server.stats.calls_in_flight(), 0);

    // Neither the server's close nor its FIN got through: the client still believes it is
    // connected.
    assert!(client.is_connected());
    // The server goes on serving.
    let direct = server.client().await;
    assert_eq!(within("a direct call", direct.add(2, 2)).await.unwrap(), 4);
    assert_eq!(server.stats.connections(), 1);
}

#[tokio::test]
async fn both_ends_stay_up_while_the_route_lives_and_both_detect_its_death() {
    let server = TestServer::with_config(server_config(INTERVAL, IDLE)).await;
    let relay = Relay::to(&server).await;
    let client = server
        .client_with(relay.client_config(&server).keepalive(INTERVAL, IDLE))
        .await;
    assert_eq!(within("a call", client.add(1, 2)).await.unwrap(), 3);

    // Idle for several idle timeouts: pings and pongs through the relay keep both ends up.
    let dropped = tokio::time::timeout(3 * IDLE, async {
        tokio::select! {
            error = client.closed() => format!("the client gave up: {error:?}"),
            () = server.stats.wait_for_connections(|n| n == 0) => "the server gave up".to_owned(),
        }
    })
    .await;
    if let Ok(which) = dropped {
        panic!("an idle connection through a live relay was dropped: {which}");
    }
    assert!(client.is_connected());
    assert_eq!(within("a call", client.add(2, 3)).await.unwrap(), 5);

    relay.cut();
    let client_side = async {
        let error = client.closed().await;
        (error, Instant::now())
    };
    let server_side = async {
        server.stats.wait_for_connections(|n| n == 0).await;
        Instant::now()
    };
    let ((error, client_gave_up), server_gave_up) = detected(
        "the dead route (by both ends)",
        futures_util::future::join(client_side, server_side),
    )
    .await;
    assert_closed_by_idle_timeout(&error);
    assert_silent_for_the_idle_timeout("client", relay.last_forwarded_to_client(), client_gave_up);
    assert_silent_for_the_idle_timeout("server", relay.last_forwarded_to_server(), server_gave_up);
    assert!(!client.is_connected());
    assert_eq!(relay.accepted(), 1);
}
