//! A bounded one-way byte pipe in memory ([`pipe`]): what a handler's [`BytePipe`] and a client's
//! outgoing bytes are made of. The writer waits while the pipe is full; the reader gets the bytes,
//! then the end (or the failure) the writer left; a writer whose reader is gone gets
//! [`io::ErrorKind::BrokenPipe`].

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::locks::lock;

/// A pipe holding at most `capacity` bytes: its writing and its reading end.
pub(crate) fn pipe(capacity: usize) -> (PipeWriter, PipeReader) {
    let shared = Arc::new(Mutex::new(State {
        buf: BytesMut::new(),
        capacity: capacity.max(1),
        write_closed: false,
        read_closed: false,
        failure: None,
        reader: None,
        writer: None,
    }));
    (PipeWriter(shared.clone()), PipeReader(shared))
}

struct State {
    buf: BytesMut,
    capacity: usize,
    /// The writer shut down, failed or was dropped: after `buf`, the reader reads the end.
    write_closed: bool,
    /// The reader was dropped: writing fails.
    read_closed: bool,
    /// What the reader gets after `buf` instead of the end.
    failure: Option<io::Error>,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl State {
    fn wake_reader(&mut self) {
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
    }

    fn wake_writer(&mut self) {
        if let Some(waker) = self.writer.take() {
            waker.wake();
        }
    }
}

/// The writing end of a [`pipe`].
pub(crate) struct PipeWriter(Arc<Mutex<State>>);

impl PipeWriter {
    /// Ends the pipe with `error`: the reader gets it after the bytes written before.
    pub(crate) fn fail(&self, error: io::Error) {
        let mut state = lock(&self.0);
        if !state.write_closed {
            state.failure = Some(error);
            state.write_closed = true;
        }
        state.wake_reader();
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = lock(&self.0);
        if state.read_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the byte stream's other end is gone",
            )));
        }
        if state.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the byte stream was shut down for writing",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = state.capacity.saturating_sub(state.buf.len());
        if room == 0 {
            state.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        state.buf.extend_from_slice(&data[..n]);
        state.wake_reader();
        Poll::Ready(Ok(n))
    }

    /// Ready once the reader has taken everything written (or is gone).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0);
        if state.buf.is_empty() || state.read_closed {
            Poll::Ready(Ok(()))
        } else {
            state.writer = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0);
        state.write_closed = true;
        state.wake_reader();
        Poll::Ready(Ok(()))
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        let mut state = lock(&self.0);
        state.write_closed = true;
        state.wake_reader();
    }
}

/// The reading end of a [`pipe`].
pub(crate) struct PipeReader(Arc<Mutex<State>>);

impl PipeReader {
    /// Takes at most `max` bytes: `Some` while there are bytes, `None` at the end, or the error the
    /// writer failed with.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<Option<Vec<u8>>>> {
        let mut state = lock(&self.0);
        if !state.buf.is_empty() {
            let n = max.min(state.buf.len());
            let chunk = state.buf.split_to(n).to_vec();
            state.wake_writer();
            return Poll::Ready(Ok(Some(chunk)));
        }
        if let Some(error) = state.failure.take() {
            return Poll::Ready(Err(error));
        }
        if state.write_closed {
            return Poll::Ready(Ok(None));
        }
        state.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0);
        if !state.buf.is_empty() {
            let n = out.remaining().min(state.buf.len());
            out.put_slice(&state.buf[..n]);
            state.buf.advance(n);
            state.wake_writer();
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = state.failure.take() {
            return Poll::Ready(Err(error));
        }
        if state.write_closed {
            return Poll::Ready(Ok(()));
        }
        state.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut state = lock(&self.0);
        state.read_closed = true;
        state.buf.clear();
        state.wake_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_then_the_end_then_a_failure_for_a_writer_without_reader() {
        let (mut writer, mut reader) = pipe(4);
        let write = tokio::spawn(async move {
            writer.write_all(b"hello world").await.expect("write");
            writer.shutdown().await.expect("shutdown");
        });
        let mut read = Vec::new();
        reader.read_to_end(&mut read).await.expect("read");
        assert_eq!(read, b"hello world");
        write.await.expect("writer");

        let (mut writer, reader) = pipe(4);
        drop(reader);
        let error = writer.write_all(b"x").await.expect_err("no reader");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn a_failure_comes_after_the_bytes_written_before_it() {
        let (mut writer, mut reader) = pipe(64);
        writer.write_all(b"abc").await.expect("write");
        writer.fail(io::Error::other("disk on fire"));
        let mut buf = [0u8; 8];
        let n = reader.read(&mut buf).await.expect("bytes first");
        assert_eq!(&buf[..n], b"abc");
        let error = reader.read(&mut buf).await.expect_err("then the failure");
        assert_eq!(error.to_string(), "disk on fire");
    }
}
