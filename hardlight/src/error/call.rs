//! What a call reports: [`CallError`], the handler's error or [`RpcError`], the failure of the call
//! itself; `RpcError` is also what the client's other operations on a connection fail with.

use super::handler::HandlerError;
use super::protocol::ProtocolError;
use super::transport::TransportError;
use crate::wire::EncodeError;

/// The error of one call: the handler's own error, or a failure of the call itself.
///
/// `E` is the error type the method declares (`HandlerResult<T>` declares [`HandlerError`]).
///
/// ```
/// use hardlight::{CallError, HandlerError, RpcError};
///
/// fn describe(result: Result<u32, CallError>) -> String {
///     match result {
///         Ok(n) => format!("got {n}"),
///         Err(CallError::Handler(e)) => format!("the handler said no: {e}"),
///         Err(CallError::Rpc(RpcError::NotConnected)) => "not connected".to_owned(),
///         Err(CallError::Rpc(e)) => format!("the call failed: {e}"),
///     }
/// }
/// let refused = Err(CallError::Handler(HandlerError::new("no")));
/// assert_eq!(describe(refused), "the handler said no: no");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError<E = HandlerError> {
    /// The handler ran and returned this error.
    #[error("handler returned an error: {0:?}")]
    Handler(E),
    /// The call did not complete: see [`RpcError`].
    #[error(transparent)]
    Rpc(#[from] RpcError),
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
    pub fn rpc_error(&self) -> Option<&RpcError> {
        match self {
            CallError::Handler(_) => None,
            CallError::Rpc(e) => Some(e),
        }
    }
}

impl<E> From<ProtocolError> for CallError<E> {
    fn from(e: ProtocolError) -> Self {
        CallError::Rpc(RpcError::Protocol(e))
    }
}

/// Why a call, a one-way message or another operation on a client's connection did not complete.
///
/// Each variant tells apart one way a call can fail without the handler having answered; the
/// handler's own errors arrive as [`CallError::Handler`]. Texts that came from the server (a
/// panic message, a close reason) are kept as they came; a failure on this side keeps its cause as
/// the [`source`](std::error::Error::source).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The client has not connected yet (or was disconnected by its user, or gave up reconnecting).
    #[error("not connected")]
    NotConnected,
    /// The connection ended; calls in flight fail with this.
    #[error("connection closed{}", close_suffix(*.code, .reason))]
    ConnectionClosed {
        /// The close code, if the connection was closed with one (sent by the server, or by this
        /// client: 1000 when its user disconnected, 4009 when the server went silent).
        code: Option<u16>,
        /// The peer's close reason, or a description of how the connection was lost.
        reason: String,
        /// The failure on this side that ended the connection (a read or write on the socket
        /// failed), if that is how it ended.
        source: Option<TransportError>,
    },
    /// The server sent something this protocol does not allow: the connection was closed, or (a
    /// reply that fails validation) the call failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A limit was exceeded (the size of a message, sent or received).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The handler panicked while running the call (with the panic's message); the connection keeps
    /// serving other calls.
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
    /// The call took longer than allowed: past its deadline on the client (the server was told to
    /// stop it), or past the server's call timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The call was cancelled and stopped on the server.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A server interceptor refused the call before its handler ran, with its reason (see
    /// `ServerConfig::interceptor`), or a client interceptor refused to send it.
    #[error("refused: {0}")]
    Refused(String),
    /// The arguments could not be encoded on this side; nothing was sent.
    #[error("could not encode the arguments")]
    Encode(#[from] EncodeError),
}

impl RpcError {
    /// The error for a connection whose transport failed under it (`why`), without a close
    /// handshake.
    pub(crate) fn lost(why: TransportError) -> Self {
        RpcError::ConnectionClosed {
            code: None,
            reason: "connection lost".into(),
            source: Some(why),
        }
    }

    /// The error for a connection that ended with a close frame (or, with `code` `None`, without
    /// one and without a failure on this side).
    pub(crate) fn closed(code: Option<u16>, reason: impl Into<String>) -> Self {
        RpcError::ConnectionClosed {
            code,
            reason: reason.into(),
            source: None,
        }
    }
}

/// How a close code and reason follow "connection closed" in a message.
pub(super) fn close_suffix(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(code), false) => format!(" (code {code}): {reason}"),
        (Some(code), true) => format!(" (code {code})"),
        (None, false) => format!(": {reason}"),
        (None, true) => String::new(),
    }
}
