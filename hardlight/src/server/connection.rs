//! One established connection, from its `on_connect` hook to its `on_disconnect` hook: one task
//! that sends `HELLO`, reads calls, runs them, writes what they produce, and closes.
//!
//! Everything of a connection happens on its own task: calls are futures polled there (a slow call
//! awaiting something does not hold up the others), and every frame is written there. Each wake-up
//! ([`Connection::poll_connection`]) runs rounds of named steps, each flushed once: under load many
//! frames leave in one system call, and an idle connection costs one task and one keepalive timer.
//!
//! ```text
//! wake:   check_keepalive
//!         round × up to ROUNDS_PER_WAKE, while a round makes progress:
//!             read_messages       (read.rs: READ_PER_ROUND at most; held back while the
//!                                  backlog or the slots are full; a reply with nothing
//!                                  queued before it goes into the socket's buffer at once)
//!             collect_finished    (calls.rs: events, then state changes, then the reply;
//!                                  streams.rs: the same for each item of a streaming call)
//!             start_parked_work   (calls.rs: the CALL or NOTIFY that waited for a slot)
//!             take_events         (write.rs: events published to the connection's topics)
//!             take_grants         (uploads.rs: credit the handlers give back to streamed arguments)
//!             write_ping, write_pending (write.rs: into the socket's buffer, in order)
//!             flush               (write.rs: what the round wrote)
//!         check_drained           (closes a shutting-down connection once it is idle)
//! ```
//!
//! One-way messages (`NOTIFY`) run the same way, within the same slots, and are never answered: see
//! [`oneway`]. Streaming calls run as streams of items within their clients' credit: see
//! [`streams`]; the
//! items a client streams as a call's argument are routed to its handler by [`uploads`].

mod calls;
mod oneway;
mod read;
mod streams;
mod uploads;
mod write;

use std::collections::VecDeque;

use crate::call_ids::{CallIdHash, CallIdMap};
use std::future::{Future, poll_fn};
use std::ops::ControlFlow;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::AbortHandle;
use futures_util::stream::{FuturesUnordered, SelectAll};
use tokio::sync::mpsc;
use tokio::time::{Sleep, sleep_until};

use self::streams::{Credit, RunningStream};
use self::uploads::Uploads;
use self::write::{FreshReplies, UnwrittenReplies};
use super::admission::Admitted;
use super::closing::{self, End, close_with, reason};
use super::handler::{Factory, Handler};
use super::hooks::{self, panic_message};
use super::limits::CallThrottle;
use crate::events::outbound::{Backlog, CloseReason, CloseSignal, Outbound};
use super::partial::PartialMessages;
use super::io::Socket;
use super::state_sync::StateSync;
use super::{ConnectionParts, Shared};
use super::identities::Claim;
use crate::events::{EventEmitter, Subscriptions};
use crate::keepalive::{Due, Instant, Keepalive};
use crate::metrics::ServiceMetrics;
use crate::state::StateHandle;
use super::watch_gate::WatchGate;
use crate::wire::close;
use crate::wire::out::OutFrame;

/// Rounds of reading and running calls in one wake-up before yielding to other connections.
const ROUNDS_PER_WAKE: usize = 16;

/// What a step of the connection loop leads to: `Break` with how the connection ends, or
/// `Continue` with what the step found (for a round's steps, whether they made progress).
type Step<T = ()> = ControlFlow<End, T>;

/// A running call or one-way message: resolves to what it leaves to send.
type Running = Pin<Box<dyn Future<Output = Finished> + Send>>;

/// What a finished handler leaves to send: the `STATE` frame its changes need (if any) and, for a
/// call, the call's id and its `REPLY` frame (a one-way message has none).
struct Finished {
    state: Option<Vec<u8>>,
    reply: Option<(u32, OutFrame)>,
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
    /// The client reads `ITEMS` frames: a stream's items may be batched.
    batch: bool,
    /// The client may send trace context on `CALL` (it offered `hardlight.trace`).
    trace: bool,
    /// The client may send metadata and reads status 8 (it offered `hardlight.metadata`).
    metadata: bool,
    /// The connection's identity, as each call's span names it.
    identity_name: Arc<str>,
    /// The connection's identity, as interceptors see it.
    identity: super::identity::Identity,
    /// Calls in flight, each with the handle that stops it when the client cancels it (none for
    /// a call whose handler has finished and that waits for its state sync).
    in_flight: CallIdMap<Option<AbortHandle>>,
    /// Calls that finished and whose replies wait in `pending`: still in flight as the client sees
    /// them, so their ids stay taken and they keep their slots until the reply goes to the socket.
    replies: UnwrittenReplies,
    /// Bytes of replies handed to the socket directly (see [`Connection::send_reply`]) and not yet
    /// counted in the sent-bytes metric: the next [`Connection::write_pending`] counts them with
    /// its own, so that the metric is updated once per round, not once per reply.
    sent_unrecorded: u64,
    /// Replies handed to the socket's buffer during this round's reading: their ids stay taken
    /// until the round's writing starts.
    fresh: FreshReplies,
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
    /// Running streaming calls (also in `in_flight`).
    streams: SelectAll<RunningStream>,
    /// The credit of each running streaming call, as its client grants it.
    credits: CallIdMap<Arc<Credit>>,
    /// The streamed arguments of running calls.
    uploads: Uploads,
    /// Frames produced and not yet handed to the socket, in the order they must be written.
    pending: VecDeque<write::Queued>,
    /// This connection's outbound side: its backlog (`Outbound::backlog`) counts `pending` and the
    /// event queue together; the connection holds back while it is full.
    outbound: Outbound,
    /// The message being received: how long it takes, and the server's budget for such messages.
    partial: PartialMessages,
    needs_flush: bool,
    /// In this wake-up, the socket had nothing more to read and holds the task's waker: later
    /// rounds of the same wake-up need not ask it again (new bytes wake the task anew).
    read_parked: bool,
    /// Likewise for the event queue.
    events_parked: bool,
    /// Set when the connection cannot go on (a state change too large to send): the close it needs.
    failed: Option<CloseReason>,
    /// The connection's hold on its identity (one connection per identity), released once its
    /// `on_disconnect` has run.
    claim: Option<Claim>,
    /// The service's metrics (per method).
    metrics: Arc<ServiceMetrics>,
}

impl<H: Handler> Connection<H> {
    pub(super) fn new(
        shared: Arc<Shared>,
        factory: &Factory<H>,
        admitted: Admitted,
        compression: Option<u8>,
        metrics: Arc<ServiceMetrics>,
    ) -> Self {
        let Admitted {
            id,
            identity,
            close,
            claim,
            batch,
            trace,
            metadata,
        } = admitted;
        let identity_name: Arc<str> = identity.name().into();
        let caller = identity.clone();
        let config = &shared.config;
        let backlog = Backlog::new(config.outbound_queue, config.outbound_bytes_limit());
        let (outbound, events) = Outbound::new(id, backlog, close.clone());
        let state = StateHandle::<H::State>::default();
        let subscriptions = Subscriptions::new(
            shared.registry.clone(),
            outbound.clone(),
            config.max_topics_per_connection,
        );
        let parts = ConnectionParts {
            state: state.clone(),
            subscriptions: subscriptions.clone(),
            events: EventEmitter::new(shared.registry.clone()).retyped(),
            identity,
        };
        let handler = Arc::new(factory.make(parts));
        let partial = PartialMessages::new(
            config.message_timeout,
            shared.stats.partial_bytes(),
            config.partial_bytes_limit(),
        );
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
            batch,
            trace,
            metadata,
            identity_name,
            identity: caller,
            in_flight: CallIdMap::with_hasher(CallIdHash::random()),
            replies: UnwrittenReplies::default(),
            sent_unrecorded: 0,
            fresh: FreshReplies::default(),
            parked_call: None,
            oneways: 0,
            parked: None,
            calls: FuturesUnordered::new(),
            streams: SelectAll::new(),
            credits: CallIdMap::with_hasher(CallIdHash::random()),
            uploads: Uploads::new(),
            pending: VecDeque::new(),
            outbound,
            partial,
            needs_flush: false,
            read_parked: false,
            events_parked: false,
            failed: None,
            claim,
            metrics,
        }
    }

    /// Runs the connection: `on_connect`, `HELLO`, calls until the connection ends, then closing and
    /// `on_disconnect` (exactly once, if `on_connect` completed).
    pub(super) async fn run(mut self, mut ws: Socket) {
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
        self.streams.clear();
        self.credits.clear();
        self.uploads.clear();
        self.events.close();
        if let End::Close(reason) = &end
            && reason.code == close::SLOW_CONSUMER
        {
            self.shared.metrics().server.slow_consumer_closes.increment(1);
        }
        let why = closing::close(&mut ws, end).await;
        tracing::debug!(%why, "connection ended");
        let limit = self.shared.config.disconnect_hook_timeout;
        hooks::on_disconnect(&*handler, why, limit).await;
        self.subscriptions.clear();
        // Frees the identity for a connection waiting to replace this one.
        self.claim = None;
    }

    /// Sends `HELLO`, then serves calls until the connection ends.
    async fn serve(&mut self, ws: &mut Socket) -> End {
        let config = &self.shared.config;
        let hello = self
            .state
            .hello(
                config.max_calls_in_flight,
                config.max_message_size as u32,
                self.compression.unwrap_or(0),
                self.trace,
                self.metadata,
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
        ws.binary(hello.into());
        if let Err(e) = ws.flush().await {
            return End::Lost(format!("sending HELLO failed: {e}"));
        }

        let close = self.close.clone();
        let mut close_requested = pin!(close.requested());
        let mut close_gate = WatchGate::new(close.changes());
        let shutdown = self.shared.shutdown.clone();
        let mut shutdown_requested = pin!(shutdown.requested());
        let mut shutdown_gate = WatchGate::new(shutdown.changes());
        // Polling a waiting watch locks its list of waiters (the shutdown's is the whole server's):
        // the gates poll each wait again only once its channel moved.
        poll_fn(|cx| {
            if let Poll::Ready(reason) = close_gate.poll(close_requested.as_mut(), cx) {
                return Poll::Ready(End::Close(reason));
            }
            if self.draining.is_none()
                && let Poll::Ready(deadline) = shutdown_gate.poll(shutdown_requested.as_mut(), cx)
            {
                self.draining = Some(Box::pin(sleep_until(deadline)));
            }
            self.poll_connection(cx, ws)
        })
        .await
    }

    /// One wake-up: `Pending` when there is nothing left to do right now, `Ready` with how the
    /// connection ends otherwise.
    fn poll_connection(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Poll<End> {
        match self.wake(cx, ws) {
            ControlFlow::Continue(()) => Poll::Pending,
            ControlFlow::Break(end) => Poll::Ready(end),
        }
    }

    /// Runs rounds while they make progress (at most `ROUNDS_PER_WAKE`, so that a busy connection
    /// lets the others run), flushing what each one wrote: the frames of a round leave in as few
    /// system calls as the socket allows, and the client has the replies to the messages a round
    /// read (at most [`read::READ_PER_ROUND`]) while the next round runs.
    fn wake(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Step {
        self.check_keepalive(cx)?;
        self.read_parked = false;
        self.events_parked = false;
        let mut more = true;
        for _ in 0..ROUNDS_PER_WAKE {
            more = self.round(cx, ws)?;
            self.flush(cx, ws)?;
            if !more {
                break;
            }
        }
        self.check_drained(cx)?;
        if more {
            // The round limit was reached with work left (a stream with credit, frames that fit):
            // nothing else would wake the task for it. Frames left unwritten need no wake-up of
            // their own: the socket was full, and its waker brings the task back.
            cx.waker().wake_by_ref();
        }
        ControlFlow::Continue(())
    }

    /// One round; true if it made progress (another round may find more to do). The order of the
    /// steps is what keeps the guarantees: a finished call's events, then its state changes, then
    /// its reply are queued together before anything is written, and nothing is read while the
    /// backlog or the slots are full.
    fn round(&mut self, cx: &mut Context<'_>, ws: &mut Socket) -> Step<bool> {
        let mut progressed = !self.read_parked && self.read_messages(cx, ws)?;
        progressed |= self.collect_finished(cx, ws);
        progressed |= self.start_parked_work(cx, ws)?;
        progressed |= !self.events_parked && self.take_events(cx);
        progressed |= self.take_grants(cx);
        // The writing starts: what the socket's buffer holds may leave from here on, so the
        // replies handed to it during the reading free their ids.
        self.fresh.clear();
        self.write_ping(cx, ws)?;
        if let Some(reason) = self.failed.take() {
            return ControlFlow::Break(End::Close(reason));
        }
        progressed |= self.write_pending(cx, ws)?;
        ControlFlow::Continue(progressed)
    }

    /// Notes a ping to send when the keepalive interval has passed; ends the connection when
    /// nothing was heard from the client within the idle timeout.
    fn check_keepalive(&mut self, cx: &mut Context<'_>) -> Step {
        // A clock read spares the timer's shared state while its deadline is ahead.
        match self.keepalive.poll_due_at(cx, Instant::now()) {
            Poll::Ready(Due::Ping) => self.ping_due = true,
            Poll::Ready(Due::Expired) => {
                return ControlFlow::Break(close_with(
                    close::IDLE_TIMEOUT,
                    format!("nothing received for {:?}", self.keepalive.idle_timeout()),
                ));
            }
            Poll::Pending => {}
        }
        ControlFlow::Continue(())
    }

    /// While the server shuts down: closes once every call has replied and every frame is
    /// flushed, or at the shutdown deadline, stopping what still runs.
    fn check_drained(&mut self, cx: &mut Context<'_>) -> Step {
        let Some(deadline) = &mut self.draining else {
            return ControlFlow::Continue(());
        };
        if self.in_flight.is_empty()
            && self.oneways == 0
            && self.parked.is_none()
            && self.parked_call.is_none()
            && self.pending.is_empty()
            && !self.needs_flush
        {
            return ControlFlow::Break(close_with(close::GOING_AWAY, "server shutting down"));
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return ControlFlow::Break(close_with(
                close::GOING_AWAY,
                "server shutting down; calls still running were stopped",
            ));
        }
        ControlFlow::Continue(())
    }
}

