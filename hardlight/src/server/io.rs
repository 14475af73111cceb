//! The byte stream under a connection's WebSocket ([`Io`]): plain TCP or TLS, boxed so that the
//! layers above need not be generic over it, with a way for large frames to go past tungstenite.
//!
//! tungstenite copies every frame it sends into its write buffer. For a large frame that copy is
//! as long as the frame, and a reply that hands back a received view would first need a copy of
//! its own (its header and its archive are not in one buffer). So a connection writes such frames
//! itself ([`Io::send_direct`]): their parts are written to the socket as they are, with one
//! vectored write, no copy. Order is kept by the stream: parts queued here are written before any
//! byte tungstenite writes after them, and the connection queues a frame only once tungstenite's
//! buffer is flushed, so nothing tungstenite holds can be overtaken.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ws::poll_write_parts;

/// A byte stream: TCP, TLS, an upgraded HTTP connection.
pub(crate) type Stream = Box<dyn IoStream>;

/// What a connection's byte stream must be.
pub(crate) trait IoStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> IoStream for T {}

/// The byte stream under a connection's WebSocket, and the parts of frames written past
/// tungstenite that are still to go out.
pub(crate) struct Io {
    stream: Stream,
    /// Parts of frames sent with [`Io::send_direct`], written before anything else.
    direct: VecDeque<Bytes>,
}

impl Io {
    /// `stream`, with nothing queued.
    pub(crate) fn new(stream: impl IoStream + 'static) -> Self {
        Self {
            stream: Box::new(stream),
            direct: VecDeque::new(),
        }
    }

    /// Replaces the stream by what `wrap` makes of it (a stream that watches it).
    pub(crate) fn wrap(&mut self, wrap: impl FnOnce(Stream) -> Stream) {
        let empty: Stream = Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let stream = std::mem::replace(&mut self.stream, empty);
        self.stream = wrap(stream);
    }

    /// Queues the parts of a whole WebSocket frame, to be written before anything written after
    /// this, without copying them. The caller must have flushed the WebSocket first: bytes still in
    /// tungstenite's buffer would be overtaken. They are written by the next write or flush.
    pub(crate) fn send_direct(&mut self, parts: impl IntoIterator<Item = Bytes>) {
        self.direct
            .extend(parts.into_iter().filter(|part| !part.is_empty()));
    }

    /// Writes the queued parts; ready once none is left.
    fn poll_direct(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_write_parts(Pin::new(&mut self.stream), cx, &mut self.direct)
    }
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_direct(cx))?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_direct(cx))?;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_direct(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_direct(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn direct_parts_go_out_before_later_writes_and_in_order() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = Io::new(near);
        io.write_all(b"first ").await.unwrap();
        let big = Bytes::from(vec![b'x'; 1000]);
        io.send_direct([Bytes::from_static(b"<"), Bytes::new(), big.clone(), Bytes::from_static(b">")]);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            far.read_to_end(&mut all).await.unwrap();
            all
        });
        // Through a 64-byte pipe: the parts take many partial writes.
        io.write_all(b" last").await.unwrap();
        io.shutdown().await.unwrap();
        let all = reader.await.unwrap();
        let expected = [&b"first <"[..], &big, b"> last"].concat();
        assert_eq!(all, expected);
    }

    #[tokio::test]
    async fn a_flush_writes_the_direct_parts() {
        let (near, mut far) = tokio::io::duplex(4096);
        let mut io = Io::new(near);
        io.send_direct([Bytes::from_static(b"frame")]);
        io.flush().await.unwrap();
        let mut got = [0; 5];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"frame");
    }
}
