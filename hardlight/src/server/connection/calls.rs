//! Running calls: each is started where it is read, in arrival order, and collected once it
//! finishes, while what it leaves to send fits in the backlog.

use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{Aborted, Either};
use std::future::Future;
use futures_util::{FutureExt, StreamExt};
use tokio::time::timeout;

use super::{Connection, Finished, Running, Step};
use crate::server::closing::{End, reason};
use crate::server::deadline::with_deadline;
use crate::server::handler::Handler;
use crate::server::intercept::Intercepted;
use crate::server::hooks::panic_message;
use crate::wire::close;
use crate::wire::out::OutFrame;
use crate::wire::frame::{ReplyStatus, encode_reply_text};

impl<H: Handler> Connection<H> {
    /// Collects finished calls and one-way messages while their output fits: the others wait, not
    /// polled, so that a client that does not read cannot make the server buffer every reply. True
    /// if any finished.
    pub(super) fn collect_finished(&mut self, cx: &mut Context<'_>) -> bool {
        let mut collected = false;
        while !self.backlog.holds_back()
            && let Poll::Ready(Some(done)) = self.calls.poll_next_unpin(cx)
        {
            collected = true;
            self.finish_call(cx, done);
        }
        if !self.streams.is_empty() {
            collected |= self.collect_streams(cx);
        }
        collected
    }

    /// Starts the parked one-way message and the parked call if slots are free and their output
    /// would fit; true if either started. Reading resumes once neither is parked.
    pub(super) fn start_parked_work(&mut self, cx: &mut Context<'_>) -> Step<bool> {
        if self.backlog.holds_back() {
            return ControlFlow::Continue(false);
        }
        let oneway = self.start_parked(cx);
        match self.start_parked_call(cx) {
            Ok(call) => ControlFlow::Continue(oneway | call),
            Err(reason) => ControlFlow::Break(End::Close(reason)),
        }
    }

    /// Queues what a finished call or one-way message produced: first the events it emitted, then
    /// its state changes, then a call's reply. Moving events changes nothing to the backlog, which
    /// counts them wherever they wait: the slow-consumer close is not put off by it.
    pub(super) fn finish_call(&mut self, cx: &mut Context<'_>, Finished { state, reply }: Finished) {
        self.take_events(cx);
        if !self.queue_state(state) {
            return;
        }
        match reply {
            Some((call_id, reply)) => {
                self.in_flight.remove(&call_id);
                self.uploads.close(call_id);
                self.queue_reply(call_id, reply);
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

    /// Wraps a dispatched call: contain a panic, stop it when cancelled or out of time, check the
    /// reply's size, compute the state changes.
    pub(super) fn running(
        &self,
        call_id: u32,
        method: u16,
        budget: Option<Duration>,
        intercepted: Option<Intercepted>,
        call: impl Future<Output = Result<OutFrame, Aborted>> + Send + 'static,
    ) -> Running {
        let state = self.state.clone();
        let timed = self.metrics.start(method);
        let counted = self.shared.stats.call_started();
        let max_message_size = self.shared.config.max_message_size;
        // The sooner of the server's limit and the client's budget.
        let time_limit = match (self.shared.config.call_timeout, budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (limit, budget) => limit.or(budget),
        };
        let deadline = time_limit.map(|limit| tokio::time::Instant::now() + limit);
        Box::pin(async move {
            let _counted = counted;
            let call = async move {
                call.await.unwrap_or_else(|_aborted| {
                    encode_reply_text(call_id, ReplyStatus::Cancelled, "cancelled by the client")
                        .into()
                })
            };
            // Only a call with a deadline pays for the task-local that shows it to the handler.
            let call = match deadline {
                Some(_) => Either::Left(with_deadline(deadline, call)),
                None => Either::Right(call),
            };
            let call = AssertUnwindSafe(call).catch_unwind();
            let finished = match time_limit {
                None => call.await,
                Some(limit) => timeout(limit, call).await.unwrap_or_else(|_| {
                    tracing::warn!(call_id, ?limit, "call timed out");
                    Ok(encode_reply_text(
                        call_id,
                        ReplyStatus::TimedOut,
                        &format!("the call did not finish within {limit:?}"),
                    )
                    .into())
                }),
            };
            let reply = finished.unwrap_or_else(|panic| {
                let message = panic_message(&*panic);
                tracing::warn!(call_id, %message, "handler panicked");
                OutFrame::from(encode_reply_text(call_id, ReplyStatus::Panicked, &message))
            });
            let reply = if reply.len() > max_message_size {
                let why = format!(
                    "reply of {} bytes exceeds the maximum message size of {max_message_size}",
                    reply.len()
                );
                tracing::warn!(call_id, %why, "reply too large");
                encode_reply_text(call_id, ReplyStatus::Internal, &why).into()
            } else {
                reply
            };
            if let Some(timed) = timed {
                timed.finish_reply(reply.head());
            }
            if let Some(intercepted) = intercepted {
                intercepted.finish_reply(reply.head());
            }
            // Nothing may await between this and the future's completion: see `StateSync::delta`.
            let state = state.delta().await;
            Finished {
                state,
                reply: Some((call_id, reply)),
            }
        })
    }
}
