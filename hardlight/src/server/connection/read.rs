//! Reading: which messages are read and when, and what each one starts.
//!
//! Reading is what holds a client back. Nothing is read while output piles up unwritten (the
//! backlog), while a call or one-way message waits for a slot, while the call rate says wait, or
//! once the server is shutting down: the client's messages then wait in TCP's buffers, and a client
//! that sends without reading cannot make the server buffer without bound.

use std::ops::ControlFlow;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use super::oneway::method_name;
use super::{Connection, Step, oneway};
use crate::server::closing::{End, close_with, lost, reason};
use crate::contract::{Args, Dispatch, ServiceSchema, Started};
use crate::server::handler::Handler;
use crate::events::outbound::CloseReason;
use crate::server::io::Socket;
use crate::ws::server::{Message, ReadError};
use crate::wire::close;
use crate::wire::compression::open;
use crate::server::context::with_call_context;
use crate::server::intercept::{CallInfo, Intercepted, Refusal};
use crate::wire::{Metadata, TraceParent};
use crate::wire::frame::{
    ClientFrame, FLAG_METADATA, FLAG_TRACE, FrameError, ReplyStatus, decode_client,
    encode_reply_text,
};
use tracing::Span;

/// Messages read in one round at most. What they start is answered and flushed at the end of the
/// round, before more are read: a client on another CPU gets the first replies while the server
/// works on the next calls, so that both ends are busy at once instead of taking turns on whole
/// windows of calls (with 256 calls in flight and the two ends on two CPUs, that doubled the calls
/// per second; see `benches/PROFILE.md`).
pub(super) const READ_PER_ROUND: usize = 128;

impl<H: Handler> Connection<H> {
    /// Reads and handles the messages already received, [`READ_PER_ROUND`] at most, while reading
    /// is allowed (see [`may_read`](Self::may_read)); then restarts the idle timer if anything
    /// arrived, and checks the message being received against its time and byte budgets. True if
    /// anything was read.
    pub(super) fn read_messages(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
    ) -> Step<bool> {
        let mut read = false;
        let mut messages = 0;
        let reading = loop {
            if !self.may_read(cx) {
                break false;
            }
            if messages == READ_PER_ROUND {
                // Still reading: the next round goes on where this one stopped.
                break true;
            }
            messages += 1;
            let partial = &mut self.partial;
            let Poll::Ready(message) = ws.poll_message(cx, |progress| partial.observe(progress))
            else {
                self.read_parked = true;
                break true;
            };
            read = true;
            self.on_read(cx, ws, message)?;
        };
        if read {
            self.keepalive.heard();
        }
        if let Some(reason) = self.partial.poll_violation(cx, reading) {
            tracing::warn!(reason = %reason.reason, "closing a peer's unfinished message");
            return ControlFlow::Break(End::Close(reason));
        }
        ControlFlow::Continue(read)
    }

    /// True unless output is piling up unwritten, a call or one-way message waits for a slot (or
    /// one-way messages fill them), the server is shutting down, or the call rate says wait (whose
    /// timer then wakes the task).
    fn may_read(&mut self, cx: &mut Context<'_>) -> bool {
        !self.outbound.backlog().holds_back()
            && self.draining.is_none()
            && !self.slots_hold_reading()
            && self
                .throttle
                .as_mut()
                .is_none_or(|t| t.poll_ready(cx).is_ready())
    }

    /// Handles what the socket gave: a message is handled, anything else ends the connection.
    fn on_read(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
        message: Option<Result<Message, ReadError>>,
    ) -> Step {
        match message {
            Some(Ok(Message::Binary(data))) => {
                let bytes = data.len() as u64;
                self.shared.metrics().server.received_bytes.increment(bytes);
                if let Some(throttle) = &mut self.throttle {
                    throttle.call_read();
                }
                if let Err(reason) = self.on_message(cx, ws, data) {
                    return ControlFlow::Break(End::Close(reason));
                }
            }
            Some(Ok(Message::Text)) => {
                return ControlFlow::Break(close_with(
                    close::UNSUPPORTED_DATA,
                    "text messages are not part of the hardlight protocol; send binary frames",
                ));
            }
            Some(Ok(Message::Close(code, reason))) => {
                return ControlFlow::Break(End::ClosedByClient(code, reason));
            }
            // A ping's pong is owed by the socket, and written by the next flush.
            Some(Ok(Message::Ping(_) | Message::Pong)) => {}
            // The watch of partial messages stopped the reading.
            None => {
                let reason = self.partial.over_budget().unwrap_or_else(|| {
                    reason(close::POLICY_VIOLATION, "partly received messages over the budget")
                });
                tracing::warn!(reason = %reason.reason, "closing a peer's unfinished message");
                return ControlFlow::Break(End::Close(reason));
            }
            Some(Err(ReadError::TooLarge { len, max })) => {
                return ControlFlow::Break(close_with(
                    close::MESSAGE_TOO_BIG,
                    format!("message of {len} bytes exceeds the limit of {max}"),
                ));
            }
            Some(Err(ReadError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return ControlFlow::Break(End::Lost("the connection ended".to_owned()));
            }
            Some(Err(ReadError::Io(e))) => {
                tracing::debug!(error = %e, "read failed");
                return ControlFlow::Break(lost("read failed", e));
            }
            Some(Err(e @ (ReadError::Header(_) | ReadError::Close(_) | ReadError::Sequence(_)))) => {
                tracing::warn!(error = %e, "WebSocket protocol violation");
                return ControlFlow::Break(close_with(close::PROTOCOL_ERROR, e.to_string()));
            }
        }
        ControlFlow::Continue(())
    }

    /// Handles one message from the client; an error is the close it calls for.
    pub(super) fn on_message(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
        data: Bytes,
    ) -> Result<(), CloseReason> {
        let max = self.shared.config.max_message_size;
        // The frame as shared bytes (the received buffer, or the inflated one), so that arguments
        // received as views keep it rather than a copy; the message as received too, when it was
        // inflated (a parked call keeps that).
        let (frame, deflated) = match open(&data, self.compression.is_some(), max).map_err(violation)? {
            std::borrow::Cow::Borrowed(_) => (data, None),
            std::borrow::Cow::Owned(inflated) => (Bytes::from(inflated), Some(data)),
        };
        let depth = self.shared.config.max_nesting_depth;
        self.check_extensions(&frame)?;
        let (call_id, method, args, budget_ms, trace, metadata) =
            match decode_client(&frame).map_err(violation)? {
            ClientFrame::Call {
                call_id,
                method,
                args,
                budget_ms,
                trace,
                metadata,
            } => (call_id, method, args, budget_ms, trace, metadata),
            ClientFrame::Cancel { call_id } => {
                // Stopped at its next poll, which this wakes; it then replies `Cancelled` like any
                // call. A call no longer in flight has replied already: nothing to do.
                if let Some(Some(handle)) = self.in_flight.get(&call_id) {
                    handle.abort();
                }
                return Ok(());
            }
            ClientFrame::Credit { call_id, bytes } => {
                // A call that has ended (or does not stream) needs none: nothing to do.
                if let Some(credit) = self.credits.get(&call_id) {
                    credit.grant(bytes);
                }
                return Ok(());
            }
            ClientFrame::Item { call_id, item } => {
                let start = item.as_ptr() as usize - frame.as_ptr() as usize;
                let in_flight = self.in_flight.contains_key(&call_id);
                return self
                    .uploads
                    .on_item(call_id, &frame, start..start + item.len(), in_flight);
            }
            ClientFrame::End { call_id } => {
                let in_flight = self.in_flight.contains_key(&call_id);
                return self.uploads.on_end(call_id, in_flight);
            }
            ClientFrame::Notify { method, args } => {
                return self.on_notify(cx, ws, method, Args::in_message(&frame, args, depth));
            }
        };
        oneway::refuse_call_of_oneway::<H::Service>(method)?;
        if self.in_flight.contains_key(&call_id)
            || self.replies.holds(call_id)
            || self.fresh.holds(call_id)
        {
            return Err(reason(
                close::PROTOCOL_ERROR,
                format!("call id {call_id} reused while that call is still in flight"),
            ));
        }
        if !self.slot_free() {
            // More calls than slots: this one waits, and so does reading (PROTOCOL.md §6).
            self.parked_call = Some(deflated.unwrap_or(frame));
            return Ok(());
        }
        if budget_ms == Some(0) {
            // Its deadline passed before it reached the server: it does not run (PROTOCOL.md §5.2).
            let reply = encode_reply_text(
                call_id,
                ReplyStatus::TimedOut,
                "the call's deadline had passed when it arrived (budget_ms 0)",
            );
            self.record_unstarted(method, &reply);
            self.send_reply(ws, call_id, reply.into());
            return Ok(());
        }
        let budget = budget_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        let intercepted = match self.intercept(Some(call_id), method, budget, metadata.as_ref()) {
            Ok(intercepted) => intercepted,
            Err(refusal) => {
                let reply = self.refusal_reply(call_id, &refusal);
                self.record_unstarted(method, &reply);
                self.send_reply(ws, call_id, reply.into());
                return Ok(());
            }
        };
        // A method whose last argument streams gets it now, with the credit its `CALL` grants.
        let uploads = <H::Service as ServiceSchema>::UPLOADS.get(usize::from(method)) == Some(&true);
        let received = &self.metrics.method(method).items_received;
        let upload = uploads.then(|| self.uploads.open(call_id, depth, received.clone()));
        let started = <H::Service as Dispatch<H>>::dispatch(
            &self.handler,
            call_id,
            method,
            Args::in_message(&frame, args, depth),
            upload,
        );
        if started.is_err() && uploads {
            self.uploads.close(call_id);
        }
        // Handlers read these with `call_metadata()` and `call_trace_parent()`; a call without
        // either pays nothing.
        let metadata = metadata.filter(|m| !m.is_empty());
        let span = || self.call_span(call_id, method, trace.as_ref());
        match started {
            Ok(Started::Stream(start)) => {
                let start = with_call_context(metadata, trace, start);
                let span = span();
                self.start_stream(call_id, method, budget, span, intercepted, start);
            }
            Ok(Started::Duplex(start)) => {
                // A byte stream: what the client sends is read from the start, as an argument.
                let span = span();
                let received = self.metrics.method(method).items_received.clone();
                let upload = self.uploads.open(call_id, depth, received);
                let start = with_call_context(metadata, trace, start(upload));
                self.start_stream(call_id, method, budget, span, intercepted, start);
            }
            Ok(Started::Call(call)) => {
                let end = self.call_end(call_id, method, budget, intercepted);
                let call = with_call_context(metadata, trace, call);
                self.start_call(cx, ws, end, call, span());
            }
            // Nothing ran: the error reply needs no ordering with events or state.
            Err(e) => {
                let reply = e.reply(call_id);
                self.record_unstarted(method, &reply);
                if let Some(intercepted) = intercepted {
                    intercepted.finish_reply(&reply);
                }
                self.send_reply(ws, call_id, reply.into());
            }
        }
        Ok(())
    }

    /// Runs the server's interceptors on a call (`call_id`) or one-way message (`None`) of
    /// `method`: `Ok(None)` when there are none (or the method does not exist: dispatch answers
    /// that), the guard that reports the call's end, or the refusal.
    pub(super) fn intercept(
        &self,
        call_id: Option<u32>,
        method: u16,
        budget: Option<Duration>,
        metadata: Option<&Metadata>,
    ) -> Result<Option<Intercepted>, Refusal> {
        let interceptors = &self.shared.config.interceptors;
        let Some(name) = <H::Service as ServiceSchema>::METHODS.get(usize::from(method)) else {
            return Ok(None);
        };
        if interceptors.is_empty() {
            return Ok(None);
        }
        let limit = match (self.shared.config.call_timeout, budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (limit, budget) => limit.or(budget),
        };
        let call = CallInfo {
            service: <H::Service as ServiceSchema>::NAME,
            method: name,
            call_id,
            identity: self.identity.clone(),
            deadline: limit.map(|limit| tokio::time::Instant::now() + limit),
            metadata: metadata.cloned().unwrap_or_default(),
        };
        interceptors.before(call).map(Some)
    }

    /// The `REPLY` to a refused call: status 8 for a client that reads it, `Internal` for one that
    /// does not (it did not offer `hardlight.metadata`).
    fn refusal_reply(&self, call_id: u32, refusal: &Refusal) -> Vec<u8> {
        tracing::debug!(call_id, reason = refusal.reason(), "call refused by an interceptor");
        if self.metadata {
            encode_reply_text(call_id, ReplyStatus::Refused, refusal.reason())
        } else {
            let text = format!("refused: {}", refusal.reason());
            encode_reply_text(call_id, ReplyStatus::Internal, &text)
        }
    }

    /// The span of call `call_id` of `method`: a child of the caller's span when the call carries
    /// its trace context (with the `opentelemetry` feature; its trace id is a field in any case).
    fn call_span(&self, call_id: u32, method: u16, trace: Option<&TraceParent>) -> Span {
        let span = tracing::info_span!(
            "hardlight.call",
            otel.kind = "server",
            rpc.system = "hardlight",
            rpc.service = <H::Service as ServiceSchema>::NAME,
            rpc.method = method_name::<H::Service>(method),
            call_id,
            identity = &*self.identity_name,
            trace_id = tracing::field::Empty,
        );
        if let Some(trace) = trace
            && !span.is_disabled()
        {
            span.record("trace_id", trace.trace_id_hex());
            crate::otel::adopt(&span, trace);
        }
        span
    }

    /// Refuses a `CALL` extension the client did not negotiate: the trace flag without
    /// `hardlight.trace`, the metadata flag without `hardlight.metadata` (PROTOCOL.md §5.1: a flag
    /// this connection does not allow is a violation, 1002).
    fn check_extensions(&self, frame: &[u8]) -> Result<(), CloseReason> {
        let flags = frame.get(1).copied().unwrap_or(0);
        let not_offered = (flags & FLAG_TRACE != 0 && !self.trace)
            || (flags & FLAG_METADATA != 0 && !self.metadata);
        if not_offered {
            return Err(violation(FrameError::UnknownFlags(flags)));
        }
        Ok(())
    }

    /// Records a call of `method` answered with `reply` without running.
    fn record_unstarted(&self, method: u16, reply: &[u8]) {
        if let Some(timed) = self.metrics.start(method) {
            timed.finish_reply(reply);
        }
    }


    /// Handles the parked `CALL` if a slot is free now; true if it did. An error is the close it
    /// calls for.
    pub(super) fn start_parked_call(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Socket,
    ) -> Result<bool, CloseReason> {
        if !self.slot_free() {
            return Ok(false);
        }
        match self.parked_call.take() {
            Some(data) => self.on_message(cx, ws, data).map(|()| true),
            None => Ok(false),
        }
    }
}

fn violation(error: FrameError) -> CloseReason {
    tracing::warn!(%error, "protocol violation");
    let code = match error {
        FrameError::InflatedTooLarge { .. } => close::MESSAGE_TOO_BIG,
        _ => close::PROTOCOL_ERROR,
    };
    reason(code, error.to_string())
}


