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

/// A chain of interceptors of either end (`I`: the end's trait), in the order they were added.
pub(crate) struct Chain<I: ?Sized>(Vec<std::sync::Arc<I>>);

impl<I: ?Sized> Default for Chain<I> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<I: ?Sized> Clone for Chain<I> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<I: ?Sized> std::fmt::Debug for Chain<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} interceptor(s)", self.0.len())
    }
}

/// How a chain calls its interceptors: their `before` and their `after`.
pub(crate) trait Hooks<C> {
    fn before(&self, call: &mut C) -> Result<(), Refusal>;
    fn after(&self, call: &C, outcome: CallOutcome, elapsed: std::time::Duration);
}

impl<I: ?Sized> Chain<I> {
    pub(crate) fn push(&mut self, interceptor: std::sync::Arc<I>) {
        self.0.push(interceptor);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every `before` on `call`, in order: the guard that runs the `after`s once the call
    /// ends, or the first refusal (after the `after`s of those that ran, with
    /// [`CallOutcome::Refused`], in reverse order).
    pub(crate) fn before<C>(&self, mut call: C) -> Result<Ending<I, C>, Refusal>
    where
        I: Hooks<C>,
    {
        let started = crate::rt::Instant::now();
        for (i, interceptor) in self.0.iter().enumerate() {
            if let Err(refusal) = interceptor.before(&mut call) {
                let elapsed = started.elapsed();
                for ran in self.0[..=i].iter().rev() {
                    ran.after(&call, CallOutcome::Refused, elapsed);
                }
                return Err(refusal);
            }
        }
        Ok(Ending {
            interceptors: self.0.clone(),
            call,
            started,
            done: false,
        })
    }
}

/// A call its interceptors let through: runs their `after`s, in reverse order, when it ends, with
/// [`CallOutcome::Aborted`] if dropped first.
pub(crate) struct Ending<I: ?Sized + Hooks<C>, C> {
    interceptors: Vec<std::sync::Arc<I>>,
    call: C,
    started: crate::rt::Instant,
    done: bool,
}

impl<I: ?Sized + Hooks<C>, C> Ending<I, C> {
    /// The call as the interceptors left it.
    #[cfg_attr(not(hardlight_native), allow(dead_code))]
    pub(crate) fn call(&self) -> &C {
        &self.call
    }

    /// The call ended with `outcome`.
    pub(crate) fn finish(mut self, outcome: CallOutcome) {
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

impl<I: ?Sized + Hooks<C>, C> Drop for Ending<I, C> {
    fn drop(&mut self) {
        self.end(CallOutcome::Aborted);
    }
}
