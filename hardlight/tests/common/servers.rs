//! Servers on loopback ports that stop when dropped: [`Served`] for any service, [`TestServer`] for
//! the test service with its conveniences, and [`HeldPort`] for a server that stops and starts again
//! on one port.

use std::sync::Arc;

use hardlight::*;
use tokio::task::JoinHandle;

use super::{Ctx, TestClient, TestEvent, TestHandler, within};

/// A task aborted when this is dropped: a server or an app that must not outlive its test.
pub struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Resolves with what the task returned; fails the test if it panicked.
    pub async fn finished(&mut self) -> T {
        (&mut self.0).await.expect("the task panicked")
    }

    /// Stops the task, as a crash would.
    pub fn abort(&self) {
        self.0.abort();
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running server hosting any services, stopped (as by a crash) when dropped, and `ctx`: what the
/// test keeps of its services (the test service's context for a [`TestServer`], a NATS bridge, or
/// nothing).
pub struct Served<C = ()> {
    pub port: u16,
    pub fingerprint: Option<CertFingerprint>,
    pub stats: ServerStats,
    pub emitter: EventEmitter,
    /// The server's one topic notifier, for the test to take.
    pub notifier: Option<TopicNotifier>,
    pub shutdown: ShutdownHandle,
    pub ctx: C,
    task: AbortOnDrop<Result<(), ServerError>>,
}

/// A running server hosting the test service (and whatever a test adds).
pub type TestServer = Served<Arc<Ctx>>;

impl Served {
    /// A server hosting `factory`'s service with `config` (on a free loopback port: `127.0.0.1:0`).
    pub async fn spawn<H: hardlight::server::Handler>(
        config: ServerConfig,
        factory: Factory<H>,
    ) -> Self {
        Self::bind(Server::new(config, factory), ()).await
    }
}

impl<C> Served<C> {
    /// Binds `server`, built by the test, and runs it.
    pub async fn bind<E>(server: Server<E>, ctx: C) -> Self {
        let fingerprint = server.config().tls().map(ServerTls::fingerprint);
        // Untyped: tests also publish what the clients do not expect.
        let emitter = server.get_event_emitter().untyped();
        let notifier = Some(server.get_topic_notifier().expect("a fresh server"));
        let shutdown = server.shutdown_handle();
        let bound = server.bind().await.expect("bind loopback");
        Self {
            port: bound.local_addr().expect("bound").port(),
            fingerprint,
            stats: bound.stats(),
            emitter,
            notifier,
            shutdown,
            ctx,
            task: AbortOnDrop(tokio::spawn(bound.run())),
        }
    }

    /// `localhost:PORT`.
    pub fn address(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// A client configuration trusting exactly this server's certificate (or plaintext).
    pub fn client_config(&self) -> ClientConfig {
        match self.fingerprint {
            Some(fp) => ClientConfig::pinned(self.address(), fp),
            None => ClientConfig::plaintext(self.address()),
        }
    }

    /// Waits until the server holds exactly `n` connections (each has finished its hooks).
    pub async fn settles_at(&self, n: usize) {
        within(
            "the server's connections to settle",
            self.stats.wait_for_connections(|c| c == n),
        )
        .await;
    }

    /// Resolves with what the server's `run` returned (after a graceful shutdown).
    pub async fn stopped(&mut self) -> Result<(), ServerError> {
        self.task.finished().await
    }

    /// Stops the server and every connection, as a crash would.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A self-signed TLS server on a free loopback port.
    pub async fn start() -> Self {
        Self::with_config(ServerConfig::new_self_signed("127.0.0.1:0")).await
    }

    pub async fn with_config(config: ServerConfig) -> Self {
        Self::hosting(config, |server| server).await
    }

    /// A server hosting the test service and whatever `more` adds ([`Server::service`]).
    pub async fn hosting<E>(
        config: ServerConfig,
        more: impl FnOnce(Server<TestEvent>) -> Server<E>,
    ) -> Self {
        let ctx = Arc::new(Ctx::new("test-context"));
        let server = more(Server::new(config, factory!(TestHandler, ctx.clone())));
        Self::bind(server, ctx).await
    }

    /// A connected client trusting exactly this server.
    pub async fn client(&self) -> TestClient {
        self.client_with(self.client_config()).await
    }

    pub async fn client_with(&self, config: ClientConfig) -> TestClient {
        let client = TestClient::new(config);
        within("connect", client.connect()).await.expect("connect");
        client
    }
}

/// A loopback port held for the whole test by a bound socket that never listens, so that a server
/// can stop and start again on it without another socket (a client's, picking an ephemeral port)
/// taking it meanwhile. While no server listens, connections to it are refused. Servers bind beside
/// the holder because both set `SO_REUSEADDR` (tokio does on every listener, as does Go's
/// `nats-server`) and the holder never listens.
pub struct HeldPort {
    pub port: u16,
    _holder: tokio::net::TcpSocket,
}

impl HeldPort {
    pub fn new() -> Self {
        let holder = tokio::net::TcpSocket::new_v4().expect("a socket");
        holder.set_reuseaddr(true).expect("SO_REUSEADDR");
        holder
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind loopback");
        let port = holder.local_addr().expect("bound").port();
        Self {
            port,
            _holder: holder,
        }
    }

    /// `127.0.0.1:PORT`, for a server's configuration.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
