//! Byte streams: [`ByteStream<E>`], a raw byte channel bound to one call, read and written with
//! tokio's [`AsyncRead`] and [`AsyncWrite`] on both ends (file transfers, proxying, a codec of
//! your own on top). On the client's side it is also tokio's [`AsyncBufRead`], lending each chunk in
//! place, where its frame arrived.
//!
//! A method declared `-> HandlerResult<ByteStream>` (or `-> Result<ByteStream<E>, E>`) answers a
//! call with a byte channel. Its handler returns a `ByteStream` made of any reader and writer (a
//! file, a socket, or the far end of [`ByteStream::pipe`]); the client's method returns a
//! `ByteStream` connected to it: what the client writes, the handler's side reads, and what the
//! handler's side writes, the client reads.
//!
//! - **Ends.** The handler's side ends the stream by ending what it writes (EOF of its reader, the
//!   [`BytePipe`] shut down or dropped): the client reads the end, and the call is over. The client
//!   shuts down its writing ([`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown)), and
//!   the handler's side reads the end; it can still answer. Dropping the client's `ByteStream`
//!   cancels the call.
//! - **Errors out of band.** A handler ends the stream with its own error ([`BytePipe::fail`]); the
//!   client's read then fails with an [`io::Error`] that carries the typed [`CallError<E>`]
//!   ([`ByteStream::call_error`] gives it back), as does every failure of the call (the connection
//!   lost, the deadline, a cancel).
//! - **Flow control.** Both directions are `ITEM` frames within the credit the receiver grants,
//!   as for [`Streaming`](super::Streaming): a reader that stops reading stops its writer, and
//!   nothing else on the connection.
//!
//! On the wire (`docs/PROTOCOL.md` §5.13) a byte stream is a bidirectional streaming call whose
//! items are `Vec<u8>` chunks of at most [`CHUNK`] bytes.

mod lend;
mod pipe;
mod pump;

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use super::method::{MethodReturn, Received, Started};
use super::reply::{decode_reply, encode_reply_vec};
use super::upload::UploadFn;
use crate::error::{CallError, HandlerError, ProtocolError};
use crate::wire::Codable;
use crate::wire::shape::{ShapeFn, Shapes};
use lend::Io;
use pipe::{PipeReader, PipeWriter};

/// The largest chunk of a byte stream: one `ITEM` frame carries at most this many bytes.
pub const CHUNK: usize = 64 * 1024;

/// What a byte stream is read and written through.
trait ByteIo: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send + ?Sized> ByteIo for T {}

/// A byte channel bound to one call: what a byte-stream method's handler returns, and what the
/// client's method gives back. [`AsyncRead`] + [`AsyncWrite`] on both ends, and [`AsyncBufRead`]:
/// the client's side lends each chunk where it arrived (`fill_buf`, `consume`), a copy spared.
///
/// ```
/// use hardlight::*;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// #[rpc]
/// pub trait Files {
///     /// The bytes of file `name`.
///     async fn download(&self, name: String) -> HandlerResult<ByteStream>;
///     /// Echoes what the client writes, upper-cased, until the client shuts down its writing.
///     async fn shout(&self) -> HandlerResult<ByteStream>;
/// }
///
/// #[rpc_handler]
/// impl Files for FilesHandler {
///     async fn download(&self, name: String) -> HandlerResult<ByteStream> {
///         if name != "hello.txt" {
///             return Err(format!("no file {name}").into());
///         }
///         Ok(ByteStream::from_reader(&b"hello, world"[..]))
///     }
///
///     async fn shout(&self) -> HandlerResult<ByteStream> {
///         let (stream, mut pipe) = ByteStream::pipe();
///         tokio::spawn(async move {
///             let mut buf = [0u8; 1024];
///             while let Ok(n @ 1..) = pipe.read(&mut buf).await {
///                 buf[..n].make_ascii_uppercase();
///                 if pipe.write_all(&buf[..n]).await.is_err() {
///                     break;
///                 }
///             }
///         });
///         Ok(stream)
///     }
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = Server::new(ServerConfig::new_self_signed("127.0.0.1:0"), factory!(FilesHandler)).bind().await?;
/// # let address = server.local_addr()?.to_string();
/// # tokio::spawn(server.run());
/// let client = FilesClient::new_self_signed(&address, Compression::none());
/// client.connect().await?;
///
/// let mut file = client.download("hello.txt".into()).await?;
/// let mut text = String::new();
/// file.read_to_string(&mut text).await?;
/// assert_eq!(text, "hello, world");
///
/// // Or chunk by chunk where each arrived (`AsyncBufRead`), here copied once, into `copy`.
/// let mut file = client.download("hello.txt".into()).await?;
/// let mut copy = Vec::new();
/// tokio::io::copy_buf(&mut file, &mut copy).await?;
/// assert_eq!(copy, b"hello, world");
///
/// let mut shout = client.shout().await?;
/// shout.write_all(b"quiet please").await?;
/// shout.shutdown().await?;
/// let mut loud = String::new();
/// shout.read_to_string(&mut loud).await?;
/// assert_eq!(loud, "QUIET PLEASE");
/// # Ok(())
/// # }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
pub struct ByteStream<E = HandlerError> {
    io: Io,
    _error: PhantomData<fn() -> E>,
}

impl<E> ByteStream<E> {
    /// A byte stream read from and written to `io`: on a handler's side, the client reads what
    /// `io` gives, until its end, and writes into `io` (shut down when the client shuts down its
    /// writing). A read of `io` that fails with an error carrying a [`CallError<E>`] (another
    /// call's `ByteStream`, or a [`BytePipe::fail`]) ends the stream with that error; another
    /// failure ends it with [`RpcError::Internal`](crate::RpcError::Internal).
    pub fn new(io: impl AsyncRead + AsyncWrite + Send + 'static) -> Self {
        Self {
            io: Io::plain(io),
            _error: PhantomData,
        }
    }

    /// A byte stream that gives the bytes of `reader` (a file, a buffer...); what the other end
    /// writes is read and discarded.
    pub fn from_reader(reader: impl AsyncRead + Send + 'static) -> Self {
        Self::new(ReadOnly {
            reader: Box::pin(reader),
        })
    }

    /// A byte stream that writes what the other end sends into `writer`, and gives nothing: its
    /// reading ends once the other end has shut down its writing and `writer` has been shut down
    /// (so a client's upload ends the call when all of it is written).
    pub fn from_writer(writer: impl AsyncWrite + Send + 'static) -> Self {
        Self::new(WriteOnly {
            writer: Box::pin(writer),
            shut: false,
            reader: None,
        })
    }

    /// A byte stream and the [`BytePipe`] at its far end: what is written into the pipe, the
    /// stream gives, and the other way round. A handler returns the stream and keeps the pipe
    /// (usually in a task of its own) to talk to its client; each direction holds at most
    /// [`CHUNK`] bytes in memory.
    pub fn pipe() -> (Self, BytePipe<E>) {
        let (to_far, from_near) = pipe::pipe(CHUNK);
        let (to_near, from_far) = pipe::pipe(CHUNK);
        let stream = Self::new(Joined {
            reader: from_far,
            writer: to_far,
        });
        let far = BytePipe {
            reader: from_near,
            writer: to_near,
            _error: PhantomData,
        };
        (stream, far)
    }
}

impl<E: fmt::Debug + Send + Sync + 'static> ByteStream<E> {
    /// The typed error an [`io::Error`] from a byte stream's read or write carries: the handler's
    /// own error ([`CallError::Handler`]), or why the call failed ([`CallError::Rpc`]). `None` for
    /// any other I/O error.
    ///
    /// ```
    /// # use hardlight::*;
    /// # use tokio::io::AsyncReadExt;
    /// # async fn read_all(mut stream: ByteStream) -> Result<Vec<u8>, String> {
    /// let mut bytes = Vec::new();
    /// match stream.read_to_end(&mut bytes).await {
    ///     Ok(_) => Ok(bytes),
    ///     Err(e) => match ByteStream::<HandlerError>::call_error(&e) {
    ///         Some(CallError::Handler(e)) => Err(format!("the handler said: {e}")),
    ///         Some(CallError::Rpc(e)) => Err(format!("the call failed: {e}")),
    ///         None => Err(e.to_string()),
    ///     },
    /// }
    /// # }
    /// ```
    pub fn call_error(error: &io::Error) -> Option<&CallError<E>> {
        error.get_ref()?.downcast_ref::<CallError<E>>()
    }
}

/// The [`io::Error`] that carries `error`, of the kind that says what it is.
pub(crate) fn io_error<E: fmt::Debug + Send + Sync + 'static>(error: CallError<E>) -> io::Error {
    use crate::error::RpcError;
    let kind = match &error {
        CallError::Rpc(RpcError::ConnectionClosed { .. } | RpcError::NotConnected) => {
            io::ErrorKind::ConnectionReset
        }
        CallError::Rpc(RpcError::Timeout(_)) => io::ErrorKind::TimedOut,
        CallError::Rpc(RpcError::Cancelled(_)) => io::ErrorKind::ConnectionAborted,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}

impl<E> AsyncRead for ByteStream<E> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.poll_read(cx, buf)
    }
}

/// On the client's side of a call, the bytes are lent where their frame arrived, so that reading
/// with `fill_buf` and `consume` (or [`tokio::io::copy_buf`]) copies nothing on the way; a
/// handler's side reads ahead into a buffer of its own (8 KiB) for it.
impl<E> AsyncBufRead for ByteStream<E> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().io.poll_fill_buf(cx)
    }

    fn consume(mut self: Pin<&mut Self>, amount: usize) {
        self.io.consume(amount);
    }
}

impl<E> AsyncWrite for ByteStream<E> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.writer().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.writer().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.writer().poll_shutdown(cx)
    }
}

impl<E> fmt::Debug for ByteStream<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteStream").finish_non_exhaustive()
    }
}

/// The far end of a [`ByteStream::pipe`], kept by the handler: it reads what the client writes
/// and writes what the client reads. Shutting it down or dropping it ends the stream; [`fail`]
/// ends it with the handler's own error.
///
/// [`fail`]: BytePipe::fail
pub struct BytePipe<E = HandlerError> {
    reader: PipeReader,
    writer: PipeWriter,
    _error: PhantomData<fn() -> E>,
}

impl<E: fmt::Debug + Send + Sync + 'static> BytePipe<E> {
    /// Ends the stream with the handler's `error`: the client reads the bytes written before,
    /// then fails with [`CallError::Handler`]`(error)`.
    pub fn fail(self, error: E) {
        self.writer.fail(io_error(CallError::Handler(error)));
    }
}

impl<E> AsyncRead for BytePipe<E> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl<E> AsyncWrite for BytePipe<E> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

impl<E> fmt::Debug for BytePipe<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytePipe").finish_non_exhaustive()
    }
}

/// A reader and a writer as one.
struct Joined<R, W> {
    reader: R,
    writer: W,
}

impl<R: AsyncRead + Unpin, W: Unpin> AsyncRead for Joined<R, W> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl<R: Unpin, W: AsyncWrite + Unpin> AsyncWrite for Joined<R, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

/// A reader whose writing discards everything.
struct ReadOnly {
    reader: Pin<Box<dyn AsyncRead + Send>>,
}

impl AsyncRead for ReadOnly {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.reader.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for ReadOnly {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A writer whose reading ends once it has been shut down.
struct WriteOnly {
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    shut: bool,
    /// Who waits to read the end.
    reader: Option<Waker>,
}

impl AsyncRead for WriteOnly {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.shut {
            Poll::Ready(Ok(()))
        } else {
            self.reader = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl AsyncWrite for WriteOnly {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writer.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let done = self.writer.as_mut().poll_shutdown(cx);
        if done.is_ready() {
            // Failed or not, nothing more will be written: the reading ends.
            self.shut = true;
            if let Some(reader) = self.reader.take() {
                reader.wake();
            }
        }
        done
    }
}

/// The writing half a client keeps of a byte stream's call, until the call is answered.
#[doc(hidden)]
pub struct ByteOutgoing(PipeWriter);

/// `ByteStream<E>`, as the schema text writes a byte-stream method's return.
fn byte_stream_shape<E: Codable>(shapes: &mut Shapes, out: &mut String) {
    out.push_str("ByteStream<");
    (E::SHAPE)(shapes, out);
    out.push('>');
}

impl<E> MethodReturn for Result<ByteStream<E>, E>
where
    E: Codable + fmt::Debug + Sync,
{
    type Ok = ByteStream<E>;
    type Err = E;
    type Outgoing = ByteOutgoing;
    const SHAPE: ShapeFn = byte_stream_shape::<E>;
    const STREAMING: bool = true;

    fn start<F>(call_id: u32, future: F) -> Started
    where
        F: Future<Output = Self> + Send + 'static,
    {
        Started::Duplex(Box::new(move |upload| {
            Box::pin(async move {
                match future.await {
                    // The stream whole, not its reader: bytes a handler read ahead from it
                    // (through `AsyncBufRead`) come first.
                    Ok(stream) => Ok(pump::serve::<E>(Box::pin(stream), call_id, upload)),
                    Err(error) => Err(encode_reply_vec::<(), E>(call_id, Err(error))),
                }
            })
        }))
    }

    fn outgoing() -> (Option<UploadFn>, ByteOutgoing) {
        let (writer, reader) = pipe::pipe(CHUNK);
        (Some(pump::upload(reader)), ByteOutgoing(writer))
    }

    fn receive(
        received: Received,
        ByteOutgoing(outgoing): ByteOutgoing,
        max_depth: usize,
    ) -> Result<ByteStream<E>, CallError<E>> {
        match received {
            Received::Stream(raw) => Ok(ByteStream {
                io: Io::lending(pump::Remote::<E>::new(raw, outgoing, max_depth)),
                _error: PhantomData,
            }),
            // The handler refused the call: the reply says why.
            Received::Reply(reply) => match decode_reply::<(), E>(&reply, max_depth) {
                Err(e) => Err(e),
                Ok(()) => Err(ProtocolError::Unexpected(
                    "a byte stream ended before it was opened".into(),
                )
                .into()),
            },
        }
    }
}
