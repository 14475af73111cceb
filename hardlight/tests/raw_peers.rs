//! The server against peers that speak the protocol by hand (raw tokio-tungstenite over TLS):
//! handshake rules, compression, limits and malformed frames. Each misbehaving peer gets the
//! documented close code, and a well-behaved client connected at the same time keeps being served.
mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{FLAG_COMPRESSED, ServerFrame, decode_server, encode_call};
use hardlight::wire::close;
use hardlight::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

async fn read_frame(ws: &mut RawPeer) -> Vec<u8> {
    match within("a frame", ws.next()).await {
        Some(Ok(Message::Binary(b))) => b.to_vec(),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Asserts that a normal client still gets served after a peer misbehaved, and that the server
/// holds nothing more for the misbehaving peers: only the bystander's connection (one task) is left,
/// with no call running.
async fn still_serving(server: &TestServer, bystander: &TestClient) {
    assert_eq!(
        within("bystander call", bystander.add(20, 22))
            .await
            .unwrap(),
        42
    );
    let fresh = server.client().await;
    assert_eq!(fresh.add(1, 1).await.unwrap(), 2);
    fresh.disconnect().await;
    connections_settle_at(server, 1).await;
}

/// Waits until the server holds exactly `n` connections (one task each), then checks that no call
/// is left running.
async fn connections_settle_at(server: &TestServer, n: usize) {
    within(
        "the server to hold only the expected connections",
        server.stats.wait_for_connections(|c| c == n),
    )
    .await;
    assert_eq!(server.stats.calls_in_flight(), 0);
}

#[tokio::test]
async fn wrong_schema_is_refused_after_the_upgrade_with_4001() {
    let server = TestServer::start().await;
    let bystander = server.client().await;
    let mut ws = raw_connect(
        server.port,
        &["hardlight.v1", "hardlight.schema.0000000000000001"],
    )
    .await
    .unwrap();
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::SCHEMA_MISMATCH);
    assert!(reason.contains("schema mismatch"), "{reason}");
    drop(ws);
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn another_protocol_version_is_refused_with_4002() {
    let server = TestServer::start().await;
    let bystander = server.client().await;
    let mut ws = raw_connect(server.port, &["hardlight.v9"]).await.unwrap();
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::UNSUPPORTED_VERSION);
    assert!(reason.contains("hardlight.v1"), "{reason}");
    drop(ws);
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn a_missing_subprotocol_is_refused_over_http() {
    let server = TestServer::start().await;
    let bystander = server.client().await;
    match raw_connect(server.port, &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected HTTP 400, got {:?}", other.map(|_| ())),
    }
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn malformed_frames_close_only_that_connection() {
    let server = TestServer::start().await;
    let bystander = server.client().await;
    let cases: Vec<(&str, Message, u16)> = vec![
        (
            "text message",
            Message::Text("hi".into()),
            close::UNSUPPORTED_DATA,
        ),
        (
            "empty message",
            Message::Binary(vec![].into()),
            close::PROTOCOL_ERROR,
        ),
        (
            "truncated call",
            Message::Binary(vec![0x01, 0, 1, 0].into()),
            close::PROTOCOL_ERROR,
        ),
        (
            "unknown kind",
            Message::Binary(vec![0x7f, 0, 0, 0, 0, 0, 0, 0].into()),
            close::PROTOCOL_ERROR,
        ),
        (
            "unknown flag",
            Message::Binary(vec![0x01, 0x80, 0, 0, 0, 0, 0, 0].into()),
            close::PROTOCOL_ERROR,
        ),
        (
            "compression not negotiated",
            Message::Binary(vec![0x01, FLAG_COMPRESSED, 1, 2, 3].into()),
            close::PROTOCOL_ERROR,
        ),
    ];
    for (what, message, expected) in cases {
        let (mut ws, _) = raw_hardlight(server.port, None).await;
        within("send", futures_util::SinkExt::send(&mut ws, message))
            .await
            .unwrap();
        let (code, reason) = expect_close(&mut ws).await;
        assert_eq!(code, expected, "{what}: {reason}");
        still_serving(&server, &bystander).await;
    }
}

#[tokio::test]
async fn bad_arguments_and_unknown_methods_fail_only_the_call() {
    let server = TestServer::start().await;
    let (mut ws, _) = raw_hardlight(server.port, None).await;
    // `add` is method 1 and takes (u32, u32): three bytes are not a valid archive of that.
    let mut call = encode_call(1, method::ADD, &()).unwrap();
    call.extend_from_slice(&[1, 2, 3]);
    send_binary(&mut ws, call).await;
    match decode_server(&read_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 1, status, ..
        } => {
            assert_eq!(
                status,
                hardlight::__private::wire::frame::ReplyStatus::BadArguments
            )
        }
        other => panic!("{other:?}"),
    }
    send_binary(&mut ws, encode_call(2, 999, &()).unwrap()).await;
    match decode_server(&read_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 2, status, ..
        } => {
            assert_eq!(
                status,
                hardlight::__private::wire::frame::ReplyStatus::UnknownMethod
            )
        }
        other => panic!("{other:?}"),
    }
    // Same connection, a good call.
    send_binary(&mut ws, encode_call(3, method::ADD, &(2u32, 3u32)).unwrap()).await;
    match decode_server(&read_frame(&mut ws).await).unwrap() {
        ServerFrame::Reply {
            call_id: 3, body, ..
        } => {
            assert_eq!(u32::decode(body).unwrap(), 5)
        }
        other => panic!("{other:?}"),
    }
    drop(ws);
    connections_settle_at(&server, 0).await;
}

#[tokio::test]
async fn a_call_id_reused_while_in_flight_is_a_protocol_error() {
    let server = TestServer::start().await;
    let bystander = server.client().await;
    let (mut ws, _) = raw_hardlight(server.port, None).await;
    // `gate` (method 2) parks until released, so id 5 stays in flight.
    send_binary(&mut ws, encode_call(5, method::GATE, &()).unwrap()).await;
    server.ctx.wait_entered(1).await;
    send_binary(&mut ws, encode_call(5, method::GATE, &()).unwrap()).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::PROTOCOL_ERROR);
    assert!(reason.contains("reused"), "{reason}");
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn more_calls_than_slots_wait_for_one_and_reading_stops_meanwhile() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_calls_in_flight(4),
    )
    .await;
    let bystander = server.client().await;
    let (mut ws, hello) = raw_hardlight(server.port, None).await;
    match decode_server(&hello).unwrap() {
        ServerFrame::Hello(hello) => assert_eq!(hello.max_calls, 4),
        other => panic!("{other:?}"),
    }
    for id in 0..5 {
        send_binary(&mut ws, encode_call(id, method::GATE, &()).unwrap()).await;
    }
    // Four run; the fifth waits for a slot, and the connection stays open.
    server.ctx.wait_entered(4).await;
    assert_eq!(server.stats.calls_in_flight(), 4);
    server.ctx.gate.add_permits(10);
    let mut answered = Vec::new();
    for _ in 0..5 {
        match decode_server(&read_frame(&mut ws).await).unwrap() {
            ServerFrame::Reply { call_id, .. } => answered.push(call_id),
            other => panic!("{other:?}"),
        }
    }
    answered.sort_unstable();
    assert_eq!(answered, [0, 1, 2, 3, 4]);
    drop(ws);
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(4096),
    )
    .await;
    let bystander = server.client().await;
    let (mut ws, _) = raw_hardlight(server.port, None).await;
    send_binary(
        &mut ws,
        encode_call(1, method::ECHO, &(vec![7u8; 10_000],)).unwrap(),
    )
    .await;
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, close::MESSAGE_TOO_BIG);
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn a_decompression_bomb_closes_with_1009_and_memory_stays_bounded() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").max_message_size(1 << 20),
    )
    .await;
    let bystander = server.client().await;
    let (mut ws, hello) = raw_hardlight(server.port, Some(6)).await;
    match decode_server(&hello).unwrap() {
        ServerFrame::Hello(hello) => assert_eq!(hello.compression, 6),
        other => panic!("{other:?}"),
    }
    // 256 MiB of zeros deflate to about 250 KiB; the server must stop inflating at 1 MiB.
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        encoder.write_all(&zeros).unwrap();
    }
    let mut bomb = vec![0x01, FLAG_COMPRESSED];
    bomb.extend(encoder.finish().unwrap());
    assert!(bomb.len() < 1 << 20, "the bomb itself fits under the limit");
    send_binary(&mut ws, bomb).await;
    let (code, reason) = expect_close(&mut ws).await;
    assert_eq!(code, close::MESSAGE_TOO_BIG, "{reason}");
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn compression_is_negotiated_and_used_only_for_large_frames() {
    let server = TestServer::start().await;
    let (mut ws, _) = raw_hardlight(server.port, Some(6)).await;
    send_binary(
        &mut ws,
        encode_call(1, method::ECHO, &(vec![b'x'; 10_000],)).unwrap(),
    )
    .await;
    let big = read_frame(&mut ws).await;
    assert_eq!(big[1] & FLAG_COMPRESSED, FLAG_COMPRESSED);
    assert!(big.len() < 1_000, "10 kB of one byte compresses well");
    send_binary(
        &mut ws,
        encode_call(2, method::ECHO, &(vec![b'x'; 10],)).unwrap(),
    )
    .await;
    let small = read_frame(&mut ws).await;
    assert_eq!(
        small[1] & FLAG_COMPRESSED,
        0,
        "small frames go uncompressed"
    );

    // Without negotiation nothing is compressed.
    let (mut plain, _) = raw_hardlight(server.port, None).await;
    send_binary(
        &mut plain,
        encode_call(1, method::ECHO, &(vec![b'x'; 10_000],)).unwrap(),
    )
    .await;
    assert_eq!(read_frame(&mut plain).await[1] & FLAG_COMPRESSED, 0);

    // The typed client round-trips large payloads with compression on.
    let client = server
        .client_with(server.client_config().compression(Compression::best()))
        .await;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    assert_eq!(client.echo(payload.clone()).await.unwrap(), payload);
}

#[tokio::test]
async fn a_server_may_refuse_compression() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").allow_compression(false),
    )
    .await;
    let (_ws, hello) = raw_hardlight(server.port, Some(6)).await;
    match decode_server(&hello).unwrap() {
        ServerFrame::Hello(hello) => assert_eq!(hello.compression, 0),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_silent_tcp_peer_is_dropped_at_the_handshake_timeout() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let bystander = server.client().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    // The server gives up on the TLS handshake and closes: read sees EOF (or a reset).
    let read = within("the server to drop the peer", tcp.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn bytes_that_are_not_http_are_dropped() {
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"\x00\x01\x02garbage\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The server closes the connection (EOF or reset) instead of waiting: `within` fails otherwise.
    let _ = within("the server to drop the peer", tcp.read_to_end(&mut buf)).await;
    assert!(
        buf.is_empty() || buf.starts_with(b"HTTP/1.1 4"),
        "unexpected answer: {:?}",
        String::from_utf8_lossy(&buf)
    );
    let client = server.client().await;
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn pipelined_calls_start_in_arrival_order() {
    let server = TestServer::start().await;
    let (mut ws, _) = raw_hardlight(server.port, None).await;
    // Three `bump` calls (method 6) in one go: each sees the previous one's change.
    for id in 1..=3 {
        send_binary(&mut ws, encode_call(id, method::BUMP, &()).unwrap()).await;
    }
    let mut counters = Vec::new();
    while counters.len() < 3 {
        if let ServerFrame::Reply { call_id, body, .. } =
            decode_server(&read_frame(&mut ws).await).unwrap()
        {
            counters.push((call_id, u32::decode(body).unwrap()));
        }
    }
    assert_eq!(counters, vec![(1, 1), (2, 2), (3, 3)]);
}

#[tokio::test]
async fn an_http_request_without_upgrade_gets_400() {
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let bystander = server.client().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = within(
        "the server to answer and close",
        tcp.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn an_upgrade_without_a_key_or_version_13_is_refused_saying_so() {
    let server = TestServer::with_config(ServerConfig::plaintext("127.0.0.1:0")).await;
    let offer = test_offer(None).join(", ");
    let good = upgrade_request("/", &offer, "");
    let cases = [
        (
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "",
            "400",
            "Sec-WebSocket-Key",
        ),
        (
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Version: 8\r\n",
            "426",
            "version 13",
        ),
    ];
    for (line, instead, status, expected) in cases {
        assert!(good.contains(line));
        let answer = raw_http(server.port, &good.replace(line, instead)).await;
        let status_line = format!("HTTP/1.1 {status}");
        assert!(answer.status.starts_with(&status_line), "{}", answer.text);
        assert!(answer.body.contains(expected), "{}", answer.text);
        // RFC 6455 §4.4: a refused version is answered with the one the server speaks.
        let version = answer.head.contains("sec-websocket-version: 13");
        assert_eq!(version, status == "426", "{}", answer.head);
    }
    // The same request with both is upgraded, answered with the accept key of RFC 6455's example.
    let answer = raw_http(server.port, &good).await;
    assert!(answer.status.starts_with("HTTP/1.1 101"), "{}", answer.text);
    assert!(
        answer
            .head
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{}",
        answer.head
    );
}

#[tokio::test]
async fn a_slowloris_handshake_is_cut_at_the_handshake_timeout() {
    let server = TestServer::with_config(
        ServerConfig::plaintext("127.0.0.1:0").handshake_timeout(Duration::from_millis(500)),
    )
    .await;
    let bystander = server.client().await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut read, mut write) = tcp.into_split();
    // The attacker: a valid upgrade request, one byte every 20 ms, never finished in time.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {}\r\nX-Padding: {}\r\n\r\n",
        test_offer(None).join(", "),
        "a".repeat(200)
    );
    let dribble = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        for byte in request.bytes() {
            ticks.tick().await;
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    // The server gives up at the handshake timeout, long before the request would be complete.
    let _ = within(
        "the server to drop the slow peer",
        read.read_to_end(&mut answer),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&answer).contains(" 101 "),
        "the slow handshake was upgraded"
    );
    dribble.abort();
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn a_client_that_never_completes_tls_is_dropped() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0").handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let bystander = server.client().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    // The start of a TLS ClientHello record announcing 512 bytes, then nothing more.
    tcp.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .await
    .unwrap();
    let mut buf = Vec::new();
    let read = within("the server to drop the peer", tcp.read_to_end(&mut buf)).await;
    assert!(matches!(read, Ok(_) | Err(_)));
    still_serving(&server, &bystander).await;
}

#[tokio::test]
async fn a_client_that_sends_calls_but_never_reads_is_held_back_then_dropped() {
    let server = TestServer::with_config(
        ServerConfig::new_self_signed("127.0.0.1:0")
            .keepalive(Duration::from_millis(200), Duration::from_secs(1)),
    )
    .await;
    let bystander = TestClient::new(
        server
            .client_config()
            .keepalive(Duration::from_millis(200), Duration::from_secs(5)),
    );
    within("connect", bystander.connect()).await.unwrap();
    let (ws, _hello) = raw_hardlight(server.port, None).await;
    let (mut sink, stream) = ws.split();
    // Calls for 16 KiB replies, as fast as the socket takes them, and never a read: the server
    // stops reading once its unwritten replies pile up, TCP holds the rest back, and the peer, which
    // answers no ping, is closed at the idle timeout.
    let flood = tokio::spawn(async move {
        let mut sent = 0u32;
        while sent < 1_000_000 {
            let call = encode_call(sent, method::BLOB, &(16_384u32,)).unwrap();
            if futures_util::SinkExt::send(&mut sink, Message::Binary(call.into()))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        sent
    });
    within(
        "the flooding peer to be dropped",
        server.stats.wait_for_connections(|n| n == 1),
    )
    .await;
    // Far fewer calls got in than were tried: the server held the peer back.
    let sent = within("the flood to stop", flood).await.unwrap();
    assert!(
        sent < 1_000_000,
        "the server read {sent} calls without writing"
    );
    drop(stream);
    still_serving(&server, &bystander).await;
}
