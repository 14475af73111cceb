//! Client configuration: where to connect, how to trust the server, compression and limits.

use std::time::Duration;

use super::intercept::ClientInterceptors;
use super::reconnect::Reconnect;
use crate::error::ConnectError;
use crate::rt::bounded;
#[cfg(hardlight_native)]
use crate::tls::{CertFingerprint, ServerTrust};
use crate::wire::Compression;
use crate::wire::auth::TokenCarrier;

/// Default [`ClientConfig::connect_timeout`]: 10 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ClientConfig::event_buffer`]: 1024 events.
pub const DEFAULT_EVENT_BUFFER: usize = 1024;
/// Default [`ClientConfig::max_message_size`]: 16 MiB (`hardlight::client::DEFAULT_MAX_MESSAGE_SIZE`,
/// beside the server's `hardlight::server::DEFAULT_MAX_MESSAGE_SIZE`).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
/// The former name of [`DEFAULT_MAX_MESSAGE_SIZE`].
#[deprecated(
    since = "0.1.1",
    note = "renamed `hardlight::client::DEFAULT_MAX_MESSAGE_SIZE`"
)]
pub const DEFAULT_CLIENT_MAX_MESSAGE_SIZE: usize = DEFAULT_MAX_MESSAGE_SIZE;

/// How a client connects.
///
/// `address` is `"host:port"`, or a URL `wss://host:port/path` (or `ws://` with
/// [`ClientConfig::plaintext`]), which may have a query (`wss://host:port/rpc?room=1`): it is sent
/// as it is.
///
/// Any timeout (here and in [`Client::with_timeout`](crate::client::Client::with_timeout)) may be
/// given as long as `Duration::MAX` ("never"): one over 100 years is taken as 100 years.
///
/// ```
/// use hardlight::{ClientConfig, Compression};
/// let config = ClientConfig::new_self_signed("localhost:8080").compression(Compression::none());
/// ```
///
/// Its `Debug` output shows the address without credentials (userinfo and query values read
/// `<redacted>`) and leaves out the token; so do the errors connecting reports.
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) address: String,
    pub(crate) trust: Option<Trust>,
    pub(crate) compression: Compression,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_nesting_depth: usize,
    pub(crate) event_buffer: usize,
    pub(crate) keepalive_interval: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) reconnect: Option<Reconnect>,
    pub(crate) when_disconnected: WhenDisconnected,
    pub(crate) auth: Option<AuthToken>,
    pub(crate) metrics: bool,
    pub(crate) interceptors: ClientInterceptors,
}

/// What a call made while the client is not connected does; see
/// [`ClientConfig::when_disconnected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenDisconnected {
    /// Fail at once with [`RpcError::NotConnected`](crate::RpcError::NotConnected).
    Fail,
    /// While the client is reconnecting, wait for the connection, up to the call's deadline; fail
    /// with [`RpcError::NotConnected`](crate::RpcError::NotConnected) if reconnecting gives up,
    /// and at once when the client is not reconnecting. The default.
    #[default]
    Wait,
}

/// How the client trusts the server: with rustls, as a [`ServerTrust`] says. In a browser the
/// browser verifies the server against its own trust store, so only the choice of TLS is kept.
#[cfg(hardlight_native)]
type Trust = ServerTrust;
#[cfg(hardlight_browser)]
type Trust = ();

/// A token and where it travels; its `Debug` output hides the token.
#[derive(Clone)]
pub(crate) struct AuthToken {
    pub carrier: TokenCarrier,
    pub token: String,
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken")
            .field("carrier", &self.carrier)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand rather than derived: the address may carry a token (`?token=`) or credentials.
        let Self {
            address,
            trust,
            compression,
            connect_timeout,
            max_message_size,
            max_nesting_depth,
            event_buffer,
            keepalive_interval,
            idle_timeout,
            call_timeout,
            reconnect,
            when_disconnected,
            auth,
            metrics,
            interceptors,
        } = self;
        f.debug_struct("ClientConfig")
            .field("address", &crate::redact::address(address))
            .field("trust", trust)
            .field("compression", compression)
            .field("connect_timeout", connect_timeout)
            .field("max_message_size", max_message_size)
            .field("max_nesting_depth", max_nesting_depth)
            .field("event_buffer", event_buffer)
            .field("keepalive_interval", keepalive_interval)
            .field("idle_timeout", idle_timeout)
            .field("call_timeout", call_timeout)
            .field("reconnect", reconnect)
            .field("when_disconnected", when_disconnected)
            .field("metrics", metrics)
            .field("interceptors", interceptors)
            .field("auth", auth)
            .finish()
    }
}

impl ClientConfig {
    /// TLS, trusting the server as `trust` says.
    #[cfg(hardlight_native)]
    pub fn new(address: impl Into<String>, trust: ServerTrust) -> Self {
        Self::with_trust(address.into(), Some(trust))
    }

    /// TLS for local development against a self-signed dev server: the connection is encrypted but
    /// the server is **not authenticated** (any certificate is accepted, so anyone on the path can
    /// read what is sent, an [`auth_token`](Self::auth_token) included). Prefer
    /// [`ClientConfig::pinned`] wherever you can get the server's fingerprint (a dev server prints
    /// it: [`ServerTls::fingerprint`](crate::tls::ServerTls::fingerprint)).
    ///
    /// Connecting with it prints [`UNVERIFIED_WARNING`](crate::tls::UNVERIFIED_WARNING) on stderr,
    /// with or without a tracing subscriber: once per process in a debug build, for every connection
    /// in a release build.
    ///
    /// In a browser (feature `wasm`), the browser decides whom to trust: this is `ClientConfig::tls`,
    /// and a self-signed certificate works only once the browser trusts it.
    pub fn new_self_signed(address: impl Into<String>) -> Self {
        #[cfg(hardlight_native)]
        return Self::new(address, ServerTrust::AcceptAnyDangerous);
        #[cfg(hardlight_browser)]
        return Self::tls(address);
    }

    /// The former name of [`ClientConfig::new_self_signed`] (one spelling with the server's
    /// `ServerConfig::new_self_signed` and the generated clients' `new_self_signed`).
    #[deprecated(since = "0.1.1", note = "renamed `new_self_signed`")]
    pub fn self_signed(address: impl Into<String>) -> Self {
        Self::new_self_signed(address)
    }

    /// TLS (`wss://`) in a browser: the browser verifies the server's certificate against its own
    /// trust store, as for any page's WebSocket.
    #[cfg(hardlight_browser)]
    pub fn tls(address: impl Into<String>) -> Self {
        Self::with_trust(address.into(), Some(()))
    }

    /// TLS trusting exactly the certificate with this SHA-256 fingerprint.
    #[cfg(hardlight_native)]
    pub fn pinned(address: impl Into<String>, fingerprint: CertFingerprint) -> Self {
        Self::new(address, ServerTrust::Pinned(fingerprint))
    }

    /// Plain WebSocket without TLS: only for a server behind a TLS-terminating proxy, or on loopback.
    pub fn plaintext(address: impl Into<String>) -> Self {
        Self::with_trust(address.into(), None)
    }

    fn with_trust(address: String, trust: Option<Trust>) -> Self {
        Self {
            address,
            trust,
            compression: Compression::none(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_nesting_depth: crate::wire::codec::DEFAULT_MAX_DEPTH,
            event_buffer: DEFAULT_EVENT_BUFFER,
            keepalive_interval: crate::keepalive::DEFAULT_KEEPALIVE_INTERVAL,
            idle_timeout: crate::keepalive::DEFAULT_IDLE_TIMEOUT,
            call_timeout: None,
            metrics: true,
            interceptors: ClientInterceptors::default(),
            reconnect: None,
            when_disconnected: WhenDisconnected::default(),
            auth: None,
        }
    }

    /// Compression to ask the server for (default: none).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Time allowed for TCP connect, TLS, the WebSocket upgrade and the server's `HELLO` (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = bounded(timeout);
        self
    }

    /// Largest message the client accepts from the server, after inflation (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(64);
        self
    }

    /// What the client accepts from the server: the limits a session applies.
    pub(crate) fn received(&self) -> super::session::Received {
        super::session::Received {
            max_message_size: self.max_message_size,
            max_depth: self.max_nesting_depth,
        }
    }

    /// How deeply nested a value received from the server may be (default
    /// [`DEFAULT_MAX_DEPTH`](crate::wire::codec::DEFAULT_MAX_DEPTH), 128; at least 1), counted as
    /// [`Codable::decode_within`](crate::Codable::decode_within) does. Validating and decoding
    /// recurse once per level, so the bound keeps a hostile server from exhausting the stack with a
    /// deeply nested reply, state field or event. Beyond it a reply fails its call with
    /// [`RpcError::Protocol`](crate::RpcError::Protocol), an event is dropped (logged), and a state
    /// field ends the connection (close 1002), as for any value that fails validation.
    pub fn max_nesting_depth(mut self, levels: usize) -> Self {
        self.max_nesting_depth = levels.max(1);
        self
    }

    /// Deadline of every call made through this client (default: none), counted from the call's
    /// start, waiting for a free slot included. A call past it fails with
    /// [`RpcError::Timeout`](crate::RpcError::Timeout) and the server is told to stop it. The time
    /// left travels with the call, so the server stops it too and its handler can read it
    /// (`hardlight::call_deadline`, on the server). A one-way message not written to the
    /// connection by then fails with `RpcError::Timeout` too. Override it per handle with
    /// [`Client::with_timeout`](crate::client::Client::with_timeout).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(bounded(timeout));
        self
    }

    /// Whether the client records metrics of its calls (default true): calls by service, method
    /// and outcome, and their durations, through the `metrics` facade to whatever recorder the
    /// application installed before the client's first call (see [`crate::metrics`]). Without a
    /// recorder recording costs a branch per call; `false` also skips reading the clock.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// Adds an interceptor around every call this client makes: it sees the service and method,
    /// may add metadata or refuse to send the call, and learns how it ended; see
    /// [`ClientInterceptor`](super::ClientInterceptor).
    pub fn interceptor(mut self, interceptor: impl super::ClientInterceptor) -> Self {
        self.interceptors.push(std::sync::Arc::new(interceptor));
        self
    }

    /// Reconnect automatically when the connection is lost (default: off), as `policy` says: after a
    /// close by the server, a reset, or a keepalive timeout, not after
    /// [`Client::disconnect`](crate::client::Client::disconnect). Each new connection starts from a
    /// fresh state snapshot; calls that were in flight when the connection was lost fail (none is
    /// sent twice). [`Client::connection_events`](crate::client::Client::connection_events)
    /// reports every step.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// What calls made while the client is reconnecting do: wait for the connection, up to their
    /// deadline (the default), or fail at once.
    pub fn when_disconnected(mut self, behaviour: WhenDisconnected) -> Self {
        self.when_disconnected = behaviour;
        self
    }

    /// Keepalive (defaults 20 s and 60 s, as on the server): when the server has sent nothing for
    /// `interval`, the client pings it; when it has sent nothing for `idle_timeout`, the connection
    /// is presumed dead (a cable pulled, a peer that vanished without closing): every call in flight
    /// fails with [`RpcError::ConnectionClosed`](crate::RpcError::ConnectionClosed) (code 4009) and
    /// the client is disconnected. An `idle_timeout` shorter than `interval` is raised to it;
    /// `interval` is at least 10 ms.
    pub fn keepalive(mut self, interval: Duration, idle_timeout: Duration) -> Self {
        self.keepalive_interval = bounded(interval).max(Duration::from_millis(10));
        self.idle_timeout = bounded(idle_timeout).max(self.keepalive_interval);
        self
    }

    /// Authenticates with `token`, sent as the header `Authorization: Bearer <token>` (default: no
    /// token). The server's authentication hook reads it with `UpgradeRequest::token`. A server that
    /// refuses it answers 401 or 403, which [`Client::connect`](crate::client::Client::connect)
    /// reports as [`ConnectError::Unauthorized`](crate::ConnectError::Unauthorized).
    ///
    /// The token must be visible ASCII without spaces; otherwise `connect` fails with
    /// [`ConnectError::InvalidToken`](crate::ConnectError::InvalidToken) and sends nothing.
    ///
    /// ```
    /// use hardlight::ClientConfig;
    /// let config = ClientConfig::new_self_signed("localhost:8080").auth_token("eyJhbGciOi.eyJzdWIi.c2ln");
    /// ```
    pub fn auth_token(self, token: impl Into<String>) -> Self {
        self.auth_token_via(TokenCarrier::Header, token)
    }

    /// Authenticates with `token`, sent where `carrier` says: the `Authorization` header (as
    /// [`ClientConfig::auth_token`]), the subprotocol entry `hardlight-auth.<token>` (what a browser
    /// can send; RFC 7230 token characters only, so unpadded base64url), or the query parameter
    /// `token` (percent-encoded; query strings end up in logs). A token the carrier cannot hold fails
    /// `connect` with [`ConnectError::InvalidToken`](crate::ConnectError::InvalidToken).
    ///
    /// ```
    /// use hardlight::{ClientConfig, TokenCarrier};
    /// let config = ClientConfig::new_self_signed("localhost:8080")
    ///     .auth_token_via(TokenCarrier::Subprotocol, "eyJhbGciOi.eyJzdWIi.c2ln");
    /// ```
    pub fn auth_token_via(mut self, carrier: TokenCarrier, token: impl Into<String>) -> Self {
        self.auth = Some(AuthToken {
            carrier,
            token: token.into(),
        });
        self
    }

    /// Events kept for each subscription that has not read them yet (default 1024). A subscription that
    /// falls further behind loses the oldest and is told how many it missed.
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events.max(1);
        self
    }

    /// The WebSocket URL this configuration connects to, with the address's query as given (a
    /// `?token=` in the address included; not a token set with
    /// [`auth_token_via`](Self::auth_token_via)).
    pub fn url(&self) -> Result<String, ConnectError> {
        let target = Target::parse(&self.address, self.trust.is_some())?;
        Ok(target.url())
    }
}

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    pub(crate) fn parse(address: &str, tls: bool) -> Result<Self, ConnectError> {
        let invalid =
            |why: &str| ConnectError::invalid_address(crate::redact::address(address), why);
        let rest = match address.split_once("://") {
            Some(("wss", rest)) if tls => rest,
            Some(("ws", rest)) if !tls => rest,
            Some(("wss", _)) => return Err(invalid("wss:// needs a TLS configuration")),
            Some(("ws", _)) => {
                return Err(invalid(
                    "ws:// is plaintext: use ClientConfig::plaintext to opt in",
                ));
            }
            Some(_) => return Err(invalid("the scheme must be ws:// or wss://")),
            None => address,
        };
        // The path keeps the query; a query without path gets the path `/`.
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('?') => (&rest[..at], format!("/{}", &rest[at..])),
            Some(at) => (&rest[..at], rest[at..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if authority.contains('@') {
            // Not sent anywhere, and shown only redacted: credentials travel as a token.
            return Err(invalid(
                "credentials in the address are not supported: use ClientConfig::auth_token",
            ));
        }
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        // Written into the request line and the Host header as they are: nothing that could end
        // either early.
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'))
        {
            return Err(invalid(
                "the host may hold only letters, digits and . - _ : %",
            ));
        }
        if !path.bytes().all(|b| matches!(b, b'!'..=b'~')) || path.contains('#') {
            return Err(invalid(
                "the path and query may hold only visible ASCII without '#' (percent-encode the rest)",
            ));
        }
        let port = match port {
            Some(port) => port.parse().map_err(|_| invalid("bad port"))?,
            None if tls => 443,
            None => 80,
        };
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            path,
        })
    }

    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.authority(), self.path)
    }

    /// `host:port`, with an IPv6 host in brackets.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_urls() {
        let t = Target::parse("localhost:8080", true).unwrap();
        assert_eq!(t.url(), "wss://localhost:8080/");
        let t = Target::parse("ws://127.0.0.1:9/rpc", false).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 9, "/rpc")
        );
        let t = Target::parse("[::1]:7", true).unwrap();
        assert_eq!(t.url(), "wss://[::1]:7/");
        assert!(Target::parse("ws://x:1", true).is_err());
        assert!(Target::parse("wss://x:1", false).is_err());
        assert!(Target::parse(":80", false).is_err());
        let t = Target::parse("ws://127.0.0.1:9/rpc?token=a%20b&x", false).unwrap();
        assert_eq!(t.url(), "ws://127.0.0.1:9/rpc?token=a%20b&x");
        let t = Target::parse("localhost:8080?token=abc", true).unwrap();
        assert_eq!((t.port, t.path.as_str()), (8080, "/?token=abc"));
    }

    #[test]
    fn addresses_with_credentials_or_odd_characters_are_refused_without_showing_them() {
        for (address, why) in [
            ("wss://ada:s3cret@h:1/", "credentials"),
            ("ada:s3cret@h:1", "credentials"),
            ("h:1/a b?token=s3cret", "path"),
            ("h:1/a\r\nX:?token=s3cret", "path"),
            ("h\r\n:1", "host"),
        ] {
            match Target::parse(address, true) {
                Err(e @ ConnectError::InvalidAddress { .. }) => {
                    let shown = format!("{e} {e:?}");
                    assert!(shown.contains(why), "{shown}");
                    assert!(!shown.contains("s3cret"), "{shown}");
                }
                other => panic!("{address:?}: expected InvalidAddress, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_hides_the_address_credentials() {
        let config = ClientConfig::plaintext("ws://h:1/rpc?token=s3cret");
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("ws://h:1/rpc?token=<redacted>"), "{debug}");
    }

    #[test]
    fn debug_hides_the_token() {
        let config = ClientConfig::plaintext("localhost:1").auth_token("very-secret");
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("Header"), "{debug}");
    }
}
