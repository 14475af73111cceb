//! The server against the rules of docs/PROTOCOL.md §9 (close codes) and §10 (limits), through raw
//! peers written from the document: each rule that a peer can observe has a test, here or in the file
//! named below.
//!
//! | Rule | Test |
//! |---|---|
//! | §9 1000 in answer to the client's close (a clean close) | `a_client_close_is_answered_with_a_close_frame`; in Chromium, `examples/web/tests/browser.rs` (`closes_are_clean_in_chromium`) |
//! | §9 1001 on shutdown, replies first | `shutdown.rs` (`calls_in_flight_finish_then_clients_see_going_away`, `calls_still_running_at_the_deadline_…`) |
//! | §9 1002 malformed frame, unknown kind or flag, compressed without negotiation | `raw_peers.rs` (`malformed_frames_close_only_that_connection`) |
//! | §9 1002 call id reused while in flight, also in one write; free again once the reply is written | `raw_peers.rs` (`a_call_id_reused_while_in_flight_is_a_protocol_error`), `two_calls_with_one_id_in_one_write_close_with_1002`, `an_id_is_free_again_once_its_reply_has_arrived` |
//! | §9 1002 `NOTIFY` of an unknown or non-one-way method, `CALL` of a one-way method | `oneway.rs` (`a_notify_for_an_unknown_method_or_a_call_is_a_protocol_error`, `a_client_and_a_server_that_disagree_…`) |
//! | §9 1003 text message (server) | `raw_peers.rs` (`malformed_frames_close_only_that_connection`) |
//! | §9 1007 bad `NOTIFY` arguments | `oneway.rs` (`bad_oneway_arguments_close_the_connection_with_1007`), `nesting.rs` |
//! | §9 1008 message not completed in time, partial-message budget | `peer_memory.rs` |
//! | §9 1009 message or inflation over the limit (server) | `raw_peers.rs` (`a_message_over_the_size_limit_closes_with_1009`, `a_decompression_bomb_…`) |
//! | §9 1011 instead of `HELLO` | `hooks.rs` (`a_panicking_on_connect_closes_with_1011_…`, `an_on_connect_past_its_timeout_…`) |
//! | §9 4001–4003 handshake refusals | `raw_peers.rs`, `protocol_vectors.rs` (`handshake_refusals_in_the_document_are_the_servers`) |
//! | §9 4008 slow consumer | `events_scale.rs`, `peer_memory.rs` |
//! | §9 4009 idle timeout | `limits.rs`, `dead_peer.rs` |
//! | §9 4010 replaced | `auth.rs`, `replace_old.rs` |
//! | §9 client 1002, 1003, 1009 | `the_client_closes_with_…` below; `bad_server.rs` |
//! | RFC 6455 on the server: pongs, fragments; unmasked, reserved, over-long or out-of-order frames and bad close frames (1002) | `the_server_answers_pings_and_reads_a_call_in_fragments`, `frames_a_client_may_not_send_close_with_1002` |
//! | RFC 6455 on the client: pongs, fragments, unmasked frames, the close echoed | `the_client_answers_pings_…`, `the_client_closes_with_1002_on_a_masked_frame`, `the_client_echoes_the_servers_close` below |
//! | §9 HTTP 400, 401, 403, 409, 429, 431, 503; closed before TLS | `raw_peers.rs`, `auth.rs`, `limits.rs`, `peer_limits.rs` |
//! | §10 `max_calls_in_flight`: calls beyond it wait, never a close | `calls_beyond_max_calls_in_one_write_are_all_answered`, `raw_peers.rs`, `oneway.rs` |
//! | §10 `handshake_timeout`, `first_byte_timeout`, per-address caps, `max_connections` | `raw_peers.rs`, `peer_limits.rs`, `limits.rs`, `file_limit.rs` |
//! | §10 `keepalive`, `call_rate_limit`, `call_timeout`, `allowed_origins`, `connection_rate_limit` | `limits.rs` |
//! | §10 `message_timeout`, `max_partial_bytes`, `outbound_queue`/`max_outbound_bytes` | `peer_memory.rs` |
//! | §10 `max_nesting_depth` (server and client) | `nesting.rs` |
//! | §10 `max_topic_len`, `max_topics_per_connection` | `topic_limits.rs` |
//! | §10 `connect_hook_timeout`, `one_connection_per_identity` | `hooks.rs`, `auth.rs` |
//! | §5.2 `budget_ms` 0: answered `TimedOut` without running | `a_budget_of_zero_is_answered_timed_out_without_running` |
//! | §9 1011 for a `HELLO` or state change over `max_message_size` | `a_hello_over_the_message_size_…`, `a_state_change_over_the_message_size_…` |
mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use hardlight::__private::wire::frame::{ReplyStatus, ServerFrame, decode_server, encode_call};
use hardlight::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

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
async fn the_server_answers_pings_and_reads_a_call_in_fragments() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let (mut ws, _hello) = raw_hardlight_plain(server.port).await;
    // `add(2, 3)` as three fragments (masked by tungstenite, as a client's frames are), with a
    // ping between the first two.
    let call = encode_call(9, method::ADD, &(2u32, 3u32)).unwrap();
    let (first, rest) = call.split_at(3);
    let (second, third) = rest.split_at(4);
    let frames = [
        Message::Frame(Frame::message(
            first.to_vec(),
            OpCode::Data(Data::Binary),
            false,
        )),
        Message::Ping(b"are you there".to_vec().into()),
        Message::Frame(Frame::message(
            second.to_vec(),
            OpCode::Data(Data::Continue),
            false,
        )),
        Message::Frame(Frame::message(
            third.to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )),
    ];
    for frame in frames {
        within("send", ws.feed(frame)).await.expect("send");
    }
    within("flush", ws.flush()).await.expect("flush");
    let (mut pong, mut reply) = (None, None);
    while pong.is_none() || reply.is_none() {
        match within("the pong and the reply", ws.next()).await {
            Some(Ok(Message::Pong(payload))) => pong = Some(payload),
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerFrame::Reply {
                    call_id,
                    status,
                    body,
                }) = decode_server(&bytes)
                {
                    assert_eq!((call_id, status), (9, ReplyStatus::Ok));
                    reply = Some(u32::decode(body).unwrap());
                }
            }
            other => panic!("expected a pong and a reply, got {other:?}"),
        }
    }
    assert_eq!(pong.as_deref(), Some(&b"are you there"[..]));
    assert_eq!(reply, Some(5));
}

#[tokio::test]
async fn frames_a_client_may_not_send_close_with_1002() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let bystander = server.client().await;
    // Written on the TCP stream under the peer's WebSocket, as no WebSocket library would send them.
    // Masked frames use the key 0, so that their payloads read as written.
    let cases: [(&[u8], &str); 11] = [
        // A binary frame of one byte, not masked (RFC 6455 §5.1).
        (&[0x82, 0x01, 0x00], "unmasked"),
        // RSV1 set, no extension negotiated (§5.2).
        (&[0xC2, 0x81, 1, 2, 3, 4, 0], "reserved bits"),
        // Opcode 0x3, reserved (§5.2).
        (&[0x83, 0x80, 0, 0, 0, 0], "reserved opcode 0x3"),
        // A 64-bit length with its most significant bit set (§5.2).
        (
            &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "most significant bit",
        ),
        // A ping without FIN (§5.5).
        (&[0x09, 0x80, 1, 2, 3, 4], "fragmented control"),
        // A ping of 126 bytes (§5.5: at most 125).
        (&[0x89, 0xFE, 0x00, 0x7E, 0, 0, 0, 0], "126 bytes"),
        // A continuation with no message to continue (§5.4).
        (&[0x80, 0x81, 1, 2, 3, 4, 0], "continuation"),
        // A new message inside a fragmented one (§5.4).
        (
            &[0x02, 0x81, 0, 0, 0, 0, 1, 0x82, 0x81, 0, 0, 0, 0, 1],
            "before the fragmented",
        ),
        // Close frames: one byte, a code no endpoint may send, a reason that is not UTF-8 (§5.5.1).
        (&[0x88, 0x81, 0, 0, 0, 0, 0x03], "one byte"),
        (&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xED], "close code 1005"),
        (
            &[0x88, 0x84, 0, 0, 0, 0, 0x03, 0xE8, 0xFF, 0xFE],
            "not UTF-8",
        ),
    ];
    for (bytes, expected) in cases {
        let (mut ws, _hello) = raw_hardlight_plain(server.port).await;
        within("write", ws.get_mut().write_all(bytes))
            .await
            .expect("write");
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(
            code,
            hardlight::wire::close::PROTOCOL_ERROR,
            "{expected}: {reason}"
        );
        assert!(reason.contains(expected), "{expected}: {reason}");
        assert_eq!(bystander.add(1, 1).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn a_budget_of_zero_is_answered_timed_out_without_running() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // `bump` with flag 0x02 and `budget_ms` 0: its deadline has passed before it starts.
    let mut frame = vec![0x01, 0x02];
    frame.extend_from_slice(&5u32.to_le_bytes());
    frame.extend_from_slice(&method::BUMP.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    send_binary(&mut ws, frame).await;
    assert_eq!(next_reply(&mut ws).await, (5, ReplyStatus::TimedOut));
    // It did not run: the counter is still 0, so the next bump makes it 1.
    send_binary(&mut ws, encode_call(6, method::BUMP, &()).unwrap()).await;
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
    two_calls_with_id_3_in_one_write_close(&mut ws).await;
}

/// Sends two `add` CALLs with id 3 in one write and expects the close with 1002: `add` finishes at
/// once, and the second CALL reuses its id before the client can have its reply.
async fn two_calls_with_id_3_in_one_write_close(ws: &mut RawPeer) {
    let call = encode_call(3, method::ADD, &(1u32, 2u32)).unwrap();
    within(
        "two calls in one write",
        ws.send_all(&mut futures_util::stream::iter([
            Ok(Message::Binary(call.clone().into())),
            Ok(Message::Binary(call.into())),
        ])),
    )
    .await
    .expect("send");
    let (code, reason) = expect_close(ws).await;
    assert_eq!(code, hardlight::wire::close::PROTOCOL_ERROR, "{reason}");
    assert!(reason.contains("call id 3"), "{reason}");
}

#[tokio::test]
async fn an_id_is_free_again_once_its_reply_has_arrived() {
    let server = TestServer::start().await;
    let (mut ws, _hello) = raw_hardlight(server.port, None).await;
    // The server hands a quick call's reply straight to its socket: the id must then be free for
    // a client that has the reply, round after round, alone or beside other calls.
    for round in 0..50u32 {
        send_binary(
            &mut ws,
            encode_call(3, method::ADD, &(round, 1u32)).unwrap(),
        )
        .await;
        if round % 2 == 1 {
            send_binary(
                &mut ws,
                encode_call(4, method::ADD, &(round, 2u32)).unwrap(),
            )
            .await;
        }
        for _ in 0..=(round % 2) {
            let (id, status) = next_reply(&mut ws).await;
            assert_eq!(status, ReplyStatus::Ok, "round {round}, call {id}");
        }
    }
    // Then two CALLs with one id in one write still close, after all those rounds.
    two_calls_with_id_3_in_one_write_close(&mut ws).await;
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
                encode_call(id, method::GATE, &()).unwrap()
            } else {
                encode_call(id, method::ADD, &(id, 1u32)).unwrap()
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

// --- the reference client's close codes (§9), against a raw server -------------------------------

/// A raw server: completes the upgrade selecting `hardlight.v1`, sends an empty-state `HELLO`
/// announcing compression `level` (0: none), answers the first `CALL` with `answer`, then reports
/// the code of the close frame the client sends (`None`: the connection ended without one).
async fn raw_server(
    level: u8,
    answer: Message,
) -> (u16, tokio::sync::oneshot::Receiver<Option<u16>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (report, reported) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut ws = accept_with_hello(&listener, level).await;
        let mut answer = Some(answer);
        let mut code = None;
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Binary(_) => {
                    if let Some(answer) = answer.take() {
                        let _ = ws.send(answer).await;
                    }
                }
                Message::Close(frame) => {
                    code = frame.map(|f| u16::from(f.code));
                    break;
                }
                _ => {}
            }
        }
        let _ = report.send(code);
    });
    (port, reported)
}

/// Connects a test client to the raw server, makes a call (which the server answers as told) and
/// returns the close code the server saw.
async fn client_close_code(level: u8, answer: Message) -> Option<u16> {
    let (port, reported) = raw_server(level, answer).await;
    let compression = if level == 0 {
        Compression::none()
    } else {
        Compression::new(level)
    };
    let client = TestClient::new(
        ClientConfig::plaintext(format!("127.0.0.1:{port}"))
            .compression(compression)
            .max_message_size(64 << 10),
    );
    within("connect", client.connect()).await.expect("connect");
    assert!(within("the call", client.add(1, 2)).await.is_err());
    within("the client's close", reported)
        .await
        .expect("the raw server reports")
}

#[tokio::test]
async fn the_client_closes_with_1003_on_a_text_message() {
    let code = client_close_code(0, Message::Text("hello".into())).await;
    assert_eq!(code, Some(hardlight::wire::close::UNSUPPORTED_DATA));
}

#[tokio::test]
async fn the_client_closes_with_1009_on_a_message_over_its_limit() {
    let mut big = hardlight::__private::wire::frame::reply_header(0, ReplyStatus::Ok, 0);
    big.resize(100 << 10, 0);
    let code = client_close_code(0, Message::Binary(big.into())).await;
    assert_eq!(code, Some(hardlight::wire::close::MESSAGE_TOO_BIG));
}

#[tokio::test]
async fn the_client_closes_with_1009_on_a_frame_inflating_over_its_limit() {
    // A REPLY of 1 MiB of zeros, deflated to about a kilobyte: over the client's 64 KiB once inflated.
    let mut reply = hardlight::__private::wire::frame::reply_header(0, ReplyStatus::Ok, 0);
    reply.resize(1 << 20, 0);
    let sealed = hardlight::__private::wire::compression::seal(reply, Some(6));
    assert!(sealed.len() < 64 << 10);
    let code = client_close_code(6, Message::Binary(sealed.into())).await;
    assert_eq!(code, Some(hardlight::wire::close::MESSAGE_TOO_BIG));
}

#[tokio::test]
async fn the_client_closes_with_1002_on_a_malformed_frame_or_a_second_hello() {
    let truncated = Message::Binary(vec![0x11, 0x00, 0x00].into());
    assert_eq!(
        client_close_code(0, truncated).await,
        Some(hardlight::wire::close::PROTOCOL_ERROR)
    );
    let hello = hardlight::__private::wire::frame::FieldListWriter::hello(256, 1 << 20, 0).finish();
    assert_eq!(
        client_close_code(0, Message::Binary(hello.into())).await,
        Some(hardlight::wire::close::PROTOCOL_ERROR)
    );
}

// --- RFC 6455 as the client speaks it -------------------------------------------------------------

/// An unmasked frame from a server: `first` is the header's first byte (FIN, opcode).
fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first];
    match payload.len() {
        len @ 0..=125 => frame.push(len as u8),
        len => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// The call id of `message` if it is a `CALL`.
fn call_id_of(message: &[u8]) -> Option<u32> {
    match hardlight::__private::wire::frame::decode_client(message) {
        Ok(hardlight::__private::wire::frame::ClientFrame::Call { call_id, .. }) => Some(call_id),
        _ => None,
    }
}

/// Reads until the client's first `CALL`; returns its call id.
async fn next_call_id(ws: &mut RawServerSocket) -> u32 {
    loop {
        match within("a call", ws.next()).await {
            Some(Ok(Message::Binary(bytes))) => {
                if let Some(call_id) = call_id_of(&bytes) {
                    return call_id;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("expected a call, got {other:?}"),
        }
    }
}

type RawServerSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

#[tokio::test]
async fn the_client_answers_pings_and_reads_a_reply_in_fragments() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut ws = accept_with_hello(&listener, 0).await;
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        // The pong carries the ping's payload back; the client's call may come before it or after.
        let mut pong = None;
        let mut call = None;
        while pong.is_none() || call.is_none() {
            match within("the pong and a call", ws.next()).await {
                Some(Ok(Message::Pong(payload))) => pong = Some(payload),
                Some(Ok(Message::Binary(bytes))) => call = call.or(call_id_of(&bytes)),
                Some(Ok(_)) => {}
                other => panic!("expected a pong and a call, got {other:?}"),
            }
        }
        assert_eq!(pong.as_deref(), Some(&b"are you there"[..]));
        let call_id = call.unwrap();
        // A REPLY of 7 (a u32), in three fragments with a ping between the first two.
        let mut reply =
            hardlight::__private::wire::frame::reply_header(call_id, ReplyStatus::Ok, 4);
        reply.extend_from_slice(&7u32.to_le_bytes());
        let (a, rest) = reply.split_at(3);
        let (b, c) = rest.split_at(2);
        let bytes = [
            server_frame(0x02, a),
            server_frame(0x89, b"between"),
            server_frame(0x00, b),
            server_frame(0x80, c),
        ]
        .concat();
        ws.get_mut().write_all(&bytes).await.unwrap();
        // The ping between the fragments is answered too.
        loop {
            match within("the second pong", ws.next()).await {
                Some(Ok(Message::Pong(payload))) => {
                    assert_eq!(&payload[..], b"between");
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("expected a pong, got {other:?}"),
            }
        }
        ws
    });
    let client = TestClient::new(ClientConfig::plaintext(format!("127.0.0.1:{port}")));
    within("connect", client.connect()).await.expect("connect");
    assert_eq!(within("the call", client.add(3, 4)).await.unwrap(), 7);
    let _ws = within("the server", server).await.unwrap();
    assert!(client.is_connected());
}

#[tokio::test]
async fn the_client_closes_with_1002_on_a_masked_frame() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut ws = accept_with_hello(&listener, 0).await;
        let call_id = next_call_id(&mut ws).await;
        let mut reply =
            hardlight::__private::wire::frame::reply_header(call_id, ReplyStatus::Ok, 4);
        reply.extend_from_slice(&7u32.to_le_bytes());
        // A server's frame with the mask bit set (and a key of zeros, which changes no byte).
        let mut frame = vec![0x82, 0x80 | reply.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(&reply);
        ws.get_mut().write_all(&frame).await.unwrap();
        loop {
            match within("the client's close", ws.next()).await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    });
    let client = TestClient::new(ClientConfig::plaintext(format!("127.0.0.1:{port}")));
    within("connect", client.connect()).await.expect("connect");
    match within("the call", client.add(3, 4)).await {
        Err(CallError::Rpc(RpcError::Protocol(ProtocolError::WebSocket(why)))) => {
            assert!(why.contains("masked"), "{why}");
        }
        other => panic!("expected a WebSocket protocol error, got {other:?}"),
    }
    assert_eq!(
        within("the server", server).await.unwrap(),
        Some(hardlight::wire::close::PROTOCOL_ERROR)
    );
}

/// A raw server that closes with `close` once told to; reports the code of the client's answer.
async fn closing_server(
    close: Option<CloseFrame>,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Option<u16>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go, went) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut ws = accept_with_hello(&listener, 0).await;
        went.await.unwrap();
        ws.send(Message::Close(close)).await.unwrap();
        loop {
            match within("the client's close", ws.next()).await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    });
    (port, go, server)
}

#[tokio::test]
async fn the_client_echoes_the_servers_close() {
    let (port, go, server) = closing_server(Some(CloseFrame {
        code: CloseCode::from(4321),
        reason: "bye".into(),
    }))
    .await;
    let client = TestClient::new(ClientConfig::plaintext(format!("127.0.0.1:{port}")));
    within("connect", client.connect()).await.expect("connect");
    go.send(()).unwrap();
    match within("closed", client.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed {
            code: Some(4321),
            reason,
            ..
        }) => assert_eq!(reason, "bye"),
        other => panic!("expected the server's close, got {other:?}"),
    }
    assert_eq!(within("the server", server).await.unwrap(), Some(4321));

    // A close frame without a code is answered with 1000.
    let (port, go, server) = closing_server(None).await;
    let client = TestClient::new(ClientConfig::plaintext(format!("127.0.0.1:{port}")));
    within("connect", client.connect()).await.expect("connect");
    go.send(()).unwrap();
    match within("closed", client.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code: None, .. }) => {}
        other => panic!("expected a close without a code, got {other:?}"),
    }
    assert_eq!(
        within("the server", server).await.unwrap(),
        Some(hardlight::wire::close::NORMAL)
    );
}

// --- what the server sends stays within the maximum message size ---------------------------------

/// A service whose connection state can outgrow a message.
#[connection_state]
pub struct Heavy {
    pub blob: Vec<u8>,
}

#[rpc(state = Heavy)]
pub trait Swell {
    /// Sets the state's blob to `len` bytes.
    async fn swell(&self, len: u32) -> HandlerResult<()>;
}

/// With a context of `Some(len)`, `on_connect` starts the state at `len` bytes.
#[rpc_handler(context = Option<u32>)]
impl Swell for SwellHandler {
    #[on_connect]
    async fn start(&self) {
        if let Some(len) = *self.context {
            self.state.write().await.blob = vec![1; len as usize];
        }
    }

    async fn swell(&self, len: u32) -> HandlerResult<()> {
        self.state.write().await.blob = vec![2; len as usize];
        Ok(())
    }
}

async fn swell_server(initial: Option<u32>) -> (Served, SwellClient) {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(64 << 10);
    let served = Served::spawn(config, factory!(SwellHandler, initial)).await;
    let client = SwellClient::new(served.client_config());
    (served, client)
}

#[tokio::test]
async fn a_state_change_over_the_message_size_closes_with_1011_instead_of_being_sent() {
    let (_served, client) = swell_server(None).await;
    within("connect", client.connect()).await.expect("connect");
    within("a small change", client.swell(1_000))
        .await
        .expect("a change that fits");
    match within("a change too large", client.swell(100_000)).await {
        Err(CallError::Rpc(RpcError::ConnectionClosed {
            code: Some(1011),
            reason,
            ..
        })) => assert!(
            reason.contains("exceeds the maximum message size"),
            "{reason}"
        ),
        other => panic!("expected a 1011 close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hello_over_the_message_size_is_a_1011_close_instead() {
    let (_served, client) = swell_server(Some(100_000)).await;
    match within("connect", client.connect()).await {
        Err(ConnectError::ConnectionClosed {
            code: Some(1011),
            reason,
        }) => assert!(reason.contains("HELLO of"), "{reason}"),
        other => panic!("expected a 1011 close instead of HELLO, got {other:?}"),
    }
}
