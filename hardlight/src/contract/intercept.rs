//! What interceptors on either end share: how a call ended ([`CallOutcome`]) and a refusal
//! ([`Refusal`]). The server's interceptors are `hardlight::server::Interceptor`, a client's
//! `hardlight::client::ClientInterceptor`.

/// An interceptor's refusal of a call: the client's call fails with
/// [`RpcError::Refused`](crate::RpcError::Refused) and this reason, and the handler does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    reason: String,
}

impl Refusal {
    /// A refusal the client will read as `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The reason the client reads.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// How an intercepted call ended, as a server interceptor's `Interceptor::after` and a client's
/// `ClientInterceptor::after` learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The handler returned `Ok` (a stream: ended normally; a one-way message: returned).
    Ok,
    /// The handler returned its error.
    HandlerError,
    /// The handler panicked.
    Panicked,
    /// The arguments failed validation: the handler did not run.
    BadArguments,
    /// The reply could not be sent (too large, or not encodable).
    Internal,
    /// The deadline passed and the call was stopped.
    TimedOut,
    /// The client cancelled it.
    Cancelled,
    /// An interceptor refused it.
    Refused,
    /// It ended without an outcome: on the server, the connection closed or the server stopped
    /// first; on a client, the caller dropped the call.
    Aborted,
    /// No method has its index on the server (client and server disagree): seen by clients only.
    UnknownMethod,
    /// It failed on the client's side of the wire (not connected, the connection closed, the
    /// server broke the protocol, a limit, encoding): seen by clients only.
    Failed,
}

impl CallOutcome {
    /// The outcome of a `REPLY` with this status byte.
    #[cfg_attr(not(hardlight_native), allow(dead_code))]
    pub(crate) fn of_status(status: u8) -> Self {
        match status {
            0 => Self::Ok,
            1 => Self::HandlerError,
            2 => Self::Panicked,
            3 => Self::UnknownMethod,
            4 => Self::BadArguments,
            6 => Self::TimedOut,
            7 => Self::Cancelled,
            8 => Self::Refused,
            _ => Self::Internal,
        }
    }
}
