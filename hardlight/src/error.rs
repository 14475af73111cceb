//! Errors a client or server reports to its user.

#[cfg(hardlight_native)]
use crate::tls::TlsError;
use crate::wire::EncodeError;

/// What went wrong with a connection, a call or a server.
///
/// Each variant tells apart one way a call can fail without the handler having answered; the handler's
/// own errors arrive as [`CallError::Handler`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client has not connected yet (or was disconnected by its user).
    #[error("not connected")]
    NotConnected,
    /// The connection ended; calls in flight fail with this.
    #[error("connection closed{}", close_suffix(*.code, .reason))]
    ConnectionClosed {
        /// The close code the peer sent, if it sent one.
        code: Option<u16>,
        /// The peer's close reason, or a description of how the connection was lost.
        reason: String,
    },
    /// The server refused the connection. With a close code (4001–4003): a different schema
    /// fingerprint, protocol version, or a bad parameter; retrying with the same client will not
    /// help. With an HTTP status, before any WebSocket: 409 (the identity is already connected and
    /// the server allows one connection per identity), 429 (too many new connections from this
    /// address) or 503 (the server is full, or authentication did not finish in time), where
    /// retrying later may help, or 400/431 (not a valid hardlight upgrade request). Refusals for
    /// lack of credentials are [`Error::Unauthorized`].
    #[error("handshake refused by the server (code {code}): {reason}")]
    HandshakeRefused {
        /// The close code (4000–4099) or HTTP status of the refusal.
        code: u16,
        /// The server's reason.
        reason: String,
    },
    /// The server refused the connection's credentials, before any WebSocket: HTTP 401 (no token, or
    /// one that is not valid) or 403 (valid credentials that do not allow this connection; also a
    /// browser origin the server does not serve). Permanent: do not retry with the same
    /// credentials.
    #[error("unauthorized (HTTP {status}): {reason}")]
    Unauthorized {
        /// The HTTP status: 401 or 403.
        status: u16,
        /// The server's reason (the body of its answer).
        reason: String,
    },
    /// The client's authentication token cannot travel where the configuration puts it
    /// ([`ClientConfig::auth_token_via`](crate::ClientConfig::auth_token_via)); nothing was sent.
    #[error("invalid auth token: {0}")]
    InvalidToken(String),
    /// The peer sent something this protocol does not allow; the connection was closed.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A limit was exceeded (message size, calls in flight, a timeout).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The handler panicked while running the call; the connection keeps serving other calls.
    #[error("the handler panicked: {0}")]
    HandlerPanicked(String),
    /// The server has no method with the index the client called (client and server disagree).
    #[error("unknown method: {0}")]
    UnknownMethod(String),
    /// The server could not validate the call's arguments.
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The server failed while answering (it could not encode the reply).
    #[error("server error: {0}")]
    Internal(String),
    /// The call took longer than allowed and was stopped (the server's call timeout).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The call was cancelled and stopped on the server.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A value could not be encoded on this side.
    #[error("{0}")]
    Encode(String),
    /// Setting up TLS failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A network or WebSocket operation failed.
    #[error("transport: {0}")]
    Transport(String),
    /// An address or URL could not be used.
    #[error("invalid address {0:?}: {1}")]
    InvalidAddress(String, String),
    /// The topic notifier was already taken; a server has only one.
    #[error("the topic notifier was already taken (a server has only one)")]
    NotifierTaken,
}

fn close_suffix(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(code), false) => format!(" (code {code}): {reason}"),
        (Some(code), true) => format!(" (code {code})"),
        (None, false) => format!(": {reason}"),
        (None, true) => String::new(),
    }
}

impl Error {
    /// The error for an upgrade the server answered with HTTP `status` and `body` instead of
    /// switching protocols. (A browser does not show the answer to a refused upgrade.)
    #[cfg(hardlight_native)]
    pub(crate) fn http_refusal(status: u16, body: Option<&[u8]>) -> Self {
        let reason = body
            .map(|body| String::from_utf8_lossy(body).trim().to_owned())
            .unwrap_or_default();
        match status {
            401 | 403 => Error::Unauthorized { status, reason },
            code => Error::HandshakeRefused { code, reason },
        }
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e.to_string())
    }
}

#[cfg(hardlight_native)]
impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Transport(e.to_string())
    }
}

/// The error of one call: the handler's own error, or a failure of the call itself.
///
/// `E` is the error type the method declares (`HandlerResult<T>` declares [`HandlerError`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError<E = HandlerError> {
    /// The handler ran and returned this error.
    #[error("handler returned an error: {0:?}")]
    Handler(E),
    /// The call did not complete: see [`Error`].
    #[error(transparent)]
    Rpc(#[from] Error),
}

impl<E> CallError<E> {
    /// The handler's error, if that is what this is.
    pub fn handler_error(&self) -> Option<&E> {
        match self {
            CallError::Handler(e) => Some(e),
            CallError::Rpc(_) => None,
        }
    }

    /// The call failure, if the handler did not answer.
    pub fn rpc_error(&self) -> Option<&Error> {
        match self {
            CallError::Handler(_) => None,
            CallError::Rpc(e) => Some(e),
        }
    }
}

/// The general-purpose error a handler returns through [`HandlerResult`]: a message for the caller.
///
/// Declare your own `#[codable]` error type and return `Result<T, MyError>` when callers should match
/// on error cases.
///
/// ```
/// use hardlight::{HandlerError, HandlerResult};
/// fn check(n: u32) -> HandlerResult<u32> {
///     if n == 0 { return Err("n must not be zero".into()) }
///     Ok(n)
/// }
/// assert_eq!(check(0).unwrap_err().message(), "n must not be zero");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HandlerError").field(&self.message).finish()
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// Lets a handler use `?` on hardlight's own fallible operations, such as `EventEmitter::emit`.
impl From<Error> for HandlerError {
    fn from(e: Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

/// What an rpc method returns: `Ok(value)` or the general [`HandlerError`], or your own error type `E`.
pub type HandlerResult<T, E = HandlerError> = Result<T, E>;
