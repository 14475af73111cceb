//! The hardlight rows: the `Bench` service, its server, and its typed client.

use hardlight::{
    Archived, ByteStream, CertFingerprint, ClientConfig, Compression, EventEmitter, HandlerResult,
    NatsBridge, NatsConfig, ServerConfig, ServerTls, Streaming, Subscription, Topic, codable,
    factory, rpc, rpc_handler,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};
use tokio::task::JoinHandle;

use crate::{BoxError, error};

/// The topic fan-out events are published to.
pub const TOPIC: &str = "ticks";

/// The fan-out event; tonic's `Tick` message has the same fields.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Which emit this is.
    pub seq: u64,
    /// A short label, so the event is not all integer.
    pub label: String,
}

/// The service every hardlight row serves.
#[rpc(events = Tick)]
pub trait Bench {
    /// Returns the payload it was given.
    async fn echo(&self, payload: Vec<u8>) -> HandlerResult<Vec<u8>>;
    /// The same echo through zero-copy views: the handler gets the argument where it arrived and
    /// sends those bytes back; the client reads the reply in place.
    async fn echo_view(&self, payload: Archived<Vec<u8>>) -> HandlerResult<Archived<Vec<u8>>>;
    /// Subscribes this connection to [`TOPIC`].
    async fn join(&self) -> HandlerResult<()>;
    /// Streams `count` payloads of `size` bytes, then ends.
    async fn items(&self, count: u64, size: u32) -> HandlerResult<Streaming<Vec<u8>>>;
    /// A byte stream of `len` bytes, then its end.
    async fn download(&self, len: u64) -> HandlerResult<ByteStream>;
}

#[rpc_handler]
impl Bench for Handler {
    async fn echo(&self, payload: Vec<u8>) -> HandlerResult<Vec<u8>> {
        Ok(payload)
    }

    async fn echo_view(&self, payload: Archived<Vec<u8>>) -> HandlerResult<Archived<Vec<u8>>> {
        Ok(payload)
    }

    async fn join(&self) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(TOPIC));
        Ok(())
    }

    async fn items(&self, count: u64, size: u32) -> HandlerResult<Streaming<Vec<u8>>> {
        Ok(Streaming::iter(
            (0..count).map(move |_| vec![7; size as usize]),
        ))
    }

    async fn download(&self, len: u64) -> HandlerResult<ByteStream> {
        Ok(ByteStream::from_reader(tokio::io::repeat(7).take(len)))
    }
}

/// Starts a server on a free port of 127.0.0.1, serving TLS with `tls` if given, on the current
/// runtime, with `ServerConfig::max_connections(max_connections)` if given (the default
/// otherwise). Returns its port, an emitter for its topics, and the task serving it.
///
/// # Errors
/// If the port cannot be bound.
pub async fn start(
    tls: Option<ServerTls>,
    max_connections: Option<usize>,
) -> Result<(u16, EventEmitter<Tick>, JoinHandle<()>), BoxError> {
    let config = match tls {
        Some(tls) => ServerConfig::new("127.0.0.1:0", tls),
        None => ServerConfig::plaintext("127.0.0.1:0"),
    };
    let config = match max_connections {
        Some(max) => config.max_connections(max),
        None => config,
    };
    start_with(config).await
}

/// Starts a server with `config`, which must listen on a free port of 127.0.0.1, on the current
/// runtime. Returns its port, an emitter for its topics, and the task serving it.
///
/// # Errors
/// If the port cannot be bound.
pub async fn start_with(
    config: ServerConfig,
) -> Result<(u16, EventEmitter<Tick>, JoinHandle<()>), BoxError> {
    let server = hardlight::Server::new(config, factory!(Handler));
    let emitter = server.get_event_emitter();
    let (port, task) = serve(server).await?;
    Ok((port, emitter, task))
}

/// Binds `server` and serves it on a task of the current runtime; its port and the task.
async fn serve(server: hardlight::Server<Tick>) -> Result<(u16, JoinHandle<()>), BoxError> {
    let bound = server
        .bind()
        .await
        .map_err(|e| error(format!("hardlight: bind: {e}")))?;
    let port = bound
        .local_addr()
        .map_err(|e| error(format!("hardlight: local address: {e}")))?
        .port();
    let task = tokio::spawn(async move {
        if let Err(e) = bound.run().await {
            eprintln!("hardlight server stopped: {e}");
        }
    });
    Ok((port, task))
}

/// Starts a plaintext server on a free port of 127.0.0.1, on the current runtime, bridging its events
/// through the NATS server at `nats_url`. Returns its port, an emitter for its topics, its bridge,
/// and the task serving it.
///
/// # Errors
/// If the port cannot be bound or the bridge cannot start.
pub async fn start_bridged(
    nats_url: &str,
) -> Result<(u16, EventEmitter<Tick>, NatsBridge, JoinHandle<()>), BoxError> {
    let config = ServerConfig::plaintext("127.0.0.1:0").nats(NatsConfig::new(nats_url));
    let server = hardlight::Server::new(config, factory!(Handler));
    let bridge = server
        .nats_bridge()
        .ok_or_else(|| error("hardlight: the server has no NATS bridge"))?;
    let emitter = server.get_event_emitter();
    let (port, task) = serve(server).await?;
    Ok((port, emitter, bridge, task))
}

/// Publishes tick `seq` to [`TOPIC`]; returns how many connections it was queued for.
///
/// # Errors
/// If the event cannot be encoded.
pub async fn publish(emitter: &EventEmitter<Tick>, seq: u64) -> Result<usize, BoxError> {
    let tick = Tick {
        seq,
        label: "fan-out".to_owned(),
    };
    emitter
        .emit(&Topic::from(TOPIC), tick)
        .await
        .map_err(|e| error(format!("hardlight: emit: {e}")))
}

/// Connects a client to the server on `port`: plain WebSocket when `pinned` is `None`, otherwise TLS
/// trusting exactly the certificate with that fingerprint.
///
/// # Errors
/// If connecting fails.
pub async fn connect(
    port: u16,
    pinned: Option<CertFingerprint>,
    compression: Compression,
) -> Result<BenchClient, BoxError> {
    let address = format!("127.0.0.1:{port}");
    let config = match pinned {
        Some(fingerprint) => ClientConfig::pinned(address, fingerprint),
        None => ClientConfig::plaintext(address),
    };
    connect_with(config.compression(compression)).await
}

/// Connects a client configured with `config`.
///
/// # Errors
/// If connecting fails.
pub async fn connect_with(config: ClientConfig) -> Result<BenchClient, BoxError> {
    let client = BenchClient::new(config);
    client
        .connect()
        .await
        .map_err(|e| error(format!("hardlight: connect: {e}")))?;
    Ok(client)
}

/// One call of `echo` with a copy of `payload`; returns the reply's length.
///
/// # Errors
/// If the call fails.
pub async fn echo(client: &BenchClient, payload: &[u8]) -> Result<usize, BoxError> {
    let reply = client
        .echo(payload.to_vec())
        .await
        .map_err(|e| error(format!("hardlight: echo: {e}")))?;
    Ok(reply.len())
}

/// One call of `echo_view`: the payload is encoded from the caller's buffer into a view (one copy,
/// as the owned call copies it into a `Vec` and then its frame), and the reply is read in place.
/// Returns the reply's length.
///
/// # Errors
/// If the call fails.
pub async fn echo_view(client: &BenchClient, payload: &[u8]) -> Result<usize, BoxError> {
    let view = Archived::<Vec<u8>>::from_slice(payload)
        .map_err(|e| error(format!("hardlight: encoding the view: {e}")))?;
    let reply = client
        .echo_view(view)
        .await
        .map_err(|e| error(format!("hardlight: echo_view: {e}")))?;
    Ok(reply.len())
}

/// Reads a stream of `count` items of `size` bytes to its end; returns how many arrived.
///
/// # Errors
/// If the call or the stream fails, or an item has the wrong size.
pub async fn items(client: &BenchClient, count: u64, size: u32) -> Result<u64, BoxError> {
    let mut stream = client
        .items(count, size)
        .await
        .map_err(|e| error(format!("hardlight: items: {e}")))?;
    let mut received = 0;
    while let Some(item) = stream.next().await {
        let item = item.map_err(|e| error(format!("hardlight: items: {e}")))?;
        if item.len() != size as usize {
            return Err(error("hardlight: an item of the wrong size"));
        }
        received += 1;
    }
    Ok(received)
}

/// Reads a byte stream of `len` bytes to its end; returns how many bytes arrived.
///
/// # Errors
/// If the call or the stream fails.
pub async fn bytes(client: &BenchClient, len: u64) -> Result<u64, BoxError> {
    let stream = client
        .download(len)
        .await
        .map_err(|e| error(format!("hardlight: download: {e}")))?;
    read_to_end(stream)
        .await
        .map_err(|e| error(format!("hardlight: download: {e}")))
}

/// Reads `reader` to its end, each chunk where it arrived (`fill_buf`, then `consume`): what a
/// reader that needs no buffer of its own does (`tokio::io::copy_buf` reads the same way). Returns
/// how many bytes it gave.
async fn read_to_end(mut reader: impl AsyncBufRead + Unpin) -> std::io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = reader.fill_buf().await?.len();
        if n == 0 {
            return Ok(total);
        }
        reader.consume(n);
        total += n as u64;
    }
}

/// A connection subscribed to [`TOPIC`], and the events it receives.
pub struct Events {
    // Keeps the connection open while its events are read.
    _client: BenchClient,
    subscription: Subscription<Tick>,
}

impl Events {
    /// Subscribes `client`'s connection to [`TOPIC`].
    ///
    /// # Errors
    /// If the `join` call fails.
    pub async fn join(client: BenchClient) -> Result<Self, BoxError> {
        let subscription = client
            .subscribe()
            .await
            .map_err(|e| error(format!("hardlight: subscribe: {e}")))?;
        client
            .join()
            .await
            .map_err(|e| error(format!("hardlight: join: {e}")))?;
        Ok(Self {
            _client: client,
            subscription,
        })
    }

    /// The `seq` of the next event.
    ///
    /// # Errors
    /// If the connection ended or the subscription lagged.
    pub async fn next(&mut self) -> Result<u64, BoxError> {
        let event = self
            .subscription
            .recv()
            .await
            .map_err(|e| error(format!("hardlight: event: {e}")))?;
        Ok(event.payload.seq)
    }
}
