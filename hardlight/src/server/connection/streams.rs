//! Streaming calls: each runs as a stream of outputs (items, then its reply), collected as calls
//! are, with its state changes before each output.
//!
//! An item is sent only within the credit (in bytes) the client granted for its call ([`Credit`]),
//! and only while the connection's backlog has room (the stream is not polled otherwise): a client
//! that stops reading one stream stops that stream's producer, and nothing else. The handler's
//! stream is polled at most one item ahead of the credit, so that its end needs none.
//!
//! A streaming call is in flight, in a slot, from its `CALL` to its `REPLY`; cancelling it, its
//! deadline, a panic and the size limit end it as they end a call, dropping the handler's stream at
//! once.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{AbortHandle, Abortable, Either};
use futures_util::stream::{self, Stream, StreamExt};
use metrics::Counter;
use tokio::time::{Instant, Sleep, sleep_until};

use super::Connection;
use crate::contract::{Fill, ItemSource, SourceItem, StreamFuture};
use crate::locks::lock;
use crate::metrics::InFlight;
use crate::server::deadline::in_deadline;
use crate::server::handler::Handler;
use crate::server::hooks::panic_message;
use crate::server::intercept::Intercepted;
use crate::server::state_sync::StateSync;
use crate::server::stats::Counted;
use crate::state::ConnectionState;
use crate::wire::frame::{
    ItemsWriter, MAX_BATCH, ReplyStatus, encode_opened, encode_reply_text,
};

/// A running streaming call, as the connection polls it.
pub(super) type RunningStream = Pin<Box<dyn Stream<Item = StreamOutput> + Send>>;

/// What a streaming call leaves to send at one step: the `STATE` frame its changes need (if any),
/// then an item or its reply.
pub(super) struct StreamOutput {
    state: Option<Vec<u8>>,
    frame: StreamFrame,
}

enum StreamFrame {
    /// An `OPENED` or `ITEM` frame.
    Item(Vec<u8>),
    /// The `REPLY` frame that ends the call.
    End(u32, Vec<u8>),
}

/// The bytes of `ITEM` frames a streaming call may still send: what its client granted (`CREDIT`
/// frames), less what was sent. An item may be sent while any credit is left, and takes its
/// frame's length: the credit can go below zero by less than one item.
#[derive(Default)]
pub(super) struct Credit {
    inner: Mutex<CreditState>,
}

#[derive(Default)]
struct CreditState {
    available: i64,
    /// The stream waiting for credit.
    waiter: Option<Waker>,
}

impl Credit {
    /// Adds `bytes` and wakes the stream if it waits.
    pub(super) fn grant(&self, bytes: u32) {
        let mut credit = lock(&self.inner);
        credit.available = credit.available.saturating_add(i64::from(bytes));
        if credit.available > 0
            && let Some(waiter) = credit.waiter.take()
        {
            waiter.wake();
        }
    }

    /// The bytes left once some are, or waits for some.
    fn poll_available(&self, cx: &mut Context<'_>) -> Poll<i64> {
        let mut credit = lock(&self.inner);
        if credit.available > 0 {
            Poll::Ready(credit.available)
        } else {
            credit.waiter = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Takes a frame of `len` bytes from the credit (which may go below zero by less than `len`).
    fn spend(&self, len: usize) {
        let mut credit = lock(&self.inner);
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        credit.available = credit.available.saturating_sub(len);
    }
}

impl<H: Handler> Connection<H> {
    /// Starts streaming call `call_id`: in flight (cancellable) and in a slot until its reply.
    pub(super) fn start_stream(
        &mut self,
        call_id: u32,
        method: u16,
        budget: Option<Duration>,
        span: tracing::Span,
        intercepted: Option<Intercepted>,
        start: StreamFuture,
    ) {
        let timed = self.metrics.start(method);
        let sent = self.metrics.method(method).items_sent.clone();
        let (abort, registration) = AbortHandle::new_pair();
        self.in_flight.insert(call_id, Some(abort));
        let credit = Arc::new(Credit::default());
        self.credits.insert(call_id, credit.clone());
        // Items are batched for a client that reads `ITEMS` frames, while the state is unchanged.
        let mut batch = self.batch.then(|| {
            let state = self.state.clone();
            Box::new(move || state.unchanged()) as Unchanged
        });
        let outputs = stream::once(start).flat_map(move |started| match started {
            // `OPENED` first: the call is accepted, whatever the credit.
            Ok(source) => Either::Left(stream::iter([SourceItem::Opened]).chain(Gated {
                source,
                held: None,
                end: None,
                panic: None,
                credit: credit.clone(),
                call_id,
                batch: batch.take(),
                last_frame: 0,
                sent: sent.clone(),
            })),
            // The handler refused to stream: its reply is all there is.
            Err(reply) => Either::Right(stream::iter([SourceItem::End(reply)])),
        });
        let outputs: Pin<Box<dyn Stream<Item = SourceItem> + Send>> = Box::pin(outputs);
        // The sooner of the server's limit and the client's budget, for the whole stream.
        let limit = match (self.shared.config.call_timeout, budget) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (limit, budget) => limit.or(budget),
        };
        let deadline = limit.map(|limit| Instant::now() + limit);
        self.streams.push(Box::pin(Running {
            call_id,
            outputs: Some(Abortable::new(outputs, registration)),
            deadline,
            timer: deadline.map(|at| Box::pin(sleep_until(at))),
            limit,
            state: self.state.clone(),
            delta: None,
            output: None,
            max_message_size: self.shared.config.max_message_size,
            done: false,
            _counted: self.shared.stats.call_started(),
            timed,
            span,
            intercepted,
        }));
    }

    /// Collects what running streams produced while it fits; true if any did.
    pub(super) fn collect_streams(&mut self, cx: &mut Context<'_>) -> bool {
        let mut collected = false;
        while !self.outbound.backlog().holds_back()
            && self.failed.is_none()
            && let Poll::Ready(Some(output)) = self.streams.poll_next_unpin(cx)
        {
            collected = true;
            self.finish_stream_output(cx, output);
        }
        collected
    }

    /// Queues a stream's output as a finished call's: events emitted before it, its state
    /// changes, then the item or the reply.
    fn finish_stream_output(&mut self, cx: &mut Context<'_>, output: StreamOutput) {
        self.take_events(cx);
        if !self.queue_state(output.state) {
            return;
        }
        match output.frame {
            StreamFrame::Item(item) => self.push_own(Bytes::from(item)),
            StreamFrame::End(call_id, reply) => {
                self.in_flight.remove(&call_id);
                self.credits.remove(&call_id);
                self.uploads.close(call_id);
                self.queue_reply(call_id, reply);
            }
        }
    }
}

/// Whether the connection's state is unchanged since it was last sent.
type Unchanged = Box<dyn Fn() -> bool + Send>;

/// The handler's stream, polled for its next frame only while no item waits for credit.
///
/// For a client that reads `ITEMS` frames (`batch`), the items the handler's stream has ready are
/// sent together: after the first, more are taken while they are ready, while the frame stays
/// within the credit left and [`MAX_BATCH`], and while the handler has changed no state (so that a
/// `STATE` frame carries the changes made while producing at most the items of the frame after it).
struct Gated {
    source: ItemSource,
    /// An item produced before there was credit (or room in a batch) for it.
    held: Option<Vec<u8>>,
    /// The stream's end, produced while items were batched.
    end: Option<SourceItem>,
    /// The handler's panic while items were batched: raised again once they are sent, so that the
    /// items before it arrive, then the panic's reply.
    panic: Option<Box<dyn std::any::Any + Send>>,
    credit: Arc<Credit>,
    call_id: u32,
    batch: Option<Unchanged>,
    /// The most the last `ITEMS` frame's buffer held (0 after a lone item): the next one starts
    /// with room for as much.
    last_frame: usize,
    /// Counts the items sent (the method's `stream_items_total{direction="sent"}`).
    sent: Counter,
}

impl Gated {
    /// `first` and the items ready after it, as one frame within `available` bytes of credit.
    fn batch_after(&mut self, cx: &mut Context<'_>, first: Vec<u8>, available: i64) -> Vec<u8> {
        let Some(unchanged) = &self.batch else {
            return first;
        };
        let available = usize::try_from(available).unwrap_or(usize::MAX);
        let room = available.min(MAX_BATCH);
        // Room for as much as the last frame held, then grows as items come: a stream with one
        // item ready costs no batch-sized buffer, and one that fills its frames costs no copies
        // as they grow.
        let capacity = (4 * first.len()).max(self.last_frame);
        let mut frame = ItemsWriter::starting_with(self.call_id, &first, capacity);
        let source = &mut self.source;
        // A panic of the default `poll_fill` (`Source` catches its own, keeping its items).
        let filled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            source.as_mut().poll_fill(cx, &mut frame, room, &**unchanged)
        }));
        match filled {
            Ok(Fill::Full | Fill::Pending | Fill::Ended) => {}
            Ok(Fill::Other(end)) => self.end = Some(end),
            Ok(Fill::Panicked(panic)) | Err(panic) => self.panic = Some(panic),
        }
        // The first was counted when it was produced.
        self.sent.increment(frame.count().saturating_sub(1) as u64);
        self.last_frame = frame.frame_len();
        if frame.frame_len() > MAX_BATCH {
            // Past the frame's bound: the last item waits for the next frame.
            self.held = frame.pop_item_frame(self.call_id);
        }
        if frame.count() > 1 {
            frame.finish()
        } else {
            self.last_frame = 0;
            first
        }
    }
}

impl Stream for Gated {
    type Item = SourceItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SourceItem>> {
        if self.held.is_none() {
            if let Some(panic) = self.panic.take() {
                std::panic::resume_unwind(panic);
            }
            if let Some(end) = self.end.take() {
                return Poll::Ready(Some(end));
            }
            match ready!(self.source.as_mut().poll_frame(cx)) {
                Some(SourceItem::Item(item)) => {
                    self.sent.increment(1);
                    self.held = Some(item);
                }
                // The end needs no credit.
                end => return Poll::Ready(end),
            }
        }
        let available = ready!(self.credit.poll_available(cx));
        let Some(first) = self.held.take() else {
            return Poll::Ready(None);
        };
        let frame = if first.len() < MAX_BATCH / 2 {
            self.batch_after(cx, first, available)
        } else {
            first
        };
        self.credit.spend(frame.len());
        Poll::Ready(Some(SourceItem::Item(frame)))
    }
}

/// The state changes made before an output, being computed.
type Delta = Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>>;

/// One streaming call, running: its outputs, each with the state changes made before it.
struct Running<S> {
    call_id: u32,
    /// The handler's stream (and before it, the handler's future); dropped once the call ends.
    outputs: Option<Abortable<Pin<Box<dyn Stream<Item = SourceItem> + Send>>>>,
    /// What `call_deadline()` shows the handler.
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    limit: Option<Duration>,
    state: Arc<StateSync<S>>,
    /// The state changes of the output below, being computed.
    delta: Option<Delta>,
    output: Option<StreamFrame>,
    max_message_size: usize,
    done: bool,
    _counted: Counted,
    /// Times the call, for the metrics; records its outcome at its end.
    timed: Option<InFlight>,
    /// The call's span, entered while the handler's stream is polled.
    span: tracing::Span,
    /// The interceptors to tell of the call's end.
    intercepted: Option<Intercepted>,
}

impl<S: ConnectionState> Stream for Running<S> {
    type Item = StreamOutput;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamOutput>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.output.is_none() {
            let frame = ready!(this.poll_frame(cx));
            if this.state.unchanged() {
                // The common case: no state change to send first.
                this.done = matches!(frame, StreamFrame::End(..));
                return Poll::Ready(Some(StreamOutput { state: None, frame }));
            }
            this.output = Some(frame);
            let state = this.state.clone();
            this.delta = Some(Box::pin(async move { state.delta().await }));
        }
        // Nothing awaits between computing the changes and handing them over with their output:
        // see `StateSync::delta`.
        let Some(delta) = &mut this.delta else {
            return Poll::Ready(None);
        };
        let state = ready!(delta.as_mut().poll(cx));
        this.delta = None;
        let Some(frame) = this.output.take() else {
            return Poll::Ready(None);
        };
        this.done = matches!(frame, StreamFrame::End(..));
        Poll::Ready(Some(StreamOutput { state, frame }))
    }
}

impl<S> Running<S> {
    /// The next frame: an item, or the reply that ends the call (after which the handler's stream
    /// is gone).
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<StreamFrame> {
        // Entered only when some subscriber wants it: cloning an enabled span costs a lookup.
        let span = (!self.span.is_disabled()).then(|| self.span.clone());
        let _entered = span.as_ref().map(tracing::Span::enter);
        let call_id = self.call_id;
        let Some(outputs) = &mut self.outputs else {
            // Not reached: the reply ends the stream.
            return Poll::Ready(self.end(encode_reply_text(
                call_id,
                ReplyStatus::Internal,
                "stream polled after its end",
            )));
        };
        if let (Some(timer), Some(limit)) = (&mut self.timer, self.limit)
            && timer.as_mut().poll(cx).is_ready()
        {
            tracing::warn!(call_id, ?limit, "streaming call timed out");
            let why = format!("the stream did not end within {limit:?}");
            return Poll::Ready(self.end(encode_reply_text(call_id, ReplyStatus::TimedOut, &why)));
        }
        let deadline = self.deadline;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            in_deadline(deadline, || outputs.poll_next_unpin(cx))
        }));
        let max = self.max_message_size;
        let reply = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Some(SourceItem::Opened))) => {
                return Poll::Ready(StreamFrame::Item(encode_opened(call_id)));
            }
            Ok(Poll::Ready(Some(SourceItem::Item(item)))) if item.len() <= max => {
                return Poll::Ready(StreamFrame::Item(item));
            }
            Ok(Poll::Ready(Some(SourceItem::Item(item)))) => {
                let why = format!(
                    "stream item of {} bytes exceeds the maximum message size of {max}",
                    item.len()
                );
                tracing::warn!(call_id, %why, "stream item too large");
                encode_reply_text(call_id, ReplyStatus::Internal, &why)
            }
            Ok(Poll::Ready(Some(SourceItem::End(reply)))) if reply.len() <= max => reply,
            Ok(Poll::Ready(Some(SourceItem::End(reply)))) => {
                let why = format!(
                    "reply of {} bytes exceeds the maximum message size of {max}",
                    reply.len()
                );
                encode_reply_text(call_id, ReplyStatus::Internal, &why)
            }
            // Aborted: the client cancelled it.
            Ok(Poll::Ready(None)) => {
                encode_reply_text(call_id, ReplyStatus::Cancelled, "cancelled by the client")
            }
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::warn!(call_id, %message, "streaming handler panicked");
                encode_reply_text(call_id, ReplyStatus::Panicked, &message)
            }
        };
        Poll::Ready(self.end(reply))
    }

    /// Ends the call with `reply`: the handler's stream (and whatever it holds) is dropped now.
    fn end(&mut self, reply: Vec<u8>) -> StreamFrame {
        self.outputs = None;
        self.timer = None;
        if let Some(timed) = self.timed.take() {
            timed.finish_reply(&reply);
        }
        if let Some(intercepted) = self.intercepted.take() {
            intercepted.finish_reply(&reply);
        }
        StreamFrame::End(self.call_id, reply)
    }
}
