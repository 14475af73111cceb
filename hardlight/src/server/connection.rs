//! One established connection, from its `on_connect` hook to its `on_disconnect` hook: one task
//! that sends `HELLO`, reads calls, runs them, writes what they produce, and closes.
//!
//! Everything of a connection happens on its own task: calls are futures polled there (a slow call
//! awaiting something does not hold up the others), and every frame is written there. Each round
//! reads all messages already received, polls the calls, writes every finished reply and queued event
//! into tungstenite's buffer, and flushes once: under load many frames leave in one system call, and
//! an idle connection costs one task and one keepalive timer.
//!
//! One-way messages (`NOTIFY`) run the same way, within the same slots, and are never answered: see
//! [`oneway`].

mod oneway;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{AbortHandle, Abortable, Either};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Sleep, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::admission::Admitted;
use super::closing::{self, End, close_with, lost, reason};
use super::deadline::with_deadline;
use super::handler::{Factory, Handler};
use crate::contract::{Args, CallFuture, Dispatch};
use super::hooks::{self, panic_message};
use super::identities::Claim;
use super::limits::CallThrottle;
use crate::events::outbound::{Backlog, CloseReason, CloseSignal, Outbound};
use super::partial::PartialMessages;
use super::io::Io;
use super::state_sync::StateSync;
use super::{ConnectionParts, Shared};
use crate::events::{EventEmitter, Subscriptions};
use crate::keepalive::{Due, Keepalive};
use crate::state::StateHandle;
use crate::wire::close;
use crate::wire::compression::{COMPRESSION_THRESHOLD, open, seal};
use crate::wire::frame::{ClientFrame, FrameError, ReplyStatus, decode_client, encode_reply_text};

/// Rounds of reading and running calls in one wake-up before yielding to other connections.
const ROUNDS_PER_WAKE: usize = 16;

/// A running call or one-way message: resolves to what it leaves to send.
type Running = Pin<Box<dyn Future<Output = Finished> + Send>>;

/// What a finished handler leaves to send: the `STATE` frame its changes need (if any) and, for a
/// call, the call's id and its `REPLY` frame (a one-way message has none).
struct Finished {
    state: Option<Vec<u8>>,
    reply: Option<(u32, Vec<u8>)>,
}

pub(super) struct Connection<H: Handler> {
    shared: Arc<Shared>,
    keepalive: Keepalive,
    /// A ping to write at the next chance.
    ping_due: bool,
    throttle: Option<CallThrottle>,
    /// Once the server shuts down: no more reading; close when the calls are done or at this deadline.
    draining: Option<Pin<Box<Sleep>>>,
    handler: Arc<H>,
    state: Arc<StateSync<H::State>>,
    subscriptions: Subscriptions,
    close: CloseSignal,
    events: mpsc::Receiver<Bytes>,
    compression: Option<u8>,
    /// Calls in flight, each with the handle that stops it when the client cancels it.
    in_flight: HashMap<u32, AbortHandle>,
    /// Calls that finished and whose replies wait in `pending`: still in flight as the client sees
    /// them, so their ids stay taken and they keep their slots until the reply goes to the socket.
    replies: UnwrittenReplies,
    /// A `CALL` read while every slot was taken, kept as received: it is handled once a slot frees,
    /// and nothing more is read meanwhile (the client waits, as it would for a free slot).
    parked_call: Option<Bytes>,
    /// One-way messages whose handlers are running; they take slots as calls do.
    oneways: usize,
    /// A one-way message read while every slot was taken: validated, not started. Nothing more is
    /// read until it starts.
    parked: Option<Running>,
    /// Running calls and one-way messages.
    calls: FuturesUnordered<Running>,
    /// Frames produced and not yet handed to the socket, in the order they must be written.
    pending: VecDeque<Bytes>,
    /// Counts `pending` and the event queue together; the connection holds back while it is full.
    backlog: Arc<Backlog>,
    /// The message being received: how long it takes, and the server's budget for such messages.
    partial: PartialMessages,
    needs_flush: bool,
    /// Set when the connection cannot go on (a state change too large to send): the close it needs.
    failed: Option<CloseReason>,
    /// The connection's hold on its identity (one connection per identity), released once its
    /// `on_disconnect` has run.
    claim: Option<Claim>,
}

impl<H: Handler> Connection<H> {
    pub(super) fn new(
        shared: Arc<Shared>,
        factory: &Factory<H>,
        admitted: Admitted,
        compression: Option<u8>,
    ) -> Self {
        let Admitted {
            id,
            identity,
            close,
            claim,
        } = admitted;
        let config = &shared.config;
        let backlog = Arc::new(Backlog::new(
            config.outbound_queue,
            config.outbound_bytes_limit(),
        ));
        let (outbound, events) = Outbound::new(id, backlog.clone(), close.clone());
        let state = StateHandle::<H::State>::default();
        let subscriptions = Subscriptions::new(
            shared.registry.clone(),
            outbound,
            config.max_topics_per_connection,
        );
        let parts = ConnectionParts {
            state: state.clone(),
            subscriptions: subscriptions.clone(),
            events: EventEmitter::new(shared.registry.clone()),
            identity,
        };
        let handler = Arc::new(factory.make(parts));
        let partial = PartialMessages::new(config.message_timeout);
        let keepalive = Keepalive::new(config.keepalive_interval, config.idle_timeout);
        let throttle = config.call_rate_limit.map(CallThrottle::new);
        Self {
            keepalive,
            ping_due: false,
            throttle,
            draining: None,
            shared,
            handler,
            state: Arc::new(StateSync::new(state)),
            subscriptions,
            close,
            events,
            compression,
            in_flight: HashMap::new(),
            replies: UnwrittenReplies::default(),
            parked_call: None,
            oneways: 0,
            parked: None,
            calls: FuturesUnordered::new(),
            pending: VecDeque::new(),
            backlog,
            partial,
            needs_flush: false,
            failed: None,
            claim,
        }
    }

    /// Runs the connection: `on_connect`, `HELLO`, calls until the connection ends, then closing and
    /// `on_disconnect` (exactly once, if `on_connect` completed).
    pub(super) async fn run(mut self, mut ws: WebSocketStream<Io>) {
        // Before anything is read: every byte of every message goes through the watch.
        self.partial.watch(
            &mut ws,
            self.shared.stats.partial_bytes(),
            self.shared.config.partial_bytes_limit(),
        );
        // Replaced by a newer connection of its identity before it was served: not served at all.
        if let Some(reason) = self.close.current() {
            self.subscriptions.clear();
            closing::close(&mut ws, End::Close(reason)).await;
            return;
        }
        let handler = self.handler.clone();
        let config = &self.shared.config;
        if let Err(why) = hooks::on_connect(&*handler, config.connect_hook_timeout).await {
            self.subscriptions.clear();
            closing::close(&mut ws, close_with(close::INTERNAL_ERROR, why)).await;
            return;
        }

        let end = self.serve(&mut ws).await;
        // Stop every call, close, run the hook, then leave every topic: nothing of this connection
        // outlives it. Its topics stay subscribed until after the hook, so that the hook sees them
        // (and can emit to them); closing the event queue makes emits skip this connection meanwhile
        // instead of filling its queue.
        self.calls.clear();
        self.events.close();
        let why = closing::close(&mut ws, end).await;
        tracing::debug!(%why, "connection ended");
        let limit = self.shared.config.disconnect_hook_timeout;
        hooks::on_disconnect(&*handler, why, limit).await;
        self.subscriptions.clear();
        // Frees the identity for a connection waiting to replace this one.
        self.claim = None;
    }

    /// Sends `HELLO`, then serves calls until the connection ends.
    async fn serve(&mut self, ws: &mut WebSocketStream<Io>) -> End {
        let config = &self.shared.config;
        let hello = self
            .state
            .hello(
                config.max_calls_in_flight,
                config.max_message_size as u32,
                self.compression.unwrap_or(0),
            )
            .await;
        if hello.len() > config.max_message_size {
            let why = format!(
                "HELLO of {} bytes (the connection state) exceeds the maximum message size of {}",
                hello.len(),
                config.max_message_size
            );
            tracing::error!(%why, "closing");
            return close_with(close::INTERNAL_ERROR, why);
        }
        if let Err(e) = ws.send(Message::Binary(hello.into())).await {
            return End::Lost(format!("sending HELLO failed: {e}"));
        }

        let close = self.close.clone();
        let mut close_requested = pin!(close.requested());
        let shutdown = self.shared.shutdown.clone();
        let mut shutdown_requested = pin!(shutdown.requested());
        poll_fn(|cx| {
            if let Poll::Ready(reason) = close_requested.as_mut().poll(cx) {
                return Poll::Ready(End::Close(reason));
            }
            if self.draining.is_none()
                && let Poll::Ready(deadline) = shutdown_requested.as_mut().poll(cx)
            {
                self.draining = Some(Box::pin(sleep_until(deadline)));
            }
            self.poll_connection(cx, ws)
        })
        .await
    }

    /// One wake-up: read, run, write, flush; `Pending` when there is nothing left to do right now.
    fn poll_connection(&mut self, cx: &mut Context<'_>, ws: &mut WebSocketStream<Io>) -> Poll<End> {
        match self.keepalive.poll_due(cx) {
            Poll::Ready(Due::Ping) => self.ping_due = true,
            Poll::Ready(Due::Expired) => {
                return Poll::Ready(close_with(
                    close::IDLE_TIMEOUT,
                    format!("nothing received for {:?}", self.keepalive.idle_timeout()),
                ));
            }
            Poll::Pending => {}
        }
        for _ in 0..ROUNDS_PER_WAKE {
            let mut progressed = false;
            let mut heard = false;

            // Read every message already received, unless output is piling up unwritten, the
            // call rate says wait, one-way messages fill the slots, or the server is shutting down.
            let mut reading;
            loop {
                reading = !self.backlog.holds_back()
                    && self.draining.is_none()
                    && !self.slots_hold_reading()
                    && self
                        .throttle
                        .as_mut()
                        .is_none_or(|t| t.poll_ready(cx).is_ready());
                if !reading {
                    break;
                }
                let message = ws.poll_next_unpin(cx);
                if message.is_ready() {
                    heard = true;
                }
                match message {
                    Poll::Ready(Some(Ok(Message::Binary(data)))) => {
                        progressed = true;
                        if let Some(throttle) = &mut self.throttle {
                            throttle.call_read();
                        }
                        if let Err(reason) = self.on_message(cx, &data) {
                            return Poll::Ready(End::Close(reason));
                        }
                    }
                    Poll::Ready(Some(Ok(Message::Text(_)))) => {
                        return Poll::Ready(close_with(
                            close::UNSUPPORTED_DATA,
                            "text messages are not part of the hardlight protocol; send binary frames",
                        ));
                    }
                    Poll::Ready(Some(Ok(Message::Close(frame)))) => {
                        return Poll::Ready(End::ClosedByClient(frame));
                    }
                    Poll::Ready(None) => {
                        if let Some(reason) = self.partial.over_budget() {
                            return Poll::Ready(End::Close(reason));
                        }
                        return Poll::Ready(End::Lost("the connection ended".to_owned()));
                    }
                    // Ping and pong are answered by tungstenite itself.
                    Poll::Ready(Some(Ok(_))) => progressed = true,
                    Poll::Ready(Some(Err(WsError::Capacity(CapacityError::MessageTooLong {
                        size,
                        max_size,
                    })))) => {
                        return Poll::Ready(close_with(
                            close::MESSAGE_TOO_BIG,
                            format!("message of {size} bytes exceeds the limit of {max_size}"),
                        ));
                    }
                    Poll::Ready(Some(Err(e))) => {
                        // Reading stops at once for a message over the budget: why it ended.
                        if let Some(reason) = self.partial.over_budget() {
                            tracing::warn!(reason = %reason.reason, "closing a peer's unfinished message");
                            return Poll::Ready(End::Close(reason));
                        }
                        tracing::debug!(error = %e, "read failed");
                        return Poll::Ready(lost("read failed", e));
                    }
                    Poll::Pending => break,
                }
            }

            if heard {
                self.keepalive.heard();
            }
            if let Some(reason) = self.partial.poll_violation(cx, reading) {
                tracing::warn!(reason = %reason.reason, "closing a peer's unfinished message");
                return Poll::Ready(End::Close(reason));
            }

            // Collect finished calls, while their output fits: the others wait, not polled, so
            // that a client that does not read cannot make the server buffer every reply. Events
            // a handler emitted are already queued, so they go out first; then the call's state
            // changes; then its reply.
            while !self.backlog.holds_back()
                && let Poll::Ready(Some(done)) = self.calls.poll_next_unpin(cx)
            {
                progressed = true;
                self.finish_call(cx, done);
            }
            if !self.backlog.holds_back() {
                progressed |= self.start_parked(cx);
                match self.start_parked_call(cx) {
                    Ok(started) => progressed |= started,
                    Err(reason) => return Poll::Ready(End::Close(reason)),
                }
            }
            progressed |= self.take_events(cx);

            if self.ping_due {
                match ws.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {
                        if let Err(e) = ws.start_send_unpin(Message::Ping(Bytes::new())) {
                            return Poll::Ready(lost("write failed", e));
                        }
                        self.ping_due = false;
                        self.needs_flush = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(lost("write failed", e)),
                    Poll::Pending => {}
                }
            }

            if let Some(reason) = self.failed.take() {
                return Poll::Ready(End::Close(reason));
            }

            // Hand frames to tungstenite's buffer while the socket takes them.
            while !self.pending.is_empty() {
                match ws.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(error = %e, "write failed");
                        return Poll::Ready(lost("write failed", e));
                    }
                    Poll::Pending => break,
                }
                let Some(frame) = self.pending.pop_front() else {
                    break;
                };
                self.replies.written(&frame);
                self.backlog.release(frame.len());
                if let Err(e) = ws.start_send_unpin(self.seal(frame)) {
                    tracing::debug!(error = %e, "write failed");
                    return Poll::Ready(lost("write failed", e));
                }
                self.needs_flush = true;
                progressed = true;
            }

            if !progressed {
                break;
            }
        }

        if self.needs_flush {
            match ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "flush failed");
                    return Poll::Ready(lost("flush failed", e));
                }
                Poll::Pending => {}
            }
        }
        if let Some(deadline) = &mut self.draining {
            if self.in_flight.is_empty()
                && self.oneways == 0
                && self.parked.is_none()
                && self.parked_call.is_none()
                && self.pending.is_empty()
                && !self.needs_flush
            {
                return Poll::Ready(close_with(close::GOING_AWAY, "server shutting down"));
            }
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(close_with(
                    close::GOING_AWAY,
                    "server shutting down; calls still running were stopped",
                ));
            }
        }
        if !self.pending.is_empty() || self.needs_flush {
            // Either the socket is full (its waker is registered) or the round limit was reached;
            // in the latter case make sure to come back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Queues what a finished call or one-way message produced: first the events it emitted, then
    /// its state changes, then a call's reply. Moving events changes nothing to the backlog, which
    /// counts them wherever they wait: the slow-consumer close is not put off by it.
    fn finish_call(&mut self, cx: &mut Context<'_>, Finished { state, reply }: Finished) {
        self.take_events(cx);
        if let Some(state) = state {
            let max = self.shared.config.max_message_size;
            if state.len() > max {
                // The client's mirror cannot follow: the connection ends (before the call's reply,
                // which must not arrive without its state).
                let why = format!(
                    "connection state change of {} bytes exceeds the maximum message size of {max}",
                    state.len()
                );
                tracing::error!(%why, "closing");
                self.failed = Some(reason(close::INTERNAL_ERROR, why));
                return;
            }
            self.push_own(Bytes::from(state));
        }
        match reply {
            Some((call_id, reply)) => {
                self.in_flight.remove(&call_id);
                self.queue_reply(call_id, reply);
            }
            None => self.oneways -= 1,
        }
    }

    /// Queues a frame of the connection's own (a reply, a state change), counted in the backlog.
    fn push_own(&mut self, frame: Bytes) {
        self.backlog.add(frame.len());
        self.pending.push_back(frame);
    }

    /// Moves queued events into `pending`, in order; true if any moved. Polling (rather than
    /// `try_recv`) registers the task to be woken by the next event. Both are counted in the same
    /// backlog, so this bounds nothing and delays nothing.
    fn take_events(&mut self, cx: &mut Context<'_>) -> bool {
        let mut moved = false;
        // The queue's sender lives in this connection's subscriptions; `None` cannot happen before
        // they are cleared.
        while let Poll::Ready(Some(frame)) = self.events.poll_recv(cx) {
            self.pending.push_back(frame);
            moved = true;
        }
        moved
    }

    fn seal(&self, frame: Bytes) -> Message {
        match self.compression {
            Some(level) if frame.len() >= COMPRESSION_THRESHOLD => {
                Message::Binary(seal(frame.to_vec(), Some(level)).into())
            }
            _ => Message::Binary(frame),
        }
    }

    /// Handles one message from the client; an error is the close it calls for.
    fn on_message(&mut self, cx: &mut Context<'_>, data: &Bytes) -> Result<(), CloseReason> {
        let max = self.shared.config.max_message_size;
        let frame = open(data, self.compression.is_some(), max).map_err(violation)?;
        let (call_id, method, args, budget_ms) = match decode_client(&frame).map_err(violation)? {
            ClientFrame::Call {
                call_id,
                method,
                args,
                budget_ms,
            } => (call_id, method, args, budget_ms),
            ClientFrame::Cancel { call_id } => {
                // Stopped at its next poll, which this wakes; it then replies `Cancelled` like any
                // call. A call no longer in flight has replied already: nothing to do.
                if let Some(handle) = self.in_flight.get(&call_id) {
                    handle.abort();
                }
                return Ok(());
            }
            ClientFrame::Notify { method, args } => return self.on_notify(cx, method, args),
        };
        oneway::refuse_call_of_oneway::<H::Service>(method)?;
        if self.in_flight.contains_key(&call_id) || self.replies.holds(call_id) {
            return Err(reason(
                close::PROTOCOL_ERROR,
                format!("call id {call_id} reused while that call is still in flight"),
            ));
        }
        if !self.slot_free() {
            // More calls than slots: this one waits, and so does reading (PROTOCOL.md §6).
            self.parked_call = Some(data.clone());
            return Ok(());
        }
        if budget_ms == Some(0) {
            // Its deadline passed before it reached the server: it does not run (PROTOCOL.md §5.2).
            let reply = encode_reply_text(
                call_id,
                ReplyStatus::TimedOut,
                "the call's deadline had passed when it arrived (budget_ms 0)",
            );
            self.queue_reply(call_id, reply);
            return Ok(());
        }
        match <H::Service as Dispatch<H>>::dispatch(
            &self.handler,
            call_id,
            method,
            Args::new(args, self.shared.config.max_nesting_depth),
        ) {
            Ok(call) => {
                let (abort, registration) = AbortHandle::new_pair();
                self.in_flight.insert(call_id, abort);
                // Started here, in arrival order (a set of futures would first poll the newest),
                // and finished at once if it does not wait for anything.
                let budget = budget_ms.map(|ms| Duration::from_millis(u64::from(ms)));
                let mut running = self.running(call_id, budget, Abortable::new(call, registration));
                match running.as_mut().poll(cx) {
                    Poll::Ready(done) => self.finish_call(cx, done),
                    Poll::Pending => self.calls.push(running),
                }
            }
            // Nothing ran: the error reply needs no ordering with events or state.
            Err(e) => self.queue_reply(call_id, e.reply(call_id)),
        }
        Ok(())
    }

    /// Queues a call's reply; its id and slot stay taken until the reply is handed to the socket.
    fn queue_reply(&mut self, call_id: u32, reply: Vec<u8>) {
        let reply = Bytes::from(reply);
        self.replies.queued(call_id, reply.clone());
        self.push_own(reply);
    }

    /// Handles the parked `CALL` if a slot is free now; true if it did. An error is the close it
    /// calls for.
    fn start_parked_call(&mut self, cx: &mut Context<'_>) -> Result<bool, CloseReason> {
        if !self.slot_free() {
            return Ok(false);
        }
        match self.parked_call.take() {
            Some(data) => self.on_message(cx, &data).map(|()| true),
            None => Ok(false),
        }
    }

    /// Wraps a dispatched call: contain a panic, stop it when cancelled or out of time, check the
    /// reply's size, compute the state changes.
    fn running(
        &self,
        call_id: u32,
        budget: Option<Duration>,
        call: Abortable<CallFuture>,
    ) -> Running {
        let state = self.state.clone();
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
                    ))
                }),
            };
            let reply = finished.unwrap_or_else(|panic| {
                let message = panic_message(&*panic);
                tracing::warn!(call_id, %message, "handler panicked");
                encode_reply_text(call_id, ReplyStatus::Panicked, &message)
            });
            let reply = if reply.len() > max_message_size {
                let why = format!(
                    "reply of {} bytes exceeds the maximum message size of {max_message_size}",
                    reply.len()
                );
                tracing::warn!(call_id, %why, "reply too large");
                encode_reply_text(call_id, ReplyStatus::Internal, &why)
            } else {
                reply
            };
            // Nothing may await between this and the future's completion: see `StateSync::delta`.
            let state = state.delta().await;
            Finished {
                state,
                reply: Some((call_id, reply)),
            }
        })
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

/// Replies queued and not yet handed to the socket, in queue order, with their call ids.
#[derive(Default)]
struct UnwrittenReplies {
    order: VecDeque<(u32, Bytes)>,
    ids: HashSet<u32>,
}

impl UnwrittenReplies {
    fn queued(&mut self, call_id: u32, reply: Bytes) {
        self.ids.insert(call_id);
        self.order.push_back((call_id, reply));
    }

    /// Notes that `frame` left `pending` for the socket: if it is the oldest unwritten reply, its
    /// call is over. (Replies leave `pending` in the order they entered it, so comparing the
    /// oldest one's buffer is enough.)
    fn written(&mut self, frame: &Bytes) {
        if let Some((call_id, reply)) = self.order.front()
            && reply.as_ptr() == frame.as_ptr()
        {
            self.ids.remove(call_id);
            self.order.pop_front();
        }
    }

    fn holds(&self, call_id: u32) -> bool {
        self.ids.contains(&call_id)
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}
