//! The client's end of a WebSocket connection once upgraded (RFC 6455): the server's frames read into
//! messages ([`FrameReader`]), the client's messages written as masked frames ([`FrameWriter`]),
//! each over its half of the socket.
//!
//! A client receives the bulk of a connection's bytes (replies, stream items, events): the reader
//! ([`super::read`]) hands each message out as a slice of its read buffer, never zero-filled, and
//! refuses what a client must (§5.1: a server's frames are never masked). The writer
//! ([`super::write`]) masks small frames into one buffer per batch and sends large payloads from
//! where they lie.

use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite};

use super::read::{self, Peer};
pub(crate) use super::read::{Message, ReadError};
use super::write;

/// Reads the server's frames and hands out whole messages; a [`Stream`] whose last item is an error
/// ([`io::ErrorKind::UnexpectedEof`] when the socket ended) or the server's close frame.
pub(crate) struct FrameReader<R> {
    io: R,
    frames: read::FrameReader,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of `io`, whose first bytes (read past the upgrade response) are `leftover`; it reads
    /// up to `read_size` bytes at a time and refuses messages over `max_message` bytes.
    pub(crate) fn new(io: R, leftover: &[u8], read_size: usize, max_message: usize) -> Self {
        Self {
            io,
            frames: read::FrameReader::new(
                leftover,
                (read_size, usize::MAX),
                max_message,
                Peer::Server,
            ),
        }
    }

    /// The next message. The socket's end is an error: a connection ends with a close frame.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, ReadError>>> {
        self.frames
            .poll_message(Pin::new(&mut self.io), cx, |_| ControlFlow::Continue(()))
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Message, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx)
    }
}

/// Writes the client's messages as masked frames, gathering them until a flush (or until
/// `high_water` bytes wait) so that a batch leaves in one system call.
pub(crate) struct FrameWriter<W> {
    io: W,
    frames: write::FrameWriter,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer to `io` that writes out what it holds once it holds `high_water` bytes.
    pub(crate) fn new(io: W, high_water: usize) -> Self {
        Self {
            io,
            frames: write::FrameWriter::new(true, high_water),
        }
    }

    /// Ready when another message may be added: fewer than `high_water` bytes wait.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.frames.poll_ready(Pin::new(&mut self.io), cx)
    }

    /// Adds a binary message.
    pub(crate) fn binary(&mut self, payload: Bytes) {
        self.frames.binary(payload);
    }

    /// Adds a small binary message, copied.
    pub(crate) fn binary_slice(&mut self, payload: &[u8]) {
        self.frames.binary_slice(payload);
    }

    /// Adds whole frames already encoded and masked (by
    /// [`push_masked_binary`](write::push_masked_binary)), leaving `frames` empty.
    pub(crate) fn encoded(&mut self, frames: &mut Vec<u8>) {
        self.frames.encoded(frames);
    }

    /// Adds a ping.
    pub(crate) fn ping(&mut self, payload: &[u8]) {
        self.frames.ping(payload);
    }

    /// Adds a pong.
    pub(crate) fn pong(&mut self, payload: &[u8]) {
        self.frames.pong(payload);
    }

    /// Adds a close frame with `code` and `reason` (which the caller keeps within a control frame's
    /// 123 bytes).
    pub(crate) fn close(&mut self, code: u16, reason: &str) {
        self.frames.close(Some(code), reason);
    }

    /// Writes out everything added, then flushes the socket.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.frames.poll_flush(Pin::new(&mut self.io), cx)
    }

    /// Writes out everything added, then shuts the socket's write side.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.frames.poll_close(Pin::new(&mut self.io), cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use futures_util::StreamExt;
    use tokio::io::ReadBuf;

    use super::super::frame::{Header, opcode};
    use super::*;

    /// A connection's bytes, arriving `burst` bytes at a time (as segments do), counting the reads
    /// made of them.
    struct Counted {
        bytes: Cursor<Vec<u8>>,
        burst: usize,
        reads: usize,
        /// Where each read ended, in the connection's bytes.
        ends: Vec<usize>,
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
            self.ends.push(end);
            Poll::Ready(Ok(()))
        }
    }

    fn reader(bytes: Vec<u8>, burst: usize, max: usize) -> FrameReader<Counted> {
        let io = Counted {
            bytes: Cursor::new(bytes),
            burst,
            reads: 0,
            ends: Vec::new(),
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
    async fn reads_stop_near_the_end_of_a_large_frame() {
        // Two 40 KiB messages arriving at once: the read that ends the first brings at most a few
        // hundred bytes of the second, which would otherwise be copied out of the first's buffer
        // while its caller holds it.
        let first = frame(0x82, &[1; 40 << 10]);
        let second = frame(0x82, &[2; 40 << 10]);
        let end = first.len();
        let mut reader = reader([first, second].concat(), usize::MAX, 1 << 20);
        let mut kept = Vec::new();
        for fill in [1, 2] {
            match reader.next().await {
                Some(Ok(Message::Binary(message))) => {
                    assert!(message.iter().all(|&b| b == fill));
                    kept.push(message);
                }
                other => panic!("expected a binary message, got {other:?}"),
            }
        }
        let past = reader.io.ends.iter().find(|&&at| at >= end).copied();
        assert!(
            past.is_some_and(|at| at <= end + 256),
            "reads ended at {:?}, the first frame at {end}",
            reader.io.ends
        );
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
}
