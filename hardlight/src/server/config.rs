//! Server configuration: address, TLS, limits, authentication and connection hooks.

use std::future::Future;
use std::time::Duration;

use super::auth::{AuthHook, Rejection, UpgradeRequest};
use super::identities::IdentityPolicy;
use super::identity::Identity;
use super::limits::RateLimit;
use super::intercept::{Interceptor, Interceptors};
use crate::rt::bounded;
use crate::tls::{ServerTls, TlsError};

/// The path of the health check ([`ServerConfig::health_path`]).
pub const DEFAULT_HEALTH_PATH: &str = "/healthz";
/// Default [`ServerConfig::max_message_size`]: 4 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 << 20;
/// Default [`ServerConfig::max_calls_in_flight`]: 256.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: u16 = 256;
/// Default [`ServerConfig::handshake_timeout`]: 10 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerConfig::outbound_queue`]: 1024 frames.
pub const DEFAULT_OUTBOUND_QUEUE: usize = 1024;
pub use crate::keepalive::{DEFAULT_IDLE_TIMEOUT, DEFAULT_KEEPALIVE_INTERVAL};
/// Default [`ServerConfig::max_connections`]: 10,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default [`ServerConfig::max_handshakes_per_ip`]: 32.
pub const DEFAULT_MAX_HANDSHAKES_PER_IP: usize = 32;
/// Default [`ServerConfig::first_byte_timeout`]: 5 seconds.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`ServerConfig::connect_hook_timeout`]: 10 seconds.
pub const DEFAULT_CONNECT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServerConfig::disconnect_hook_timeout`]: 5 seconds.
pub const DEFAULT_DISCONNECT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`ServerConfig::message_timeout`]: 30 seconds.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ServerConfig::max_partial_bytes`]: 64 MiB.
pub const DEFAULT_MAX_PARTIAL_BYTES: u64 = 64 << 20;
/// Default [`ServerConfig::max_outbound_bytes`]: 16 MiB.
pub const DEFAULT_MAX_OUTBOUND_BYTES: usize = 16 << 20;
/// Default [`ServerConfig::max_topics_per_connection`]: 1024.
pub const DEFAULT_MAX_TOPICS_PER_CONNECTION: usize = 1024;
/// Default [`ServerConfig::max_topic_len`]: 1024 bytes, the longest topic the NATS bridge carries.
pub const DEFAULT_MAX_TOPIC_LEN: usize = 1024;

/// How a [`Server`](crate::Server) listens and what it allows.
///
/// Any timeout may be given as long as `Duration::MAX` ("never"): one over 100 years is taken as
/// 100 years.
///
/// ```
/// use hardlight::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig::new_self_signed("localhost:8080")
///     .max_message_size(1 << 20)
///     .handshake_timeout(Duration::from_secs(5));
/// assert!(config.tls().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(crate) address: String,
    pub(crate) tls: Option<ServerTls>,
    pub(crate) max_message_size: usize,
    pub(crate) max_nesting_depth: usize,
    pub(crate) max_calls_in_flight: u16,
    pub(crate) handshake_timeout: Duration,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) outbound_queue: usize,
    pub(crate) compression: bool,
    pub(crate) explain_schema_mismatch: bool,
    pub(crate) health_path: Option<String>,
    pub(crate) metrics: bool,
    pub(crate) interceptors: Interceptors,
    pub(crate) keepalive_interval: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_handshakes_per_ip: Option<usize>,
    pub(crate) max_connections_per_ip: Option<usize>,
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) call_rate_limit: Option<RateLimit>,
    pub(crate) connection_rate_limit: Option<RateLimit>,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) authenticate: Option<AuthHook>,
    pub(crate) identity_policy: Option<IdentityPolicy>,
    pub(crate) connect_hook_timeout: Duration,
    pub(crate) disconnect_hook_timeout: Duration,
    #[cfg(hardlight_nats)]
    pub(crate) nats: Option<crate::events::NatsConfig>,
    pub(crate) message_timeout: Duration,
    pub(crate) max_partial_bytes: u64,
    pub(crate) max_outbound_bytes: usize,
    pub(crate) max_topics_per_connection: usize,
    pub(crate) max_topic_len: usize,
}

impl ServerConfig {
    /// Serves TLS with `tls` on `address` (`"host:port"`; port 0 picks a free one).
    pub fn new(address: impl Into<String>, tls: ServerTls) -> Self {
        Self::with_tls(address.into(), Some(tls))
    }

    /// A development server: TLS with a fresh self-signed certificate for `localhost`, the loopback
    /// addresses and the host part of `address`. Clients connect with `new_self_signed`, or pin the
    /// certificate's fingerprint (see [`ServerConfig::tls`]).
    ///
    /// # Panics
    /// If the certificate cannot be generated (only for a host name that is not a valid DNS name); use
    /// [`ServerConfig::try_new_self_signed`] to get an error instead.
    pub fn new_self_signed(address: impl Into<String>) -> Self {
        match Self::try_new_self_signed(address) {
            Ok(config) => config,
            Err(e) => panic!("could not make a self-signed certificate: {e}"),
        }
    }

    /// Like [`ServerConfig::new_self_signed`], returning an error instead of panicking.
    ///
    /// # Errors
    /// The [`TlsError`] of making the certificate (a host name that is not a valid DNS name).
    pub fn try_new_self_signed(address: impl Into<String>) -> Result<Self, TlsError> {
        let address = address.into();
        let host = host_of(&address);
        let names: Vec<String> = if host.is_empty() || host == "0.0.0.0" || host == "::" {
            Vec::new()
        } else {
            vec![host.to_owned()]
        };
        Ok(Self::with_tls(
            address,
            Some(ServerTls::self_signed(names)?),
        ))
    }

    /// Serves plain WebSocket, without TLS: only behind a proxy that terminates TLS, or on loopback.
    pub fn plaintext(address: impl Into<String>) -> Self {
        Self::with_tls(address.into(), None)
    }

    /// For a server mounted as a route of an axum app ([`Server::into_axum_service`](crate::Server::into_axum_service),
    /// feature `axum`): no address and no TLS of its own, since the app's listener and TLS serve it.
    /// Every other setting applies as it does to a standalone server.
    ///
    /// ```
    /// use hardlight::ServerConfig;
    /// let config = ServerConfig::mounted().max_connections(1_000);
    /// assert!(config.tls().is_none());
    /// ```
    #[cfg(hardlight_axum)]
    pub fn mounted() -> Self {
        Self::with_tls(String::new(), None)
    }

    fn with_tls(address: String, tls: Option<ServerTls>) -> Self {
        Self {
            address,
            tls,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_nesting_depth: crate::wire::codec::DEFAULT_MAX_DEPTH,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            outbound_queue: DEFAULT_OUTBOUND_QUEUE,
            compression: true,
            explain_schema_mismatch: true,
            health_path: Some(DEFAULT_HEALTH_PATH.to_owned()),
            metrics: true,
            interceptors: Interceptors::default(),
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_handshakes_per_ip: Some(DEFAULT_MAX_HANDSHAKES_PER_IP),
            max_connections_per_ip: None,
            allowed_origins: None,
            call_rate_limit: None,
            connection_rate_limit: None,
            call_timeout: None,
            authenticate: None,
            identity_policy: None,
            connect_hook_timeout: DEFAULT_CONNECT_HOOK_TIMEOUT,
            disconnect_hook_timeout: DEFAULT_DISCONNECT_HOOK_TIMEOUT,
            #[cfg(hardlight_nats)]
            nats: None,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            max_partial_bytes: DEFAULT_MAX_PARTIAL_BYTES,
            max_outbound_bytes: DEFAULT_MAX_OUTBOUND_BYTES,
            max_topics_per_connection: DEFAULT_MAX_TOPICS_PER_CONNECTION,
            max_topic_len: DEFAULT_MAX_TOPIC_LEN,
        }
    }

    /// Largest message, in bytes, a client may send, and the limit on inflating a compressed one
    /// (default 4 MiB). Bigger messages close the connection with code 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.clamp(64, u32::MAX as usize);
        self
    }

    /// How deeply nested a value received from a client may be (default
    /// [`DEFAULT_MAX_DEPTH`](crate::wire::codec::DEFAULT_MAX_DEPTH), 128; at least 1): one level for
    /// the root and one per out-of-line value below it (see
    /// [`Codable::decode_within`](crate::Codable::decode_within)). Validating and decoding recurse
    /// once per level, so the bound keeps a recursive argument type (a tree, a JSON-like value) from
    /// exhausting a worker's stack. A call whose arguments are deeper fails with status 4
    /// (`BadArguments`); such a one-way message closes the connection with 1007, like any invalid one.
    pub fn max_nesting_depth(mut self, levels: usize) -> Self {
        self.max_nesting_depth = levels.max(1);
        self
    }

    /// Calls one connection may have in flight at once (default 256, at least 1). Clients learn the
    /// limit at the handshake and queue further calls. A peer that sends more anyway is held back:
    /// the extra call waits for a slot, and the server reads nothing more from it meanwhile.
    pub fn max_calls_in_flight(mut self, calls: u16) -> Self {
        self.max_calls_in_flight = calls.max(1);
        self
    }

    /// Time from TCP accept to a completed TLS and WebSocket handshake (default 10 s), the
    /// authentication hook ([`ServerConfig::authenticate`]) included. A mounted server (feature
    /// `axum`) counts it from the upgrade request, which the app has read, to the upgraded connection.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = bounded(timeout);
        self
    }

    /// Time from TCP accept to the first byte from the client (the start of its TLS `ClientHello`,
    /// or of its HTTP request on a plaintext server; default 5 s). A connection that sends nothing
    /// for that long is closed without an answer, so that silent sockets give their slots back
    /// well before the [`handshake_timeout`](ServerConfig::handshake_timeout), which still bounds
    /// the whole handshake (the sooner of the two applies). A mounted server (feature `axum`) does
    /// not use it: the app reads the request.
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = bounded(timeout);
        self
    }

    /// Frames that may wait to be written to one connection, replies, state changes and events
    /// together (default 1024). When an event finds it full, the client is too slow: it is
    /// disconnected with close code 4008. Once half of it waits, the connection stops reading
    /// messages and running its calls until the client reads (see
    /// [`max_outbound_bytes`](ServerConfig::max_outbound_bytes), the same rule in bytes).
    pub fn outbound_queue(mut self, frames: usize) -> Self {
        self.outbound_queue = frames.max(1);
        self
    }

    /// Whether clients may turn on compression (default true): a client asks for a level
    /// ([`ClientConfig::compression`](crate::ClientConfig::compression)), the server allows it or
    /// not.
    pub fn allow_compression(mut self, allowed: bool) -> Self {
        self.compression = allowed;
        self
    }

    /// Whether a client refused for its schema fingerprint (close code 4001) is first sent the
    /// schema texts of the services this server hosts (a `SCHEMA` frame, `docs/PROTOCOL.md` §2.2),
    /// so that it can say what differs (default true). Only a client that passed authentication
    /// gets this far; turn it off to tell such clients nothing about the services.
    pub fn explain_schema_mismatch(mut self, explain: bool) -> Self {
        self.explain_schema_mismatch = explain;
        self
    }

    /// The path of the health check (default `/healthz`): a plain HTTP
    /// `GET` of it (any query) on the server's port, over TLS when the server serves TLS, is
    /// answered `200 OK` (`ok`) while the server serves, and `503 Service Unavailable` (`shutting
    /// down`) from the moment a graceful shutdown begins until its grace period ends (the server
    /// keeps accepting meanwhile, to say so, and refuses new upgrades with 503). What an
    /// orchestrator's liveness or readiness probe asks. `None` turns it off: the path is then
    /// refused as any request that is not a WebSocket upgrade (400). A mounted server's health check
    /// is a route of the application ([`AxumService::health`](crate::server::AxumService::health)).
    pub fn health_path(mut self, path: Option<&str>) -> Self {
        self.health_path = path.map(str::to_owned);
        self
    }

    /// Whether the server records metrics (default true): calls by service, method and outcome,
    /// their durations, connections, bytes, events and stream items, through the `metrics` facade
    /// to whatever recorder the application installed before the server's first connection (see
    /// [`crate::metrics`] for the names). Without a recorder recording costs a branch per count;
    /// `false` also skips reading the clock around each call.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// Adds an interceptor around every call and one-way message of the server's services: it sees
    /// the service, method, identity, deadline and metadata of each, refuses the ones it should
    /// (the client's call fails with `RpcError::Refused`), and learns how each ended and how long
    /// it took. Several run in the order they were added; see [`Interceptor`].
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> Self {
        self.interceptors.push(std::sync::Arc::new(interceptor));
        self
    }

    /// The former name of [`ServerConfig::allow_compression`].
    #[deprecated(since = "0.1.1", note = "renamed `allow_compression`")]
    pub fn compression(self, allowed: bool) -> Self {
        self.allow_compression(allowed)
    }

    /// Keepalive (defaults 20 s and 60 s): when a connection has sent nothing for `interval`, the
    /// server pings it (any standard WebSocket, a browser's too, answers with a pong); when it has sent
    /// nothing for `idle_timeout`, the server closes it with code 4009. An `idle_timeout` shorter than
    /// `interval` is raised to it; `interval` is at least 10 ms.
    pub fn keepalive(mut self, interval: Duration, idle_timeout: Duration) -> Self {
        self.keepalive_interval = bounded(interval).max(Duration::from_millis(10));
        self.idle_timeout = bounded(idle_timeout).max(self.keepalive_interval);
        self
    }

    /// Connections served at once, handshakes included (default 10,000, at least 1). Beyond it a new
    /// connection is answered `503 Service Unavailable` without upgrading, and the ones already
    /// connected are not affected. A standalone server lowers it, with a warning, to what the
    /// process's open-files limit leaves room for (see [`Server::bind`](crate::Server::bind)).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Connections from one address that may be in their handshake at once (default 32; at least
    /// 1; `None`: no limit), from TCP accept until the WebSocket upgrade is done, so that one
    /// address opening silent or slow sockets cannot take every slot of
    /// [`max_connections`](ServerConfig::max_connections) from the others. A connection beyond it
    /// is closed at once, before any TLS work, without an answer, and counted in
    /// [`ServerStats::connections_refused`](crate::ServerStats::connections_refused).
    ///
    /// IPv4 addresses count one by one, IPv6 addresses by their /64 prefix. Behind a proxy or a
    /// load balancer every connection comes from its address: raise the limit or turn it off there.
    /// A mounted server (feature `axum`) does not use it: the app accepts the connections.
    ///
    /// ```
    /// use hardlight::ServerConfig;
    /// let direct = ServerConfig::new_self_signed("0.0.0.0:8443").max_handshakes_per_ip(8);
    /// let behind_a_proxy = ServerConfig::plaintext("127.0.0.1:8080").max_handshakes_per_ip(None);
    /// ```
    pub fn max_handshakes_per_ip(mut self, handshakes: impl Into<Option<usize>>) -> Self {
        self.max_handshakes_per_ip = handshakes.into().map(|n| n.max(1));
        self
    }

    /// Connections from one address that may be open at once, handshakes included (default: no
    /// limit; at least 1). A connection beyond it is closed at once, before any TLS work, without
    /// an answer, and counted in
    /// [`ServerStats::connections_refused`](crate::ServerStats::connections_refused). Addresses
    /// count as for [`max_handshakes_per_ip`](ServerConfig::max_handshakes_per_ip).
    ///
    /// Off by default because many legitimate clients can share one address (a company's or a
    /// mobile carrier's NAT, a proxy in front of the server); set it when clients connect directly.
    /// A mounted server (feature `axum`) does not use it.
    pub fn max_connections_per_ip(mut self, connections: impl Into<Option<usize>>) -> Self {
        self.max_connections_per_ip = connections.into().map(|n| n.max(1));
        self
    }

    /// Serves browser pages from these origins only (`"https://app.example.com"`, compared exactly,
    /// ASCII case-insensitively). A WebSocket upgrade whose `Origin` header names another origin is
    /// answered `403 Forbidden`. Requests without `Origin` (native clients, which are not subject to
    /// the browser's same-origin rules) are served. Default: every origin.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(
            origins
                .into_iter()
                .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// Limits the calls each connection may start (default: no limit). Calls beyond the rate are
    /// not refused: the server stops reading that connection until the bucket refills, so the
    /// client's calls wait (TCP carries the back-pressure) and nothing is lost.
    pub fn call_rate_limit(mut self, limit: RateLimit) -> Self {
        self.call_rate_limit = Some(limit);
        self
    }

    /// Limits new connections per peer IP address (default: no limit). A connection beyond the rate
    /// is answered `429 Too Many Requests` without upgrading. A server mounted in an axum app needs
    /// the app to provide peer addresses (`into_make_service_with_connect_info::<SocketAddr>()`);
    /// without them it answers `500`, see `Server::into_axum_service`.
    pub fn connection_rate_limit(mut self, limit: RateLimit) -> Self {
        self.connection_rate_limit = Some(limit);
        self
    }

    /// Longest a call may run (default: no limit). A call still running then is stopped (its future
    /// dropped) and answered with a timeout error; the connection goes on.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(bounded(timeout));
        self
    }

    /// Authenticates every connection before upgrading it (default: none; every connection is
    /// [`Identity::anonymous`]). The hook sees the [`UpgradeRequest`] (path, query, headers, offered
    /// subprotocols, peer address; [`UpgradeRequest::token`] finds a bearer token wherever a client
    /// may put one) and returns the connection's [`Identity`], which its handlers read as their
    /// `identity` field, or a [`Rejection`]: the client gets that HTTP status (401, or 403 with
    /// [`Rejection::forbidden`]) with the reason as the body, and reports it as
    /// [`ConnectError::Unauthorized`](crate::ConnectError::Unauthorized).
    ///
    /// The hook runs on the connection's own task, after the `Origin` check and before the schema
    /// is checked (an unauthenticated client learns nothing of the server's services), within the
    /// [`handshake_timeout`](ServerConfig::handshake_timeout): past it the client gets `503` and may
    /// retry. A panic in the hook answers `500`. Refusals count in
    /// [`ServerStats::connections_refused`](crate::ServerStats::connections_refused).
    ///
    /// A browser sends a site's cookies with a WebSocket upgrade whichever page opens it: a hook
    /// that trusts cookies needs [`allowed_origins`](ServerConfig::allowed_origins) too, or any web
    /// page can connect as its visitor. A server with a hook and no allow-list logs a warning when
    /// it starts.
    ///
    /// ```
    /// use hardlight::{Identity, Rejection, ServerConfig};
    ///
    /// let config = ServerConfig::new_self_signed("localhost:8080").authenticate(|request| async move {
    ///     match request.token().as_deref() {
    ///         Some("let-me-in") => Ok(Identity::new("ada")),
    ///         Some(_) => Err(Rejection::new("unknown token")),
    ///         None => Err(Rejection::new("send a bearer token")),
    ///     }
    /// });
    /// ```
    pub fn authenticate<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(UpgradeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Identity, Rejection>> + Send + 'static,
    {
        self.authenticate = Some(AuthHook::new(hook));
        self
    }

    /// Allows one connection per identity (default: any number). When an identity that has a
    /// connection opens another one, [`IdentityPolicy::RejectNew`] refuses the new one with HTTP
    /// `409`, and [`IdentityPolicy::ReplaceOld`] closes the old one with code 4010 and serves the new
    /// one. Identities are told apart by [`Identity::name`]; anonymous connections are never limited.
    /// The limit holds across every service of the server.
    pub fn one_connection_per_identity(mut self, policy: IdentityPolicy) -> Self {
        self.identity_policy = Some(policy);
        self
    }

    /// Longest a handler's `#[on_connect]` hook may run (default 10 s). Past it, or if it panics,
    /// the connection is closed with code 1011 before `HELLO`, and its `#[on_disconnect]` does not
    /// run.
    pub fn connect_hook_timeout(mut self, timeout: Duration) -> Self {
        self.connect_hook_timeout = bounded(timeout);
        self
    }

    /// Longest a handler's `#[on_disconnect]` hook may run (default 5 s): a hook that hangs is
    /// stopped (its future dropped) so that it cannot pin the connection.
    pub fn disconnect_hook_timeout(mut self, timeout: Duration) -> Self {
        self.disconnect_hook_timeout = bounded(timeout);
        self
    }

    /// Bridges this server's topic events through NATS (feature `nats`; default: no bridge): an emit on
    /// any server attached to the same NATS reaches the topic's subscribers on all of them. Give a URL
    /// or a [`NatsConfig`](crate::events::NatsConfig).
    ///
    /// An unreachable NATS does not stop the server: it serves calls and local events, logs the
    /// outage, and the bridge connects when it can. Across servers, delivery is at most once (see
    /// [`NatsConfig::queue`](crate::events::NatsConfig::queue)); the order of one emitter's events on
    /// one topic is kept. Watch it with [`Server::nats_bridge`](crate::Server::nats_bridge).
    ///
    /// ```
    /// use hardlight::ServerConfig;
    /// let config = ServerConfig::new_self_signed("localhost:8080").nats("nats://127.0.0.1:4222");
    /// ```
    #[cfg(hardlight_nats)]
    pub fn nats(mut self, config: impl Into<crate::events::NatsConfig>) -> Self {
        self.nats = Some(config.into());
        self
    }

    /// Longest a client's message may take to arrive, from its first byte to its last (default
    /// 30 s): a message still incomplete then (sent slowly, or a fragmented message never finished)
    /// closes the connection with code 1008. Pings and pongs sent meanwhile are no progress. Time
    /// during which the server is not reading the connection (its calls' replies wait unread, say)
    /// does not count. At the default 4 MiB message size, 30 s allows a sender of about 1.1 Mbit/s.
    pub fn message_timeout(mut self, timeout: Duration) -> Self {
        self.message_timeout = bounded(timeout);
        self
    }

    /// Bytes that partly received messages may hold, over all connections of the server (default
    /// 64 MiB, at least [`max_message_size`](ServerConfig::max_message_size)). A connection whose
    /// message in progress takes the total over it is closed with code 1008; the others are not
    /// affected. A message that arrives whole in one read is never counted.
    pub fn max_partial_bytes(mut self, bytes: u64) -> Self {
        self.max_partial_bytes = bytes;
        self
    }

    /// Bytes waiting to be written to one connection, replies, state changes and events together
    /// (default 16 MiB, raised to twice [`max_message_size`](ServerConfig::max_message_size) if
    /// lower, so that a reply of the largest size always fits). Once half of it (or half of
    /// [`outbound_queue`](ServerConfig::outbound_queue) frames) waits, the connection stops reading
    /// messages and running its calls until the client has read some: calls wait, none is lost. An
    /// event that would take the output beyond it closes the connection with code 4008 (slow
    /// consumer). Frames count at their uncompressed size; the frame being written is not counted.
    pub fn max_outbound_bytes(mut self, bytes: usize) -> Self {
        self.max_outbound_bytes = bytes;
        self
    }

    /// Topics one connection may be subscribed to at once (default 1024, at least 1). Beyond it
    /// [`Subscriptions::add`](crate::Subscriptions::add) subscribes nothing and returns false
    /// ([`Subscriptions::try_add`](crate::Subscriptions::try_add) says why).
    pub fn max_topics_per_connection(mut self, topics: usize) -> Self {
        self.max_topics_per_connection = topics.max(1);
        self
    }

    /// Longest topic, in bytes, a connection may subscribe to or an event be emitted to (default
    /// 1024, the longest the NATS bridge carries; at most 65535, the wire's limit). Subscribing to a
    /// longer topic subscribes nothing; emitting to one fails with
    /// [`EmitError::TopicTooLong`](crate::EmitError::TopicTooLong).
    pub fn max_topic_len(mut self, bytes: usize) -> Self {
        self.max_topic_len = bytes.min(u16::MAX as usize);
        self
    }

    /// The limit on a connection's unwritten output, as applied: at least twice the message size.
    pub(crate) fn outbound_bytes_limit(&self) -> usize {
        self.max_outbound_bytes
            .max(self.max_message_size.saturating_mul(2))
    }

    /// The budget for partly received messages, as applied: at least one message of the largest
    /// size.
    pub(crate) fn partial_bytes_limit(&self) -> u64 {
        self.max_partial_bytes.max(self.max_message_size as u64)
    }

    /// Logs a warning, when the server starts, for what in this configuration is likely a mistake.
    pub(crate) fn warn_about_risks(&self) {
        if self.authenticate.is_some() && self.allowed_origins.is_none() {
            // A browser sends a site's cookies with a WebSocket upgrade whatever page opens it.
            tracing::warn!(
                "the server authenticates connections but takes upgrades from pages of any \
                 origin: if the authentication hook trusts cookies (or anything else a browser \
                 sends by itself), any web page its users visit can connect as them (cross-site \
                 WebSocket hijacking); list your pages' origins with \
                 ServerConfig::allowed_origins"
            );
        }
    }

    /// The address the server listens on, as given; empty for `ServerConfig::mounted`, and not
    /// used by a mounted server.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The TLS material, if the server uses TLS: its certificate's fingerprint is what clients pin.
    /// A mounted server does not use it: TLS is the app's.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }
}

/// The host part of `"host:port"` or `"[v6]:port"`.
pub(crate) fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((host, _)) => host,
        None => address,
    }
}
