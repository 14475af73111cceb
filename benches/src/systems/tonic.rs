//! The gRPC rows: tonic serving the `Bench` service of `proto/bench.proto`, over h2c or TLS.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};
use tonic::{Request, Response, Status, Streaming};

use crate::proto::bench_client::BenchClient;
use crate::proto::bench_server::{Bench, BenchServer};
use crate::proto::{ItemsRequest, Payload, SubscribeRequest, Tick};
use crate::{BoxError, error};

/// Ticks that may wait for one subscriber's stream: as many as hardlight's outbound queue holds.
const SUBSCRIBER_QUEUE: usize = 1024;

type TickSender = mpsc::Sender<Result<Tick, Status>>;

/// The subscribers of the server's `Subscribe` streams: the tonic side of the fan-out figure.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Vec<TickSender>>,
    count: watch::Sender<usize>,
}

impl Hub {
    fn add(&self, subscriber: TickSender) {
        let mut subscribers = lock(&self.subscribers);
        subscribers.push(subscriber);
        self.count.send_replace(subscribers.len());
    }

    /// Queues tick `seq` to every open stream; returns how many it was queued for.
    pub fn publish(&self, seq: u64) -> usize {
        let tick = Tick {
            seq,
            label: "fan-out".to_owned(),
        };
        let mut subscribers = lock(&self.subscribers);
        // A stream whose queue is full misses the tick, as a hardlight client that is too slow would.
        subscribers.retain(|s| !s.is_closed());
        self.count.send_replace(subscribers.len());
        subscribers
            .iter()
            .filter(|s| s.try_send(Ok(tick.clone())).is_ok())
            .count()
    }

    /// Resolves once at least `n` streams are open.
    pub async fn wait_for(&self, n: usize) {
        // The sender lives in `self`, so waiting cannot fail.
        let _ = self.count.subscribe().wait_for(|&count| count >= n).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only Vec operations run under the lock; a poisoned list is still a valid list.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The stream of `Items`: one payload per item, built as it is sent (as hardlight's handler does).
type ItemsStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Payload, Status>> + Send>>;

/// The service.
struct Service {
    hub: Arc<Hub>,
}

#[tonic::async_trait]
impl Bench for Service {
    async fn echo(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    type SubscribeStream = ReceiverStream<Result<Tick, Status>>;
    type ItemsStream = ItemsStream;

    async fn items(
        &self,
        request: Request<ItemsRequest>,
    ) -> Result<Response<Self::ItemsStream>, Status> {
        let ItemsRequest { count, size } = request.into_inner();
        let items = futures_util::stream::iter((0..count).map(move |_| {
            Ok(Payload {
                data: vec![7; size as usize],
            })
        }));
        Ok(Response::new(Box::pin(items)))
    }

    async fn subscribe(
        &self,
        _request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        self.hub.add(tx);
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Starts a server on a free port of 127.0.0.1, serving TLS with `identity` if given (h2c
/// otherwise), on the current runtime. Returns its port, its hub and the task serving it.
///
/// # Errors
/// If the port cannot be bound or tonic refuses the identity.
pub async fn start(
    identity: Option<Identity>,
) -> Result<(u16, Arc<Hub>, JoinHandle<()>), BoxError> {
    let incoming = TcpIncoming::bind(([127, 0, 0, 1], 0).into())
        .map_err(|e| error(format!("tonic: bind: {e}")))?
        .with_nodelay(Some(true));
    let port = incoming
        .local_addr()
        .map_err(|e| error(format!("tonic: local address: {e}")))?
        .port();
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = identity {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| error(format!("tonic: TLS: {e}")))?;
    }
    let hub = Arc::new(Hub::default());
    let router = builder.add_service(BenchServer::new(Service { hub: hub.clone() }));
    let task = tokio::spawn(async move {
        if let Err(e) = router.serve_with_incoming(incoming).await {
            eprintln!("tonic server stopped: {e}");
        }
    });
    Ok((port, hub, task))
}

/// Connects a channel to the server on `port`: h2c when `root` is `None`, otherwise TLS trusting
/// `root` for the name `localhost`.
///
/// # Errors
/// If connecting fails.
pub async fn connect(
    port: u16,
    root: Option<Certificate>,
) -> Result<BenchClient<Channel>, BoxError> {
    let endpoint = match root {
        None => Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?,
        Some(root) => Endpoint::from_shared(format!("https://127.0.0.1:{port}"))?.tls_config(
            ClientTlsConfig::new()
                .ca_certificate(root)
                .domain_name("localhost"),
        )?,
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| error(format!("tonic: connect: {e}")))?;
    Ok(BenchClient::new(channel))
}

/// One call of `Echo`.
///
/// # Errors
/// If the call fails.
pub async fn echo(client: &BenchClient<Channel>, payload: &[u8]) -> Result<usize, BoxError> {
    // Generated clients take `&mut self`; a clone shares the channel.
    let reply = client
        .clone()
        .echo(Payload {
            data: payload.to_vec(),
        })
        .await
        .map_err(|e| error(format!("tonic: echo: {e}")))?;
    Ok(reply.into_inner().data.len())
}

/// Reads a stream of `count` items of `size` bytes to its end; returns how many arrived.
///
/// # Errors
/// If the call or the stream fails, or an item has the wrong size.
pub async fn items(client: &BenchClient<Channel>, count: u64, size: u32) -> Result<u64, BoxError> {
    let mut stream = client
        .clone()
        .items(ItemsRequest { count, size })
        .await
        .map_err(|e| error(format!("tonic: items: {e}")))?
        .into_inner();
    let mut received = 0;
    while let Some(item) = stream
        .message()
        .await
        .map_err(|e| error(format!("tonic: items: {e}")))?
    {
        if item.data.len() != size as usize {
            return Err(error("tonic: an item of the wrong size"));
        }
        received += 1;
    }
    Ok(received)
}

/// A `Subscribe` stream and the ticks it receives.
pub struct Events {
    // Keeps the channel, and so its connection, open while the stream is read.
    _client: BenchClient<Channel>,
    stream: Streaming<Tick>,
}

impl Events {
    /// Opens a `Subscribe` stream on `client`'s channel.
    ///
    /// # Errors
    /// If the call fails.
    pub async fn subscribe(client: BenchClient<Channel>) -> Result<Self, BoxError> {
        let stream = client
            .clone()
            .subscribe(SubscribeRequest {})
            .await
            .map_err(|e| error(format!("tonic: subscribe: {e}")))?
            .into_inner();
        Ok(Self {
            _client: client,
            stream,
        })
    }

    /// The `seq` of the next tick.
    ///
    /// # Errors
    /// If the stream failed or ended.
    pub async fn next(&mut self) -> Result<u64, BoxError> {
        match self.stream.message().await {
            Ok(Some(tick)) => Ok(tick.seq),
            Ok(None) => Err(error("tonic: the stream ended")),
            Err(e) => Err(error(format!("tonic: stream: {e}"))),
        }
    }
}
