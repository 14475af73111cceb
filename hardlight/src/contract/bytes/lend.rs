//! What a [`ByteStream`](super::ByteStream) is read and written through, and how it lends what it
//! has read ([`AsyncBufRead`]). The client's side of a call lends each chunk where its frame
//! arrived: reading with `poll_fill_buf` and `consume` (or [`tokio::io::copy_buf`]) copies nothing
//! between the connection's buffer and the caller. Any other reader and writer (a handler's side)
//! is read ahead into a buffer of the stream's own, made at the first `poll_fill_buf`; plain reads
//! go straight through once that buffer is empty.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncBufRead, ReadBuf};

use super::ByteIo;

/// Bytes a byte stream over a reader of its own reads ahead for [`AsyncBufRead`].
const LOOKAHEAD: usize = 8 * 1024;

/// A [`ByteIo`] that lends its own buffer.
pub(super) trait LendingIo: ByteIo + AsyncBufRead {}
impl<T: ByteIo + AsyncBufRead + ?Sized> LendingIo for T {}

/// A byte stream's reader and writer.
pub(super) enum Io {
    /// One that lends its own buffer (the client's side of a call).
    Lending(Pin<Box<dyn LendingIo>>),
    /// Any other, with what was read ahead of the caller from it.
    Plain {
        io: Pin<Box<dyn ByteIo>>,
        ahead: Lookahead,
    },
}

/// Bytes read from a plain reader and not yet taken: `buf[at..end]`.
#[derive(Default)]
pub(super) struct Lookahead {
    buf: Vec<u8>,
    at: usize,
    end: usize,
}

impl Lookahead {
    fn held(&self) -> &[u8] {
        &self.buf[self.at..self.end]
    }
}

impl Io {
    pub(super) fn plain(io: impl ByteIo + 'static) -> Self {
        Io::Plain {
            io: Box::pin(io),
            ahead: Lookahead::default(),
        }
    }

    pub(super) fn lending(io: impl LendingIo + 'static) -> Self {
        Io::Lending(Box::pin(io))
    }

    /// The writing side, whichever the reading side is.
    pub(super) fn writer(&mut self) -> Pin<&mut dyn ByteIo> {
        match self {
            Io::Lending(io) => io.as_mut(),
            Io::Plain { io, .. } => io.as_mut(),
        }
    }

    /// Reads into `buf`: what was read ahead first, then from the reader itself.
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Io::Lending(io) => io.as_mut().poll_read(cx, buf),
            Io::Plain { io, ahead } => {
                let held = ahead.held();
                if held.is_empty() {
                    return io.as_mut().poll_read(cx, buf);
                }
                let n = held.len().min(buf.remaining());
                buf.put_slice(&held[..n]);
                ahead.at += n;
                Poll::Ready(Ok(()))
            }
        }
    }

    /// The bytes read and not yet consumed; empty at the end.
    pub(super) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match self {
            Io::Lending(io) => io.as_mut().poll_fill_buf(cx),
            Io::Plain { io, ahead } => {
                if ahead.at >= ahead.end {
                    if ahead.buf.is_empty() {
                        ahead.buf = vec![0; LOOKAHEAD];
                    }
                    let mut read = ReadBuf::new(&mut ahead.buf[..]);
                    ready!(io.as_mut().poll_read(cx, &mut read))?;
                    ahead.end = read.filled().len();
                    ahead.at = 0;
                }
                Poll::Ready(Ok(ahead.held()))
            }
        }
    }

    /// Marks `amount` bytes of those [`Io::poll_fill_buf`] gave as taken.
    pub(super) fn consume(&mut self, amount: usize) {
        match self {
            Io::Lending(io) => io.as_mut().consume(amount),
            Io::Plain { ahead, .. } => ahead.at = ahead.at.saturating_add(amount).min(ahead.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::io::Cursor;

    use tokio::io::AsyncWriteExt;

    use super::*;

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 253) as u8).collect()
    }

    async fn fill(io: &mut Io) -> Vec<u8> {
        poll_fn(|cx| io.poll_fill_buf(cx).map_ok(<[u8]>::to_vec))
            .await
            .expect("filled")
    }

    async fn read(io: &mut Io, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        let mut read = ReadBuf::new(&mut buf);
        poll_fn(|cx| io.poll_read(cx, &mut read))
            .await
            .expect("read");
        let n = read.filled().len();
        buf.truncate(n);
        buf
    }

    #[tokio::test]
    async fn a_plain_reader_is_read_ahead_and_reads_take_what_was_read_ahead_first() {
        let all = bytes(3 * LOOKAHEAD + 5);
        let mut io = Io::plain(Cursor::new(all.clone()));
        let mut got = Vec::new();
        // Lent from the stream's own buffer, a lookahead at most.
        let lent = fill(&mut io).await;
        assert_eq!(lent, all[..LOOKAHEAD]);
        got.extend_from_slice(&lent[..100]);
        io.consume(100);
        // A read takes the rest of what was read ahead, and no more, before the reader's bytes.
        let taken = read(&mut io, LOOKAHEAD).await;
        assert_eq!(taken.len(), LOOKAHEAD - 100);
        got.extend(taken);
        // Then reads go straight to the reader.
        got.extend(read(&mut io, 2 * LOOKAHEAD).await);
        // Consuming more than was lent takes what was lent, no more.
        let lent = fill(&mut io).await;
        assert_eq!(lent.len(), 5);
        got.extend(lent);
        io.consume(1000);
        assert!(fill(&mut io).await.is_empty(), "the end");
        assert_eq!(got, all);
    }

    #[tokio::test]
    async fn writing_goes_to_the_writer_whatever_the_reading_side() {
        let mut io = Io::plain(Cursor::new(Vec::new()));
        poll_fn(|cx| io.writer().poll_write(cx, b"written"))
            .await
            .expect("written");
        // The cursor was written at its start; it reads on from where the write left it.
        assert!(fill(&mut io).await.is_empty());
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = Io::plain(near);
        poll_fn(|cx| io.writer().poll_write(cx, b"hello"))
            .await
            .expect("written");
        far.write_all(b"back").await.expect("written back");
        let mut heard = [0u8; 5];
        tokio::io::AsyncReadExt::read_exact(&mut far, &mut heard)
            .await
            .expect("heard");
        assert_eq!(&heard, b"hello");
        assert_eq!(fill(&mut io).await, b"back");
    }
}
