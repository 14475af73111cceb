//! The server against the rules of docs/PROTOCOL.md §9 (close codes) and §10 (limits), through raw
//! peers written from the document: each rule that a peer can observe has a test, here or in the file
//! named below.
//!
//! | Rule | Test |
//! |---|---|
//! | 1000 in answer to the client's close | `a_client_close_is_answered_with_a_close_frame` |
//! | 1001 on shutdown, replies first | `shutdown.rs` |
//! | 1002 malformed frame, compressed without negotiation, id reused, `NOTIFY` of a non-one-way or unknown method, `CALL` of a one-way method | `raw_peers.rs` (`malformed_frames_close_only_that_connection`), `two_calls_with_one_id_in_one_write_close_with_1002`, `oneway.rs` |
//! | 1003 text message | `raw_peers.rs` (`malformed_frames_close_only_that_connection`) |
//! | 1007 bad `NOTIFY` arguments | `oneway.rs`, `nesting.rs` |
//! | calls beyond `max_calls` wait; never a close | `calls_beyond_max_calls_in_one_write_are_all_answered` |
//! | 1009 message or inflation over the limit | `raw_peers.rs` (`a_message_over_the_size_limit_closes_with_1009`, `a_decompression_bomb_…`) |
//! | 1011 instead of `HELLO` | `hooks.rs` |
//! | 4001–4003 handshake refusals | `raw_peers.rs`, `protocol_vectors.rs` |
//! | 4008 slow consumer | `events_scale.rs`, `limits.rs` |
//! | 4009 idle timeout | `dead_peer.rs` |
//! | 4010 replaced | `auth.rs` |
//! | HTTP 400, 401, 403, 409, 429, 431, 503 | `raw_peers.rs`, `auth.rs`, `limits.rs` |
//! | `budget_ms` 0: answered `TimedOut` without running | `a_budget_of_zero_is_answered_timed_out_without_running` |
//! | `max_nesting_depth` | `nesting.rs` |
mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use hardlight::wire::frame::{ReplyStatus, ServerFrame, decode_server, encode_call};
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Method indices of the test service (`common::Test`), in declaration order.
const ADD: u16 = 1;
const GATE: u16 = 2;
const BUMP: u16 = 6;

/// Reads frames until a `REPLY`; returns its call id and status.
async fn next_reply(ws: &mut RawPeer) -> (u32, ReplyStatus) {
    loop {
        match within("a reply", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerFrame::Reply {
                    call_id, status, ..
                }) = decode_server(&bytes)
                {
                    return (call_id, status);
                }
            }
            Some(Ok(_)) => {}
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    within(
        "sending close",
        ws.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))),
    )
    .await
    .expect("send close");
    // The server's answer echoes the code, then the connection ends: a clean close.
    match within("the server's close frame", ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the server's close frame, got {other:?}"),
    }
    match within("the end of the connection", ws.next()).await {
        None | Some(Err(_)) => {}
        other => panic!("expected the end of the connection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_budget_of_zero_is_answered_timed_out_without_running() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // `bump` with flag 0x02 and `budget_ms` 0: its deadline has passed before it starts.
    let mut frame = vec![0x01, 0x02];
    frame.extend_from_slice(&5u32.to_le_bytes());
    frame.extend_from_slice(&BUMP.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    send_binary(&mut ws, frame).await;
    assert_eq!(next_reply(&mut ws).await, (5, ReplyStatus::TimedOut));
    // It did not run: the counter is still 0, so the next bump makes it 1.
    send_binary(&mut ws, encode_call(6, BUMP, &()).unwrap()).await;
    loop {
        match within("a frame", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => match decode_server(&bytes) {
                Ok(ServerFrame::Reply {
                    call_id,
                    status,
                    body,
                }) => {
                    assert_eq!((call_id, status), (6, ReplyStatus::Ok));
                    assert_eq!(u32::decode(body).unwrap(), 1);
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("bad frame: {e}"),
            },
            Some(Ok(_)) => {}
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn two_calls_with_one_id_in_one_write_close_with_1002() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // `add` finishes at once; the second CALL reuses its id before the client can have its reply.
    let call = encode_call(3, ADD, &(1u32, 2u32)).unwrap();
    within(
        "two calls in one write",
        ws.send_all(&mut futures_util::stream::iter([
            Ok(Message::Binary(call.clone().into())),
            Ok(Message::Binary(call.into())),
        ])),
    )
    .await
    .expect("send");
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, hardlight::wire::close::PROTOCOL_ERROR, "{reason}");
    assert!(reason.contains("call id 3"), "{reason}");
}

#[tokio::test]
async fn calls_beyond_max_calls_in_one_write_are_all_answered() {
    for gated in [false, true] {
        let server = TestServer::with_config(
            ServerConfig::new_self_signed("127.0.0.1:0").max_calls_in_flight(8),
        )
        .await;
        let (mut ws, _hello) = raw_hardlight(server.port, None).await;
        // 20 calls for 8 slots, in one write: fast ones (`add`), or ones that wait (`gate`).
        let calls = (0..20u32).map(|id| {
            let frame = if gated {
                encode_call(id, GATE, &()).unwrap()
            } else {
                encode_call(id, ADD, &(id, 1u32)).unwrap()
            };
            Ok(Message::Binary(frame.into()))
        });
        within(
            "20 calls in one write",
            ws.send_all(&mut futures_util::stream::iter(calls)),
        )
        .await
        .expect("send");
        if gated {
            // Exactly 8 run; the rest wait for slots (and the server for them, not reading).
            server.ctx.wait_entered(8).await;
            assert_eq!(server.stats.calls_in_flight(), 8);
            server.ctx.gate.add_permits(20);
        }
        let mut answered = Vec::new();
        for _ in 0..20 {
            let (id, status) = next_reply(&mut ws).await;
            assert_eq!(status, ReplyStatus::Ok, "call {id}");
            answered.push(id);
        }
        answered.sort_unstable();
        assert_eq!(answered, (0..20).collect::<Vec<_>>(), "gated: {gated}");
    }
}
