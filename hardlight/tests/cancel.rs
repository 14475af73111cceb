//! Cancellation: dropping a call's future sends `CANCEL`; the server stops the handler and replies
//! `Cancelled`, and only then does the call's slot free up on both sides.
mod common;

use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{
    ReplyStatus, ServerFrame, decode_server, encode_call, encode_cancel,
};
use hardlight::wire::close;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn dropped_calls_are_stopped_on_the_server_and_free_their_slots() {
    let server = TestServer::start().await;
    let client = server.client().await;
    // 256 calls that would wait forever inside their handler: every slot taken.
    let stuck: Vec<_> = (0..256)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.gate().await })
        })
        .collect();
    server.ctx.wait_entered(256).await;
    assert_eq!(server.stats.calls_in_flight(), 256);
    // The callers give up.
    for call in &stuck {
        call.abort();
    }
    // 256 new calls go through: the server stopped the old ones and freed their slots.
    let calls = futures_util::future::join_all((0..256u32).map(|i| client.add(i, 1)));
    for (i, result) in within("256 new calls", calls).await.into_iter().enumerate() {
        assert_eq!(result.unwrap(), i as u32 + 1);
    }
    assert_eq!(server.stats.calls_in_flight(), 0);
    assert!(client.is_connected());
}

#[tokio::test]
async fn a_call_dropped_by_a_timeout_is_cancelled_too() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), client.gate()).await;
    assert!(gave_up.is_err());
    server.ctx.wait_entered(1).await;
    // The handler is stopped: a round trip after the cancel finds nothing running.
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.stats.calls_in_flight() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call was not stopped"
        );
        client.add(0, 0).await.unwrap();
    }
}

#[tokio::test]
async fn a_raw_cancel_gets_a_cancelled_reply_and_unknown_ids_are_ignored() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // `gate` (method 2) as call 7, then cancel 7 and an id never used.
    send_binary(&mut ws, encode_call(7, method::GATE, &()).unwrap()).await;
    server.ctx.wait_entered(1).await;
    send_binary(&mut ws, encode_cancel(7)).await;
    send_binary(&mut ws, encode_cancel(99)).await;
    // `add(2, 3)` as call 8: the connection goes on (replies come in any order).
    send_binary(&mut ws, encode_call(8, method::ADD, &(2u32, 3u32)).unwrap()).await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        match within("a reply", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => {
                if let ServerFrame::Reply {
                    call_id, status, ..
                } = decode_server(&bytes).unwrap()
                {
                    replies.push((call_id, status));
                }
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    replies.sort_by_key(|(id, _)| *id);
    assert_eq!(
        replies,
        vec![(7, ReplyStatus::Cancelled), (8, ReplyStatus::Ok)]
    );
    assert_eq!(server.stats.calls_in_flight(), 0);
}

#[tokio::test]
async fn a_cancel_frame_with_trailing_bytes_is_a_protocol_error() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    let mut frame = encode_cancel(1);
    frame.push(0);
    send_binary(&mut ws, frame).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR);
    assert!(reason.contains("after its end"), "{reason}");
}
