//! One-way messages (`NOTIFY`) on a connection: validated and dispatched like calls, run within the
//! same slots, time limit and panic containment, and never answered.
//!
//! A one-way message takes one of the connection's `max_calls_in_flight` slots while its handler
//! runs. The client cannot know when that is over (nothing comes back), so the limit is enforced by
//! back-pressure rather than by closing: while one-way handlers run and every slot is taken, the
//! connection reads nothing more, and TCP holds the client back. Calls are held back the same way: a
//! `CALL` or `NOTIFY` that arrives while every slot is taken is parked, and reading stops until it
//! has started.
//!
//! With no reply to carry an error, a `NOTIFY` the server cannot run closes the connection: 1007
//! for arguments that fail validation, 1002 for a method that does not exist or is not one-way (and
//! for a `CALL` of a one-way method).

use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::future::Either;
use tokio::time::timeout;

use super::{Connection, Finished, Running, panic_message, reason};
use crate::server::deadline::with_deadline;
use crate::contract::{Args, Dispatch, DispatchError, OnewayFuture, ServiceSchema};
use crate::server::handler::Handler;
use crate::events::outbound::CloseReason;
use crate::metrics::Outcome;
use crate::server::intercept::{CallOutcome, Intercepted};
use crate::server::io::Socket;
use crate::wire::close;
use crate::wire::frame::ReplyStatus;

impl<H: Handler> Connection<H> {
    /// Handles a `NOTIFY` for `method`: validates it and starts its handler, or parks it until a
    /// slot frees. An error is the close it calls for.
    pub(super) fn on_notify(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
        method: u16,
        args: Args<'_>,
    ) -> Result<(), CloseReason> {
        let work = self.dispatch_oneway(method, args).inspect_err(|refusal| {
            self.shared.stats.oneway_refused();
            if refusal.code == close::INVALID_PAYLOAD
                && let Some(timed) = self.metrics.start(method)
            {
                timed.finish(Outcome::Status(ReplyStatus::BadArguments as u8));
            }
            tracing::warn!(method, reason = %refusal.reason, "one-way message refused; closing");
        })?;
        let intercepted = match self.intercept(None, method, None, None) {
            Ok(intercepted) => intercepted,
            Err(refusal) => {
                // Nothing to answer: the message is dropped, and the connection goes on.
                tracing::debug!(method, reason = refusal.reason(), "one-way message refused");
                if let Some(timed) = self.metrics.start(method) {
                    timed.finish(Outcome::Status(ReplyStatus::Refused as u8));
                }
                return Ok(());
            }
        };
        let running = self.running_oneway(method, intercepted, work);
        if self.slot_free() {
            self.start_oneway(cx, ws, running);
        } else {
            // Only calls can fill every slot while reading goes on (see `slots_hold_reading`).
            self.parked = Some(running);
        }
        Ok(())
    }

    /// True while nothing more may be read: a call or one-way message waits for a slot, or one-way
    /// handlers are running and every slot is taken.
    pub(super) fn slots_hold_reading(&self) -> bool {
        self.parked.is_some()
            || self.parked_call.is_some()
            || (self.oneways > 0 && !self.slot_free())
    }

    /// Starts the parked one-way message if a slot is free now; true if it did.
    pub(super) fn start_parked(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> bool {
        if !self.slot_free() {
            return false;
        }
        match self.parked.take() {
            Some(running) => {
                self.start_oneway(cx, ws, running);
                true
            }
            None => false,
        }
    }

    /// True if a call or a one-way message may start: running calls, calls whose replies are not
    /// written yet and running one-way handlers together take fewer than `max_calls_in_flight`.
    pub(super) fn slot_free(&self) -> bool {
        self.in_flight.len() + self.replies.len() + self.oneways
            < usize::from(self.shared.config.max_calls_in_flight)
    }

    /// Takes a slot and starts the handler here, in arrival order, as a call is started.
    fn start_oneway(&mut self, cx: &mut Context<'_>, ws: &mut Socket, mut running: Running) {
        self.oneways += 1;
        match running.as_mut().poll(cx) {
            Poll::Ready(done) => self.finish_call(cx, ws, done),
            Poll::Pending => self.calls.push(running),
        }
    }

    /// Checks that `method` is one-way and validates its arguments.
    fn dispatch_oneway(&self, method: u16, args: Args<'_>) -> Result<OnewayFuture, CloseReason> {
        let name = method_name::<H::Service>(method);
        match <H::Service as ServiceSchema>::ONEWAY.get(usize::from(method)) {
            None => {
                return Err(reason(
                    close::PROTOCOL_ERROR,
                    format!("NOTIFY for method {method}, which does not exist"),
                ));
            }
            Some(false) => {
                return Err(reason(
                    close::PROTOCOL_ERROR,
                    format!("NOTIFY for method {method} ({name}), which is a call: send a CALL"),
                ));
            }
            Some(true) => {}
        }
        <H::Service as Dispatch<H>>::dispatch_oneway(
            &self.handler,
            method,
            args,
        ).map_err(|e| {
            let code = match e {
                DispatchError::BadArguments(_) => close::INVALID_PAYLOAD,
                DispatchError::UnknownMethod(_) => close::PROTOCOL_ERROR,
            };
            reason(code, format!("one-way method {method} ({name}): {e}"))
        })
    }

    /// Wraps a dispatched one-way message as calls are wrapped (see `Connection::running`): counted
    /// while it runs, a panic contained, stopped at the server's call timeout, then the state
    /// changes computed. Its end produces no reply.
    fn running_oneway(
        &self,
        method: u16,
        intercepted: Option<Intercepted>,
        work: OnewayFuture,
    ) -> Running {
        let state = self.state.clone();
        let stats = self.shared.stats.clone();
        let metrics = self.metrics.clone();
        let time_limit = self.shared.config.call_timeout;
        Box::pin(async move {
            // Counted from its start: a parked message is not running yet.
            let _counted = stats.oneway_started();
            let timed = metrics.start(method);
            let deadline = time_limit.map(|limit| tokio::time::Instant::now() + limit);
            let work = match deadline {
                Some(_) => Either::Left(with_deadline(deadline, work)),
                None => Either::Right(work),
            };
            let work = AssertUnwindSafe(work).catch_unwind();
            let mut status = ReplyStatus::Ok;
            let finished = match time_limit {
                None => work.await,
                Some(limit) => timeout(limit, work).await.unwrap_or_else(|_| {
                    tracing::warn!(method, ?limit, "one-way handler timed out and was stopped");
                    status = ReplyStatus::TimedOut;
                    Ok(())
                }),
            };
            if let Err(panic) = finished {
                let message = panic_message(&*panic);
                tracing::warn!(method, %message, "one-way handler panicked");
                status = ReplyStatus::Panicked;
            }
            if let Some(timed) = timed {
                timed.finish(Outcome::Status(status as u8));
            }
            if let Some(intercepted) = intercepted {
                intercepted.finish(CallOutcome::of_status(status as u8));
            }
            // Nothing may await between this and the future's completion: see `StateSync::delta`.
            let state = state.delta().await;
            Finished { state, reply: None }
        })
    }
}

/// Refuses a `CALL` of a one-way method: the client and the server disagree about the method, so
/// the connection is closed (a reply would let a caller wait for what the handler never produces).
pub(super) fn refuse_call_of_oneway<S: ?Sized + ServiceSchema>(
    method: u16,
) -> Result<(), CloseReason> {
    if S::ONEWAY.get(usize::from(method)) == Some(&true) {
        let name = method_name::<S>(method);
        tracing::warn!(method, "CALL of a one-way method; closing");
        return Err(reason(
            close::PROTOCOL_ERROR,
            format!("CALL for method {method} ({name}), which is one-way: send a NOTIFY"),
        ));
    }
    Ok(())
}

/// The name of method `method` of service `S`, for logs and spans.
pub(super) fn method_name<S: ?Sized + ServiceSchema>(method: u16) -> &'static str {
    S::METHODS
        .get(usize::from(method))
        .copied()
        .unwrap_or("unknown")
}
