//! Connecting over tokio's sockets: TCP, rustls, the WebSocket upgrade, then the server's `HELLO`;
//! the connection's frames are then read and written by [`crate::ws::client`].

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::{Sink, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::Mirror;
use super::config::{ClientConfig, Target};
use super::driver::drive;
use super::request::request_head;
use super::session::{
    BeforeHello, Incoming, ReadError, Session, check_selected, expected_hello, lost_before_hello,
};
use super::sink::{Outgoing, Packed, TransportSink};
use crate::contract::ServiceSchema;
use crate::error::{ConnectError, TransportError};
use crate::keepalive::Keepalive;
use crate::tls::{TlsError, server_name};
use crate::ws::client::{FrameReader, FrameWriter, Message, ReadError as WsReadError};
use crate::ws::{CLIENT_READ_BUFFER, CLIENT_WRITE_BUFFER};

/// Opens a connection and starts its driver task.
pub(crate) async fn connect<S: ?Sized + ServiceSchema + 'static>(
    config: &ClientConfig,
    mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, ConnectError> {
    let target = Target::parse(&config.address, config.trust.is_some())?;
    let attempt = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                TransportError::new(format!("could not connect to {}", target.authority()), e)
            })?;
        let _ = tcp.set_nodelay(true);
        match &config.trust {
            Some(trust) => {
                let connector = trust.connector()?;
                let tls = connector
                    .connect(server_name(&target.host)?, tcp)
                    .await
                    .map_err(tls_handshake)?;
                establish::<S, _>(tls, &target, config, mirror).await
            }
            None => establish::<S, _>(tcp, &target, config, mirror).await,
        }
    };
    crate::rt::timeout(config.connect_timeout, attempt)
        .await
        .map_err(|_| ConnectError::Timeout {
            after: config.connect_timeout,
        })?
}

/// The error for a TLS handshake that failed: rustls's verdict (an untrusted certificate, an
/// alert) as a TLS error, anything else (the connection reset) as a transport failure.
fn tls_handshake(e: std::io::Error) -> ConnectError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rejected) => TlsError::Handshake(rejected.clone()).into(),
        None => TransportError::new("the TLS handshake failed", e).into(),
    }
}

async fn establish<S, St>(
    stream: St,
    target: &Target,
    config: &ClientConfig,
    mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, ConnectError>
where
    S: ?Sized + ServiceSchema + 'static,
    St: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let key = generate_key();
    let head = request_head(config, target, S::schema().fingerprint(), &key)?;
    let (stream, selected, tail) = upgrade(stream, &head, &key).await?;
    check_selected(selected.as_deref())?;
    let (read, write) = tokio::io::split(stream);
    let mut reader = FrameReader::new(read, &tail, CLIENT_READ_BUFFER, config.max_message_size);
    let mut sink = FrameSink(FrameWriter::new(write, CLIENT_WRITE_BUFFER));

    let mut before = BeforeHello::default();
    let hello = loop {
        match reader.next().await {
            Some(Ok(Message::Binary(message))) => {
                if !before.take(&message, config.max_nesting_depth) {
                    break message;
                }
            }
            Some(Ok(Message::Close(code, reason))) => {
                return Err(before.closed(code, reason, mirror));
            }
            Some(Ok(Message::Ping(payload))) => {
                // Answered now: the server may be waiting for it before it says hello.
                sink.send(Outgoing::Pong(payload))
                    .await
                    .map_err(ConnectError::from)?;
            }
            Some(Ok(Message::Pong)) => continue,
            Some(Ok(Message::Text)) => return Err(expected_hello().into()),
            Some(Err(WsReadError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(lost_before_hello());
            }
            Some(Err(e)) => return Err(TransportError::new("the WebSocket failed", e).into()),
            None => return Err(lost_before_hello()),
        }
    };
    let session = Session::<S>::from_hello(
        &hello,
        config.received(),
        mirror.state.clone(),
        mirror.events.clone(),
    )?;

    let stream = reader.map(|message| match message {
        Ok(Message::Binary(data)) => Ok(Incoming::Binary(data)),
        Ok(Message::Text) => Ok(Incoming::Text),
        Ok(Message::Close(code, reason)) => Ok(Incoming::Close { code, reason }),
        Ok(Message::Ping(payload)) => Ok(Incoming::Ping(payload)),
        Ok(Message::Pong) => Ok(Incoming::Pong),
        Err(e @ WsReadError::TooLarge { .. }) => Err(ReadError::TooLarge(e.to_string())),
        Err(e @ (WsReadError::Header(_) | WsReadError::Close(_) | WsReadError::Sequence(_))) => {
            Err(ReadError::Malformed(e.to_string()))
        }
        Err(WsReadError::Io(e)) => Err(ReadError::Failed(TransportError::new(
            "reading from the connection failed",
            e,
        ))),
    });
    let keepalive = Keepalive::new(config.keepalive_interval, config.idle_timeout);
    crate::rt::spawn(drive(
        session.clone(),
        Box::pin(sink),
        Box::pin(stream),
        keepalive,
    ));
    Ok(session)
}

/// The client's frame writer as the sink the driver and the callers write to.
pub(super) struct FrameSink<W>(pub(super) FrameWriter<W>);

impl<W: AsyncWrite + Unpin> Sink<Outgoing> for FrameSink<W> {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().0.poll_ready(cx).map_err(writing)
    }

    fn start_send(self: Pin<&mut Self>, message: Outgoing) -> Result<(), Self::Error> {
        let writer = &mut self.get_mut().0;
        match message {
            Outgoing::Binary(frame) => writer.binary(frame),
            Outgoing::Ping => writer.ping(&[]),
            Outgoing::Pong(payload) => writer.pong(&payload),
            Outgoing::Close(code, reason) => writer.close(code, &reason),
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().0.poll_flush(cx).map_err(writing)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().0.poll_close(cx).map_err(writing)
    }
}

impl<W: AsyncWrite + Unpin + Send> TransportSink for FrameSink<W> {
    fn start_send_slice(self: Pin<&mut Self>, payload: &[u8]) -> Result<(), TransportError> {
        self.get_mut().0.binary_slice(payload);
        Ok(())
    }

    fn start_send_packed(self: Pin<&mut Self>, packed: &mut Packed) -> Result<(), TransportError> {
        // Packed as the frames themselves, masked: see `Packed::push`.
        self.get_mut().0.encoded(packed.take_bytes());
        Ok(())
    }
}

fn writing(e: std::io::Error) -> TransportError {
    TransportError::new("writing to the connection failed", e)
}

/// Most bytes of a response head the client reads: as much as the server accepts of a request head.
const MAX_RESPONSE_HEAD: usize = 8 << 10;
/// Most headers in a response head.
const MAX_RESPONSE_HEADERS: usize = 64;
/// Most bytes of a refusal's body the client reads for its reason.
const MAX_REFUSAL_BODY: usize = 4 << 10;

/// The client's side of the WebSocket upgrade (RFC 6455 §4.1): sends `head` (offering `key`), reads
/// the answer, and checks it. Returns the stream, the subprotocol the server selected, and the bytes
/// read past the response head (the first frames).
///
/// # Errors
/// [`ConnectError::Unauthorized`] or [`ConnectError::HandshakeRefused`] with the reason for an
/// answer other than 101; [`ConnectError::Transport`] if the answer is not a valid upgrade or the
/// connection fails.
async fn upgrade<St: AsyncRead + AsyncWrite + Unpin>(
    mut stream: St,
    head: &[u8],
    key: &str,
) -> Result<(St, Option<String>, Vec<u8>), ConnectError> {
    let sending = |e| TransportError::new("could not send the upgrade request", e);
    stream.write_all(head).await.map_err(sending)?;
    stream.flush().await.map_err(sending)?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response
            .parse(&buf)
            .map_err(|e| TransportError::new("invalid upgrade response", e))?;
        if let httparse::Status::Complete(len) = parsed {
            let status = response.code.unwrap_or(0);
            let header = |name: &str| {
                response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .map(str::trim)
            };
            if status != 101 {
                let length = header("content-length").and_then(|v| v.parse::<usize>().ok());
                let body = read_body(&mut stream, buf.split_off(len), length).await;
                return Err(ConnectError::http_refusal(status, Some(&body)));
            }
            let has_token = |name: &str, token: &str| {
                header(name).is_some_and(|v| {
                    v.split(',')
                        .any(|part| part.trim().eq_ignore_ascii_case(token))
                })
            };
            if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
                return Err(TransportError::message(
                    "invalid upgrade response: no `Upgrade: websocket` and `Connection: upgrade`",
                )
                .into());
            }
            if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes()).as_str()) {
                return Err(TransportError::message(
                    "invalid upgrade response: wrong Sec-WebSocket-Accept",
                )
                .into());
            }
            let selected = header("sec-websocket-protocol").map(str::to_owned);
            return Ok((stream, selected, buf.split_off(len)));
        }
        if buf.len() >= MAX_RESPONSE_HEAD {
            return Err(TransportError::message(format!(
                "invalid upgrade response: head longer than {MAX_RESPONSE_HEAD} bytes"
            ))
            .into());
        }
        let mut chunk = [0u8; 1024];
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|e| TransportError::new("could not read the upgrade response", e))?;
        if read == 0 {
            return Err(TransportError::message(
                "the server closed the connection during the upgrade",
            )
            .into());
        }
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// The body of a refusal, for its reason: `length` bytes if the server said how many, else until it
/// closes, at most [`MAX_REFUSAL_BODY`] either way. A read that fails ends the body where it is.
async fn read_body<St: AsyncRead + Unpin>(
    stream: &mut St,
    mut body: Vec<u8>,
    length: Option<usize>,
) -> Vec<u8> {
    let want = length.unwrap_or(usize::MAX).min(MAX_REFUSAL_BODY);
    let mut chunk = [0u8; 1024];
    while body.len() < want {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => body.extend_from_slice(&chunk[..read]),
        }
    }
    body.truncate(want);
    body
}

#[cfg(test)]
mod tests {
    //! The outbox over this transport's writer: what the driver's and the callers' writes put on
    //! the wire.

    use std::future::poll_fn;
    use std::task::Poll;

    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::client::outbox::{Batch, Outbox, SPARE_RUNS};
    use crate::ws::frame::{Header, apply_mask, opcode};

    /// Every frame the driver's writes put on the wire, as (opcode, unmasked payload, key).
    fn frames_of(bytes: &[u8]) -> Vec<(u8, Vec<u8>, [u8; 4])> {
        let mut frames = Vec::new();
        let mut rest = bytes;
        while let Some(header) = Header::parse(rest).unwrap() {
            let end = header.size + header.len as usize;
            let key = header.mask.expect("a client's frames are masked");
            let mut payload = rest[header.size..end].to_vec();
            apply_mask(&mut payload, key);
            frames.push((header.opcode, payload, key));
            rest = &rest[end..];
        }
        assert!(rest.is_empty(), "a frame was cut short");
        frames
    }

    /// An outbox whose sink is the client's frame writer on one end of a pipe; the other end.
    fn piped() -> (Outbox, tokio::io::DuplexStream) {
        let (near, far) = tokio::io::duplex(1 << 20);
        let outbox = Outbox::new();
        outbox.attach(Box::pin(FrameSink(FrameWriter::new(near, 64 << 10))));
        (outbox, far)
    }

    /// One turn of the driver's writer, which writes and flushes what is queued; the batch it ran.
    async fn driver_turn(outbox: &Outbox) -> Batch {
        let mut batch = Batch::default();
        poll_fn(|cx| {
            assert!(outbox.poll_write(cx, &mut batch, || 0).is_pending());
            Poll::Ready(())
        })
        .await;
        batch
    }

    #[tokio::test]
    async fn packed_frames_leave_in_order_each_masked_with_a_key_of_its_own() {
        let (outbox, mut far) = piped();
        let mut expected = Vec::new();
        let mut on_wire = Vec::new();
        // Two rounds: the second packs into the runs the first one emptied.
        for round in 0..2u8 {
            for i in 0..40u8 {
                // Sizes across the two-byte length of a frame's header (126 and up).
                let payload = vec![round * 100 + i; 1 + usize::from(i) * 7];
                if i % 10 == 9 {
                    outbox
                        .queue(Outgoing::Binary(Bytes::from(payload.clone())))
                        .unwrap();
                } else {
                    outbox.send_call_small(&payload, false).unwrap();
                }
                expected.push(payload);
            }
            let mut batch = driver_turn(&outbox).await;
            assert_eq!(batch.take_flushed().map(|(frames, _)| frames), Some(40));
            let mut bytes = vec![0; 64 << 10];
            let n = far.read(&mut bytes).await.unwrap();
            on_wire.extend_from_slice(&bytes[..n]);
            assert!(outbox.spare_runs() <= SPARE_RUNS);
        }
        let frames = frames_of(&on_wire);
        let payloads: Vec<Vec<u8>> = frames
            .iter()
            .map(|(_, payload, _)| payload.clone())
            .collect();
        assert_eq!(payloads, expected);
        assert!(frames.iter().all(|(op, ..)| *op == opcode::BINARY));
        let keys: std::collections::HashSet<[u8; 4]> =
            frames.iter().map(|(.., key)| *key).collect();
        assert_eq!(keys.len(), frames.len(), "a masking key was used twice");
    }

    #[tokio::test]
    async fn a_lone_small_frame_is_written_and_flushed_by_its_caller() {
        let (outbox, mut far) = piped();
        // The driver's waker is registered by its first turn.
        driver_turn(&outbox).await;
        outbox.send_call_small(b"lone", true).unwrap();
        // Nothing was left for the driver: its next turn flushes nothing.
        assert!(
            driver_turn(&outbox).await.take_flushed().is_none(),
            "the frame was queued"
        );
        let mut bytes = vec![0; 64];
        let n = far.read(&mut bytes).await.unwrap();
        let frames = frames_of(&bytes[..n]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].1, b"lone");
    }
}
