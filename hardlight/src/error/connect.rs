//! What connecting reports ([`ConnectError`]), and why a client's connection ended
//! ([`ClosedError`]).

use std::time::Duration;

use super::call::{RpcError, close_suffix};
use super::protocol::ProtocolError;
use super::transport::TransportError;
#[cfg(hardlight_native)]
use crate::tls::TlsError;

/// Why connecting failed: `Client::connect`, and each attempt of a reconnect
/// ([`ConnectionEvent::GaveUp`](crate::ConnectionEvent::GaveUp) reports the last).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configured address cannot be used (shown with any token in its query redacted);
    /// nothing was sent.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address, as configured (redacted).
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client's authentication token cannot travel where the configuration puts it
    /// ([`ClientConfig::auth_token_via`](crate::ClientConfig::auth_token_via)); nothing was sent.
    #[error("invalid auth token: {0}")]
    InvalidToken(String),
    /// TLS could not be set up (the trust configuration, the server's name), or its handshake
    /// failed (the server's certificate is not trusted: [`TlsError::Handshake`], with rustls's
    /// error as its source).
    #[cfg(hardlight_native)]
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A network or WebSocket operation failed (the TCP connection was refused, the upgrade's
    /// answer was not a valid one, the connection broke): see the source for why.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server refused the connection. With a close code (4001–4003): a different schema
    /// fingerprint, protocol version, or a bad parameter; retrying with the same client will not
    /// help. With an HTTP status, before any WebSocket: 409 (the identity is already connected and
    /// the server allows one connection per identity), 429 (too many new connections from this
    /// address) or 503 (the server is full, or authentication did not finish in time), where
    /// retrying later may help, or 400/431 (not a valid hardlight upgrade request). Refusals for
    /// lack of credentials are [`ConnectError::Unauthorized`].
    #[error("handshake refused by the server (code {code}): {reason}")]
    HandshakeRefused {
        /// The close code (4000–4099) or HTTP status of the refusal.
        code: u16,
        /// The server's reason.
        reason: String,
    },
    /// The server refused the connection's credentials, before any WebSocket: HTTP 401 (no token,
    /// or one that is not valid) or 403 (valid credentials that do not allow this connection; also
    /// a browser origin the server does not serve). Permanent: do not retry with the same
    /// credentials.
    #[error("unauthorized (HTTP {status}): {reason}")]
    Unauthorized {
        /// The HTTP status: 401 or 403.
        status: u16,
        /// The server's reason (the body of its answer).
        reason: String,
    },
    /// The server broke the protocol during the handshake (its `HELLO`, the subprotocol it
    /// selected).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// Connecting took longer than
    /// [`ClientConfig::connect_timeout`](crate::ClientConfig::connect_timeout).
    #[error("connecting took longer than {after:?}")]
    Timeout {
        /// The timeout in force.
        after: Duration,
    },
    /// The server closed the connection during the handshake, before its `HELLO`, for a reason
    /// other than a refusal (a `HELLO` too large for its own limit, say); or it was lost then.
    #[error("connection closed during the handshake{}", close_suffix(*.code, .reason))]
    ConnectionClosed {
        /// The close code, if the server sent one.
        code: Option<u16>,
        /// The server's close reason, or how the connection was lost.
        reason: String,
    },
    /// A limit was exceeded during the handshake (a browser client that fell behind the server's
    /// messages).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
}

impl ConnectError {
    /// The error for an upgrade the server answered with HTTP `status` and `body` instead of
    /// switching protocols. (A browser does not show the answer to a refused upgrade.)
    #[cfg(hardlight_native)]
    pub(crate) fn http_refusal(status: u16, body: Option<&[u8]>) -> Self {
        let reason = body
            .map(|body| String::from_utf8_lossy(body).trim().to_owned())
            .unwrap_or_default();
        match status {
            401 | 403 => ConnectError::Unauthorized { status, reason },
            code => ConnectError::HandshakeRefused { code, reason },
        }
    }

    /// The error for an address that cannot be used.
    pub(crate) fn invalid_address(address: impl Into<String>, reason: impl Into<String>) -> Self {
        ConnectError::InvalidAddress {
            address: address.into(),
            reason: reason.into(),
        }
    }
}

/// Why a client's last connection ended, as `Client::closed` reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClosedError {
    /// The connection ended: [`RpcError::ConnectionClosed`] with the close code and reason (1001
    /// when the server shut down gracefully, 4009 when it went silent past the keepalive's idle
    /// timeout) or how it was lost, [`RpcError::Protocol`] or [`RpcError::LimitExceeded`] when
    /// the server broke the protocol. [`RpcError::NotConnected`] when the client never connected
    /// or was disconnected by its user.
    #[error(transparent)]
    Ended(RpcError),
    /// The connection was lost, and reconnecting gave up: why its last attempt failed.
    #[error("gave up reconnecting")]
    GaveUp(#[source] ConnectError),
}

impl ClosedError {
    /// The close code the connection ended with, if it ended with one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            ClosedError::Ended(RpcError::ConnectionClosed { code, .. }) => *code,
            _ => None,
        }
    }
}
