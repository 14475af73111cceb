//! The systems compared, behind one interface: start a server, connect a client, call `echo`,
//! subscribe to and publish fan-out events.

pub mod hardlight;
pub mod raw_ws;
pub mod tonic;

use std::sync::Arc;

use ::hardlight::{CertFingerprint, Compression, EventEmitter};
use ::tonic::transport::Channel;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::cert::BenchCert;
use crate::measure::streaming::BYTES_CHUNK;
use crate::proto::bench_client::BenchClient as TonicClient;
use crate::{BoxError, error};

/// One row of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// hardlight over plain WebSocket.
    Hardlight,
    /// hardlight over plain WebSocket, the echo declared with zero-copy views
    /// (`Archived<Vec<u8>>`): only in the large-message table.
    HardlightViews,
    /// hardlight over TLS, the client pinning the certificate.
    HardlightTls,
    /// hardlight over TLS with `Compression::default()`.
    HardlightTlsDeflate,
    /// tonic over HTTP/2 without TLS (h2c).
    Tonic,
    /// tonic over TLS.
    TonicTls,
    /// tokio-tungstenite echoing binary messages.
    RawWs,
}

impl System {
    /// Every system, in report order.
    pub const ALL: [System; 6] = [
        System::Hardlight,
        System::HardlightTls,
        System::HardlightTlsDeflate,
        System::Tonic,
        System::TonicTls,
        System::RawWs,
    ];

    /// The systems of the large-message table: owned and view echo beside tonic and the floor.
    pub const LARGE: [System; 4] = [
        System::Hardlight,
        System::HardlightViews,
        System::Tonic,
        System::RawWs,
    ];

    /// The systems of the tables of the shapes real servers see (many connections, scaling, fan-out
    /// to many): hardlight beside gRPC and the bare WebSocket floor.
    pub const SHAPES: [System; 3] = [System::Hardlight, System::Tonic, System::RawWs];

    /// The name in the report and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            System::Hardlight => "hardlight",
            System::HardlightViews => "hardlight_views",
            System::HardlightTls => "hardlight_tls",
            System::HardlightTlsDeflate => "hardlight_tls_deflate",
            System::Tonic => "tonic",
            System::TonicTls => "tonic_tls",
            System::RawWs => "raw_ws",
        }
    }

    /// The system with this [`name`](Self::name).
    ///
    /// # Errors
    /// If no system has that name.
    pub fn from_name(name: &str) -> Result<Self, BoxError> {
        Self::ALL
            .into_iter()
            .chain(Self::LARGE)
            .find(|s| s.name() == name)
            .ok_or_else(|| error(format!("no system is called {name:?}")))
    }

    /// Whether it runs over TLS.
    pub fn uses_tls(self) -> bool {
        matches!(
            self,
            System::HardlightTls | System::HardlightTlsDeflate | System::TonicTls
        )
    }
}

/// A row of the metrics table: hardlight over plain WebSocket, recording metrics or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSetup {
    /// `ServerConfig::metrics(false)` and `ClientConfig::metrics(false)`: no handles, no clock.
    Off,
    /// Metrics on (the default) with no recorder installed: every handle a no-op.
    NoRecorder,
    /// Metrics on with a Prometheus recorder installed globally.
    Prometheus,
}

impl MetricsSetup {
    /// Every setup, in table order, which is also the order they must be measured in: the
    /// Prometheus recorder, once installed, cannot be uninstalled.
    pub const ALL: [MetricsSetup; 3] = [
        MetricsSetup::Off,
        MetricsSetup::NoRecorder,
        MetricsSetup::Prometheus,
    ];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            MetricsSetup::Off => "hardlight_metrics_off",
            MetricsSetup::NoRecorder => "hardlight",
            MetricsSetup::Prometheus => "hardlight_prometheus",
        }
    }

    /// Whether the server and the client record metrics (`ServerConfig::metrics`,
    /// `ClientConfig::metrics`).
    pub fn records(self) -> bool {
        self != MetricsSetup::Off
    }
}

/// What a client needs to trust a TLS server.
#[derive(Clone, Debug)]
pub struct ClientTrust {
    /// The server certificate's fingerprint, which hardlight clients pin.
    pub fingerprint: CertFingerprint,
    /// The server certificate, PEM, which tonic clients take as their root.
    pub cert_pem: String,
}

impl ClientTrust {
    /// Trust in `cert`.
    ///
    /// # Errors
    /// If hardlight refuses the certificate.
    pub fn of(cert: &BenchCert) -> Result<Self, BoxError> {
        Ok(Self {
            fingerprint: cert.hardlight()?.fingerprint(),
            cert_pem: cert.cert_pem.clone(),
        })
    }
}

enum Publisher {
    Hardlight(EventEmitter<hardlight::Tick>),
    Tonic(Arc<tonic::Hub>),
    RawWs(Arc<raw_ws::Hub>),
}

/// A server of one system, running on the server runtime. Dropping it stops it and ends its
/// connections.
pub struct RunningServer {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    publisher: Arc<Publisher>,
    runtime: Handle,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Starts `system`'s server on `runtime`, with `cert` for the TLS systems.
    ///
    /// # Errors
    /// If the server cannot start.
    pub async fn start(
        system: System,
        cert: &BenchCert,
        runtime: &Handle,
    ) -> Result<Self, BoxError> {
        Self::start_sized(system, cert, runtime, None).await
    }

    /// [`start`](Self::start), with hardlight's `ServerConfig::max_connections` raised to
    /// `max_connections` if given (its default, 10,000, is fewer than the many-connection figures
    /// open). tonic and the raw WebSocket have no such limit.
    ///
    /// # Errors
    /// If the server cannot start.
    pub async fn start_sized(
        system: System,
        cert: &BenchCert,
        runtime: &Handle,
        max_connections: Option<usize>,
    ) -> Result<Self, BoxError> {
        let hardlight_tls = if system.uses_tls() {
            Some(cert.hardlight()?)
        } else {
            None
        };
        let tonic_identity = system.uses_tls().then(|| cert.tonic_identity());
        let started = runtime
            .spawn(async move {
                Ok::<_, BoxError>(match system {
                    System::Hardlight
                    | System::HardlightViews
                    | System::HardlightTls
                    | System::HardlightTlsDeflate => {
                        let (port, emitter, task) =
                            hardlight::start(hardlight_tls, max_connections).await?;
                        (port, Publisher::Hardlight(emitter), task)
                    }
                    System::Tonic | System::TonicTls => {
                        let (port, hub, task) = tonic::start(tonic_identity).await?;
                        (port, Publisher::Tonic(hub), task)
                    }
                    System::RawWs => {
                        let (port, hub, task) = raw_ws::start().await?;
                        (port, Publisher::RawWs(hub), task)
                    }
                })
            })
            .await
            .map_err(|e| error(format!("{}: server start panicked: {e}", system.name())))?;
        let (port, publisher, task) = started?;
        Ok(Self {
            port,
            publisher: Arc::new(publisher),
            runtime: runtime.clone(),
            task,
        })
    }

    /// Starts a plaintext hardlight server on `runtime` as `setup` says: recording metrics or not
    /// (its handles are registered at its first connection, with the recorder installed then).
    ///
    /// # Errors
    /// If the server cannot start.
    pub async fn start_hardlight(setup: MetricsSetup, runtime: &Handle) -> Result<Self, BoxError> {
        let config = ::hardlight::ServerConfig::plaintext("127.0.0.1:0").metrics(setup.records());
        let (port, emitter, task) = runtime
            .spawn(hardlight::start_with(config))
            .await
            .map_err(|e| error(format!("{}: server start panicked: {e}", setup.name())))??;
        Ok(Self {
            port,
            publisher: Arc::new(Publisher::Hardlight(emitter)),
            runtime: runtime.clone(),
            task,
        })
    }

    /// Publishes fan-out tick `seq` from the server runtime; returns how many connections it was
    /// queued for.
    ///
    /// # Errors
    /// If publishing fails.
    pub async fn publish(&self, seq: u64) -> Result<usize, BoxError> {
        let publisher = self.publisher.clone();
        self.runtime
            .spawn(async move {
                match &*publisher {
                    Publisher::Hardlight(emitter) => hardlight::publish(emitter, seq).await,
                    Publisher::Tonic(hub) => Ok(hub.publish(seq)),
                    Publisher::RawWs(hub) => Ok(hub.publish(seq)),
                }
            })
            .await
            .map_err(|e| error(format!("publishing panicked: {e}")))?
    }

    /// Resolves once `n` connections are subscribed. hardlight connections are subscribed when their
    /// `join` call returns; the others register on the server a little after connecting.
    pub async fn wait_for_subscribers(&self, n: usize) {
        match &*self.publisher {
            Publisher::Hardlight(_) => {}
            Publisher::Tonic(hub) => hub.wait_for(n).await,
            Publisher::RawWs(hub) => hub.wait_for(n).await,
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client of one system: one connection (one tonic channel). Clones share it.
#[derive(Clone)]
pub enum Client {
    /// A hardlight client.
    Hardlight(hardlight::BenchClient),
    /// A hardlight client calling the echo declared with views.
    HardlightViews(hardlight::BenchClient),
    /// A tonic client.
    Tonic(TonicClient<Channel>),
    /// A raw WebSocket client.
    RawWs(raw_ws::Client),
}

impl Client {
    /// Connects to `system`'s server on `port`, trusting `trust` for the TLS systems.
    ///
    /// # Errors
    /// If connecting fails.
    pub async fn connect(system: System, port: u16, trust: &ClientTrust) -> Result<Self, BoxError> {
        let fingerprint = system.uses_tls().then_some(trust.fingerprint);
        Ok(match system {
            System::Hardlight | System::HardlightTls => {
                Client::Hardlight(hardlight::connect(port, fingerprint, Compression::none()).await?)
            }
            System::HardlightViews => Client::HardlightViews(
                hardlight::connect(port, fingerprint, Compression::none()).await?,
            ),
            System::HardlightTlsDeflate => Client::Hardlight(
                hardlight::connect(port, fingerprint, Compression::default()).await?,
            ),
            System::Tonic => Client::Tonic(tonic::connect(port, None).await?),
            System::TonicTls => {
                let root = ::tonic::transport::Certificate::from_pem(&trust.cert_pem);
                Client::Tonic(tonic::connect(port, Some(root)).await?)
            }
            System::RawWs => Client::RawWs(raw_ws::connect(port).await?),
        })
    }

    /// Connects a plaintext hardlight client to the server on `port`, recording metrics or not as
    /// `setup` says (its handles are registered at its first call, with the recorder installed
    /// then).
    ///
    /// # Errors
    /// If connecting fails.
    pub async fn connect_hardlight(setup: MetricsSetup, port: u16) -> Result<Self, BoxError> {
        let config = ::hardlight::ClientConfig::plaintext(format!("127.0.0.1:{port}"))
            .compression(Compression::none())
            .metrics(setup.records());
        Ok(Client::Hardlight(hardlight::connect_with(config).await?))
    }

    /// One echo call: sends a copy of `payload` (as each system's API takes it: an owned `Vec`, a
    /// `Bytes`, or a view encoded from the slice), returns the length of what came back.
    ///
    /// # Errors
    /// If the call fails.
    pub async fn echo(&self, payload: &[u8]) -> Result<usize, BoxError> {
        match self {
            Client::Hardlight(client) => hardlight::echo(client, payload).await,
            Client::HardlightViews(client) => hardlight::echo_view(client, payload).await,
            Client::Tonic(client) => tonic::echo(client, payload).await,
            Client::RawWs(client) => client.echo(payload).await,
        }
    }

    /// Reads one stream of `count` items of `size` bytes (a server stream for hardlight and tonic,
    /// messages sent back to back for the raw WebSocket); returns how many arrived.
    ///
    /// # Errors
    /// If the stream fails.
    pub async fn items(&self, count: u64, size: u32) -> Result<u64, BoxError> {
        match self {
            Client::Hardlight(client) | Client::HardlightViews(client) => {
                hardlight::items(client, count, size).await
            }
            Client::Tonic(client) => tonic::items(client, count, size).await,
            Client::RawWs(client) => client.items(count, size).await,
        }
    }

    /// Reads one byte stream of `len` bytes (a hardlight `ByteStream`; for tonic and the raw
    /// WebSocket, the same bytes as a stream of [`BYTES_CHUNK`] chunks, what a byte stream is in
    /// each); returns how many bytes arrived.
    ///
    /// # Errors
    /// If the stream fails.
    pub async fn bytes(&self, len: u64) -> Result<u64, BoxError> {
        let chunks = len.div_ceil(u64::from(BYTES_CHUNK));
        let size = u64::from(BYTES_CHUNK);
        match self {
            Client::Hardlight(client) | Client::HardlightViews(client) => {
                hardlight::bytes(client, len).await
            }
            Client::Tonic(client) => Ok(tonic::items(client, chunks, BYTES_CHUNK).await? * size),
            Client::RawWs(client) => Ok(client.items(chunks, BYTES_CHUNK).await? * size),
        }
    }

    /// Subscribes this connection to the fan-out events.
    ///
    /// # Errors
    /// If subscribing fails.
    pub async fn subscribe(self) -> Result<Events, BoxError> {
        Ok(match self {
            Client::Hardlight(client) | Client::HardlightViews(client) => {
                Events::Hardlight(hardlight::Events::join(client).await?)
            }
            Client::Tonic(client) => {
                Events::Tonic(Box::new(tonic::Events::subscribe(client).await?))
            }
            Client::RawWs(client) => Events::RawWs(raw_ws::Events::new(client)),
        })
    }
}

/// The fan-out events one connection receives.
pub enum Events {
    /// From a hardlight subscription.
    Hardlight(hardlight::Events),
    /// From a tonic `Subscribe` stream (boxed: a tonic stream is large).
    Tonic(Box<tonic::Events>),
    /// From a raw WebSocket connection.
    RawWs(raw_ws::Events),
}

impl Events {
    /// The sequence number of the next event.
    ///
    /// # Errors
    /// If the connection fails.
    pub async fn next(&mut self) -> Result<u64, BoxError> {
        match self {
            Events::Hardlight(events) => events.next().await,
            Events::Tonic(events) => events.next().await,
            Events::RawWs(events) => events.next().await,
        }
    }
}
