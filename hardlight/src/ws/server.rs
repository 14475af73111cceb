//! The server's end of a WebSocket connection once upgraded (RFC 6455): one socket, read and written
//! by the connection's one task.
//!
//! The client's frames are read by [`super::read`] (they must be masked, §5.1, and are unmasked in
//! place), the server's written by [`super::write`] (unmasked). A ping is answered by the next
//! flush; only the latest ping is owed a pong, so a client that pings in a loop cannot grow what the
//! server holds for it.

use std::future::poll_fn;
use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::read::{FrameReader, Peer};
pub(crate) use super::read::{Message, Progress, ReadError};
use super::write::FrameWriter;

/// Bytes read from the socket at a time, at most: small, because every connection, idle or not,
/// keeps a buffer of this size, and because what a read brings of a message still in progress is
/// what a connection may hold beyond the server's budget for partly received messages
/// ([`Progress`] is observed before each read).
pub(crate) const READ_BUFFER: usize = 4096;

/// Bytes of frames gathered before they are written out without waiting for a flush.
pub(crate) const WRITE_BUFFER: usize = 64 << 10;

/// A server's WebSocket over the byte stream `S`.
pub(crate) struct ServerSocket<S> {
    io: S,
    reader: FrameReader,
    writer: FrameWriter,
    /// The payload of the latest ping not yet answered.
    pong: Option<Bytes>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ServerSocket<S> {
    /// The socket over `io`, whose first bytes (read past the upgrade request) are `leftover`;
    /// messages over `max_message` bytes are refused.
    pub(crate) fn new(io: S, leftover: &[u8], max_message: usize) -> Self {
        Self {
            io,
            reader: FrameReader::new(
                leftover,
                (READ_BUFFER, READ_BUFFER),
                max_message,
                Peer::Client,
            ),
            writer: FrameWriter::new(false, WRITE_BUFFER),
            pong: None,
        }
    }

    /// The next message; see [`FrameReader::poll_message`] for `observe`. A ping is handed out too,
    /// and owed a pong, which the next flush writes.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
        observe: impl FnMut(Option<Progress>) -> ControlFlow<()>,
    ) -> Poll<Option<Result<Message, ReadError>>> {
        let message = ready!(
            self.reader
                .poll_message(Pin::new(&mut self.io), cx, observe)
        );
        if let Some(Ok(Message::Ping(payload))) = &message {
            self.pong = Some(payload.clone());
        }
        Poll::Ready(message)
    }

    /// The next message, with nothing observed.
    pub(crate) async fn next(&mut self) -> Option<Result<Message, ReadError>> {
        poll_fn(|cx| self.poll_message(cx, |_| ControlFlow::Continue(()))).await
    }

    /// Ready when another message may be added: fewer than [`WRITE_BUFFER`] bytes wait.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_ready(Pin::new(&mut self.io), cx)
    }

    /// Whether another message may be added without writing anything out first: fewer than
    /// [`WRITE_BUFFER`] bytes wait.
    pub(crate) fn has_room(&self) -> bool {
        self.writer.has_room()
    }

    /// Adds a binary message; see [`FrameWriter::binary_parts`].
    pub(crate) fn binary_parts(&mut self, head: &[u8], body: Bytes) {
        self.writer.binary_parts(head, body);
    }

    /// Adds a binary message.
    pub(crate) fn binary(&mut self, payload: Bytes) {
        self.writer.binary(payload);
    }

    /// Adds an empty ping.
    pub(crate) fn ping(&mut self) {
        self.writer.ping(&[]);
    }

    /// Adds a close frame: with `code` and `reason` (which the caller keeps within 123 bytes), or
    /// empty.
    pub(crate) fn close(&mut self, code: Option<u16>, reason: &str) {
        self.writer.close(code, reason);
    }

    /// Whether a flush has something to write: frames, or a pong owed.
    pub(crate) fn wants_flush(&self) -> bool {
        self.pong.is_some() || !self.writer.is_empty()
    }

    /// Writes out everything added (and the pong owed, if any), then flushes the stream.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.writer.has_room()
            && let Some(payload) = self.pong.take()
        {
            self.writer.pong(&payload);
        }
        ready!(self.writer.poll_flush(Pin::new(&mut self.io), cx))?;
        if let Some(payload) = self.pong.take() {
            // Owed while the buffer was full: written now that it is empty.
            self.writer.pong(&payload);
            ready!(self.writer.poll_flush(Pin::new(&mut self.io), cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// [`Self::poll_flush`], awaited.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Writes out everything added, then shuts the stream's write side (TLS sends its
    /// `close_notify`, TCP its FIN).
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.writer.poll_close(Pin::new(&mut self.io), cx)).await
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::super::frame::{Header, apply_mask, opcode};
    use super::*;

    /// A client's frame: masked.
    fn masked(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = Vec::new();
        Header::write(&mut out, op, payload.len(), Some(key));
        if !fin {
            out[0] &= 0x7F;
        }
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], key);
        out
    }

    #[tokio::test]
    async fn client_frames_are_unmasked_and_pings_answered_by_the_next_flush() {
        let (near, mut far) = tokio::io::duplex(1 << 16);
        // The first frame arrived with the upgrade request.
        let early = masked(opcode::BINARY, true, b"early");
        let mut socket = ServerSocket::new(near, &early, 1 << 20);
        let mut bytes = masked(opcode::BINARY, false, b"hel");
        bytes.extend(masked(opcode::PING, true, b"one"));
        bytes.extend(masked(opcode::PING, true, b"two"));
        bytes.extend(masked(0, true, b"lo"));
        bytes.extend(masked(opcode::CLOSE, true, &[0x10, 0x01]));
        far.write_all(&bytes).await.unwrap();
        let mut got = Vec::new();
        while let Some(message) = socket.next().await {
            let message = message.unwrap();
            let last = matches!(message, Message::Close(..));
            got.push(format!("{message:?}"));
            if last {
                break;
            }
        }
        assert_eq!(
            got,
            [
                format!("{:?}", Message::Binary(Bytes::from_static(b"early"))),
                format!("{:?}", Message::Ping(Bytes::from_static(b"one"))),
                format!("{:?}", Message::Ping(Bytes::from_static(b"two"))),
                format!("{:?}", Message::Binary(Bytes::from_static(b"hello"))),
                format!("{:?}", Message::Close(Some(4097), String::new())),
            ]
        );
        // One pong, for the latest ping, unmasked.
        assert!(socket.wants_flush());
        socket.flush().await.unwrap();
        assert!(!socket.wants_flush());
        let mut pong = [0; 5];
        far.read_exact(&mut pong).await.unwrap();
        assert_eq!(pong, [0x8A, 3, b't', b'w', b'o']);
    }

    #[tokio::test]
    async fn an_unmasked_client_frame_is_refused() {
        let (near, _far) = tokio::io::duplex(64);
        let mut unmasked = Vec::new();
        Header::write(&mut unmasked, opcode::BINARY, 1, None);
        unmasked.push(0);
        let mut socket = ServerSocket::new(near, &unmasked, 1024);
        match socket.next().await {
            Some(Err(e @ ReadError::Sequence(_))) => {
                assert!(e.to_string().contains("unmasked"), "{e}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn progress_follows_the_message_being_received() {
        let (near, mut far) = tokio::io::duplex(1 << 16);
        let mut socket = ServerSocket::new(near, &[], 1 << 20);
        let whole = masked(opcode::BINARY, true, &[1; 1000]);
        let first = masked(opcode::BINARY, false, &[2; 100]);
        // The first message whole, then the second's first fragment and 10 bytes of a continuation.
        let mut bytes = whole.clone();
        bytes.extend(&first);
        let next = masked(0, true, &[3; 50]);
        bytes.extend(&next[..6 + 10]);
        far.write_all(&bytes).await.unwrap();
        let mut seen = Vec::new();
        let mut observe = |p: Option<Progress>| {
            seen.push(p);
            ControlFlow::Continue(())
        };
        let message = poll_fn(|cx| socket.poll_message(cx, &mut observe)).await;
        assert!(matches!(message, Some(Ok(Message::Binary(b))) if b.len() == 1000));
        let pending =
            poll_fn(|cx| Poll::Ready(socket.poll_message(cx, &mut observe).is_pending())).await;
        assert!(pending);
        // Before the last read: the second message, its fragment and 10 bytes after it.
        assert_eq!(
            seen.last(),
            Some(&Some(Progress {
                number: 2,
                held: 110
            }))
        );
        // A watch that breaks stops the reading.
        let stopped = poll_fn(|cx| socket.poll_message(cx, |_| ControlFlow::Break(()))).await;
        assert!(stopped.is_none());
    }
}
