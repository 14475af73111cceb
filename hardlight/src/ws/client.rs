//! The client's end of a WebSocket connection once upgraded (RFC 6455): the server's frames read into
//! messages ([`FrameReader`]), the client's messages written as masked frames ([`FrameWriter`]).
//!
//! Why not tungstenite here, as on the server: a client receives the bulk of a connection's bytes
//! (replies, stream items, events), and tungstenite zero-fills its whole read buffer before every
//! read and copies the start of each message while earlier ones are still held. The reader here
//! reads into the unused room of one `BytesMut` as it is, and hands each binary message out as a
//! `Bytes` cut from that buffer: no fill, no copy, one system call for whatever has arrived.
//!
//! The reader enforces what a client must (§5.1: a server's frames are never masked) and the limits
//! of the connection: a message over `max_message` bytes is refused by its header, before its payload
//! is read, so the buffer never holds more than one message and one read.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::{Close, CloseError, Header, HeaderError, apply_mask, opcode};
use super::poll_write_parts;

/// A message from the server.
#[derive(Debug)]
pub(crate) enum Message {
    /// A binary message, whole.
    Binary(Bytes),
    /// A text message (its bytes are not kept: hardlight's protocol has none).
    Text,
    /// A ping, with its payload (the pong must carry it back).
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: its code, if any, and reason.
    Close(Option<u16>, String),
}

/// Why the server's frames cannot be read on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// A message longer than the client accepts.
    #[error("a message of {len} bytes or more, over the limit of {max} bytes")]
    TooLarge {
        /// Its length, as far as known when it was refused.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A frame's header no server may send.
    #[error("invalid frame from the server: {0}")]
    Header(#[from] HeaderError),
    /// A close frame no server may send.
    #[error("invalid close frame from the server: {0}")]
    Close(#[from] CloseError),
    /// Frames out of order, or masked.
    #[error("invalid frame from the server: {0}")]
    Sequence(&'static str),
    /// The socket failed.
    #[error("reading from the socket failed")]
    Io(#[from] io::Error),
}

/// A fragmented message being put together.
struct Fragments {
    /// Its opcode: text or binary.
    opcode: u8,
    bytes: BytesMut,
}

/// Reads the server's frames and hands out whole messages; a [`Stream`] whose last item is an error
/// ([`io::ErrorKind::UnexpectedEof`] when the socket ended) or the server's close frame.
pub(crate) struct FrameReader<R> {
    io: R,
    /// Bytes received and not yet handed out. Messages handed out share its allocation; when they
    /// are still held once it is full, the next bytes go to a new one.
    buf: BytesMut,
    /// Room to have for each read, at least.
    read_size: usize,
    /// Longest message accepted.
    max_message: usize,
    fragments: Option<Fragments>,
}

/// What the bytes at hand held.
enum Parsed {
    Message(Message),
    /// A fragment, taken: look for the next frame.
    Fragment,
    /// A frame is not whole yet: it needs this many bytes in the buffer (at least).
    Need(usize),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of `io`, whose first bytes (read past the upgrade response) are `leftover`; it reads
    /// up to `read_size` bytes at a time and refuses messages over `max_message` bytes.
    pub(crate) fn new(io: R, leftover: &[u8], read_size: usize, max_message: usize) -> Self {
        let mut buf = BytesMut::with_capacity(read_size.max(leftover.len()));
        buf.extend_from_slice(leftover);
        Self {
            io,
            buf,
            read_size,
            max_message,
            fragments: None,
        }
    }

    /// The next message. The socket's end is an error: a connection ends with a close frame.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, ReadError>>> {
        loop {
            let need = match self.parse() {
                Ok(Parsed::Message(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(Parsed::Fragment) => continue,
                Ok(Parsed::Need(need)) => need,
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            let room = self.buf.capacity() - self.buf.len();
            let missing = need.saturating_sub(self.buf.len());
            // Whatever room is left is read into while the frame's length is unknown, or while it
            // holds the rest of the frame: growing the buffer reclaims it only once no message cut
            // from it is held, and right after a message was handed out its caller usually still
            // holds it. By the time bytes fill the last of the room, it has let go: calls made one
            // at a time cost no allocation here (the price: a short read once per buffer).
            if room < missing {
                // Room for the frame and a whole read, within the first buffer's size: reclaimed
                // in place when nothing cut from the buffer is held any more (asking for more
                // would grow it instead), else a new buffer of that size.
                let len = self.buf.len();
                self.buf
                    .reserve(missing.max(self.read_size.saturating_sub(len)));
            }
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.buf
            ))?;
            if read == 0 {
                // Ended without a close frame (between frames or within one): lost, not closed.
                return Poll::Ready(Some(Err(ReadError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server ended the connection without a close frame",
                )))));
            }
        }
    }

    /// Takes the frame at the start of the buffer, if it is whole.
    fn parse(&mut self) -> Result<Parsed, ReadError> {
        let Some(header) = Header::parse(&self.buf)? else {
            // Not whole yet: a byte more, at least.
            return Ok(Parsed::Need(self.buf.len() + 1));
        };
        if header.mask.is_some() {
            return Err(ReadError::Sequence(
                "a masked frame (a server's frames are not masked)",
            ));
        }
        let held = self.fragments.as_ref().map_or(0, |f| f.bytes.len());
        let data = header.opcode & 0x08 == 0;
        if data && header.len > (self.max_message - held) as u64 {
            return Err(ReadError::TooLarge {
                len: held as u64 + header.len,
                max: self.max_message,
            });
        }
        // Within `max_message` (data) or 125 (control): it fits a usize.
        let total = header.size + header.len as usize;
        if self.buf.len() < total {
            return Ok(Parsed::Need(total));
        }
        let mut payload = self.buf.split_to(total);
        payload.advance(header.size);
        let fragmented = self.fragments.is_some();
        let message = match (header.opcode, header.fin) {
            (opcode::PING, _) => Message::Ping(payload.freeze()),
            (opcode::PONG, _) => Message::Pong,
            (opcode::CLOSE, _) => {
                let close = Close::parse(&payload)?;
                Message::Close(close.code, close.reason.to_owned())
            }
            (opcode::TEXT | opcode::BINARY, _) if fragmented => {
                return Err(ReadError::Sequence(
                    "a new message before the fragmented one ended",
                ));
            }
            (opcode::BINARY, true) => Message::Binary(payload.freeze()),
            (opcode::TEXT, true) => Message::Text,
            (op @ (opcode::TEXT | opcode::BINARY), false) => {
                self.fragments = Some(Fragments {
                    opcode: op,
                    bytes: payload,
                });
                return Ok(Parsed::Fragment);
            }
            // A continuation.
            (_, fin) => {
                let Some(mut fragments) = self.fragments.take() else {
                    return Err(ReadError::Sequence(
                        "a continuation frame with no message to continue",
                    ));
                };
                fragments.bytes.extend_from_slice(&payload);
                if !fin {
                    self.fragments = Some(fragments);
                    return Ok(Parsed::Fragment);
                }
                match fragments.opcode {
                    opcode::BINARY => Message::Binary(fragments.bytes.freeze()),
                    _ => Message::Text,
                }
            }
        };
        Ok(Parsed::Message(message))
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Message, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

/// Payloads from this size on are not copied into the writer's buffer: they are masked where they
/// lie (when the caller's buffer is not shared) and written from there, after their header.
const LARGE: usize = 16 << 10;

/// Writes the client's messages as masked frames, gathering them until a flush (or until
/// `high_water` bytes wait) so that a batch leaves in one system call.
pub(crate) struct FrameWriter<W> {
    io: W,
    /// Large frames' headers and payloads (and the small frames gathered before them), in order:
    /// written before `buf`.
    parts: VecDeque<Bytes>,
    /// Small frames, encoded after everything in `parts`, not yet written.
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    high_water: usize,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer to `io` that writes out what it holds once it holds `high_water` bytes.
    pub(crate) fn new(io: W, high_water: usize) -> Self {
        Self {
            io,
            parts: VecDeque::new(),
            buf: Vec::new(),
            written: 0,
            high_water,
        }
    }

    /// Ready when another message may be added: fewer than `high_water` bytes wait.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.parts.is_empty() || self.buf.len() - self.written >= self.high_water {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Adds a binary message.
    pub(crate) fn binary(&mut self, payload: Bytes) {
        if payload.len() < LARGE {
            self.frame(opcode::BINARY, &payload);
            return;
        }
        let key: [u8; 4] = rand::random();
        let mut head = Vec::with_capacity(14);
        Header::write(&mut head, opcode::BINARY, payload.len(), Some(key));
        let payload = match payload.try_into_mut() {
            Ok(mut mine) => {
                apply_mask(&mut mine, key);
                mine.freeze()
            }
            Err(shared) => {
                let mut copy = shared.to_vec();
                apply_mask(&mut copy, key);
                Bytes::from(copy)
            }
        };
        if self.written < self.buf.len() {
            let mut small = std::mem::take(&mut self.buf);
            small.drain(..self.written);
            self.parts.push_back(Bytes::from(small));
        }
        self.buf.clear();
        self.written = 0;
        self.parts.push_back(Bytes::from(head));
        self.parts.push_back(payload);
    }

    /// Adds a ping.
    pub(crate) fn ping(&mut self, payload: &[u8]) {
        self.frame(opcode::PING, payload);
    }

    /// Adds a pong.
    pub(crate) fn pong(&mut self, payload: &[u8]) {
        self.frame(opcode::PONG, payload);
    }

    /// Adds a close frame with `code` and `reason` (which the caller keeps within a control frame's
    /// 123 bytes).
    pub(crate) fn close(&mut self, code: u16, reason: &str) {
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
        self.frame(opcode::CLOSE, &payload);
    }

    /// Copies a small frame, masked, into the buffer.
    fn frame(&mut self, op: u8, payload: &[u8]) {
        // §5.3: a fresh, unpredictable key for every frame.
        let key: [u8; 4] = rand::random();
        Header::write(&mut self.buf, op, payload.len(), Some(key));
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        apply_mask(&mut self.buf[start..], key);
    }

    /// Writes out everything added, then flushes the socket.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Writes out everything added, then shuts the socket's write side.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(poll_write_parts(
            Pin::new(&mut self.io),
            cx,
            &mut self.parts
        ))?;
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::io::Cursor;

    use futures_util::StreamExt;
    use tokio::io::ReadBuf;

    use super::*;

    /// A connection's bytes, arriving `burst` bytes at a time (as segments do), counting the reads
    /// made of them.
    struct Counted {
        bytes: Cursor<Vec<u8>>,
        burst: usize,
        reads: usize,
    }

    impl AsyncRead for Counted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.reads += 1;
            let len = buf.remaining().min(self.burst);
            let start = self.bytes.position() as usize;
            let all = self.bytes.get_ref();
            let end = (start + len).min(all.len());
            buf.put_slice(&all[start..end]);
            self.bytes.set_position(end as u64);
            Poll::Ready(Ok(()))
        }
    }

    fn reader(bytes: Vec<u8>, burst: usize, max: usize) -> FrameReader<Counted> {
        let io = Counted {
            bytes: Cursor::new(bytes),
            burst,
            reads: 0,
        };
        FrameReader::new(io, &[], super::super::CLIENT_READ_BUFFER, max)
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Header::write(&mut out, first & 0x0F, payload.len(), None);
        out[0] = first;
        out.extend_from_slice(payload);
        out
    }

    async fn all(mut reader: FrameReader<Counted>) -> Vec<Result<Message, ReadError>> {
        let mut got = Vec::new();
        while let Some(next) = reader.next().await {
            let last = matches!(next, Err(_) | Ok(Message::Close(..)));
            got.push(next);
            if last {
                break;
            }
        }
        got
    }

    #[tokio::test]
    async fn frames_that_arrived_together_are_read_together() {
        // 1,000 small binary frames, arriving 20 frames at a time, each kept as a caller keeps a
        // reply: the buffer they were cut from stays shared.
        let payload = [7u8; 77];
        let one = frame(0x82, &payload);
        let bytes = one.repeat(1000);
        let total = bytes.len();
        let mut reader = reader(bytes, 20 * one.len(), 1 << 20);
        let mut kept = Vec::new();
        for _ in 0..1000 {
            match reader.next().await {
                Some(Ok(Message::Binary(message))) => {
                    assert_eq!(message[..], payload[..]);
                    kept.push(message);
                }
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
        match reader.next().await {
            Some(Err(ReadError::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("expected the end, got {other:?}"),
        }
        // A read per burst (and a short one where a buffer ends), not one per frame.
        let bursts = total / (20 * one.len());
        let reads = reader.io.reads;
        assert!(reads <= 2 * bursts + 5, "{reads} reads for {bursts} bursts");
    }

    #[tokio::test]
    async fn a_message_in_fragments_with_a_ping_between_is_put_together() {
        let mut bytes = frame(0x02, b"hel");
        bytes.extend(frame(0x89, b"are you there"));
        bytes.extend(frame(0x00, b"lo "));
        bytes.extend(frame(0x80, b"world"));
        bytes.extend(frame(0x8A, b""));
        bytes.extend(frame(0x88, &[0x03, 0xE8, b'o', b'k']));
        let got = all(reader(bytes, 3, 1024)).await;
        let got: Vec<String> = got
            .into_iter()
            .map(|m| format!("{:?}", m.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                format!("{:?}", Message::Ping(Bytes::from_static(b"are you there"))),
                format!("{:?}", Message::Binary(Bytes::from_static(b"hello world"))),
                format!("{:?}", Message::Pong),
                format!("{:?}", Message::Close(Some(1000), "ok".into())),
            ]
        );
    }

    #[tokio::test]
    async fn frames_a_server_may_not_send_are_refused() {
        let masked = {
            let mut out = Vec::new();
            Header::write(&mut out, opcode::BINARY, 1, Some([1, 2, 3, 4]));
            out.push(0);
            out
        };
        let cases: [(Vec<u8>, &str); 5] = [
            (masked, "masked"),
            (frame(0x80, b"x"), "continuation"),
            (
                [frame(0x02, b"a"), frame(0x82, b"b")].concat(),
                "before the fragmented",
            ),
            (frame(0xC2, b"x"), "reserved bits"),
            (frame(0x88, &[0x03, 0xEE]), "close code 1006"),
        ];
        for (bytes, expected) in cases {
            let got = all(reader(bytes, 64, 1024)).await;
            match got.last() {
                Some(Err(e)) => assert!(e.to_string().contains(expected), "{e} for {expected:?}"),
                other => panic!("expected an error for {expected:?}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_message_over_the_limit_is_refused_by_its_header() {
        // The header of a 1 MiB message, and no payload: refused before any of it is read.
        let mut bytes = Vec::new();
        Header::write(&mut bytes, opcode::BINARY, 1 << 20, None);
        let got = all(reader(bytes, 64, 64 << 10)).await;
        assert!(matches!(
            got.last(),
            Some(Err(ReadError::TooLarge { len, max: 65536 })) if *len == 1 << 20
        ));
        // Fragments count together.
        let mut bytes = frame(0x02, &[0; 40]);
        bytes.extend(frame(0x80, &[0; 40]));
        let got = all(reader(bytes, 64, 64)).await;
        assert!(matches!(
            got.last(),
            Some(Err(ReadError::TooLarge { len: 80, max: 64 }))
        ));
    }

    #[tokio::test]
    async fn written_frames_are_masked_and_read_back_whole() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut writer = FrameWriter::new(near, 64 << 10);
        let big = vec![9u8; 70_000];
        poll_fn(|cx| writer.poll_ready(cx)).await.unwrap();
        writer.binary(Bytes::from_static(b"small"));
        writer.binary(Bytes::from(big.clone()));
        writer.binary(Bytes::from_static(b"after"));
        let shared = Bytes::from(vec![5u8; 20_000]);
        writer.binary(shared.clone());
        writer.ping(b"p");
        writer.close(1000, "bye");
        poll_fn(|cx| writer.poll_flush(cx)).await.unwrap();
        drop(writer);
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut far, &mut bytes)
            .await
            .unwrap();
        let mut frames = Vec::new();
        let mut rest = &bytes[..];
        while let Some(header) = Header::parse(rest).unwrap() {
            let key = header.mask.expect("a client's frames are masked");
            let end = header.size + header.len as usize;
            let mut payload = rest[header.size..end].to_vec();
            apply_mask(&mut payload, key);
            frames.push((header.opcode, payload));
            rest = &rest[end..];
        }
        assert!(rest.is_empty());
        assert_eq!(
            frames,
            [
                (opcode::BINARY, b"small".to_vec()),
                (opcode::BINARY, big),
                (opcode::BINARY, b"after".to_vec()),
                (opcode::BINARY, shared.to_vec()),
                (opcode::PING, b"p".to_vec()),
                (opcode::CLOSE, [&[0x03, 0xE8][..], b"bye"].concat()),
            ]
        );
    }
}
