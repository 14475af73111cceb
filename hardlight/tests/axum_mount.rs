//! A hardlight server mounted as a route of an axum app (feature `axum`): served on the app's
//! listener next to its other routes, behind its middleware and its TLS, with the standalone server's
//! limits, refusals, identities, hooks, events and graceful shutdown.
mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{Listener, ListenerExt};
use common::*;
use futures_util::StreamExt;
use hardlight::__private::wire::frame::{ServerFrame, decode_server, encode_call};
use hardlight::wire::close;
use hardlight::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// An axum app on a loopback port: `/health` answers "ok", the hardlight server is mounted at
/// `/rpc`; stopped when dropped.
struct App {
    port: u16,
    rpc: AxumService,
    _task: AbortOnDrop<()>,
}

impl App {
    /// Serves `server` at `/rpc` with `layers` applied to the router, and axum's `ConnectInfo`.
    async fn start<E>(server: Server<E>, layers: impl FnOnce(Router) -> Router) -> Self {
        Self::serve(server, layers, true).await
    }

    /// The same, with or without axum's `ConnectInfo`.
    async fn serve<E>(
        server: Server<E>,
        layers: impl FnOnce(Router) -> Router,
        connect_info: bool,
    ) -> Self {
        let rpc = within("the mount", server.into_axum_service())
            .await
            .expect("mount");
        let app = layers(router(&rpc));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("bound").port();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = if connect_info {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            })
        } else {
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            })
        };
        Self {
            port,
            rpc,
            _task: AbortOnDrop(task),
        }
    }

    fn client_config(&self) -> ClientConfig {
        ClientConfig::plaintext(format!("ws://127.0.0.1:{}/rpc", self.port))
    }

    async fn client(&self) -> TestClient {
        let client = TestClient::new(self.client_config());
        within("connect", client.connect()).await.expect("connect");
        client
    }

    fn stats(&self) -> ServerStats {
        self.rpc.stats()
    }
}

/// The app's routes: its own, and the mounted server.
fn router(rpc: &AxumService) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/rpc", rpc.clone())
}

/// A server hosting the test service, and its context.
fn test_server(config: ServerConfig) -> (Server<TestEvent>, Arc<Ctx>) {
    let ctx = Arc::new(Ctx::new("mounted"));
    (Server::new(config, factory!(TestHandler, ctx.clone())), ctx)
}

/// A plain `GET` of `path`.
async fn get_path(port: u16, path: &str) -> RawResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    raw_http(port, &request).await
}

#[tokio::test]
async fn a_mounted_server_serves_calls_state_and_events_next_to_the_apps_routes() {
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let emitter = server.get_event_emitter();
    let mut notifier = server.get_topic_notifier().expect("a fresh server");
    let app = App::start(server, |router| router).await;

    let client = app.client().await;
    assert_eq!(client.add(20, 22).await.unwrap(), 42);
    assert_eq!(client.echo(vec![1, 2, 3]).await.unwrap(), [1, 2, 3]);

    let mut watcher = client.watch_state();
    assert_eq!(client.bump().await.unwrap(), 1);
    within("a state change", watcher.changed()).await.unwrap();
    assert_eq!(watcher.current().counter, 1);
    assert_eq!(client.state().await.unwrap().counter, 1);

    let mut events = client.subscribe().await.unwrap();
    client.join("news".into()).await.unwrap();
    assert_eq!(
        within("Created", notifier.recv()).await,
        Some(TopicNotification::Created(Topic::from("news")))
    );
    let delivered = emitter
        .emit(&Topic::from("news"), TestEvent::Text("hello".into()))
        .await
        .unwrap();
    assert_eq!(delivered, 1);
    let event = within("the event", events.recv()).await.unwrap();
    assert_eq!(event.payload, TestEvent::Text("hello".into()));

    // The app's own route answers meanwhile, on the same listener.
    let health = get_path(app.port, "/health").await;
    assert_eq!(
        (health.status.as_str(), health.body.as_str()),
        ("HTTP/1.1 200 OK", "ok")
    );
    assert_eq!(app.stats().connections(), 1);
    assert_eq!(app.stats().connections_accepted(), 1);

    client.disconnect().await;
    within(
        "the connection to end",
        app.stats().wait_for_connections(|n| n == 0),
    )
    .await;
    assert_eq!(
        within("Removed", notifier.recv()).await,
        Some(TopicNotification::Removed(Topic::from("news")))
    );
}

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    path: String,
    peer: String,
}

#[rpc]
trait Whoami {
    async fn whoami(&self) -> HandlerResult<String>;
}

/// The hooks' log and what the authentication hook saw.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    seen: Mutex<Vec<Seen>>,
}

impl Log {
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[rpc_handler(context = Log)]
impl Whoami for WhoamiHandler {
    async fn whoami(&self) -> HandlerResult<String> {
        Ok(self.identity.name().to_owned())
    }

    #[on_connect]
    async fn joined(&self) {
        let line = format!("connect {}", self.identity.name());
        self.context.lines.lock().unwrap().push(line);
    }

    #[on_disconnect]
    async fn left(&self, why: Disconnect) {
        let line = format!("disconnect {} {:?}", self.identity.name(), why.code());
        self.context.lines.lock().unwrap().push(line);
    }
}

/// Authenticates the user the app's middleware names in `x-app-user`, noting what it saw.
fn user_from_the_app(config: ServerConfig, log: Arc<Log>) -> ServerConfig {
    config.authenticate(move |request: UpgradeRequest| {
        let user = request
            .headers()
            .get("x-app-user")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        log.seen.lock().unwrap().push(Seen {
            name: user.clone().unwrap_or_default(),
            path: request.path().to_owned(),
            peer: request.peer_addr().to_string(),
        });
        async move {
            match user {
                Some(user) => Ok(Identity::new(user)),
                None => Err(Rejection::new("no user")),
            }
        }
    })
}

/// Middleware of the app: names the user in a header (as a session layer would).
async fn name_the_user(mut request: Request) -> Request {
    request
        .headers_mut()
        .insert("x-app-user", HeaderValue::from_static("ada"));
    request
}

#[tokio::test]
async fn the_apps_middleware_reaches_the_auth_hook_and_identities_and_hooks_work() {
    let log = Arc::new(Log::default());
    let config = user_from_the_app(ServerConfig::mounted(), log.clone())
        .one_connection_per_identity(IdentityPolicy::RejectNew);
    let server = Server::new(config, factory!(WhoamiHandler, log.clone()));
    let app = App::start(server, |router| {
        router.layer(middleware::map_request(name_the_user))
    })
    .await;
    let config = ClientConfig::plaintext(format!("ws://127.0.0.1:{}/rpc", app.port));

    let client = WhoamiClient::new(config.clone());
    within("connect", client.connect()).await.expect("connect");
    assert_eq!(client.whoami().await.unwrap(), "ada");
    let seen = log.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].name.as_str(), seen[0].path.as_str()),
        ("ada", "/rpc")
    );
    assert!(seen[0].peer.starts_with("127.0.0.1:"), "{seen:?}");
    assert_eq!(log.lines(), ["connect ada"]);

    // One connection per identity holds for mounted connections too.
    let second = WhoamiClient::new(config);
    match within("a refused connect", second.connect()).await {
        Err(ConnectError::HandshakeRefused { code, reason }) => {
            assert_eq!(code, 409);
            assert_eq!(reason, "identity ada is already connected");
        }
        other => panic!("expected a 409 refusal, got {other:?}"),
    }

    client.disconnect().await;
    within(
        "the connection to end",
        app.stats().wait_for_connections(|n| n == 0),
    )
    .await;
    assert_eq!(log.lines(), ["connect ada", "disconnect ada Some(1000)"]);
}

/// Middleware of the app: refuses every request without an `Authorization` header.
async fn require_authorization(request: Request, next: Next) -> Response {
    if request.headers().contains_key("authorization") {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, "the app wants credentials").into_response()
    }
}

#[tokio::test]
async fn a_refusal_by_the_apps_middleware_reaches_the_client_as_unauthorized() {
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let app = App::start(server, |router| {
        router.layer(middleware::from_fn(require_authorization))
    })
    .await;
    match refused(TestClient::new(app.client_config()).connect()).await {
        ConnectError::Unauthorized { status, reason } => {
            assert_eq!(status, 401);
            assert_eq!(reason, "the app wants credentials");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    // The app's own routes are behind the same layer.
    let health = get_path(app.port, "/health").await;
    assert_eq!(health.status, "HTTP/1.1 401 Unauthorized");

    let client = TestClient::new(app.client_config().auth_token("anything"));
    within("connect", client.connect())
        .await
        .expect("connect with credentials");
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
    // A refusal by the app is not one of the server's.
    assert_eq!(app.stats().connections_refused(), 0);
}

/// The configuration both servers of the refusal comparison run with.
fn strict(config: ServerConfig) -> ServerConfig {
    config
        .allowed_origins(["https://app.example"])
        .authenticate(|request| async move {
            match request.token().as_deref() {
                Some("ada-token") => Ok(Identity::new("ada")),
                Some(_) => Err(Rejection::new("unknown token")),
                None => Err(Rejection::new("send a bearer token")),
            }
        })
}

#[tokio::test]
async fn refusals_are_the_standalone_servers_status_and_text() {
    let standalone = Served::spawn(
        strict(ServerConfig::plaintext("127.0.0.1:0")),
        factory!(TestHandler, Arc::new(Ctx::new("standalone"))),
    )
    .await;
    let (server, _ctx) = test_server(strict(ServerConfig::mounted()));
    let app = App::start(server, |router| router).await;
    let offer = test_offer(None).join(", ");
    let token = "Authorization: Bearer ada-token\r\n";

    let requests = [
        // Not a WebSocket upgrade.
        "GET /rpc HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_owned(),
        // An origin not allowed.
        upgrade_request("/rpc", &offer, "Origin: https://evil.example\r\n"),
        // No credentials, and wrong ones.
        upgrade_request("/rpc", &offer, ""),
        upgrade_request("/rpc", &offer, "Authorization: Bearer forged\r\n"),
        // Not a hardlight client.
        upgrade_request("/rpc", "chat", token),
        // Served.
        upgrade_request("/rpc", &offer, token),
    ];
    for request in requests {
        let expected = raw_http(standalone.port, &request).await;
        let mounted = raw_http(app.port, &request).await;
        assert_eq!(mounted.status, expected.status, "{request}");
        assert_eq!(mounted.body, expected.body, "{request}");
        let mut headers = vec!["content-type: text/plain"];
        if expected.status.starts_with("HTTP/1.1 101") {
            headers = vec![
                "sec-websocket-protocol: hardlight.v1",
                "sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=",
            ];
        } else if expected.status.starts_with("HTTP/1.1 401") {
            headers.push("www-authenticate: bearer");
        }
        for header in headers {
            assert!(expected.head.contains(header), "{expected:?}");
            assert!(mounted.head.contains(header), "{mounted:?}");
        }
    }
    // Refused by the origin allow-list and the hook: three, as on the standalone server.
    assert_eq!(app.stats().connections_refused(), 3);
    assert_eq!(standalone.stats.connections_refused(), 3);
}

#[tokio::test]
async fn a_wrong_schema_is_refused_after_the_upgrade_with_4001() {
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let app = App::start(server, |router| router).await;
    let mut request = format!("ws://127.0.0.1:{}/rpc", app.port)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("hardlight.v1, hardlight.schema.0000000000000001"),
    );
    let (mut ws, response) = within("upgrade", tokio_tungstenite::connect_async(request))
        .await
        .expect("upgrade");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "hardlight.v1"
    );
    match within("the close", ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), close::SCHEMA_MISMATCH);
            assert!(frame.reason.contains("schema mismatch"), "{frame:?}");
        }
        other => panic!("expected a 4001 close, got {other:?}"),
    }
    // The typed client reports it as a refusal of the handshake.
    let wrong = WhoamiClient::new(app.client_config());
    match within("a refused connect", wrong.connect()).await {
        Err(ConnectError::HandshakeRefused { code, .. }) => {
            assert_eq!(code, close::SCHEMA_MISMATCH)
        }
        other => panic!("expected a 4001 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn beyond_max_connections_a_mounted_server_answers_503() {
    let (server, _ctx) = test_server(ServerConfig::mounted().max_connections(1));
    let app = App::start(server, |router| router).await;
    let first = app.client().await;
    match refused(TestClient::new(app.client_config()).connect()).await {
        ConnectError::HandshakeRefused { code, reason } => {
            assert_eq!(code, 503);
            assert!(reason.contains("limit of 1 connections"), "{reason}");
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    assert_eq!(app.stats().connections_refused(), 1);
    assert_eq!(first.add(1, 2).await.unwrap(), 3);
    // The app's routes are not limited by the server's connections.
    assert_eq!(get_path(app.port, "/health").await.body, "ok");
}

#[tokio::test]
async fn new_connections_per_address_are_rate_limited_with_429() {
    let (server, _ctx) = test_server(
        ServerConfig::mounted().connection_rate_limit(RateLimit::per_second(1).burst(2)),
    );
    let app = App::start(server, |router| router).await;
    let first = app.client().await;
    let _second = app.client().await;
    match refused(TestClient::new(app.client_config()).connect()).await {
        ConnectError::HandshakeRefused { code, .. } => assert_eq!(code, 429),
        other => panic!("expected a 429 refusal, got {other:?}"),
    }
    assert_eq!(first.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn without_connect_info_the_peer_is_unknown_and_a_rate_limit_refuses_with_500() {
    let log = Arc::new(Log::default());
    let config = user_from_the_app(ServerConfig::mounted(), log.clone());
    let server = Server::new(config, factory!(WhoamiHandler, log.clone()));
    let app = App::serve(
        server,
        |router| router.layer(middleware::map_request(name_the_user)),
        false,
    )
    .await;
    let client = WhoamiClient::new(app.client_config());
    within("connect", client.connect()).await.expect("connect");
    assert_eq!(log.seen.lock().unwrap()[0].peer, "0.0.0.0:0");

    let (server, _ctx) =
        test_server(ServerConfig::mounted().connection_rate_limit(RateLimit::per_second(100)));
    let app = App::serve(server, |router| router, false).await;
    match refused(TestClient::new(app.client_config()).connect()).await {
        ConnectError::HandshakeRefused { code, reason } => {
            assert_eq!(code, 500);
            assert!(
                reason.contains("cannot tell this connection's address"),
                "{reason}"
            );
        }
        other => panic!("expected a 500 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn graceful_shutdown_drains_mounted_connections_with_1001() {
    let (server, ctx) = test_server(ServerConfig::mounted());
    let app = App::start(server, |router| router).await;
    let client = app.client().await;
    let idle = app.client().await;
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    ctx.wait_entered(1).await;

    let shutdown = app.rpc.shutdown_handle();
    shutdown.shutdown(Duration::from_secs(30));
    let drained = tokio::spawn({
        let rpc = app.rpc.clone();
        async move { rpc.drained().await }
    });
    // The idle connection closes at once with 1001; the busy one waits for its call.
    match within("the idle client to see the close", idle.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, .. }) => {
            assert_eq!(code, Some(close::GOING_AWAY))
        }
        unexpected => panic!("expected a 1001 close, got {unexpected:?}"),
    }
    // New connections are refused; the app's other routes go on.
    match refused(TestClient::new(app.client_config()).connect()).await {
        ConnectError::HandshakeRefused { code, reason } => {
            assert_eq!(code, 503);
            assert!(reason.contains("shutting down"), "{reason}");
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    assert_eq!(get_path(app.port, "/health").await.body, "ok");
    assert!(!drained.is_finished());

    ctx.gate.add_permits(1);
    assert_eq!(within("the gated call", call).await.unwrap().unwrap(), 1);
    within("the mount to drain", drained).await.unwrap();
    assert_eq!(app.stats().connections(), 0);
    match within("the client to see the close", client.closed()).await {
        ClosedError::Ended(RpcError::ConnectionClosed { code, reason, .. }) => {
            assert_eq!(code, Some(close::GOING_AWAY));
            assert_eq!(reason, "server shutting down");
        }
        unexpected => panic!("expected a 1001 close, got {unexpected:?}"),
    }
}

#[tokio::test]
async fn dropping_the_app_ends_its_mounted_connections() {
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let app = App::start(server, |router| router).await;
    let stats = app.stats();
    let client = app.client().await;
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
    drop(app);
    within(
        "the mounted connection to end",
        stats.wait_for_connections(|n| n == 0),
    )
    .await;
    let _ = within("the client to see it", client.closed()).await;
}

/// axum's listener over TLS: a TCP accept, then the TLS handshake (one at a time, enough here).
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

#[tokio::test]
async fn the_apps_tls_serves_the_mounted_server_to_a_pinning_client() {
    let tls = ServerTls::self_signed(["localhost"]).expect("a certificate");
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let rpc = server.into_axum_service().await.expect("mount");
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = TlsListener {
        tcp,
        acceptor: tls.acceptor(),
    }
    // `tap_io` also gives a listener of one's own axum's `ConnectInfo<SocketAddr>`.
    .tap_io(|tls| {
        let _ = tls.get_ref().0.set_nodelay(true);
    });
    let app = router(&rpc).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let url = format!("wss://localhost:{port}/rpc");
    let client = TestClient::new(ClientConfig::pinned(url.clone(), tls.fingerprint()));
    within("connect", client.connect()).await.expect("connect");
    assert_eq!(client.add(2, 3).await.unwrap(), 5);
    assert_eq!(rpc.stats().connections(), 1);

    // Any other certificate is refused.
    let other = ServerTls::self_signed(["localhost"]).unwrap().fingerprint();
    let stranger = TestClient::new(ClientConfig::pinned(url, other));
    assert!(
        within("a refused connect", stranger.connect())
            .await
            .is_err()
    );
    task.abort();
}

#[tokio::test]
async fn a_websocket_over_http2_is_served_too() {
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let app = App::start(server, |router| router).await;
    let tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", app.port)))
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    let connection = tokio::spawn(connection);

    // RFC 8441: an extended CONNECT with the protocol `websocket`, answered 200.
    let request = axum::http::Request::builder()
        .method(axum::http::Method::CONNECT)
        .uri(format!("http://127.0.0.1:{}/rpc", app.port))
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", test_offer(None).join(", "))
        .body(axum::body::Body::empty())
        .unwrap();
    let mut response = within("the response", sender.send_request(request))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "hardlight.v1"
    );
    let upgraded = within("the upgrade", hyper::upgrade::on(&mut response))
        .await
        .expect("upgraded");
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    match within("HELLO", ws.next()).await {
        Some(Ok(Message::Binary(hello))) => {
            assert!(matches!(decode_server(&hello), Ok(ServerFrame::Hello(_))));
        }
        other => panic!("expected HELLO, got {other:?}"),
    }
    // `add` is method 1.
    send_binary(&mut ws, encode_call(1, method::ADD, &(2u32, 3u32)).unwrap()).await;
    match within("the reply", ws.next()).await {
        Some(Ok(Message::Binary(reply))) => match decode_server(&reply) {
            Ok(ServerFrame::Reply {
                call_id: 1, body, ..
            }) => assert_eq!(u32::decode(body).unwrap(), 5),
            other => panic!("expected the reply, got {other:?}"),
        },
        other => panic!("expected the reply, got {other:?}"),
    }
    assert_eq!(app.stats().connections(), 1);
    drop(ws);
    within(
        "the connection to end",
        app.stats().wait_for_connections(|n| n == 0),
    )
    .await;
    connection.abort();
}

/// Streams of each kind, for a mounted server.
#[rpc]
pub trait Pipes {
    /// `0..n`, streamed.
    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>>;
    /// The sum of a streamed argument.
    async fn sum(&self, values: Streaming<u64>) -> HandlerResult<u64>;
    /// Each byte back as written.
    async fn echo(&self) -> HandlerResult<ByteStream>;
}

#[rpc_handler]
impl Pipes for PipesHandler {
    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>> {
        Ok(Streaming::iter(0..n))
    }

    async fn sum(&self, mut values: Streaming<u64>) -> HandlerResult<u64> {
        let mut total = 0;
        while let Some(value) = values.next().await {
            total += value.map_err(|e| HandlerError::from(e.to_string()))?;
        }
        Ok(total)
    }

    async fn echo(&self) -> HandlerResult<ByteStream> {
        let (stream, pipe) = ByteStream::pipe();
        tokio::spawn(async move {
            let (mut reader, mut writer) = tokio::io::split(pipe);
            if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut writer).await;
            }
        });
        Ok(stream)
    }
}

#[tokio::test]
async fn a_mounted_server_serves_streams_of_every_kind() {
    let server = Server::new(ServerConfig::mounted(), factory!(PipesHandler));
    let app = App::start(server, |router| router).await;
    let client = PipesClient::new(app.client_config());
    within("connect", client.connect()).await.expect("connect");

    // Past the first credit window (256 KiB of 10-byte items).
    let mut counted = client.count(30_000).await.unwrap();
    let mut next = 0;
    while let Some(item) = within("an item", counted.next()).await {
        assert_eq!(item.unwrap(), next);
        next += 1;
    }
    assert_eq!(next, 30_000);

    let total = client.sum(Streaming::iter(1..=30_000u64)).await.unwrap();
    assert_eq!(total, 30_000 * 30_001 / 2);

    let sent: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let (mut reader, mut writer) = tokio::io::split(client.echo().await.unwrap());
    let writing = async {
        tokio::io::AsyncWriteExt::write_all(&mut writer, &sent).await?;
        tokio::io::AsyncWriteExt::shutdown(&mut writer).await
    };
    let mut back = Vec::new();
    let reading = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut back);
    let (written, read) = within("the echo", async { tokio::join!(writing, reading) }).await;
    written.unwrap();
    read.unwrap();
    assert!(
        back == sent,
        "{} bytes came back of {}",
        back.len(),
        sent.len()
    );
}

#[tokio::test]
async fn a_mounted_servers_health_is_a_route_of_the_app() {
    let (server, _ctx) = test_server(ServerConfig::mounted());
    let rpc = within("the mount", server.into_axum_service())
        .await
        .expect("mount");
    let health = rpc.clone();
    let app = router(&rpc).route("/healthz", get(move || std::future::ready(health.health())));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("bound").port();
    let _task = AbortOnDrop(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));

    let answer = get_path(port, "/healthz").await;
    assert_eq!(
        (answer.status.as_str(), answer.body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    rpc.shutdown_handle().shutdown(Duration::from_secs(5));
    let answer = get_path(port, "/healthz").await;
    assert_eq!(
        (answer.status.as_str(), answer.body.as_str()),
        ("HTTP/1.1 503 Service Unavailable", "shutting down\n")
    );
}
