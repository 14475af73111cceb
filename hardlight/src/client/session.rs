//! The client's protocol logic for one connection, independent of how bytes travel: call ids and
//! slots, matching replies to calls, applying state changes, decoding events, failing every call when
//! the connection ends. Transports (tokio's sockets here; a browser's WebSocket later) only move
//! messages in and out, see [`super::driver`].

use std::cell::Cell;
use std::future::poll_fn;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{Semaphore, broadcast, mpsc, watch};

use super::Mirror;
use super::admission::{Admission, Ticket};
use super::calls::{Answered, CallTable, MAX_PLACES, PendingCall, Polled, Waiter};
use super::stream::{STREAM_WINDOW, StreamControl, StreamReceiver};
use super::subscription::Delivery;
use super::upload::{self, Upload, UploadCredit, UploadSink};
use crate::contract::compare::first_difference;
use crate::contract::{
    MethodReturn, RawReply, RawStreamMsg, Received as CallReceived, ServiceSchema,
};
use crate::error::{CallError, ConnectError, ProtocolError, RpcError, TransportError};
use crate::events::{Event, EventDecode};
use crate::locks::lock;
use crate::rt::{self, Instant};
use crate::state::ConnectionState;
use crate::topic::Topic;
use crate::wire::Codable;
use crate::wire::arena::encode_reusing;
use crate::wire::close;
use crate::wire::compression::{open, seal};
use crate::wire::frame::{
    CallExtensions, FieldList, FrameError, Hello, ServerFrame, call_header, decode_server,
    encode_cancel, encode_credit, encode_end, encode_notify, push_call_header,
};
use crate::wire::handshake::PROTOCOL_TOKEN;
use crate::wire::view::Body;
use crate::wire::{Metadata, TraceParent};

use super::outbox::{Outbox, Written};
use super::sink::{Outgoing, PACKED_MAX};

/// What the client accepts from the server, from its configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// Largest message, after inflation.
    pub(crate) max_message_size: usize,
    /// Deepest nesting of a value.
    pub(crate) max_depth: usize,
}

/// Why a transport delivers no more messages, other than a close.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// A message over the client's maximum message size (or, in a browser, more than the client
    /// holds unread): the client closes the connection with 1009 (or 4008).
    TooLarge(String),
    /// The transport failed.
    Failed(TransportError),
    /// The server's framing broke RFC 6455 (a masked frame, a reserved opcode, ...): the client
    /// closes the connection with 1002.
    #[cfg(hardlight_native)]
    Malformed(String),
}

/// A message as a transport delivers it.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A binary message: one frame.
    Binary(Bytes),
    /// A text message (never valid in this protocol).
    Text,
    /// A ping, with its payload: the peer is alive, and is owed a pong. (A browser shows none.)
    #[cfg(hardlight_native)]
    Ping(Bytes),
    /// A pong: nothing to act on, but the peer is alive. (A browser shows none.)
    #[cfg(hardlight_native)]
    Pong,
    /// The peer closed the connection.
    Close {
        /// The close code, if the peer sent one.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
}

/// Undoes what a call's dropped future leaves behind: a call sent and not answered is cancelled
/// (the server is asked to stop it; its slot stays taken until the server's reply).
struct CallGuard<'a, S: ?Sized + ServiceSchema> {
    session: &'a Session<S>,
    call_id: u32,
    answered: bool,
}

impl<S: ?Sized + ServiceSchema> Drop for CallGuard<'_, S> {
    fn drop(&mut self) {
        if !self.answered {
            self.session.abandon(self.call_id);
        }
    }
}

/// A caller's place among those waiting for a call slot: given up when dropped, passing its turn
/// on if it had come.
struct Queued<'a, S: ?Sized + ServiceSchema> {
    session: &'a Session<S>,
    ticket: Ticket,
}

impl<S: ?Sized + ServiceSchema> Drop for Queued<'_, S> {
    fn drop(&mut self) {
        if self.ticket.is_none() {
            return;
        }
        let mut pending = lock(&self.session.pending);
        let in_flight = pending.calls.in_flight();
        let next = pending.admission.leave(&mut self.ticket, in_flight);
        drop(pending);
        if let Some(next) = next {
            next.wake();
        }
    }
}

/// What a call about to be sent waits for.
enum Awaits {
    /// Its `REPLY`, in the call's place in [`Pending::calls`].
    Reply,
    /// Its items, then its `REPLY`.
    Stream(mpsc::UnboundedSender<RawStreamMsg>),
}

struct Pending {
    /// The calls in flight, and the replies that wait for their callers.
    calls: CallTable,
    /// The connection's call slots (one per call in flight) and the callers waiting for one.
    admission: Admission,
    /// Set once the connection has ended: the error every later call gets at once.
    closed: Option<RpcError>,
    /// Whether it ended with a close handshake.
    clean: bool,
}

/// What a call carries besides its arguments, as its caller gives it: sent only to a server that
/// reads it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extensions<'a> {
    pub(crate) trace: Option<&'a TraceParent>,
    pub(crate) metadata: Option<&'a Metadata>,
}

/// One established connection's protocol state.
pub(crate) struct Session<S: ?Sized + ServiceSchema> {
    pub(crate) outbox: Outbox,
    pending: Mutex<Pending>,
    /// Places for one-way frames not yet written (as many as call slots): a sender waits for one,
    /// so a burst of one-way messages queues here rather than in the outbox.
    oneway_room: Arc<Semaphore>,
    pub(crate) compression: Option<u8>,
    max_outgoing: usize,
    max_incoming: usize,
    /// How deeply nested a received value may be.
    max_depth: usize,
    /// The server reads trace context on `CALL` (it said so in `HELLO`).
    trace: bool,
    /// The server reads metadata on `CALL` (it said so in `HELLO`).
    metadata: bool,
    state: watch::Sender<S::State>,
    events: broadcast::Sender<Delivery<S::Event>>,
    /// A violation found by a stream's reader: the driver closes with it instead of shutting
    /// down normally.
    violation: Mutex<Option<RpcError>>,
    /// True once the connection has ended (`pending.closed` says why).
    ended: watch::Sender<bool>,
    /// Set with `pending.closed`: read without the lock, once per call.
    closed: AtomicBool,
}

impl<S: ?Sized + ServiceSchema> Session<S> {
    /// Builds the session from the server's `HELLO`, applying its state snapshot to `state`.
    pub(crate) fn from_hello(
        message: &[u8],
        limits: Received,
        state: watch::Sender<S::State>,
        events: broadcast::Sender<Delivery<S::Event>>,
    ) -> Result<Arc<Self>, ProtocolError> {
        let hello = match decode_server(message) {
            Ok(ServerFrame::Hello(hello)) => hello,
            Ok(_) => return Err(expected_hello()),
            Err(e) => return Err(ProtocolError::Frame(e)),
        };
        let Hello {
            max_calls,
            max_message_size,
            compression,
            state: fields,
            trace,
            metadata,
        } = hello;
        let mut snapshot = S::State::default();
        apply_fields(&mut snapshot, fields, limits.max_depth)?;
        state.send_replace(snapshot);
        let max_calls = usize::from(max_calls.max(1));
        Ok(Arc::new(Self {
            outbox: Outbox::new(),
            pending: Mutex::new(Pending {
                calls: CallTable::default(),
                admission: Admission::new(max_calls),
                closed: None,
                clean: false,
            }),
            oneway_room: Arc::new(Semaphore::new(max_calls)),
            compression: (compression != 0).then_some(compression),
            trace,
            metadata,
            max_outgoing: max_message_size as usize,
            max_incoming: limits.max_message_size,
            max_depth: limits.max_depth,
            state,
            events,
            violation: Mutex::new(None),
            ended: watch::channel(false).0,
            closed: AtomicBool::new(false),
        }))
    }

    /// Routes the item frame `frame` (an `ITEM` or an `ITEMS`, `what`) of call `call_id` to its
    /// caller, as `message()`; the frame takes its length from the call's credit. Items are
    /// validated when the caller takes them; a caller that gave up drops them.
    fn route_items(
        &self,
        frame: &Bytes,
        call_id: u32,
        what: &str,
        message: impl FnOnce() -> RawStreamMsg,
    ) -> Result<(), RpcError> {
        let mut pending = lock(&self.pending);
        let Some(call) = pending.calls.get_mut(call_id) else {
            return Err(
                ProtocolError::Unexpected(format!("{what} for unknown call id {call_id}")).into(),
            );
        };
        // Beyond the credit (or for a call that does not stream): the server broke the flow
        // control that bounds what waits here.
        if call.credit <= 0 {
            return Err(ProtocolError::Unexpected(format!(
                "{what} for call id {call_id} beyond the credit the client granted"
            ))
            .into());
        }
        let len = i64::try_from(frame.len()).unwrap_or(i64::MAX);
        call.credit = call.credit.saturating_sub(len);
        if let Waiter::Stream(items) = &call.waiter {
            let _ = items.send(message());
        }
        Ok(())
    }

    /// Handles one message from the server. An error means the server broke the protocol.
    pub(crate) fn on_message(&self, message: Bytes) -> Result<(), RpcError> {
        // Replies and events keep the received buffer (or the inflated one) instead of copying
        // their bodies out of it.
        let frame = match open(&message, self.compression.is_some(), self.max_incoming)
            .map_err(protocol)?
        {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(inflated) => Bytes::from(inflated),
        };
        match decode_server(&frame).map_err(protocol)? {
            ServerFrame::Reply {
                call_id,
                status,
                body,
            } => {
                let body_at = frame.len() - body.len();
                // The reply keeps the frame itself: no count taken on the shared buffer.
                let reply = RawReply {
                    status,
                    body_at,
                    message: frame,
                };
                let mut pending = lock(&self.pending);
                // The call leaves the calls in flight (it is dropped outside the lock).
                let Ok((answered, call)) = pending.calls.answer(call_id, reply) else {
                    drop(pending);
                    return Err(ProtocolError::Unexpected(format!(
                        "reply to unknown call id {call_id}"
                    ))
                    .into());
                };
                // The slot it held is the oldest waiting caller's, if any.
                let next = pending.admission.freed(pending.calls.in_flight());
                // The caller gave up (or dropped its stream's receiver): nothing to do.
                let (mut woken, mut unclaimed) = (None, None);
                match answered {
                    Answered::Delivered(waker) => woken = waker,
                    Answered::Stream(items, reply) => {
                        let _ = items.send(RawStreamMsg::End(reply));
                    }
                    Answered::Unclaimed(reply) => unclaimed = Some(reply),
                }
                drop(pending);
                drop((call, unclaimed));
                if let Some(waker) = woken {
                    waker.wake();
                }
                if let Some(waker) = next {
                    waker.wake();
                }
                Ok(())
            }
            ServerFrame::Opened { call_id } => {
                let pending = lock(&self.pending);
                match pending.calls.get(call_id).map(|call| &call.waiter) {
                    Some(Waiter::Stream(items)) => {
                        let _ = items.send(RawStreamMsg::Opened);
                        Ok(())
                    }
                    // The caller gave up: nothing to tell.
                    Some(Waiter::Gone) => Ok(()),
                    Some(Waiter::Reply(_)) => Err(ProtocolError::Unexpected(format!(
                        "OPENED for call id {call_id}, whose method does not stream"
                    ))
                    .into()),
                    None => Err(ProtocolError::Unexpected(format!(
                        "OPENED for unknown call id {call_id}"
                    ))
                    .into()),
                }
            }
            ServerFrame::Item { call_id, item } => {
                let range = within(&frame, item);
                self.route_items(&frame, call_id, "ITEM", || RawStreamMsg::Item {
                    message: frame.clone(),
                    range,
                })
            }
            ServerFrame::Items { call_id, items } => {
                let list = within(&frame, items.as_bytes());
                self.route_items(&frame, call_id, "ITEMS", || RawStreamMsg::Items {
                    message: frame.clone(),
                    list,
                })
            }
            ServerFrame::Credit { call_id, bytes } => {
                let pending = lock(&self.pending);
                match pending.calls.get(call_id).map(|call| &call.upload) {
                    Some(Some(upload)) => {
                        upload.grant(bytes);
                        Ok(())
                    }
                    Some(None) => Err(ProtocolError::Unexpected(format!(
                        "CREDIT for call id {call_id}, which has no streamed argument"
                    ))
                    .into()),
                    None => Err(ProtocolError::Unexpected(format!(
                        "CREDIT for unknown call id {call_id}"
                    ))
                    .into()),
                }
            }
            ServerFrame::State(fields) => {
                let mut result = Ok(());
                self.state.send_if_modified(|state| {
                    result = apply_fields(state, fields, self.max_depth);
                    !fields.is_empty()
                });
                Ok(result?)
            }
            ServerFrame::Event { topic, payload } => {
                // Where the payload lies in the frame (addresses compared as integers).
                let start = payload.as_ptr() as usize - frame.as_ptr() as usize;
                let at = start..start + payload.len();
                match S::Event::decode_event(&frame, at, self.max_depth) {
                    Ok(payload) => {
                        // No receiver is fine: nobody subscribed on this client.
                        let _ = self.events.send(Delivery::Event(Event {
                            topic: Topic::from(topic),
                            payload,
                        }));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event does not decode as the service's event type; dropped")
                    }
                }
                Ok(())
            }
            ServerFrame::Hello(_) => {
                Err(ProtocolError::Unexpected("second HELLO frame".into()).into())
            }
            ServerFrame::Schema(_) => {
                Err(ProtocolError::Unexpected("SCHEMA frame after HELLO".into()).into())
            }
        }
    }

    /// Ends the session: every call in flight and every later call fails with `error`. `clean`:
    /// the connection ended with a close handshake.
    pub(crate) fn fail_all(&self, error: RpcError, clean: bool) {
        let waiters = {
            let mut pending = lock(&self.pending);
            if pending.closed.is_none() {
                pending.closed = Some(error);
                pending.clean = clean;
                self.closed.store(true, Ordering::Release);
            }
            let (calls, mut callers) = pending.calls.end_all();
            callers.extend(pending.admission.wake_all());
            (calls, callers)
        };
        // Dropping the senders wakes every waiting stream, and waking the callers of plain calls
        // and those waiting for a slot makes them look again: each then reads `closed`.
        let (waiters, callers) = waiters;
        drop(waiters);
        for caller in callers {
            caller.wake();
        }
        self.oneway_room.close();
        self.ended.send_replace(true);
    }

    /// Resolves once the connection has ended, with why.
    pub(crate) async fn ended(&self) -> RpcError {
        let mut rx = self.ended.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|ended| *ended).await;
        self.closed_error()
    }

    /// Calls sent or about to be sent whose replies have not arrived, and replies that arrived
    /// for callers that have not run since: those callers are likely to call again as soon as
    /// they run (a caller with 256 calls in flight gets its replies in batches, and the first of
    /// the next calls would otherwise be written alone, see [`Session::send`]).
    pub(crate) fn calls_in_flight(&self) -> usize {
        let pending = lock(&self.pending);
        pending.calls.in_flight() + pending.calls.arrived()
    }

    /// True if the session ended with a close handshake (false while it runs).
    pub(crate) fn closed_cleanly(&self) -> bool {
        lock(&self.pending).clean
    }

    /// True once the session has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn closed_error(&self) -> RpcError {
        lock(&self.pending)
            .closed
            .clone()
            .unwrap_or_else(|| RpcError::closed(None, "connection lost"))
    }

    /// The caller of call `call_id` gave up: a reply that arrived meanwhile is dropped, and a call
    /// still in flight keeps its slot until the server's reply, which the server is asked to send
    /// at once (`CANCEL`). Nothing to send for a call that has been answered. One lock: the place
    /// given up is never one another call has taken since.
    fn abandon(&self, call_id: u32) {
        let mut pending = lock(&self.pending);
        let (in_flight, unclaimed, waiter) = pending.calls.abandon(call_id);
        drop(pending);
        drop((unclaimed, waiter));
        if !in_flight {
            return;
        }
        let frame = seal(encode_cancel(call_id), self.compression);
        // Refused only once the connection is gone, and then there is nothing to stop.
        let _ = self.outbox.queue(Outgoing::Binary(frame.into()));
    }

    /// Makes one call: waits for a free slot, sends (then streams `upload`, its streamed argument,
    /// if it has one), waits for the reply and decodes it.
    pub(crate) async fn call<A: Body + ?Sized, R: MethodReturn>(
        self: &Arc<Self>,
        method: u16,
        args: &A,
        upload: Option<Upload>,
        timeout: Option<Duration>,
        extensions: Extensions<'_>,
    ) -> Result<R::Ok, CallError<R::Err>>
    where
        S: 'static,
    {
        // Sent only to a server that reads them.
        let extensions = Extensions {
            trace: extensions.trace.filter(|_| self.trace),
            metadata: extensions.metadata.filter(|_| self.metadata),
        };
        // The call's future is made where it is awaited: made before, it would be moved there
        // (a copy of the whole future, measured: benches/PROFILE.md).
        let Some(timeout) = timeout else {
            return self
                .call_until::<A, R>(method, args, upload, None, extensions)
                .await;
        };
        let deadline = Instant::now() + timeout;
        let call = self.call_until::<A, R>(method, args, upload, Some(deadline), extensions);
        // Dropping the call at the deadline cancels it (see `CallGuard`).
        match rt::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(RpcError::Timeout(format!("no reply within {timeout:?}")).into()),
        }
    }

    async fn call_until<A: Body + ?Sized, R: MethodReturn>(
        self: &Arc<Self>,
        method: u16,
        args: &A,
        upload: Option<Upload>,
        deadline: Option<Instant>,
        extensions: Extensions<'_>,
    ) -> Result<R::Ok, CallError<R::Err>>
    where
        S: 'static,
    {
        // A byte stream's writing, if the method returns one: an argument the method streams.
        let (own, outgoing) = R::outgoing();
        let upload = upload.or(own);
        let credit = upload.as_ref().map(|_| UploadCredit::new());
        if R::STREAMING {
            let (tx, rx) = mpsc::unbounded_channel();
            let call_id = self
                .send(
                    method,
                    args,
                    deadline,
                    extensions,
                    Awaits::Stream(tx),
                    credit.clone(),
                )
                .await?;
            // From here, dropping the receiver cancels the call.
            let mut items =
                StreamReceiver::new(self.clone(), call_id, rx, deadline, credit.clone());
            // Granted at once: items can follow `OPENED` without waiting for a round trip.
            self.grant(call_id, STREAM_WINDOW);
            self.start_upload(call_id, upload, credit);
            // The call resolves once its handler accepted it (or refused, with its reply).
            let received = match items.next().await {
                Some(RawStreamMsg::Opened) => CallReceived::Stream(Box::pin(items)),
                Some(RawStreamMsg::End(reply)) => CallReceived::Reply(reply),
                Some(RawStreamMsg::Failed(error)) => return Err(error.into()),
                Some(RawStreamMsg::Item { .. } | RawStreamMsg::Items { .. }) => {
                    let why = format!("an item before OPENED for call id {call_id}");
                    return Err(RpcError::from(ProtocolError::Unexpected(why)).into());
                }
                None => return Err(self.closed_error().into()),
            };
            return R::receive(received, outgoing, self.max_depth);
        }
        let call_id = self
            .send(
                method,
                args,
                deadline,
                extensions,
                Awaits::Reply,
                credit.clone(),
            )
            .await?;
        // From here, dropping this future (the caller gave up) cancels the call.
        let mut guard = CallGuard {
            session: self,
            call_id,
            answered: false,
        };
        self.start_upload(call_id, upload, credit.clone());
        // The call was registered with this caller's waker, and the reply cannot be there before
        // the frame has left: the first poll only yields, without the lock.
        let mut sent = true;
        let reply = poll_fn(|cx| {
            if std::mem::take(&mut sent) {
                return Poll::Pending;
            }
            // Once the connection has ended, the call is gone (see `CallTable::end_all`).
            match lock(&self.pending).calls.poll(call_id, cx) {
                Polled::Reply(reply) => Poll::Ready(Some(reply)),
                Polled::Waiting => Poll::Pending,
                Polled::Gone => Poll::Ready(None),
            }
        })
        .await
        .ok_or_else(|| self.closed_error());
        guard.answered = true;
        // A streamed argument that failed stopped the call: its error is the call's.
        if let Some(failure) = credit.and_then(|credit| credit.failure()) {
            return Err(failure.into());
        }
        R::receive(CallReceived::Reply(reply?), outgoing, self.max_depth)
    }

    /// Starts sending call `call_id`'s streamed argument, if it has one, on its own task.
    fn start_upload(
        self: &Arc<Self>,
        call_id: u32,
        upload: Option<Upload>,
        credit: Option<Arc<UploadCredit>>,
    ) where
        S: 'static,
    {
        if let (Some(upload), Some(credit)) = (upload, credit) {
            let end = encode_end(call_id);
            let sink: Arc<dyn UploadSink> = self.clone();
            rt::spawn(upload::send(sink, call_id, credit, upload(call_id), end));
        }
    }

    /// Encodes call `call_id`'s `CALL` frame and sends it (see [`Outbox::send_call`]; written
    /// directly when `lone`). Uncompressed, a view's archive with room before it becomes the frame
    /// itself; anything else is encoded in the thread's scratch buffer and, if small (at most
    /// [`PACKED_MAX`] bytes), written from there: packed into the outbox's queue, or straight to
    /// the transport when `lone` (no allocation per frame, no move of it on its way: see
    /// [`Outbox::send_call_small`]).
    fn send_call_frame<A: Body + ?Sized>(
        &self,
        call_id: u32,
        method: u16,
        extensions: &CallExtensions<'_>,
        args: &A,
        lone: bool,
    ) -> Result<(), RpcError> {
        if self.compression.is_some() {
            let frame = args
                .encode_body(call_header(call_id, method, extensions))
                .map_err(RpcError::Encode)?;
            // The server's limit holds for the frame once inflated.
            if frame.len() > self.max_outgoing {
                return Err(self.too_large(frame.len()));
            }
            let frame = seal(frame, self.compression);
            return self.send_checked(frame.into(), lone);
        }
        let view = Cell::new(None);
        let encoded = encode_reusing(
            |mut buf| {
                push_call_header(&mut buf, call_id, method, extensions);
                match args.take_framed(&buf) {
                    Some(frame) => {
                        view.set(Some(frame));
                        Ok(buf)
                    }
                    None => args.encode_body(buf),
                }
            },
            |frame| {
                // A view's archive became the frame: the scratch buffer holds only its header.
                if let Some(view) = view.take() {
                    return Some(self.send_checked(view, lone));
                }
                let len = frame.len();
                if len > self.max_outgoing {
                    return Some(Err(self.too_large(len)));
                }
                (len <= PACKED_MAX).then(|| {
                    self.outbox
                        .send_call_small(frame, lone)
                        .map_err(|_| self.closed_error())
                })
            },
        )
        .map_err(RpcError::Encode)?;
        match encoded {
            Ok(sent) => sent,
            Err(frame) => self.send_checked(frame.into(), lone),
        }
    }

    /// Sends a `CALL` frame made outside the thread's scratch buffer, once its size is checked.
    fn send_checked(&self, frame: Bytes, lone: bool) -> Result<(), RpcError> {
        if frame.len() > self.max_outgoing {
            return Err(self.too_large(frame.len()));
        }
        self.outbox
            .send_call(Outgoing::Binary(frame), lone)
            .map_err(|_| self.closed_error())
    }

    /// A call of `len` bytes is more than the server takes.
    fn too_large(&self, len: usize) -> RpcError {
        RpcError::LimitExceeded(format!(
            "call of {len} bytes exceeds the server's maximum message size of {}",
            self.max_outgoing
        ))
    }

    /// Sends a `CALL` once a slot is free, registered as waiting for what `awaits` says (a reply
    /// with the caller's waker already, or a stream's items); its call id.
    ///
    /// The call is registered first, under the one lock a call takes to send: its slot, and its
    /// place in the table of calls, which gives its id (see [`CallTable`]). Then its frame is
    /// encoded, with what is left of the deadline, and sent.
    async fn send<A: Body + ?Sized>(
        &self,
        method: u16,
        args: &A,
        deadline: Option<Instant>,
        extensions: Extensions<'_>,
        awaits: Awaits,
        upload: Option<Arc<UploadCredit>>,
    ) -> Result<u32, RpcError> {
        let mut awaits = Some(awaits);
        let mut upload = upload;
        // Waiting for a slot is how the 257th call waits instead of failing; dropping the wait
        // gives its place up (see `Queued`).
        let mut queued = Queued {
            session: self,
            ticket: None,
        };
        let (call_id, lone) = poll_fn(|cx| {
            let mut pending = lock(&self.pending);
            if let Some(error) = &pending.closed {
                return Poll::Ready(Err(error.clone()));
            }
            let in_flight = pending.calls.in_flight();
            let Ok(next) = pending
                .admission
                .admit(&mut queued.ticket, in_flight, cx.waker())
            else {
                return Poll::Pending;
            };
            let waiter = match awaits.take() {
                Some(Awaits::Stream(items)) => Waiter::Stream(items),
                _ => Waiter::Reply(Some(cx.waker().clone())),
            };
            let call = PendingCall {
                waiter,
                credit: 0,
                upload: upload.take(),
            };
            let registered = pending.calls.register(call);
            // Alone: no other call in flight, and no caller woken by its reply that is about to
            // call again (its call then joins this one in the driver's batch).
            let lone = pending.calls.in_flight() == 1 && pending.calls.arrived() == 0;
            drop(pending);
            if let Some(next) = next {
                next.wake();
            }
            Poll::Ready(match registered {
                Ok(call_id) => Ok((call_id, lone)),
                // Only with over a million replies not taken by their callers.
                Err(_) => Err(RpcError::LimitExceeded(format!(
                    "{MAX_PLACES} calls in flight or waiting for their callers to take their replies"
                ))),
            })
        })
        .await?;
        // What is left of the deadline travels with the call, in whole milliseconds (at least 1).
        let budget_ms = deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        let extensions = CallExtensions {
            budget_ms,
            trace: extensions.trace,
            metadata: extensions.metadata,
        };
        if let Err(e) = self.send_call_frame(call_id, method, &extensions, args, lone) {
            self.unregister(call_id);
            return Err(e);
        }
        Ok(call_id)
    }

    /// Undoes the registration of call `call_id`, which was not sent: its slot goes to the next
    /// waiting caller, if any.
    fn unregister(&self, call_id: u32) {
        let mut pending = lock(&self.pending);
        let call = pending.calls.unregister(call_id);
        let next = pending.admission.freed(pending.calls.in_flight());
        drop(pending);
        drop(call);
        if let Some(next) = next {
            next.wake();
        }
    }

    /// Sends a one-way message: resolves once its frame has been written to the socket and flushed,
    /// or fails if that cannot happen (within `timeout`, when given). Takes no call slot: nothing
    /// comes back.
    pub(crate) async fn notify<A: Body + ?Sized>(
        &self,
        method: u16,
        args: &A,
        timeout: Option<Duration>,
    ) -> Result<(), RpcError> {
        let Some(timeout) = timeout else {
            return self.notify_now(method, args).await;
        };
        // Giving up leaves a frame already queued to go out; the deadline bounds only the wait.
        rt::timeout(timeout, self.notify_now(method, args))
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::Timeout(format!(
                    "one-way message not written within {timeout:?}"
                )))
            })
    }

    async fn notify_now<A: Body + ?Sized>(&self, method: u16, args: &A) -> Result<(), RpcError> {
        let frame = encode_notify(method, args)?;
        if frame.len() > self.max_outgoing {
            return Err(RpcError::LimitExceeded(format!(
                "one-way message of {} bytes exceeds the server's maximum message size of {}",
                frame.len(),
                self.max_outgoing
            )));
        }
        let frame = seal(frame, self.compression);
        let place = self
            .oneway_room
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.closed_error())?;
        let (written, done) = Written::new(place);
        // Written directly, as a lone call is, unless calls are in flight and the driver batches.
        let lone = self.calls_in_flight() == 0;
        if self
            .outbox
            .send_oneway(frame.into(), lone, written)
            .is_err()
            || done.await.is_err()
        {
            // The connection ended before the frame left; say why once the session knows.
            return Err(self.ended().await);
        }
        Ok(())
    }

    /// Asks the driver to close the connection normally (the user disconnected or dropped the client).
    pub(crate) fn shutdown(&self) {
        self.outbox.stop();
    }

    /// The protocol violation a stream's reader found, if one asked the driver to stop (see
    /// [`StreamControl::violated`]); `None` for a plain shutdown.
    pub(crate) fn take_violation(&self) -> Option<RpcError> {
        lock(&self.violation).take()
    }
}

impl<S: ?Sized + ServiceSchema> StreamControl for Session<S> {
    /// Lets streaming call `call_id` send `bytes` more bytes of items (counted in before the frame
    /// leaves, so that an item sent in answer is never taken for a violation).
    fn grant(&self, call_id: u32, bytes: u32) {
        let mut pending = lock(&self.pending);
        // A call that has ended needs no more.
        let Some(call) = pending.calls.get_mut(call_id) else {
            return;
        };
        call.credit = call.credit.saturating_add(i64::from(bytes));
        drop(pending);
        let frame = seal(encode_credit(call_id, bytes), self.compression);
        // Refused only once the connection is gone, and then the stream has ended.
        let _ = self.outbox.queue(Outgoing::Binary(frame.into()));
    }

    /// Stops waiting for call `call_id` and asks the server to stop it; its slot stays taken until
    /// the server's reply. Nothing to do for a call that has been answered.
    fn cancel(&self, call_id: u32) {
        self.abandon(call_id);
    }

    fn closed_error(&self) -> RpcError {
        Session::closed_error(self)
    }

    /// Keeps the first violation and asks the driver to close with it.
    fn violated(&self, error: RpcError) {
        lock(&self.violation).get_or_insert(error);
        self.outbox.stop();
    }
}

impl<S: ?Sized + ServiceSchema> UploadSink for Session<S> {
    fn send_frame(&self, frame: Vec<u8>) -> bool {
        let frame = seal(frame, self.compression);
        self.outbox.queue(Outgoing::Binary(frame.into())).is_ok()
    }

    /// Sends `CANCEL` and keeps waiting: the caller learns why from the argument's failure when
    /// the server's reply comes.
    fn stop(&self, call_id: u32) {
        let frame = seal(encode_cancel(call_id), self.compression);
        let _ = self.outbox.queue(Outgoing::Binary(frame.into()));
    }

    fn max_outgoing(&self) -> usize {
        self.max_outgoing
    }
}

/// Checks the subprotocol the server selected in its upgrade answer.
pub(crate) fn check_selected(selected: Option<&str>) -> Result<(), ProtocolError> {
    if selected == Some(PROTOCOL_TOKEN) {
        Ok(())
    } else {
        Err(ProtocolError::Subprotocol {
            selected: selected.map(str::to_owned),
        })
    }
}

/// The error for a first message that is not the server's `HELLO`.
pub(crate) fn expected_hello() -> ProtocolError {
    ProtocolError::Unexpected("expected HELLO as the first frame".into())
}

/// What a server sent before `HELLO`: the schema texts of its services, when it refused the
/// client's fingerprint (a `SCHEMA` frame, then a 4001 close).
#[derive(Debug, Default)]
pub(crate) struct BeforeHello {
    schemas: Vec<String>,
}

impl BeforeHello {
    /// Takes `message` if it is a `SCHEMA` frame (true), to explain the refusal that follows it.
    /// A `SCHEMA` frame that does not validate is ignored: the refusal is reported as the server
    /// words it.
    pub(crate) fn take(&mut self, message: &[u8], max_depth: usize) -> bool {
        let Ok(ServerFrame::Schema(archive)) = decode_server(message) else {
            return false;
        };
        if let Ok(schemas) = <Vec<String>>::decode_within(archive, max_depth) {
            self.schemas = schemas;
        }
        true
    }

    /// The error for a connection the server closed before its `HELLO`: a handshake refusal for
    /// the refusal codes, a plain close otherwise. A schema refusal the server explained says what
    /// differs between its services and `S`.
    /// The texts are kept in `mirror`, for [`Client::server_schemas`](super::Client::server_schemas).
    pub(crate) fn closed<S: ?Sized + ServiceSchema>(
        self,
        code: Option<u16>,
        reason: String,
        mirror: &Mirror<S>,
    ) -> ConnectError {
        if code == Some(close::SCHEMA_MISMATCH) {
            crate::locks::lock(&mirror.server_schemas).clone_from(&self.schemas);
        }
        match code {
            Some(close::SCHEMA_MISMATCH) if !self.schemas.is_empty() => {
                let reason = match first_difference(S::schema().text(), &self.schemas) {
                    Some(difference) => format!("schema mismatch: {difference} ({reason})"),
                    None => reason,
                };
                ConnectError::HandshakeRefused {
                    code: close::SCHEMA_MISMATCH,
                    reason,
                }
            }
            Some(code) if close::is_handshake_refusal(code) => {
                ConnectError::HandshakeRefused { code, reason }
            }
            code => ConnectError::ConnectionClosed { code, reason },
        }
    }
}

/// The error for a connection lost before the server's `HELLO`.
pub(crate) fn lost_before_hello() -> ConnectError {
    ConnectError::ConnectionClosed {
        code: None,
        reason: "connection lost during the handshake".into(),
    }
}

fn apply_fields<T: ConnectionState>(
    state: &mut T,
    fields: FieldList<'_>,
    max_depth: usize,
) -> Result<(), ProtocolError> {
    for (index, bytes) in fields.iter() {
        state
            .apply_field(index, bytes, max_depth)
            .map_err(|source| ProtocolError::StateField { index, source })?;
    }
    Ok(())
}

/// The error for a received message that is not a valid frame: over the limit once inflated, or
/// malformed.
/// Where `part` (a slice of `frame`) lies in it.
fn within(frame: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - frame.as_ptr() as usize;
    start..start + part.len()
}

fn protocol(e: FrameError) -> RpcError {
    match e {
        FrameError::InflatedTooLarge { .. } => RpcError::LimitExceeded(e.to_string()),
        e => ProtocolError::Frame(e).into(),
    }
}
