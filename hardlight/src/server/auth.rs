//! Authentication at the upgrade: what the application's hook sees of the request
//! ([`UpgradeRequest`]), what it answers ([`Identity`] or [`Rejection`]), and running it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode, header};

use super::identity::Identity;
use crate::wire::auth::{bearer_token, query_param, subprotocol_token};
use crate::wire::handshake::HARDLIGHT_PREFIX;

/// The WebSocket upgrade request of a new connection, as the authentication hook
/// ([`ServerConfig::authenticate`](crate::ServerConfig::authenticate)) sees it.
///
/// Its `Debug` output leaves out header values, the query and the subprotocols, which may hold
/// credentials.
pub struct UpgradeRequest {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    subprotocols: Vec<String>,
    peer: SocketAddr,
}

impl UpgradeRequest {
    /// The request of `target` (path and query, as in the request line) with these headers, from
    /// `peer`.
    pub(crate) fn new(target: &str, headers: HeaderMap, peer: SocketAddr) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        let subprotocols = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty() && !entry.starts_with(HARDLIGHT_PREFIX))
            .map(str::to_owned)
            .collect();
        Self {
            path: path.to_owned(),
            query,
            headers,
            subprotocols,
            peer,
        }
    }

    /// The path of the request URL (`/rpc`), without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, without the `?` (`token=abc&room=1`), if the URL has one.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first query parameter `name`, percent-decoded (`+` is a space); `None` if absent or not
    /// UTF-8 once decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query.as_deref()?, name)
    }

    /// Every header of the request (`Origin`, `Authorization`, cookies, ...).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The subprotocols the client offered other than hardlight's own (`hardlight.v1`,
    /// `hardlight.schema.*`, `hardlight.deflate.*`), in offer order; the auth entry
    /// `hardlight-auth.<token>` is among them. The server never selects any of them.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The address of the peer (of the proxy, behind a proxy). For a server mounted in an axum app
    /// (feature `axum`), the address axum's `ConnectInfo<SocketAddr>` gives, or `0.0.0.0:0` when the
    /// app does not provide it (see `Server::into_axum_service`).
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The client's bearer token, from the first of these that has one:
    ///
    /// 1. the header `Authorization: Bearer <token>`;
    /// 2. a subprotocol entry `hardlight-auth.<token>` (what browsers can send);
    /// 3. the query parameter `token=<token>`, percent-decoded.
    ///
    /// `None` if none of them carries a non-empty token. See [`TokenCarrier`](crate::TokenCarrier)
    /// and `docs/PROTOCOL.md` §2.5.
    pub fn token(&self) -> Option<String> {
        let from_header = self
            .headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(bearer_token);
        if let Some(token) = from_header {
            return Some(token.to_owned());
        }
        if let Some(token) = subprotocol_token(self.subprotocols.iter().map(String::as_str)) {
            return Some(token.to_owned());
        }
        self.query_param(crate::wire::auth::TOKEN_QUERY_PARAMETER)
            .filter(|token| !token.is_empty())
    }
}

impl fmt::Debug for UpgradeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpgradeRequest")
            .field("path", &self.path)
            .field("has_query", &self.query.is_some())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("subprotocols", &self.subprotocols.len())
            .field("peer", &self.peer)
            .finish()
    }
}

/// Why the authentication hook refused a connection: an HTTP status (401 or 403) and a reason,
/// which the client receives as the body of the refusal and reports as
/// [`ConnectError::Unauthorized`](crate::ConnectError::Unauthorized).
///
/// ```
/// use hardlight::Rejection;
/// assert_eq!(Rejection::new("token expired").status(), 401);
/// assert_eq!(Rejection::forbidden("not a member of this room").status(), 403);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    reason: String,
}

/// Longest reason sent, in bytes; a longer one is cut at a character boundary.
const MAX_REASON: usize = 1024;

impl Rejection {
    /// `401 Unauthorized`: no credentials, or credentials that are not valid (missing, malformed,
    /// expired, revoked token).
    pub fn new(reason: impl Into<String>) -> Self {
        Self::with_status(StatusCode::UNAUTHORIZED, reason.into())
    }

    /// `403 Forbidden`: valid credentials that do not allow this connection.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::with_status(StatusCode::FORBIDDEN, reason.into())
    }

    fn with_status(status: StatusCode, mut reason: String) -> Self {
        if reason.len() > MAX_REASON {
            let mut end = MAX_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self { status, reason }
    }

    /// The HTTP status: 401 or 403.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for Rejection {}

/// A 401 with this reason, so that a hook can use `?` on `Result<_, &str>` and `Result<_, String>`.
impl From<&str> for Rejection {
    fn from(reason: &str) -> Self {
        Self::new(reason)
    }
}

impl From<String> for Rejection {
    fn from(reason: String) -> Self {
        Self::new(reason)
    }
}

type HookFuture = Pin<Box<dyn Future<Output = Result<Identity, Rejection>> + Send>>;

/// The authentication hook a server runs at each upgrade.
#[derive(Clone)]
pub(crate) struct AuthHook(Arc<dyn Fn(UpgradeRequest) -> HookFuture + Send + Sync>);

impl AuthHook {
    pub(crate) fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(UpgradeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Identity, Rejection>> + Send + 'static,
    {
        Self(Arc::new(move |request| Box::pin(hook(request))))
    }

    /// Runs the hook until `deadline`: the identity, or the HTTP status and text of the refusal
    /// (the hook's own, 503 past the deadline, 500 if it panicked).
    pub(crate) async fn run(
        &self,
        request: UpgradeRequest,
        deadline: Instant,
    ) -> Result<Identity, (StatusCode, String)> {
        let running = AssertUnwindSafe((self.0)(request)).catch_unwind();
        match timeout_at(deadline, running).await {
            Ok(Ok(Ok(identity))) => Ok(identity),
            Ok(Ok(Err(rejection))) => {
                tracing::debug!(status = %rejection.status, reason = %rejection.reason, "authentication refused");
                Err((rejection.status, format!("{}\n", rejection.reason)))
            }
            Ok(Err(_panic)) => {
                tracing::error!("the authentication hook panicked");
                Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "authentication failed on the server\n".to_owned(),
                ))
            }
            Err(_) => {
                tracing::warn!(
                    "the authentication hook did not finish within the handshake timeout"
                );
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "authentication timed out; try again later\n".to_owned(),
                ))
            }
        }
    }
}

impl fmt::Debug for AuthHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthHook")
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    use super::*;

    fn request(target: &str, headers: &[(&'static str, &'static str)]) -> UpgradeRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        UpgradeRequest::new(target, map, "127.0.0.1:9".parse().expect("address"))
    }

    #[test]
    fn the_token_comes_from_the_header_then_the_subprotocol_then_the_query() {
        let offer = "hardlight.v1, hardlight.schema.0123456789abcdef, hardlight-auth.from-sub";
        let all = request(
            "/rpc?token=from%20query",
            &[
                ("authorization", "Bearer from-header"),
                ("sec-websocket-protocol", offer),
            ],
        );
        assert_eq!(all.token().as_deref(), Some("from-header"));
        let no_header = request(
            "/rpc?token=from%20query",
            &[
                ("authorization", "Basic eDp5"),
                ("sec-websocket-protocol", offer),
            ],
        );
        assert_eq!(no_header.token().as_deref(), Some("from-sub"));
        let query_only = request("/rpc?token=from%20query", &[]);
        assert_eq!(query_only.token().as_deref(), Some("from query"));
        assert_eq!(request("/rpc?token=", &[]).token(), None);
        assert_eq!(request("/", &[]).token(), None);
    }

    #[test]
    fn subprotocols_leave_out_hardlights_own() {
        let request = request(
            "/a/b?x=1",
            &[
                ("sec-websocket-protocol", "hardlight.v1, chat"),
                (
                    "sec-websocket-protocol",
                    "hardlight.deflate.6,hardlight-auth.t",
                ),
            ],
        );
        assert_eq!(request.subprotocols(), ["chat", "hardlight-auth.t"]);
        assert_eq!(request.path(), "/a/b");
        assert_eq!(request.query(), Some("x=1"));
        assert_eq!(request.query_param("x").as_deref(), Some("1"));
    }

    #[test]
    fn debug_does_not_show_credentials() {
        let request = request(
            "/?token=secret-query",
            &[
                ("authorization", "Bearer secret-header"),
                ("sec-websocket-protocol", "hardlight-auth.secret-sub"),
            ],
        );
        let debug = format!("{request:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("authorization"), "{debug}");
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let rejection = Rejection::new("é".repeat(MAX_REASON));
        assert!(rejection.reason().len() <= MAX_REASON);
        assert_eq!(Rejection::from("no").status(), 401);
    }
}
