//! Byte streams over real sockets: `AsyncRead` + `AsyncWrite` on both ends of a call, downloads and
//! uploads larger than every window, both directions at once, typed errors out of band, the ends
//! and cancellation, a reader that stops reading, and the connection lost.
mod common;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use common::*;
use futures_util::StreamExt;
use hardlight::__private::ServiceSchema;
use hardlight::__private::wire::frame::{
    ReplyStatus, ServerFrame, decode_server, encode_call, encode_credit, encode_end, item_header,
};
use hardlight::*;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum FilesError {
    NoSuchFile(String),
    Broken { at: u64 },
}

#[rpc]
pub trait Files {
    /// `len` bytes of a pattern.
    async fn download(&self, len: u64) -> Result<ByteStream<FilesError>, FilesError>;
    /// Whatever the client writes, recorded on the server.
    async fn upload(&self) -> HandlerResult<ByteStream>;
    /// Each byte back as written.
    async fn echo(&self) -> HandlerResult<ByteStream>;
    /// `at` bytes, then the handler's error.
    async fn broken(&self, at: u64) -> Result<ByteStream<FilesError>, FilesError>;
    /// Bytes for ever, counted, until the client is gone.
    async fn endless(&self) -> HandlerResult<ByteStream>;
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
}

/// What the test sees of the handlers.
#[derive(Default)]
pub struct Probe {
    /// What `upload` recorded, and whether its writer was shut down.
    uploaded: Mutex<Vec<u8>>,
    upload_done: Notify,
    /// Bytes `endless` has written so far.
    written: watch::Sender<u64>,
    /// Set when `endless`'s writing failed (its client is gone).
    endless_stopped: watch::Sender<bool>,
}

fn pattern(len: u64) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A writer that records into the probe.
struct Recorder(Arc<Probe>);

impl AsyncWrite for Recorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.uploaded.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.upload_done.notify_one();
        Poll::Ready(Ok(()))
    }
}

#[rpc_handler(context = Probe)]
impl Files for FilesHandler {
    async fn download(&self, len: u64) -> Result<ByteStream<FilesError>, FilesError> {
        if len == 0 {
            return Err(FilesError::NoSuchFile("empty".into()));
        }
        Ok(ByteStream::from_reader(io::Cursor::new(pattern(len))))
    }

    async fn upload(&self) -> HandlerResult<ByteStream> {
        Ok(ByteStream::from_writer(Recorder(self.context.clone())))
    }

    async fn echo(&self) -> HandlerResult<ByteStream> {
        let (stream, pipe) = ByteStream::pipe();
        tokio::spawn(async move {
            let (mut reader, mut writer) = tokio::io::split(pipe);
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
            let _ = writer.shutdown().await;
        });
        Ok(stream)
    }

    async fn broken(&self, at: u64) -> Result<ByteStream<FilesError>, FilesError> {
        let (stream, mut pipe) = ByteStream::pipe();
        tokio::spawn(async move {
            if pipe.write_all(&pattern(at)).await.is_ok() {
                pipe.fail(FilesError::Broken { at });
            }
        });
        Ok(stream)
    }

    async fn endless(&self) -> HandlerResult<ByteStream> {
        let (stream, mut pipe) = ByteStream::pipe();
        let probe = self.context.clone();
        tokio::spawn(async move {
            let chunk = vec![7u8; 4096];
            while pipe.write_all(&chunk).await.is_ok() {
                probe.written.send_modify(|w| *w += chunk.len() as u64);
            }
            probe.endless_stopped.send_replace(true);
        });
        Ok(stream)
    }

    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        Ok(a + b)
    }
}

type FilesServer = Served<Arc<Probe>>;

async fn files_with(config: ServerConfig, compression: Compression) -> (FilesServer, FilesClient) {
    let probe = Arc::new(Probe::default());
    let server = Served::bind(
        Server::new(config, factory!(FilesHandler, probe.clone())),
        probe,
    )
    .await;
    let client = FilesClient::new(server.client_config().compression(compression));
    within("connect", client.connect()).await.expect("connect");
    (server, client)
}

async fn files() -> (FilesServer, FilesClient) {
    files_with(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        Compression::none(),
    )
    .await
}

async fn read_all<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    within("the byte stream's end", reader.read_to_end(&mut bytes))
        .await
        .map(|_| bytes)
}

#[tokio::test]
async fn a_download_larger_than_every_window_arrives_whole() {
    let (_server, client) = files().await;
    // Many chunks and many windows of credit.
    let len = 3 * 1024 * 1024 + 17;
    let mut stream = client.download(len).await.expect("opened");
    assert_eq!(read_all(&mut stream).await.expect("read"), pattern(len));
    // A handler that refuses says so as its call's error, typed.
    match client.download(0).await {
        Err(CallError::Handler(FilesError::NoSuchFile(name))) => assert_eq!(name, "empty"),
        other => panic!("expected NoSuchFile, got {other:?}"),
    }
}

#[tokio::test]
async fn a_download_is_lent_in_place_chunk_by_chunk() {
    let (_server, client) = files().await;
    // The largest chunk of a byte stream (docs/PROTOCOL.md §5.13).
    let chunk = 64 * 1024;
    let len = 3 * chunk as u64 + 17;
    let mut stream = client.download(len).await.expect("opened");
    let (mut got, mut largest) = (Vec::new(), 0);
    loop {
        let lent = within("the next chunk", stream.fill_buf())
            .await
            .expect("read");
        if lent.is_empty() {
            break;
        }
        largest = largest.max(lent.len());
        // Taken in uneven parts, and now and then through `read`, which takes what is lent first.
        let take = lent.len().min(40_000);
        got.extend_from_slice(&lent[..take]);
        stream.consume(take);
        let mut small = [0u8; 333];
        let n = within("a read", stream.read(&mut small))
            .await
            .expect("read");
        got.extend_from_slice(&small[..n]);
    }
    assert_eq!(got, pattern(len));
    // Whole chunks, as they arrived: no smaller buffer stood between the frames and the caller.
    assert_eq!(largest, chunk);

    // A failure comes out of `fill_buf` typed, after the bytes before it.
    let mut stream = client.broken(100_000).await.expect("opened");
    let mut got = Vec::new();
    let error = loop {
        match within("the next chunk", stream.fill_buf()).await {
            Ok([]) => panic!("the stream ended without its failure"),
            Ok(lent) => {
                let n = lent.len();
                got.extend_from_slice(lent);
                stream.consume(n);
            }
            Err(error) => break error,
        }
    };
    assert_eq!(got, pattern(100_000));
    assert!(matches!(
        ByteStream::<FilesError>::call_error(&error),
        Some(CallError::Handler(FilesError::Broken { at: 100_000 }))
    ));
}

#[tokio::test]
async fn an_upload_is_written_whole_and_ends_when_the_client_shuts_down() {
    let (server, client) = files().await;
    let data = pattern(2 * 1024 * 1024 + 5);
    let mut stream = client.upload().await.expect("opened");
    within("the upload", stream.write_all(&data))
        .await
        .expect("write");
    stream.shutdown().await.expect("shutdown");
    // The handler's side reads the end once everything is written: the call is then over.
    assert!(read_all(&mut stream).await.expect("the end").is_empty());
    within(
        "the server's writer to shut down",
        server.ctx.upload_done.notified(),
    )
    .await;
    assert_eq!(*server.ctx.uploaded.lock().unwrap(), data);
    // Writing after the end fails.
    let error = stream
        .write_all(b"late")
        .await
        .expect_err("the call is over");
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
}

#[tokio::test]
async fn both_directions_flow_at_once_compressed() {
    let config = ServerConfig::new_self_signed("127.0.0.1:0").allow_compression(true);
    let (_server, client) = files_with(config, Compression::default()).await;
    let stream = client.echo().await.expect("opened");
    let (mut reader, mut writer) = tokio::io::split(stream);
    // More than both windows: the echo only works if reading and writing go on together.
    let data = pattern(4 * 1024 * 1024);
    let sent = data.clone();
    let writing = tokio::spawn(async move {
        writer.write_all(&sent).await.expect("write");
        writer.shutdown().await.expect("shutdown");
        writer
    });
    assert_eq!(read_all(&mut reader).await.expect("read"), data);
    let _writer = writing.await.expect("writer");
    assert_eq!(client.add(2, 3).await.unwrap(), 5);
}

#[tokio::test]
async fn a_handler_error_arrives_typed_after_the_bytes_before_it() {
    let (_server, client) = files().await;
    let mut stream = client.broken(100_000).await.expect("opened");
    let mut got = Vec::new();
    let error = within("the failure", stream.read_to_end(&mut got))
        .await
        .expect_err("the handler failed the stream");
    assert_eq!(got, pattern(100_000));
    match ByteStream::<FilesError>::call_error(&error) {
        Some(CallError::Handler(FilesError::Broken { at: 100_000 })) => {}
        other => panic!("expected Broken, got {other:?} ({error})"),
    }
    // Another error type than the stream's finds nothing.
    assert!(ByteStream::<HandlerError>::call_error(&error).is_none());
}

#[tokio::test]
async fn a_reader_that_stops_stops_its_writer_and_nothing_else() {
    let (server, client) = files().await;
    let mut stream = client.endless().await.expect("opened");
    let mut first = [0u8; 10];
    stream.read_exact(&mut first).await.expect("read");
    // The client reads no more: the other calls on the connection go on.
    for i in 0..20 {
        assert_eq!(client.add(i, 1).await.unwrap(), i + 1);
    }
    // What the handler could write is bounded: the window, granted again once for the chunk the
    // client took, one chunk of overdraft, one held for credit, the pipe's chunk, and one write.
    let bound = 256 * 1024 + 64 * 1024 + 3 * 64 * 1024 + 4096;
    let mut written = server.ctx.written.subscribe();
    within(
        "the handler to fill what the client allows",
        written.wait_for(|w| *w >= 128 * 1024),
    )
    .await
    .unwrap();
    assert!(
        *written.borrow() <= bound,
        "{} > {bound}",
        *written.borrow()
    );
    // Reading again lets it go on.
    let mut more = vec![0u8; 1024 * 1024];
    within("more bytes", stream.read_exact(&mut more))
        .await
        .expect("read");
    assert!(*server.ctx.written.borrow() > bound);
    // Dropping the stream cancels the call: the handler's writing fails promptly.
    drop(stream);
    let mut stopped = server.ctx.endless_stopped.subscribe();
    within("the handler to learn it", stopped.wait_for(|s| *s))
        .await
        .unwrap();
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_lost_connection_ends_the_read_with_a_typed_error() {
    let (server, client) = files().await;
    let mut stream = client.endless().await.expect("opened");
    let mut first = [0u8; 10];
    stream.read_exact(&mut first).await.expect("read");
    drop(server);
    let mut rest = Vec::new();
    let error = within("the failure", stream.read_to_end(&mut rest))
        .await
        .expect_err("the connection is gone");
    match ByteStream::<HandlerError>::call_error(&error) {
        Some(CallError::Rpc(RpcError::ConnectionClosed { .. })) => {}
        other => panic!("expected ConnectionClosed, got {other:?} ({error})"),
    }
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
}

const ECHO: u16 = method_index(<dyn Files as ServiceSchema>::METHODS, "echo");

/// The next frame a raw peer receives.
async fn next_frame(ws: &mut RawPeer) -> ServerFrame<'static> {
    match within("a frame", ws.next()).await {
        Some(Ok(Message::Binary(bytes))) => {
            let bytes: &'static [u8] = Vec::leak(bytes.to_vec());
            decode_server(bytes).expect("the server's frame parses")
        }
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// A raw `ITEM` frame of call `call_id` carrying the chunk `bytes`.
fn chunk(call_id: u32, bytes: &[u8]) -> Vec<u8> {
    bytes
        .to_vec()
        .encode_into(item_header(call_id, bytes.len() + 8))
        .unwrap()
}

#[tokio::test]
async fn a_raw_peer_speaks_a_byte_stream_in_chunks() {
    let (server, _client) = files().await;
    let (mut ws, _hello) = raw_service(server.port, fingerprint::<dyn Files>(), None).await;
    send_binary(&mut ws, encode_call(1, ECHO, &()).unwrap()).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::Opened { call_id: 1 }
    );
    send_binary(&mut ws, encode_credit(1, 256 * 1024)).await;
    // An empty chunk is skipped; chunk boundaries carry no meaning.
    send_binary(&mut ws, chunk(1, b"")).await;
    send_binary(&mut ws, chunk(1, b"hi")).await;
    send_binary(&mut ws, chunk(1, b", there")).await;
    send_binary(&mut ws, encode_end(1)).await;
    let mut echoed = Vec::new();
    loop {
        match next_frame(&mut ws).await {
            ServerFrame::Item { call_id: 1, item } => {
                let bytes = <Vec<u8>>::decode(item).expect("a chunk validates");
                assert!(!bytes.is_empty(), "the server sends no empty chunk");
                echoed.extend_from_slice(&bytes);
            }
            ServerFrame::Credit { call_id: 1, .. } => {}
            ServerFrame::Reply {
                call_id: 1,
                status: ReplyStatus::Ok,
                body,
            } => {
                <()>::decode(body).expect("the end is the archive of ()");
                break;
            }
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    assert_eq!(echoed, b"hi, there");

    // A chunk that fails validation ends that call with BadArguments; the connection goes on.
    send_binary(&mut ws, encode_call(2, ECHO, &()).unwrap()).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::Opened { call_id: 2 }
    );
    let mut bad = item_header(2, 3);
    bad.extend_from_slice(&[1, 2, 3]);
    send_binary(&mut ws, bad).await;
    loop {
        match next_frame(&mut ws).await {
            ServerFrame::Credit { call_id: 2, .. } => {}
            ServerFrame::Reply {
                call_id: 2, status, ..
            } => {
                assert_eq!(status, ReplyStatus::BadArguments);
                break;
            }
            other => panic!("expected the call's failure, got {other:?}"),
        }
    }
    send_binary(&mut ws, encode_call(3, ECHO, &()).unwrap()).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::Opened { call_id: 3 }
    );
}

#[test]
fn a_byte_stream_is_written_in_the_schema_text() {
    let text = hardlight::schema::<dyn Files>();
    assert!(
        text.contains("fn download(u64) -> ByteStream<FilesError>\n"),
        "{text}"
    );
    assert!(
        text.contains("fn upload() -> ByteStream<HandlerError>\n"),
        "{text}"
    );
}
