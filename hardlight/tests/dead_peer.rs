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

/// The earliest a detection may come after the cut. Before it, the peer was heard at least every
/// `INTERVAL` (its answer to a ping, one round trip after the ping), so its silence at the cut is at
/// most `INTERVAL` plus a round trip and some timer lateness, for which `SLACK` allows. Anything
/// sooner was not the keepalive.
fn earliest_detection() -> Duration {
    const SLACK: Duration = Duration::from_millis(200);
    IDLE - INTERVAL - SLACK
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
fn assert_client_idle_timeout(error: &Error) {
    match error {
        Error::ConnectionClosed { code, reason } => {
            assert_eq!(*code, Some(close::IDLE_TIMEOUT), "{reason}");
            assert!(
                reason.contains("nothing received from the server for 1s"),
                "{reason}"
            );
        }
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
    let cut = Instant::now();

    let result = detected("the dead route (by the client)", call)
        .await
        .expect("the call's task panicked");
    let elapsed = cut.elapsed();
    match result {
        Err(CallError::Rpc(error)) => assert_client_idle_timeout(&error),
        other => panic!("expected the call to fail with 4009, got {other:?}"),
    }
    assert!(
        elapsed >= earliest_detection(),
        "the call failed {elapsed:?} after the cut: too soon for an idle timeout of {IDLE:?}"
    );
    assert_client_idle_timeout(&within("closed()", client.closed()).await);
    assert!(!client.is_connected());
    match within("a call after the end", client.add(1, 1)).await {
        Err(CallError::Rpc(Error::NotConnected)) => {}
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
    let cut = Instant::now();
    detected(
        "the dead route (by the server)",
        server.stats.wait_for_connections(|n| n == 0),
    )
    .await;
    let elapsed = cut.elapsed();
    assert!(
        elapsed >= earliest_detection(),
        "the server dropped the connection {elapsed:?} after the cut: too soon for an idle \
         timeout of {IDLE:?}"
    );
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
    let cut = Instant::now();
    let client_side = async {
        let error = client.closed().await;
        (error, cut.elapsed())
    };
    let server_side = async {
        server.stats.wait_for_connections(|n| n == 0).await;
        cut.elapsed()
    };
    let ((error, client_elapsed), server_elapsed) = detected(
        "the dead route (by both ends)",
        futures_util::future::join(client_side, server_side),
    )
    .await;
    assert_client_idle_timeout(&error);
    for (end, elapsed) in [("client", client_elapsed), ("server", server_elapsed)] {
        assert!(
            elapsed >= earliest_detection(),
            "the {end} gave up {elapsed:?} after the cut: too soon for an idle timeout of {IDLE:?}"
        );
    }
    assert!(!client.is_connected());
    assert_eq!(relay.accepted(), 1);
}
