//! Slots before TLS: one address cannot hold every connection slot with sockets that never finish
//! their handshake, an address may be capped to a number of open connections, and a socket that
//! sends nothing is closed long before the handshake timeout. Flooding peers connect from
//! 127.0.0.2, the others from 127.0.0.1.
mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use hardlight::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The address flooding peers connect from.
const FLOODER: &str = "127.0.0.2";

/// A TCP connection from `source` (a loopback address) to the server on `port`.
async fn tcp_from(source: &str, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(format!("{source}:0").parse().expect("an address"))
        .expect("bind a loopback source address");
    within("TCP connect", socket.connect(([127, 0, 0, 1], port).into()))
        .await
        .expect("TCP connect")
}

/// Resolves once the server has closed `tcp` without answering (end of stream or a reset).
async fn closed_without_answer(what: &str, tcp: &mut TcpStream) {
    let mut buf = [0; 64];
    match within(what, tcp.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("{what}: expected no answer, got {n} bytes"),
    }
}

/// Upgrades `tcp` to a hardlight WebSocket over `stream` and reads `HELLO`.
async fn hardlight_over<S>(stream: S, url: &str) -> WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&test_offer(None).join(", ")).expect("header"),
    );
    let (mut ws, _) = within("upgrade", tokio_tungstenite::client_async(request, stream))
        .await
        .expect("upgrade");
    match within("HELLO", ws.next()).await {
        Some(Ok(Message::Binary(_))) => ws,
        other => panic!("expected HELLO, got {other:?}"),
    }
}

#[tokio::test]
async fn one_address_in_handshake_cannot_take_every_slot_from_another() {
    // Room for 40 connections; one address floods it with 40 sockets that never send a byte. The
    // default per-address limit on handshakes (32) keeps 8 slots for everyone else.
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .max_connections(40)
            // Long enough that the flood is still there when the others connect.
            .first_byte_timeout(Duration::from_secs(120))
            .handshake_timeout(Duration::from_secs(120)),
    )
    .await;
    let mut flood = Vec::new();
    for _ in 0..40 {
        flood.push(tcp_from(FLOODER, server.port).await);
    }
    // The listener accepts in order: the first 32 wait in their handshake, the rest are closed at
    // once, without TLS.
    for tcp in &mut flood[32..] {
        closed_without_answer("an excess flooding socket to be closed", tcp).await;
    }
    within(
        "the flood to hold its 32 handshakes",
        server.stats.wait_for_connections(|n| n == 32),
    )
    .await;
    assert_eq!(server.stats.connections_refused(), 8);

    // Another address is served.
    let client = server.client().await;
    assert_eq!(client.add(1, 2).await.unwrap(), 3);
    // The flooding address still gets nothing more.
    closed_without_answer(
        "one more socket of the flooding address to be closed",
        &mut tcp_from(FLOODER, server.port).await,
    )
    .await;
    assert_eq!(server.stats.connections_refused(), 9);

    // Once its sockets are gone, the address is served like any other.
    drop(flood);
    within(
        "the flood's handshakes to end",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    let connector = ServerTrust::AcceptAnyDangerous
        .connector()
        .expect("connector");
    let tls = within(
        "TLS",
        connector.connect(
            tls::server_name("localhost").expect("name"),
            tcp_from(FLOODER, server.port).await,
        ),
    )
    .await
    .expect("TLS");
    hardlight_over(tls, &format!("wss://localhost:{}/", server.port)).await;
}

#[tokio::test]
async fn open_connections_per_address_are_capped_when_configured() {
    let server =
        TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0").max_connections_per_ip(2))
            .await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let first = hardlight_over(tcp_from(FLOODER, server.port).await, &url).await;
    let _second = hardlight_over(tcp_from(FLOODER, server.port).await, &url).await;
    // A third from the same address is closed before anything is read.
    closed_without_answer(
        "the third connection of the address to be closed",
        &mut tcp_from(FLOODER, server.port).await,
    )
    .await;
    assert_eq!(server.stats.connections_refused(), 1);
    // Others are not affected.
    let client = server.client().await;
    assert_eq!(client.add(2, 2).await.unwrap(), 4);

    // One of the address's connections ends: it may open another.
    drop(first);
    within(
        "the dropped connection to end",
        server.stats.wait_for_connections(|n| n == 2),
    )
    .await;
    hardlight_over(tcp_from(FLOODER, server.port).await, &url).await;
}

#[tokio::test]
async fn a_socket_that_sends_nothing_is_closed_at_the_first_byte_timeout() {
    // The handshake timeout is far away: only the first-byte timeout can close these sockets.
    for config in [
        ServerConfig::new_self_signed("127.0.0.1:0"),
        ServerConfig::plaintext("127.0.0.1:0"),
    ] {
        let server = TestServer::with_config(
            config
                .handshake_timeout(Duration::from_secs(120))
                .first_byte_timeout(Duration::from_millis(200)),
        )
        .await;
        let mut silent = tcp_from("127.0.0.1", server.port).await;
        closed_without_answer("the silent socket to be closed", &mut silent).await;
        within(
            "the silent connection to end",
            server.stats.wait_for_connections(|n| n == 0),
        )
        .await;
        // A client that speaks at once is served.
        let client = server.client().await;
        assert_eq!(client.add(1, 1).await.unwrap(), 2);
    }
}
