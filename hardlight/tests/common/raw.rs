//! Raw peers, for speaking HTTP and the protocol by hand: WebSocket connections with or without TLS
//! that completed the handshake and read `HELLO`, HTTP requests over bare TCP, and the server's side
//! of a raw connection (a fake server that tests the client).

use futures_util::{SinkExt, StreamExt};
use hardlight::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::{Test, within};

/// A raw WebSocket peer (no hardlight client) for speaking the protocol by hand.
pub type RawPeer = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Connects a raw WebSocket over TLS, offering `protocols` as the subprotocol list.
pub async fn raw_connect(
    port: u16,
    protocols: &[&str],
) -> Result<RawPeer, tokio_tungstenite::tungstenite::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = ServerTrust::AcceptAnyDangerous
        .connector()
        .expect("connector");
    let tls = connector
        .connect(hardlight::tls::server_name("localhost").expect("name"), tcp)
        .await?;
    let mut request = format!("wss://localhost:{port}/").into_client_request()?;
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols.join(", ")).expect("header"),
        );
    }
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await?;
    Ok(ws)
}

/// The subprotocol list of a correct client of the service with schema `fingerprint` that speaks
/// the base protocol: without `hardlight.batch`, so that its streams' items come one per `ITEM`.
pub fn base_offer(fingerprint: u64, compression: Option<u8>) -> Vec<String> {
    use hardlight::__private::wire::handshake::{BATCH_TOKEN, client_offer};
    let mut offer = client_offer(fingerprint, compression);
    offer.retain(|token| token != BATCH_TOKEN);
    offer
}

/// The subprotocol list of a correct client of the test service.
pub fn test_offer(compression: Option<u8>) -> Vec<String> {
    base_offer(hardlight::fingerprint::<dyn Test>(), compression)
}

/// A raw peer of the test service that completed the handshake and read `HELLO`.
pub async fn raw_hardlight(port: u16, compression: Option<u8>) -> (RawPeer, Vec<u8>) {
    raw_service(port, hardlight::fingerprint::<dyn Test>(), compression).await
}

/// A raw peer of the service with schema `fingerprint` that completed the handshake and read
/// `HELLO`.
pub async fn raw_service(
    port: u16,
    fingerprint: u64,
    compression: Option<u8>,
) -> (RawPeer, Vec<u8>) {
    raw_offering(port, base_offer(fingerprint, compression)).await
}

/// A raw peer that offered `offer`, completed the handshake and read `HELLO`.
pub async fn raw_offering(port: u16, offer: Vec<String>) -> (RawPeer, Vec<u8>) {
    let offer: Vec<&str> = offer.iter().map(String::as_str).collect();
    let mut ws = within("raw connect", raw_connect(port, &offer))
        .await
        .expect("raw connect");
    let hello = match within("HELLO", ws.next()).await {
        Some(Ok(Message::Binary(hello))) => hello.to_vec(),
        other => panic!("expected HELLO, got {other:?}"),
    };
    (ws, hello)
}

/// Reads until the peer closes; returns the close code and reason. Fails the test on timeout.
pub async fn expect_close<S>(ws: &mut WebSocketStream<S>) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match within("the server to close", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => return (0, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("connection failed without a close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

/// Sends one binary message on any WebSocket.
pub async fn send_binary<S>(ws: &mut S, bytes: Vec<u8>)
where
    S: futures_util::Sink<Message> + Unpin,
    S::Error: std::fmt::Debug,
{
    within("send", ws.send(Message::Binary(bytes.into())))
        .await
        .expect("send");
}

/// A raw plain-WebSocket peer (no TLS) that completed the handshake and read `HELLO`.
pub async fn raw_hardlight_plain(port: u16) -> (WebSocketStream<TcpStream>, Vec<u8>) {
    let tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("tcp connect");
    let mut request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .expect("request");
    let offer = test_offer(None).join(", ");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&offer).expect("header"),
    );
    let (mut ws, _) = within("upgrade", tokio_tungstenite::client_async(request, tcp))
        .await
        .expect("upgrade");
    let hello = match within("HELLO", ws.next()).await {
        Some(Ok(Message::Binary(hello))) => hello.to_vec(),
        other => panic!("expected HELLO, got {other:?}"),
    };
    (ws, hello)
}

/// An HTTP response as read off the wire.
#[derive(Debug, PartialEq)]
pub struct RawResponse {
    /// Every byte read, as text.
    pub text: String,
    pub status: String,
    /// The head, status line and header lines, header names in lower case.
    pub head: String,
    pub body: String,
}

/// Sends `request` over a fresh plaintext TCP connection; returns the response, its body read to
/// the end of the connection (none for `101`).
pub async fn raw_http(port: u16, request: &str) -> RawResponse {
    let mut tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("tcp connect");
    within("send", tcp.write_all(request.as_bytes()))
        .await
        .expect("send");
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = within("the response", tcp.read(&mut buffer))
            .await
            .expect("read");
        response.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let status = head.lines().next().unwrap_or("").to_owned();
            if read == 0 || status.starts_with("HTTP/1.1 101") {
                return RawResponse {
                    status,
                    head: head.to_ascii_lowercase(),
                    body: body.to_owned(),
                    text,
                };
            }
        }
        assert!(read > 0, "the connection ended inside the response head");
    }
}

/// A WebSocket upgrade request for `path` offering `protocols`, with `extra` header lines (each
/// ending in CRLF).
pub fn upgrade_request(path: &str, protocols: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n{extra}\r\n"
    )
}

/// A raw server's side of one connection: accepts a plaintext TCP connection on `listener`,
/// completes the upgrade selecting `hardlight.v1` and sends an empty-state `HELLO` announcing
/// compression `level` (0: none), as a hardlight server would. What follows is the test's.
// tungstenite's handshake callback returns an HTTP response as its error, however large.
#[allow(clippy::result_large_err)]
pub async fn accept_with_hello(
    listener: &tokio::net::TcpListener,
    level: u8,
) -> WebSocketStream<TcpStream> {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let (tcp, _) = listener.accept().await.expect("accept");
    let select = |_: &Request, mut response: Response| {
        response.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("hardlight.v1"),
        );
        Ok(response)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async(tcp, select)
        .await
        .expect("upgrade");
    let hello = hardlight::__private::wire::frame::FieldListWriter::hello(256, 1 << 20, level);
    ws.send(Message::Binary(hello.finish().into()))
        .await
        .expect("HELLO");
    ws
}
