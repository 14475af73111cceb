//! A client's interceptors: application code around every call the client makes
//! ([`ClientConfig::interceptor`](crate::ClientConfig::interceptor)), which sees what is called and
//! can add metadata, refuse to send it, and learn how it ended.

use std::time::Duration;

pub use crate::contract::intercept::{CallOutcome, Refusal};
use crate::contract::intercept::{Chain, Ending, Hooks};
use crate::error::{CallError, RpcError};
use crate::wire::Metadata;

/// A call about to be sent, as a [`ClientInterceptor`] sees it.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    pub(crate) service: &'static str,
    pub(crate) method: &'static str,
    pub(crate) metadata: Metadata,
}

impl OutgoingCall {
    /// The service's trait name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The method's name.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The metadata the call will carry (the handle's, see
    /// [`Client::with_metadata`](super::Client::with_metadata)).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata the call will carry, to add to (a request id, a tenant).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
}

/// Application code around every call a client makes: [`before`](Self::before) sees the call
/// (and may add metadata, or refuse to send it: the call then fails with
/// [`RpcError::Refused`](crate::RpcError::Refused) and nothing is sent), [`after`](Self::after)
/// learns how it ended and how long it took. Install with
/// [`ClientConfig::interceptor`](crate::ClientConfig::interceptor); several run in the order they
/// were added, the first refusal wins, and `after` runs in the reverse order for each whose
/// `before` ran.
///
/// ```
/// use hardlight::client::{ClientInterceptor, OutgoingCall, Refusal};
///
/// /// Tags every call with this process's name.
/// struct Tag;
///
/// impl ClientInterceptor for Tag {
///     fn before(&self, call: &mut OutgoingCall) -> Result<(), Refusal> {
///         call.metadata_mut()
///             .insert("caller", "billing-worker")
///             .map_err(|e| Refusal::new(e.to_string()))
///     }
/// }
/// ```
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Before the call is sent.
    ///
    /// # Errors
    /// A [`Refusal`]: nothing is sent, and the call fails with `RpcError::Refused`.
    fn before(&self, call: &mut OutgoingCall) -> Result<(), Refusal>;

    /// After the call ended (a streaming call: once it opened, or failed to), with its outcome
    /// and the time from the call. Does nothing unless overridden.
    fn after(&self, call: &OutgoingCall, outcome: CallOutcome, elapsed: Duration) {
        let _ = (call, outcome, elapsed);
    }
}

/// A client's interceptors, in the order they were added.
pub(crate) type ClientInterceptors = Chain<dyn ClientInterceptor>;

/// A call its interceptors let go: reports its end to them (see [`Ending`]).
pub(crate) type Sending = Ending<dyn ClientInterceptor, OutgoingCall>;

impl Hooks<OutgoingCall> for dyn ClientInterceptor {
    fn before(&self, call: &mut OutgoingCall) -> Result<(), Refusal> {
        ClientInterceptor::before(self, call)
    }

    fn after(&self, call: &OutgoingCall, outcome: CallOutcome, elapsed: Duration) {
        ClientInterceptor::after(self, call, outcome, elapsed);
    }
}

impl Sending {
    /// The call ended with `result`.
    pub(crate) fn finish_with<T, E>(self, result: &Result<T, CallError<E>>) {
        let outcome = match result {
            Ok(_) => CallOutcome::Ok,
            Err(CallError::Handler(_)) => CallOutcome::HandlerError,
            Err(CallError::Rpc(error)) => match error {
                RpcError::HandlerPanicked(_) => CallOutcome::Panicked,
                RpcError::UnknownMethod(_) => CallOutcome::UnknownMethod,
                RpcError::BadArguments(_) => CallOutcome::BadArguments,
                RpcError::Internal(_) => CallOutcome::Internal,
                RpcError::Timeout(_) => CallOutcome::TimedOut,
                RpcError::Cancelled(_) => CallOutcome::Cancelled,
                RpcError::Refused(_) => CallOutcome::Refused,
                _ => CallOutcome::Failed,
            },
        };
        self.finish(outcome);
    }
}
