//! The server's configurable limits: connections, connection rate per address, browser origins,
//! call rate, call duration, and the keepalive on both ends.
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use hardlight::wire::close;
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[tokio::test]
async fn beyond_max_connections_new_ones_get_503_and_the_others_are_unaffected() {
    let server =
        TestServer::with_config(ServerConfig::new_self_signed("127.0.0.1:0").max_connections(2))
            .await;
    let first = server.client().await;
    let second = server.client().await;

    match refused(TestClient::new(server.client_config()).connect()).await {
        ConnectError::HandshakeRefused { code, reason } => {
            assert_eq!(code, 503);
            assert!(reason.contains("limit of 2 connections"), "{reason}");
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    assert_eq!(server.stats.connections_refused(), 1);
    // The connected ones go on.
    assert_eq!(first.add(1, 2).await.unwrap(), 3);
    assert_eq!(second.add(2, 2).await.unwrap(), 4);

    // Room again once one leaves.
    first.disconnect().await;
    within(
        "the first connection to end",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    let third = server.client().await;
    assert_eq!(third.add(3, 3).await.unwrap(), 6);
}

#[tokio::test]
async fn new_connections_per_address_are_rate_limited_with_429() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .connection_rate_limit(RateLimit::per_second(1).burst(2)),
    )
    .await;
    let a = server.client().await;
    let _b = server.client().await;
    match refused(TestClient::new(server.client_config()).connect()).await {
        ConnectError::HandshakeRefused { code, .. } => assert_eq!(code, 429),
        other => panic!("expected a 429 refusal, got {other:?}"),
    }
    assert_eq!(server.stats.connections_refused(), 1);
    assert_eq!(a.add(1, 1).await.unwrap(), 2);
}

/// An upgrade request with the test service's offer and, maybe, an `Origin` header.
async fn connect_from(port: u16, origin: Option<&str>) -> Result<(), String> {
    let mut request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .unwrap();
    let offer = test_offer(None).join(", ");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&offer).unwrap(),
    );
    if let Some(origin) = origin {
        headers.insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, _)) => {
            // Served: the first message is HELLO.
            match within("HELLO", ws.next()).await {
                Some(Ok(Message::Binary(_))) => Ok(()),
                other => Err(format!("expected HELLO, got {other:?}")),
            }
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16().to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn only_allowed_browser_origins_are_served() {
    let server = TestServer::with_config(
        ServerConfig::plaintext("127.0.0.1:0")
            .allowed_origins(["https://app.example.com", "http://localhost:3000/"]),
    )
    .await;
    let port = server.port;
    assert_eq!(
        connect_from(port, Some("https://evil.example.net")).await,
        Err("403".to_owned())
    );
    assert_eq!(
        connect_from(port, Some("https://app.example.com.evil.net")).await,
        Err("403".to_owned())
    );
    assert_eq!(
        connect_from(port, Some("https://APP.example.com")).await,
        Ok(())
    );
    assert_eq!(
        connect_from(port, Some("http://localhost:3000")).await,
        Ok(())
    );
    // Native clients send no Origin.
    assert_eq!(connect_from(port, None).await, Ok(()));
}

#[tokio::test]
async fn calls_beyond_the_rate_wait_and_none_is_lost() {
    // 5 at once, then 50 per second: 30 calls take at least (30 - 5) / 50 s = 0.5 s.
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .call_rate_limit(RateLimit::per_second(50).burst(5)),
    )
    .await;
    let client = server.client().await;
    let started = Instant::now();
    let calls = (0..30u32).map(|i| client.add(i, 1));
    let results = within("30 throttled calls", futures_util::future::join_all(calls)).await;
    let elapsed = started.elapsed();
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result.unwrap(), i as u32 + 1);
    }
    assert!(
        elapsed >= Duration::from_millis(450),
        "30 calls at 50/s after a burst of 5 took only {elapsed:?}"
    );
}

#[tokio::test]
async fn each_connection_has_its_own_call_rate_bucket() {
    // A burst of 30, then one call a second: had the connections shared a bucket, the bystander's
    // 30 calls after the client's would need 30 s, far longer than any wait allows.
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .call_rate_limit(RateLimit::per_second(1).burst(30)),
    )
    .await;
    let client = server.client().await;
    let bystander = server.client().await;
    let calls = (0..30u32).map(|i| client.add(i, 1));
    for result in within("the client's burst", futures_util::future::join_all(calls)).await {
        result.unwrap();
    }
    let calls = (0..30u32).map(|i| bystander.add(i, 1));
    for result in within(
        "the bystander's burst",
        futures_util::future::join_all(calls),
    )
    .await
    {
        result.unwrap();
    }
}

#[tokio::test]
async fn a_call_that_never_returns_is_stopped_at_the_call_timeout() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").call_timeout(Duration::from_millis(200)),
    )
    .await;
    let client = server.client().await;
    // Nobody opens the gate: the handler would wait forever.
    match within("the timed-out call", client.gate()).await {
        Err(CallError::Rpc(RpcError::Timeout(message))) => {
            assert!(message.contains("200ms"), "{message}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The handler's future was dropped: nothing is left running, and the connection goes on.
    assert_eq!(server.stats.calls_in_flight(), 0);
    assert_eq!(client.add(2, 2).await.unwrap(), 4);
}

#[tokio::test]
async fn the_server_closes_a_peer_that_answers_no_ping_with_4009() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .keepalive(Duration::from_millis(100), Duration::from_secs(1)),
    )
    .await;
    // A well-behaved client, whose own pings (and answers to the server's) keep it alive.
    let alive = TestClient::new(
        server
            .client_config()
            .keepalive(Duration::from_millis(100), Duration::from_secs(5)),
    );
    within("connect", alive.connect()).await.unwrap();
    // A raw peer that is never polled: it answers no ping.
    let (mut silent, _hello) = raw_hardlight(server.port, None).await;
    within(
        "the silent peer to be dropped",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    // What it finds when it reads at last: the server's ping(s), then the close.
    let (code, reason) = expect_close(&mut silent).await;
    assert_eq!(code, close::IDLE_TIMEOUT);
    assert!(reason.contains("1s"), "{reason}");
    // The live one, which answered, is still served.
    assert!(alive.is_connected());
    assert_eq!(alive.add(1, 1).await.unwrap(), 2);
}
