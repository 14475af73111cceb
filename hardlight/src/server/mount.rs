//! A server mounted as a route of an axum app (feature `axum`): [`Server::into_axum_service`] turns it
//! into a tower service that answers WebSocket upgrades on whatever route the app gives it, on the
//! app's listener, behind the app's TLS and middleware.
//!
//! A request takes the standalone server's path from the request head on: the same connection limits,
//! the same decision ([`super::admission`]: origin, negotiation, authentication, identity), the same
//! HTTP refusals. An admitted request is answered `101 Switching Protocols` here (hyper writes it), and
//! the upgraded connection is served on a task of the mount, which its shutdown and statistics see.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, Version, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::Instrument;

use super::admission::{self, Admission, Decision};
use crate::ws::server::ServerSocket;
use super::preflight::{BAD_VERSION, NO_KEY, NOT_AN_UPGRADE, RequestHead, is_websocket_upgrade};
use super::service;
use super::stats::Counted;
use super::{Server, ServerStats, Shared, ShutdownHandle};
use crate::error::ServerError;
#[cfg(hardlight_nats)]
use crate::events::NatsBridge;
use crate::locks::lock;
use crate::metrics::RefuseReason;
use super::io::Stream;

/// The peer address the authentication hook sees when the app does not provide one
/// ([`UpgradeRequest::peer_addr`](crate::UpgradeRequest::peer_addr)).
const UNKNOWN_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// What an upgrade request gets once the server is shutting down.
const SHUTTING_DOWN: &str = "the server is shutting down; try again later\n";

impl<E> Server<E> {
    /// Turns the server into a tower service that an axum app mounts as a route (feature `axum`):
    /// `Router::route_service("/rpc", rpc)`. The app keeps its listener, its TLS and its middleware
    /// (tower layers see the upgrade request like any other); the service answers WebSocket upgrades
    /// to its route and serves the connections, next to the app's other routes. A NATS bridge
    /// (`ServerConfig::nats`, feature `nats`) starts connecting here.
    ///
    /// Everything in the [`ServerConfig`](crate::ServerConfig) applies as it does to a standalone
    /// server ([`Server::run`]) — limits, `Origin` allow-list, authentication and identities, hooks,
    /// keepalive, compression — except its address and TLS, which are the app's: make it with
    /// [`ServerConfig::mounted`](crate::ServerConfig::mounted). The handshake timeout runs from the
    /// request to the upgraded connection (reading the request is the app's business). The wire
    /// protocol is the same: any hardlight client connects to the route's URL
    /// (`ClientConfig::plaintext("ws://host:port/rpc")`, or `wss://` behind the app's TLS).
    ///
    /// **Peer addresses.** Serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the service learns each
    /// connection's address (axum's `ConnectInfo`): the per-address connection rate limit
    /// ([`ServerConfig::connection_rate_limit`](crate::ServerConfig::connection_rate_limit)) needs
    /// it, and [`UpgradeRequest::peer_addr`](crate::UpgradeRequest::peer_addr) reports it. Without
    /// it, `peer_addr` is `0.0.0.0:0`, and a server with a connection rate limit refuses every
    /// connection with `500` (logging why) rather than limit nobody, or everybody at once.
    ///
    /// **Latency.** axum's listener leaves Nagle's algorithm on, which can hold small frames back
    /// for tens of milliseconds; a standalone server turns it off. Do the same with
    /// `listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); })` (axum's `ListenerExt`).
    ///
    /// **Shutdown.** The WebSocket connections outlive axum's own graceful shutdown (hyper lets go
    /// of a connection once it is upgraded): stop them with [`AxumService::shutdown_handle`] and
    /// wait for them with [`AxumService::drained`], as below. Dropping every clone of the service
    /// (the app's router included) ends its connections at once.
    ///
    /// ```no_run
    /// # use hardlight::*;
    /// # #[rpc] trait Ping { async fn ping(&self) -> HandlerResult<()>; }
    /// # #[rpc_handler] impl Ping for Handler { async fn ping(&self) -> HandlerResult<()> { Ok(()) } }
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::net::SocketAddr;
    /// use std::time::Duration;
    /// use axum::{Router, routing::get, serve::ListenerExt};
    ///
    /// let server = Server::new(ServerConfig::mounted(), factory!(Handler));
    /// let events = server.get_event_emitter();
    /// let rpc = server.into_axum_service().await?;
    /// let shutdown = rpc.shutdown_handle();
    /// let app = Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .route_service("/rpc", rpc.clone());
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080")
    ///     .await?
    ///     .tap_io(|tcp| {
    ///         let _ = tcp.set_nodelay(true);
    ///     });
    /// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
    ///     .with_graceful_shutdown(async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         shutdown.shutdown(Duration::from_secs(10));
    ///     })
    ///     .await?;
    /// rpc.drained().await; // every hardlight connection has closed with 1001
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// `ServerError::InvalidNatsUrl` or `ServerError::InvalidNatsPrefix` if the NATS URL or subject
    /// prefix cannot be used (an unreachable NATS is not an error: the bridge retries).
    pub async fn into_axum_service(self) -> Result<AxumService, ServerError> {
        self.shared.config.warn_about_risks();
        let background = self.start_background().await?;
        Ok(AxumService {
            mount: Arc::new(Mount {
                shared: Arc::new(self.shared),
                connections: Mutex::new(JoinSet::new()),
                background: Mutex::new(background),
            }),
        })
    }
}

/// A server mounted in an axum app: a tower service (`Service<Request<B>>`, cheap to clone) that
/// answers WebSocket upgrades to its route; see [`Server::into_axum_service`].
///
/// Requests that are not WebSocket upgrades get `400 Bad Request`, as a standalone server answers
/// them; refusals (limits, origin, authentication, identity) are the standalone server's statuses and
/// bodies. HTTP/1.1 upgrades are served, and HTTP/2's extended CONNECT (RFC 8441) where the app's
/// HTTP/2 server allows it.
#[derive(Clone)]
pub struct AxumService {
    mount: Arc<Mount>,
}

/// What every clone of an [`AxumService`] shares.
struct Mount {
    shared: Arc<Shared>,
    /// The mounted connections' tasks, owned here so that they end with the last clone of the service
    /// (as a standalone server's end with [`BoundServer::run`](super::BoundServer::run)); finished
    /// ones are reaped at each new connection. Their tasks hold `shared`, never the mount.
    connections: Mutex<JoinSet<()>>,
    /// Tasks that live as long as the server (the NATS bridge's).
    background: Mutex<JoinSet<()>>,
}

impl AxumService {
    /// Live counts of connections and calls.
    pub fn stats(&self) -> ServerStats {
        self.mount.shared.stats.clone()
    }

    /// A handle that shuts the mounted server down gracefully; see [`ShutdownHandle`]. From then on,
    /// upgrade requests are answered `503 Service Unavailable` (the app's other routes go on), and
    /// each connection finishes its calls within the grace period and closes with 1001.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.mount.shared.shutdown.clone()
    }

    /// The health check's answer now, for a route of the application: `200 OK` (`ok`) while the
    /// mounted server serves, `503 Service Unavailable` (`shutting down`) once a graceful shutdown
    /// has begun. A standalone server answers its own health check
    /// ([`ServerConfig::health_path`](crate::ServerConfig::health_path)); a mounted one is reached
    /// through the application's router, which decides the path:
    ///
    /// ```
    /// # use hardlight::*;
    /// # #[rpc] trait Ping { async fn ping(&self) -> HandlerResult<()>; }
    /// # #[rpc_handler] impl Ping for Handler { async fn ping(&self) -> HandlerResult<()> { Ok(()) } }
    /// # async fn app() -> Result<axum::Router, ServerError> {
    /// let rpc = Server::new(ServerConfig::mounted(), factory!(Handler)).into_axum_service().await?;
    /// let health = rpc.clone();
    /// let app = axum::Router::new()
    ///     .route_service("/rpc", rpc)
    ///     .route("/healthz", axum::routing::get(move || std::future::ready(health.health())));
    /// # Ok(app)
    /// # }
    /// ```
    pub fn health(&self) -> (StatusCode, &'static str) {
        if self.mount.shared.shutdown.is_requested() {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
        } else {
            (StatusCode::OK, "ok\n")
        }
    }

    /// Resolves once a graceful shutdown ([`AxumService::shutdown_handle`]) has been requested and
    /// every mounted connection has closed, like [`BoundServer::run`](super::BoundServer::run)
    /// returns: connections still open when the grace period and their hooks' time are over are
    /// aborted, and the NATS bridge stops. Waits for as long as no shutdown is requested.
    pub async fn drained(&self) {
        let shared = &self.mount.shared;
        let deadline = shared.shutdown.requested().await;
        let all_closed = shared.stats.wait_for_connections(|n| n == 0);
        if timeout_at(shared.drain_cutoff(deadline), all_closed)
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the grace period: aborting them");
        }
        // No connection is added once shutdown is requested, so the sets can be taken.
        let mut connections = std::mem::take(&mut *lock(&self.mount.connections));
        connections.shutdown().await;
        let mut background = std::mem::take(&mut *lock(&self.mount.background));
        background.shutdown().await;
    }

    /// The NATS bridge, if the configuration has one; see [`Server::nats_bridge`].
    #[cfg(hardlight_nats)]
    pub fn nats_bridge(&self) -> Option<NatsBridge> {
        self.mount.shared.nats.clone()
    }
}

impl std::fmt::Debug for AxumService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AxumService")
            .field("services", &self.mount.shared.services.len())
            .field("stats", &self.mount.shared.stats)
            .finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for AxumService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Read at once, so that the future holds neither the request nor its body.
        let upgrade = UpgradeParts::of(request);
        let mount = self.mount.clone();
        Box::pin(async move {
            Ok(match upgrade {
                Ok(upgrade) => mount.answer(upgrade).await,
                Err(unfit) => unfit.response(),
            })
        })
    }
}

/// What the mount takes from a WebSocket upgrade request.
struct UpgradeParts {
    /// `Sec-WebSocket-Key` of an HTTP/1.1 upgrade; `None` for an HTTP/2 extended CONNECT.
    key: Option<HeaderValue>,
    on_upgrade: OnUpgrade,
    head: RequestHead,
    /// From axum's `ConnectInfo<SocketAddr>`, if the app provides it.
    peer: Option<SocketAddr>,
    http2: bool,
}

impl UpgradeParts {
    /// The parts of a WebSocket upgrade request, or why the request is not one.
    fn of<B>(request: Request<B>) -> Result<Self, Unfit> {
        let (mut parts, _body) = request.into_parts();
        let http2 = parts.version >= Version::HTTP_2;
        let unfit = |status, text| Unfit {
            http2,
            status,
            text,
        };
        let key = if http2 {
            // RFC 8441: a CONNECT that names a path, which hyper passes on only with its `:protocol`
            // (reading which would take hyper's `http2` feature); the subprotocol negotiation below
            // still requires a hardlight client.
            if parts.method != Method::CONNECT {
                return Err(unfit(StatusCode::BAD_REQUEST, NOT_AN_UPGRADE));
            }
            None
        } else {
            if !is_websocket_upgrade(parts.method.as_str(), &parts.headers) {
                return Err(unfit(StatusCode::BAD_REQUEST, NOT_AN_UPGRADE));
            }
            let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY) else {
                return Err(unfit(StatusCode::BAD_REQUEST, NO_KEY));
            };
            Some(key.clone())
        };
        if parts
            .headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|version| version != "13")
        {
            return Err(unfit(StatusCode::UPGRADE_REQUIRED, BAD_VERSION));
        }
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            // Not a request hyper read off a connection: the app's server cannot upgrade it.
            return Err(unfit(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this HTTP server cannot upgrade connections\n",
            ));
        };
        // Nested routers strip their prefix from the URI; the hook sees the path the client asked for.
        let uri = match parts.extensions.remove::<OriginalUri>() {
            Some(OriginalUri(uri)) => uri,
            None => parts.uri,
        };
        let target = uri.path_and_query().map_or("/", |target| target.as_str());
        Ok(Self {
            key,
            on_upgrade,
            head: RequestHead {
                target: target.to_owned(),
                headers: std::mem::take(&mut parts.headers),
            },
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| *peer),
            http2,
        })
    }
}

/// Why a request to the mount is not a WebSocket upgrade it can serve: what it is answered. Not
/// counted as a refused connection, as a standalone server does not count a request that is not an
/// upgrade.
struct Unfit {
    http2: bool,
    status: StatusCode,
    text: &'static str,
}

impl Unfit {
    fn response(self) -> Response<Body> {
        let mut response = refusal(self.http2, self.status, self.text.to_owned());
        if self.status == StatusCode::UPGRADE_REQUIRED {
            // RFC 6455 §4.4: name the version this server speaks.
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

impl Mount {
    /// Decides on an upgrade request as a standalone server does, then answers it: switching
    /// protocols, with the connection served on a task of the mount, or a refusal.
    async fn answer(&self, upgrade: UpgradeParts) -> Response<Body> {
        let shared = &self.shared;
        let UpgradeParts {
            key,
            on_upgrade,
            head,
            peer,
            http2,
        } = upgrade;
        let refused = |status, text: String| {
            tracing::debug!(?peer, %status, text = text.trim_end(), "upgrade refused");
            shared.stats.connection_refused();
            refusal(http2, status, text)
        };
        if shared.shutdown.is_requested() {
            shared.metrics().server.refused(RefuseReason::ShuttingDown);
            return refused(StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN.to_owned());
        }
        let counted = match shared.admit(peer) {
            Ok(counted) => counted,
            Err((status, text)) => return refused(status, text),
        };
        let id = shared.next_connection_id();
        let span = crate::server::service::connection_span(id);
        if let Some(peer) = peer {
            span.record("peer", tracing::field::display(peer));
        }
        let deadline = Instant::now() + shared.config.handshake_timeout;
        let decision = admission::decide(shared, head, peer.unwrap_or(UNKNOWN_PEER), id, deadline)
            .instrument(span.clone())
            .await;
        let admission = match decision {
            Decision::Upgrade(admission) => admission,
            Decision::Refuse(status, text) => return refused(status, text),
            Decision::NotHardlight(text) => {
                return refusal(http2, StatusCode::BAD_REQUEST, text);
            }
        };
        let response = switching_protocols(key.as_ref(), &admission.selected);
        let mut connections = lock(&self.connections);
        // Checked again under the lock that `drained` takes the connections with, so that none is
        // added after it.
        if shared.shutdown.is_requested() {
            drop(connections);
            return refused(StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN.to_owned());
        }
        while connections.try_join_next().is_some() {}
        connections.spawn(
            serve(shared.clone(), on_upgrade, admission, counted, deadline).instrument(span),
        );
        response
    }
}

/// Serves an admitted connection once hyper has sent the response and handed the connection over;
/// `counted` counts it among the server's connections meanwhile.
async fn serve(
    shared: Arc<Shared>,
    on_upgrade: OnUpgrade,
    admission: Admission,
    counted: Counted,
    deadline: Instant,
) {
    let _counted = counted;
    let upgraded = match timeout_at(deadline, on_upgrade).await {
        Ok(Ok(upgraded)) => upgraded,
        Ok(Err(e)) => return tracing::debug!(error = %e, "WebSocket upgrade failed"),
        Err(_) => return tracing::debug!("WebSocket upgrade timed out"),
    };
    // hyper keeps what it read past the request and hands it out first.
    let stream: Stream = Box::new(TokioIo::new(upgraded));
    let ws = ServerSocket::new(stream, &[], shared.config.max_message_size);
    service::serve_admitted(shared, ws, admission).await;
}

/// The answer that upgrades: `101 Switching Protocols` for HTTP/1.1 (`key` is the client's
/// `Sec-WebSocket-Key`), `200 OK` for HTTP/2's extended CONNECT; selecting the subprotocol
/// `selected`.
fn switching_protocols(key: Option<&HeaderValue>, selected: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    if let Some(key) = key {
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
    }
    // The token came from the request's own header value, so it is a valid header value.
    if let Ok(selected) = HeaderValue::from_str(selected) {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, selected);
    }
    response
}

/// A refusal as a standalone server answers it ([`admission::refusal`]); over HTTP/2, without the
/// `Connection` header, which HTTP/2 does not have.
fn refusal(http2: bool, status: StatusCode, text: String) -> Response<Body> {
    let mut response =
        admission::refusal(status, text).map(|text| Body::from(text.unwrap_or_default()));
    if http2 {
        response.headers_mut().remove(header::CONNECTION);
    }
    response
}
