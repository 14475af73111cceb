//! Running calls: each is started where it is read, in arrival order, and collected once it
//! finishes, while what it leaves to send fits in the backlog.

use std::any::Any;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{AbortHandle, Abortable, Aborted, Either};
use futures_util::{FutureExt, StreamExt};
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, Span};

use super::{Connection, Finished, Running, Step};
use crate::server::closing::{End, reason};
use crate::contract::CallFuture;
use crate::metrics::InFlight;
use crate::server::deadline::{in_deadline, with_deadline};
use crate::server::state_sync::StateSync;
use crate::server::stats::Counted;
use crate::state::ConnectionState;
use crate::server::handler::Handler;
use crate::server::intercept::Intercepted;
use crate::server::hooks::panic_message;
use crate::server::io::Socket;
use crate::wire::close;
use crate::wire::out::OutFrame;
use crate::wire::frame::{ReplyStatus, encode_reply_text};

impl<H: Handler> Connection<H> {
    /// Collects finished calls and one-way messages while their output fits: the others wait, not
    /// polled, so that a client that does not read cannot make the server buffer every reply. True
    /// if any finished.
    pub(super) fn collect_finished(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> bool {
        let mut collected = false;
        // An empty set is not polled (which would touch its shared queue for nothing): a call
        // pushed into it is marked ready, and every push is followed by another round.
        while !self.calls.is_empty()
            && !self.outbound.backlog().holds_back()
            && let Poll::Ready(Some(done)) = self.calls.poll_next_unpin(cx)
        {
            collected = true;
            self.finish_call(cx, ws, done);
        }
        if !self.streams.is_empty() {
            collected |= self.collect_streams(cx);
        }
        collected
    }

    /// Starts the parked one-way message and the parked call if slots are free and their output
    /// would fit; true if either started. Reading resumes once neither is parked.
    pub(super) fn start_parked_work(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Step<bool> {
        if self.outbound.backlog().holds_back() {
            return ControlFlow::Continue(false);
        }
        let oneway = self.start_parked(cx, ws);
        match self.start_parked_call(cx, ws) {
            Ok(call) => ControlFlow::Continue(oneway | call),
            Err(reason) => ControlFlow::Break(End::Close(reason)),
        }
    }

    /// Queues what a finished call or one-way message produced: first the events it emitted, then
    /// its state changes, then a call's reply (handed to the socket at once when nothing waits
    /// before it: see [`Connection::send_reply`]). Moving events changes nothing to the backlog,
    /// which counts them wherever they wait: the slow-consumer close is not put off by it.
    pub(super) fn finish_call(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
        Finished { state, reply }: Finished,
    ) {
        self.take_events(cx);
        if !self.queue_state(state) {
            return;
        }
        match reply {
            Some((call_id, reply)) => {
                self.in_flight.remove(&call_id);
                self.uploads.close(call_id);
                self.send_reply(ws, call_id, reply);
            }
            None => self.oneways -= 1,
        }
    }

    /// Queues a `STATE` frame made by a call (or a stream before its item); false if it is too
    /// large to send: the client's mirror cannot follow, so the connection ends, before the reply
    /// or item that must not arrive without its state.
    pub(super) fn queue_state(&mut self, state: Option<Vec<u8>>) -> bool {
        let Some(state) = state else {
            return true;
        };
        let max = self.shared.config.max_message_size;
        if state.len() > max {
            let why = format!(
                "connection state change of {} bytes exceeds the maximum message size of {max}",
                state.len()
            );
            tracing::error!(%why, "closing");
            self.failed = Some(reason(close::INTERNAL_ERROR, why));
            return false;
        }
        self.push_own(Bytes::from(state));
        true
    }

    /// What a call of `method` started now needs once its handler is done.
    pub(super) fn call_end(
        &self,
        call_id: u32,
        method: u16,
        budget: Option<Duration>,
        intercepted: Option<Intercepted>,
    ) -> CallEnd {
        // The sooner of the server's limit and the client's budget.
        let time_limit = match (self.shared.config.call_timeout, budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (limit, budget) => limit.or(budget),
        };
        CallEnd {
            call_id,
            time_limit,
            deadline: time_limit.map(|limit| Instant::now() + limit),
            max_message_size: self.shared.config.max_message_size,
            timed: self.metrics.start(method),
            intercepted,
            _counted: self.shared.stats.call_started(),
        }
    }

    /// Runs a dispatched call: its handler is polled once here, in arrival order, within its span
    /// and deadline, a panic contained. A call that finishes then is done at once: no task, no
    /// allocation, no cancel handle (most handlers never wait). One that waits becomes a
    /// [`Running`] future, cancellable by the client and stopped at its deadline.
    pub(super) fn start_call(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
        end: CallEnd,
        mut call: CallFuture,
        span: Span,
    ) {
        let first = span.in_scope(|| {
            in_deadline(end.deadline, || {
                std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx)))
            })
        });
        let outcome = match first {
            Ok(Poll::Ready(reply)) => Outcome::Replied(reply),
            Err(panic) => Outcome::Panicked(panic),
            Ok(Poll::Pending) => {
                let (abort, registration) = AbortHandle::new_pair();
                self.in_flight.insert(end.call_id, Some(abort));
                let call = Abortable::new(call, registration).instrument(span);
                self.calls.push(running(end, self.state.clone(), call));
                return;
            }
        };
        let call_id = end.call_id;
        let reply = end.reply(outcome);
        if self.state.unchanged() {
            let done = Finished {
                state: None,
                reply: Some((call_id, reply)),
            };
            return self.finish_call(cx, ws, done);
        }
        // The handler changed the state, or another call's sync is under way: the `STATE` frame
        // comes first, and the call stays in flight until it is computed.
        let state = self.state.clone();
        let mut synced: Running = Box::pin(async move {
            let state = state.delta().await;
            Finished {
                state,
                reply: Some((call_id, reply)),
            }
        });
        match synced.as_mut().poll(cx) {
            Poll::Ready(done) => self.finish_call(cx, ws, done),
            Poll::Pending => {
                self.in_flight.insert(call_id, None);
                self.calls.push(synced);
            }
        }
    }
}

/// How a call's handler ended.
pub(super) enum Outcome {
    /// It returned this reply.
    Replied(OutFrame),
    /// The client cancelled it.
    Cancelled,
    /// Its deadline passed first.
    TimedOut,
    /// It panicked, with this payload.
    Panicked(Box<dyn Any + Send>),
}

/// A started call's bookkeeping until its reply: its limits, and who is told how it ended.
pub(super) struct CallEnd {
    call_id: u32,
    time_limit: Option<Duration>,
    deadline: Option<Instant>,
    max_message_size: usize,
    timed: Option<InFlight>,
    intercepted: Option<Intercepted>,
    _counted: Counted,
}

impl CallEnd {
    /// The `REPLY` frame for how the handler ended: a failure as its status, a reply too large to
    /// send as an internal error; the metrics and the interceptors are told.
    pub(super) fn reply(self, outcome: Outcome) -> OutFrame {
        let call_id = self.call_id;
        let reply = match outcome {
            Outcome::Replied(reply) => reply,
            Outcome::Cancelled => {
                encode_reply_text(call_id, ReplyStatus::Cancelled, "cancelled by the client").into()
            }
            Outcome::TimedOut => {
                let limit = self.time_limit.unwrap_or_default();
                tracing::warn!(call_id, ?limit, "call timed out");
                let why = format!("the call did not finish within {limit:?}");
                encode_reply_text(call_id, ReplyStatus::TimedOut, &why).into()
            }
            Outcome::Panicked(panic) => {
                let message = panic_message(&*panic);
                tracing::warn!(call_id, %message, "handler panicked");
                encode_reply_text(call_id, ReplyStatus::Panicked, &message).into()
            }
        };
        let max = self.max_message_size;
        let reply = if reply.len() > max {
            let why = format!(
                "reply of {} bytes exceeds the maximum message size of {max}",
                reply.len()
            );
            tracing::warn!(call_id, %why, "reply too large");
            encode_reply_text(call_id, ReplyStatus::Internal, &why).into()
        } else {
            reply
        };
        if let Some(timed) = self.timed {
            timed.finish_reply(reply.head());
        }
        if let Some(intercepted) = self.intercepted {
            intercepted.finish_reply(reply.head());
        }
        reply
    }
}

/// A call whose handler waited at its first poll: runs it to its end (cancelled, out of time or
/// panicking included), then computes the state changes.
fn running<S: ConnectionState>(
    end: CallEnd,
    state: Arc<StateSync<S>>,
    call: impl Future<Output = Result<OutFrame, Aborted>> + Send + 'static,
) -> Running {
    Box::pin(async move {
        let call = async move {
            match call.await {
                Ok(reply) => Outcome::Replied(reply),
                Err(Aborted) => Outcome::Cancelled,
            }
        };
        // Only a call with a deadline pays for the task-local that shows it to the handler.
        let call = match end.deadline {
            Some(_) => Either::Left(with_deadline(end.deadline, call)),
            None => Either::Right(call),
        };
        let call = AssertUnwindSafe(call).catch_unwind();
        let outcome = match end.deadline {
            None => call.await,
            Some(deadline) => timeout_at(deadline, call)
                .await
                .unwrap_or(Ok(Outcome::TimedOut)),
        }
        .unwrap_or_else(Outcome::Panicked);
        let call_id = end.call_id;
        let reply = end.reply(outcome);
        // Nothing may await between this and the future's completion: see `StateSync::delta`.
        let state = state.delta().await;
        Finished {
            state,
            reply: Some((call_id, reply)),
        }
    })
}
