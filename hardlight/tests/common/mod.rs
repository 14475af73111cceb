//! A test service exercising every feature, and helpers to run it over real loopback sockets.
#![allow(dead_code)]

pub mod relay;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hardlight::*;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long any awaited event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum TestEvent {
    Value(u32),
    Text(String),
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum TestError {
    NotFound(String),
    Invalid { code: u32 },
}

#[rpc(state = TestState, events = TestEvent)]
pub trait Test {
    async fn echo(&self, payload: Vec<u8>) -> HandlerResult<Vec<u8>>;
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
    /// Waits until the test opens the gate; returns how many calls were inside at once at entry.
    async fn gate(&self) -> HandlerResult<u32>;
    async fn fail(&self, code: u32) -> Result<(), TestError>;
    async fn explode(&self) -> HandlerResult<()>;
    async fn set_name(&self, name: String) -> HandlerResult<()>;
    async fn bump(&self) -> HandlerResult<u32>;
    async fn join(&self, topic: String) -> HandlerResult<()>;
    async fn leave(&self, topic: String) -> HandlerResult<()>;
    async fn shout(&self, topic: String, value: u32) -> HandlerResult<usize>;
    async fn context_name(&self) -> HandlerResult<String>;
    /// A reply of `len` bytes: larger than its call.
    async fn blob(&self, len: u32) -> HandlerResult<Vec<u8>>;
}

#[connection_state]
pub struct TestState {
    pub counter: u32,
    pub name: String,
    pub topics: Vec<String>,
}

/// Application context shared by every connection's handler.
pub struct Ctx {
    pub name: String,
    pub gate: Semaphore,
    inside: AtomicUsize,
    pub entered: watch::Sender<usize>,
}

impl Ctx {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            gate: Semaphore::new(0),
            inside: AtomicUsize::new(0),
            entered: watch::channel(0).0,
        }
    }

    /// Resolves once `n` gate calls have entered their handler.
    pub async fn wait_entered(&self, n: usize) {
        let mut rx = self.entered.subscribe();
        within("calls to enter the gate", rx.wait_for(|e| *e >= n))
            .await
            .expect("sender lives in ctx");
    }
}

#[rpc_handler(context = Ctx, vis = pub)]
impl Test for TestHandler {
    async fn echo(&self, payload: Vec<u8>) -> HandlerResult<Vec<u8>> {
        Ok(payload)
    }

    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        a.checked_add(b).ok_or_else(|| "overflow".into())
    }

    async fn gate(&self) -> HandlerResult<u32> {
        let inside = self.context.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.context.entered.send_modify(|n| *n += 1);
        let permit = self
            .context
            .gate
            .acquire()
            .await
            .map_err(|_| "gate closed")?;
        permit.forget();
        self.context.inside.fetch_sub(1, Ordering::SeqCst);
        Ok(inside as u32)
    }

    async fn fail(&self, code: u32) -> Result<(), TestError> {
        match code {
            0 => Ok(()),
            404 => Err(TestError::NotFound("thing".into())),
            code => Err(TestError::Invalid { code }),
        }
    }

    async fn explode(&self) -> HandlerResult<()> {
        panic!("this handler always panics")
    }

    async fn set_name(&self, name: String) -> HandlerResult<()> {
        self.state.write().await.name = name;
        Ok(())
    }

    async fn bump(&self) -> HandlerResult<u32> {
        let mut state = self.state.write().await;
        state.counter += 1;
        Ok(state.counter)
    }

    async fn join(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(topic.as_str()));
        self.state.write().await.topics.push(topic);
        Ok(())
    }

    async fn leave(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.remove(&Topic::from(topic.as_str()));
        self.state.write().await.topics.retain(|t| *t != topic);
        Ok(())
    }

    async fn shout(&self, topic: String, value: u32) -> HandlerResult<usize> {
        Ok(self
            .events
            .emit(&Topic::from(topic), TestEvent::Value(value))
            .await?)
    }

    async fn context_name(&self) -> HandlerResult<String> {
        Ok(self.context.name.clone())
    }

    async fn blob(&self, len: u32) -> HandlerResult<Vec<u8>> {
        Ok(vec![7; len as usize])
    }
}

/// A running test server.
pub struct TestServer {
    pub port: u16,
    pub fingerprint: Option<CertFingerprint>,
    pub stats: ServerStats,
    pub emitter: EventEmitter,
    pub notifier: Option<TopicNotifier>,
    pub ctx: Arc<Ctx>,
    pub shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), Error>>,
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
    pub async fn hosting(config: ServerConfig, more: impl FnOnce(Server) -> Server) -> Self {
        let ctx = Arc::new(Ctx::new("test-context"));
        let fingerprint = config.tls().map(ServerTls::fingerprint);
        let server = more(Server::new(config, factory!(TestHandler, ctx.clone())));
        let emitter = server.get_event_emitter();
        let notifier = Some(server.get_topic_notifier().expect("fresh server"));
        let shutdown = server.shutdown_handle();
        let bound = server.bind().await.expect("bind loopback");
        let port = bound.local_addr().expect("bound").port();
        let stats = bound.stats();
        let task = tokio::spawn(bound.run());
        Self {
            port,
            fingerprint,
            stats,
            emitter,
            notifier,
            ctx,
            shutdown,
            task,
        }
    }

    pub fn address(&self) -> String {
        format!("localhost:{}", self.port)
    }

    /// A client trusting exactly this server's certificate.
    pub fn client_config(&self) -> ClientConfig {
        match self.fingerprint {
            Some(fp) => ClientConfig::pinned(self.address(), fp),
            None => ClientConfig::plaintext(self.address()),
        }
    }

    pub async fn client(&self) -> TestClient {
        self.client_with(self.client_config()).await
    }

    pub async fn client_with(&self, config: ClientConfig) -> TestClient {
        let client = TestClient::new(config);
        within("connect", client.connect()).await.expect("connect");
        client
    }

    /// Resolves with what the server's `run` returned (after a graceful shutdown).
    pub async fn stopped(&mut self) -> Result<(), Error> {
        (&mut self.task).await.expect("the server task panicked")
    }

    /// Stops the server and every connection, as a crash would.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server hosting any service (not only the test service) on a free loopback port; stopped when
/// dropped.
pub struct Served {
    pub port: u16,
    pub fingerprint: Option<CertFingerprint>,
    pub stats: ServerStats,
    pub emitter: EventEmitter,
    pub shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Served {
    pub async fn start<H: hardlight::server::Handler>(
        config: ServerConfig,
        factory: Factory<H>,
    ) -> Self {
        let fingerprint = config.tls().map(ServerTls::fingerprint);
        let server = Server::new(config, factory);
        let emitter = server.get_event_emitter();
        let shutdown = server.shutdown_handle();
        let bound = server.bind().await.expect("bind loopback");
        Self {
            port: bound.local_addr().expect("bound").port(),
            fingerprint,
            stats: bound.stats(),
            emitter,
            shutdown,
            task: tokio::spawn(bound.run()),
        }
    }

    /// A client configuration trusting exactly this server's certificate (or plaintext).
    pub fn client_config(&self) -> ClientConfig {
        let address = format!("localhost:{}", self.port);
        match self.fingerprint {
            Some(fp) => ClientConfig::pinned(address, fp),
            None => ClientConfig::plaintext(address),
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
    pub async fn stopped(&mut self) -> Result<(), Error> {
        (&mut self.task).await.expect("the server task panicked")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A raw WebSocket peer (no hardlight client) for speaking the protocol by hand.
pub type RawPeer = WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Connects a raw WebSocket over TLS, offering `protocols` as the subprotocol list.
pub async fn raw_connect(
    port: u16,
    protocols: &[&str],
) -> Result<RawPeer, tokio_tungstenite::tungstenite::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let connector = ServerTrust::AcceptAnyDangerous
        .connector()
        .expect("connector");
    let tls = connector
        .connect(hardlight::tls::server_name("localhost").expect("name"), tcp)
        .await?;
    let mut request = format!("wss://localhost:{port}/").into_client_request()?;
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols.join(", ")).expect("header"),
        );
    }
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await?;
    Ok(ws)
}

/// The subprotocol list of a correct client of the test service.
pub fn test_offer(compression: Option<u8>) -> Vec<String> {
    hardlight::wire::handshake::client_offer(
        <dyn Test as hardlight::__private::ServiceSchema>::FINGERPRINT,
        compression,
    )
}

/// A raw peer that completed the handshake and read `HELLO`.
pub async fn raw_hardlight(port: u16, compression: Option<u8>) -> (RawPeer, Vec<u8>) {
    let offer = test_offer(compression);
    let offer: Vec<&str> = offer.iter().map(String::as_str).collect();
    let mut ws = within("raw connect", raw_connect(port, &offer))
        .await
        .expect("raw connect");
    let hello = match within("HELLO", ws.next()).await {
        Some(Ok(Message::Binary(hello))) => hello.to_vec(),
        other => panic!("expected HELLO, got {other:?}"),
    };
    (ws, hello)
}

/// Reads until the peer closes; returns the close code and reason. Fails the test on timeout.
pub async fn expect_close(ws: &mut RawPeer) -> (u16, String) {
    loop {
        match within("the server to close", ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) => return (0, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("connection failed without a close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

/// Sends one binary message on any WebSocket.
pub async fn send_binary<S>(ws: &mut S, bytes: Vec<u8>)
where
    S: futures_util::Sink<Message> + Unpin,
    S::Error: std::fmt::Debug,
{
    within("send", ws.send(Message::Binary(bytes.into())))
        .await
        .expect("send");
}

/// A raw plain-WebSocket peer (no TLS) that completed the handshake and read `HELLO`.
pub async fn raw_hardlight_plain(port: u16) -> (WebSocketStream<TcpStream>, Vec<u8>) {
    let tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("tcp connect");
    let mut request = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .expect("request");
    let offer = test_offer(None).join(", ");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&offer).expect("header"),
    );
    let (mut ws, _) = within("upgrade", tokio_tungstenite::client_async(request, tcp))
        .await
        .expect("upgrade");
    let hello = match within("HELLO", ws.next()).await {
        Some(Ok(Message::Binary(hello))) => hello.to_vec(),
        other => panic!("expected HELLO, got {other:?}"),
    };
    (ws, hello)
}
