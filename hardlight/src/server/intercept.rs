//! Interceptors: application code around every call of a server, which sees what is called, by
//! whom, until when and with what metadata, and decides whether it runs
//! ([`ServerConfig::interceptor`](crate::ServerConfig::interceptor)).

use std::time::Duration;

use tokio::time::Instant;

use super::identity::Identity;
use crate::contract::intercept::{Chain, Ending, Hooks};
pub use crate::contract::intercept::{CallOutcome, Refusal};
use crate::wire::Metadata;

/// What an [`Interceptor`] sees of a call (or a one-way message).
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub(crate) service: &'static str,
    pub(crate) method: &'static str,
    pub(crate) call_id: Option<u32>,
    pub(crate) identity: Identity,
    pub(crate) deadline: Option<Instant>,
    pub(crate) metadata: Metadata,
}

impl CallInfo {
    /// The service's trait name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The method's name.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The call's id on its connection; `None` for a one-way message.
    pub fn call_id(&self) -> Option<u32> {
        self.call_id
    }

    /// Who the connection belongs to ([`Identity::anonymous`] without authentication).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// When the call must be done by: the client's budget or the server's call timeout, whichever
    /// is sooner (what `call_deadline()` shows the handler).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The metadata the client attached (empty when none).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// True for a one-way message (nothing is answered: a refusal drops it).
    pub fn is_oneway(&self) -> bool {
        self.call_id.is_none()
    }
}

/// Application code around every call of a server: [`before`](Self::before) decides whether the
/// handler runs (refusing with a reason the client reads), [`after`](Self::after) learns how it
/// ended and how long it took. Install with
/// [`ServerConfig::interceptor`](crate::ServerConfig::interceptor); several run in the order they
/// were added, the first refusal wins, and `after` runs in the reverse order for every interceptor
/// whose `before` ran (a refused call included).
///
/// Both are plain functions called on the connection's task: decide from what the call carries
/// (identity, method, metadata, deadline) and state of your own (a rate limiter, a table of
/// rules). Work that must wait (a database lookup) belongs in the authentication hook, once per
/// connection, or in the handler.
///
/// ```
/// use hardlight::server::{CallInfo, Interceptor, Refusal};
///
/// /// Only `admin` may call `Admin::reset`.
/// struct AdminOnly;
///
/// impl Interceptor for AdminOnly {
///     fn before(&self, call: &CallInfo) -> Result<(), Refusal> {
///         if call.method() == "reset" && call.identity().name() != "admin" {
///             return Err(Refusal::new("reset is for admin"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Before the handler runs: for a call, before its arguments are validated; for a one-way
    /// message, after (a message that fails validation closes its connection).
    ///
    /// # Errors
    /// A [`Refusal`]: the handler does not run, and the client's call fails with its reason (a
    /// one-way message is dropped).
    fn before(&self, call: &CallInfo) -> Result<(), Refusal>;

    /// After the call ended (a streaming call: after its last item), with its outcome and the time
    /// from its arrival. Does nothing unless overridden.
    fn after(&self, call: &CallInfo, outcome: CallOutcome, elapsed: Duration) {
        let _ = (call, outcome, elapsed);
    }
}

/// A server's interceptors, in the order they were added.
pub(crate) type Interceptors = Chain<dyn Interceptor>;

/// A call its interceptors let run: reports its end to them (see [`Ending`]).
pub(crate) type Intercepted = Ending<dyn Interceptor, CallInfo>;

impl Hooks<CallInfo> for dyn Interceptor {
    fn before(&self, call: &mut CallInfo) -> Result<(), Refusal> {
        Interceptor::before(self, call)
    }

    fn after(&self, call: &CallInfo, outcome: CallOutcome, elapsed: Duration) {
        Interceptor::after(self, call, outcome, elapsed);
    }
}

impl Intercepted {
    /// The call ended with the status of `reply` (a `REPLY` frame).
    pub(crate) fn finish_reply(self, reply: &[u8]) {
        let status = reply.get(crate::wire::frame::REPLY_HEADER - 1).copied();
        self.finish(status.map_or(CallOutcome::Aborted, CallOutcome::of_status));
    }
}
