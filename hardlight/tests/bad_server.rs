//! The client against a server that breaks the protocol: calls fail with a typed error, never hang.
mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use hardlight::__private::wire::frame::{ClientFrame, ReplyStatus, decode_client, reply_header};
use hardlight::*;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A fake server: completes the handshake, sends an empty-state HELLO, then answers the first call
/// with whatever `answer` makes of its call id.
async fn fake_server(answer: fn(u32) -> Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut ws = accept_with_hello(&listener, 0).await;
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Binary(bytes) = message {
                let Ok(ClientFrame::Call { call_id, .. }) = decode_client(&bytes) else {
                    continue;
                };
                ws.send(Message::Binary(answer(call_id).into()))
                    .await
                    .unwrap();
            }
        }
    });
    port
}

async fn client_of(port: u16) -> TestClient {
    let client = TestClient::new(ClientConfig::plaintext(format!("127.0.0.1:{port}")));
    within("connect", client.connect()).await.unwrap();
    client
}

#[tokio::test]
async fn a_malformed_frame_from_the_server_is_a_protocol_error() {
    let port = fake_server(|_| vec![0x11, 0, 1]).await;
    let client = client_of(port).await;
    match within("call", client.add(1, 2)).await {
        Err(CallError::Rpc(RpcError::Protocol(ProtocolError::Frame(
            hardlight::wire::FrameError::Truncated { .. },
        )))) => {}
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reply_that_fails_validation_is_a_protocol_error() {
    // A u32 needs four bytes; two are not a valid archive.
    let port = fake_server(|call_id| {
        let mut frame = reply_header(call_id, ReplyStatus::Ok, 2);
        frame.extend_from_slice(&[1, 2]);
        frame
    })
    .await;
    let client = client_of(port).await;
    match within("call", client.add(1, 2)).await {
        Err(CallError::Rpc(RpcError::Protocol(ProtocolError::Reply(_)))) => {}
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reply_to_a_call_never_made_ends_the_connection() {
    let port = fake_server(|call_id| {
        let mut frame = reply_header(call_id.wrapping_add(1000), ReplyStatus::Ok, 4);
        frame.extend_from_slice(&3u32.to_le_bytes());
        frame
    })
    .await;
    let client = client_of(port).await;
    match within("call", client.add(1, 2)).await {
        Err(CallError::Rpc(RpcError::Protocol(why @ ProtocolError::Unexpected(_)))) => {
            assert!(why.to_string().contains("unknown call id"), "{why}")
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(!client.is_connected());
}

/// A server that completes the handshake, sends HELLO, then goes silent: it reads nothing, so it
/// answers neither calls nor pings (as a peer behind a cut cable would).
async fn silent_server() -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let ws = accept_with_hello(&listener, 0).await;
        // Hold the socket open, unread, until the test ends.
        let _ = stopped.await;
        drop(ws);
    });
    (port, stop)
}

#[tokio::test]
async fn a_server_that_goes_silent_fails_every_call_within_the_idle_timeout() {
    let (port, _stop) = silent_server().await;
    let client = TestClient::new(
        ClientConfig::plaintext(format!("127.0.0.1:{port}"))
            .keepalive(Duration::from_millis(100), Duration::from_millis(400)),
    );
    within("connect", client.connect()).await.unwrap();
    let calls = futures_util::future::join_all((0..3).map(|i| client.add(i, i)));
    for result in within("the calls to fail", calls).await {
        match result {
            Err(CallError::Rpc(RpcError::ConnectionClosed { code, reason, .. })) => {
                assert_eq!(code, Some(hardlight::wire::close::IDLE_TIMEOUT));
                assert!(reason.contains("400ms"), "{reason}");
            }
            other => panic!("expected the idle timeout, got {other:?}"),
        }
    }
    assert!(matches!(
        client.closed().await,
        ClosedError::Ended(RpcError::ConnectionClosed {
            code: Some(4009),
            ..
        })
    ));
    assert!(!client.is_connected());
}
