//! A client's interceptors: application code around every call the client makes
//! ([`ClientConfig::interceptor`](crate::ClientConfig::interceptor)), which sees what is called and
//! can add metadata, refuse to send it, and learn how it ended.

use std::sync::Arc;
use std::time::Duration;

pub use crate::contract::intercept::{CallOutcome, Refusal};
use crate::error::{CallError, RpcError};
use crate::rt::Instant;
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
#[derive(Clone, Default)]
pub(crate) struct ClientInterceptors(Vec<Arc<dyn ClientInterceptor>>);

impl std::fmt::Debug for ClientInterceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} interceptor(s)", self.0.len())
    }
}

impl ClientInterceptors {
    pub(crate) fn push(&mut self, interceptor: Arc<dyn ClientInterceptor>) {
        self.0.push(interceptor);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every `before` on `call`: the guard that runs the `after`s once the call ends, or the
    /// error the call fails with (after the `after`s of those that ran).
    pub(crate) fn before(&self, mut call: OutgoingCall) -> Result<Sending, RpcError> {
        let started = Instant::now();
        for (i, interceptor) in self.0.iter().enumerate() {
            if let Err(refusal) = interceptor.before(&mut call) {
                let elapsed = started.elapsed();
                for ran in self.0[..=i].iter().rev() {
                    ran.after(&call, CallOutcome::Refused, elapsed);
                }
                return Err(RpcError::Refused(refusal.reason().to_owned()));
            }
        }
        Ok(Sending {
            interceptors: self.0.clone(),
            call,
            started,
            done: false,
        })
    }
}

/// A call its interceptors let go: runs their `after`s when it ends, with
/// [`CallOutcome::Aborted`] if the caller drops it first.
pub(crate) struct Sending {
    interceptors: Vec<Arc<dyn ClientInterceptor>>,
    call: OutgoingCall,
    started: Instant,
    done: bool,
}

impl Sending {
    /// The metadata to send, as the interceptors left it.
    pub(crate) fn metadata(&self) -> &Metadata {
        &self.call.metadata
    }

    /// The call ended with `result`.
    pub(crate) fn finish<T, E>(mut self, result: &Result<T, CallError<E>>) {
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
        self.end(outcome);
    }

    fn end(&mut self, outcome: CallOutcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        for interceptor in self.interceptors.iter().rev() {
            interceptor.after(&self.call, outcome, elapsed);
        }
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.end(CallOutcome::Aborted);
    }
}
