//! Connecting through the browser's WebSocket (feature `wasm` on wasm32): the same session and
//! driver as natively, fed by the socket's events and writing with its `send`.
//!
//! What browsers do not offer: request headers (a token travels as a subprotocol entry or in the
//! query, never as `Authorization`), the refusal's HTTP status (a refused upgrade is a failed
//! connection), and ping frames (the client cannot ping, and never hears the server's pings, so it
//! does not give the server up for silence: the browser reports a dead connection). Nor does its
//! `send` ever push back: the client holds frames back itself while the browser's send buffer is
//! over a high-water mark.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, StreamExt, stream};
use gloo_timers::future::TimeoutFuture;
use send_wrapper::SendWrapper;
use tokio::sync::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use super::Mirror;
use super::config::{ClientConfig, Target};
use super::driver::drive;
use super::request::upgrade;
use super::session::{
    BeforeHello, Incoming, ReadError, Session, check_selected, expected_hello, lost_before_hello,
};
use super::sink::{Outgoing, Packed, TransportSink};
use crate::contract::ServiceSchema;
use crate::error::{ConnectError, TransportError};
use crate::keepalive::Keepalive;
use crate::wire::close;

/// How long the client waits for the server without giving it up: browsers hide ping frames, so
/// silence proves nothing here (about a century: far, but an `Instant` can still add it).
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The close code a browser reports when the connection ended without a close frame (RFC 6455
/// 7.4.1: never sent on the wire).
const ABNORMAL: u16 = 1006;
/// The close code a browser reports for a close frame without a code (never sent either).
const NO_STATUS: u16 = 1005;

/// What the socket's event handlers report.
enum SocketEvent {
    Open,
    Binary(Vec<u8>),
    Text,
    /// More arrived than the client had read, past [`Backlog`]'s bound; the socket is closing.
    Overflow,
    /// The connection failed (the browser says no more; a `Close` follows).
    Failed,
    Close {
        code: u16,
        reason: String,
    },
}

impl SocketEvent {
    /// What a message holds against the [`Backlog`]'s bound (a text frame, which ends the
    /// connection, counts as a message of nothing).
    fn len(&self) -> usize {
        match self {
            SocketEvent::Binary(message) => message.len(),
            _ => 0,
        }
    }
}

/// Opens a connection and starts its driver task.
pub(crate) async fn connect<S: ?Sized + ServiceSchema + 'static>(
    config: &ClientConfig,
    mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, ConnectError> {
    let target = Target::parse(&config.address, config.trust.is_some())?;
    crate::rt::timeout(
        config.connect_timeout,
        establish::<S>(&target, config, mirror),
    )
    .await
    .map_err(|_| ConnectError::Timeout {
        after: config.connect_timeout,
    })?
}

async fn establish<S: ?Sized + ServiceSchema + 'static>(
    target: &Target,
    config: &ClientConfig,
    mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, ConnectError> {
    let (url, offer) = url_and_offer(config, target, S::schema().fingerprint())?;
    let protocols = offer
        .iter()
        .map(|entry| wasm_bindgen::JsValue::from_str(entry))
        .collect::<js_sys::Array>();
    // The browser's error quotes the URL, which may carry the token: it is not passed on.
    let ws = WebSocket::new_with_str_sequence(&url, &protocols).map_err(|_| {
        TransportError::message(format!(
            "the browser refused to open a WebSocket to {} (an invalid URL or subprotocol)",
            crate::redact::address(&url)
        ))
    })?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let backlog = Backlog::new(config.max_message_size);
    let (socket, mut events) = Socket::attach(ws, backlog.clone());

    match events.recv().await {
        Some(SocketEvent::Open) => {}
        Some(SocketEvent::Close { code, reason }) if code != ABNORMAL => {
            return Err(ConnectError::ConnectionClosed {
                code: Some(code),
                reason,
            });
        }
        _ => {
            return Err(TransportError::message(format!(
                "could not open a WebSocket to {} (the browser does not say why: refused, \
                 unreachable or untrusted)",
                crate::redact::address(&url)
            ))
            .into());
        }
    }
    check_selected(Some(&socket.ws.protocol()))?;
    let mut before = BeforeHello::default();
    let hello = loop {
        match events.recv().await {
            Some(SocketEvent::Binary(message)) => {
                backlog.release(message.len());
                if !before.take(&message, config.max_nesting_depth) {
                    break message;
                }
            }
            Some(SocketEvent::Text) => {
                return Err(expected_hello().into());
            }
            Some(SocketEvent::Close { code, reason }) => {
                return Err(before.closed(Some(code), reason, mirror));
            }
            Some(SocketEvent::Overflow) => return Err(ConnectError::LimitExceeded(fell_behind())),
            Some(SocketEvent::Open | SocketEvent::Failed) | None => {
                return Err(lost_before_hello());
            }
        }
    };
    let session = Session::<S>::from_hello(
        &hello,
        config.received(),
        mirror.state.clone(),
        mirror.events.clone(),
    )?;

    let sink = BrowserSink {
        ws: SendWrapper::new(socket.ws.clone()),
        recheck: None,
    };
    let max_message_size = config.max_message_size;
    // The socket (its handlers) lives as long as the stream, which the driver owns.
    let incoming = stream::poll_fn(move |cx| {
        let _ = &socket;
        events.poll_recv(cx)
    })
    .filter_map(move |event| {
        if matches!(event, SocketEvent::Binary(_) | SocketEvent::Text) {
            backlog.release(event.len());
        }
        std::future::ready(incoming_message(event, max_message_size))
    });
    let keepalive = Keepalive::new(config.keepalive_interval, NEVER);
    crate::rt::spawn(drive(
        session.clone(),
        Box::pin(sink),
        Box::pin(incoming),
        keepalive,
    ));
    Ok(session)
}

/// What the driver makes of a socket event: a message, the connection's end, or nothing (`Open`
/// and `Failed` only matter before `HELLO`).
fn incoming_message(
    event: SocketEvent,
    max_message_size: usize,
) -> Option<Result<Incoming, ReadError>> {
    match event {
        SocketEvent::Overflow => Some(Err(ReadError::TooLarge(fell_behind()))),
        SocketEvent::Binary(message) if message.len() > max_message_size => {
            Some(Err(ReadError::TooLarge(format!(
                "message of {} bytes from the server; the limit is {max_message_size}",
                message.len()
            ))))
        }
        SocketEvent::Binary(message) => Some(Ok(Incoming::Binary(Bytes::from(message)))),
        SocketEvent::Text => Some(Ok(Incoming::Text)),
        SocketEvent::Close { code, reason } if code == ABNORMAL => Some(Err(ReadError::Failed(
            TransportError::message(if reason.is_empty() {
                "the browser's WebSocket failed".into()
            } else {
                reason
            }),
        ))),
        SocketEvent::Close { code, reason } => Some(Ok(Incoming::Close {
            code: (code != NO_STATUS).then_some(code),
            reason,
        })),
        SocketEvent::Open | SocketEvent::Failed => None,
    }
}

/// The URL and the subprotocol offer for a client of the service with schema `fingerprint`, with
/// the token where the configuration puts it; a browser cannot set a header.
fn url_and_offer(
    config: &ClientConfig,
    target: &Target,
    fingerprint: u64,
) -> Result<(String, Vec<String>), ConnectError> {
    let upgrade = upgrade(config, target, fingerprint)?;
    if upgrade.authorization.is_some() {
        return Err(ConnectError::InvalidToken(
            "browsers cannot set headers on a WebSocket: use the subprotocol or query carrier"
                .into(),
        ));
    }
    Ok((upgrade.url, upgrade.offer))
}

/// A browser WebSocket with its event handlers, which report into a channel. Dropping it removes
/// the handlers and closes the socket.
///
/// The browser offers no back-pressure: a message is delivered whether or not the client has read
/// the last. The channel is bounded by what it holds ([`Backlog`]): past the bound the socket is
/// closed with 4008 and the client reports
/// [`RpcError::LimitExceeded`](crate::RpcError::LimitExceeded).
struct Socket {
    ws: WebSocket,
    _handlers: [Closure<dyn FnMut(Event)>; 4],
}

/// What the channel holds, against its bound: messages received and not yet read.
struct Backlog {
    bytes: AtomicUsize,
    messages: AtomicUsize,
    max_bytes: usize,
}

/// The most messages the channel holds, whatever their size.
const MAX_BACKLOG_MESSAGES: usize = 16 * 1024;

impl Backlog {
    fn new(max_message_size: usize) -> Arc<Self> {
        Arc::new(Self {
            bytes: AtomicUsize::new(0),
            messages: AtomicUsize::new(0),
            // Room for a whole largest message and then some.
            max_bytes: max_message_size.saturating_mul(2),
        })
    }

    /// Counts a message in; false if that would pass the bound.
    fn admit(&self, len: usize) -> bool {
        let messages = self.messages.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(len, Ordering::Relaxed) + len;
        messages <= MAX_BACKLOG_MESSAGES && bytes <= self.max_bytes
    }

    /// Counts a message out, once read.
    fn release(&self, len: usize) {
        self.messages.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(len, Ordering::Relaxed);
    }
}

impl Socket {
    fn attach(
        ws: WebSocket,
        backlog: Arc<Backlog>,
    ) -> (Self, mpsc::UnboundedReceiver<SocketEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = |report: fn(Event) -> Option<SocketEvent>| {
            let tx = tx.clone();
            Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                if let Some(event) = report(event) {
                    // Nobody listening: the connection is over anyway.
                    let _ = tx.send(event);
                }
            })
        };
        let on_open = handler(|_| Some(SocketEvent::Open));
        let on_message = {
            let tx = tx.clone();
            let ws = ws.clone();
            let mut overflowed = false;
            Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                let Ok(event) = event.dyn_into::<MessageEvent>() else {
                    return;
                };
                if overflowed {
                    return;
                }
                let message = match event.data().dyn_into::<js_sys::ArrayBuffer>() {
                    Ok(buffer) => SocketEvent::Binary(js_sys::Uint8Array::new(&buffer).to_vec()),
                    Err(_) => SocketEvent::Text,
                };
                if !backlog.admit(message.len()) {
                    overflowed = true;
                    let _ = tx.send(SocketEvent::Overflow);
                    let _ = ws.close_with_code_and_reason(
                        close::SLOW_CONSUMER,
                        "the client fell behind reading",
                    );
                    return;
                }
                let _ = tx.send(message);
            })
        };
        let on_error = handler(|_| Some(SocketEvent::Failed));
        let on_close = handler(|event| {
            let event = event.dyn_into::<CloseEvent>().ok()?;
            Some(SocketEvent::Close {
                code: event.code(),
                reason: event.reason(),
            })
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let socket = Self {
            ws,
            _handlers: [on_open, on_message, on_error, on_close],
        };
        (socket, rx)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        // Already closing or closed is fine.
        let _ = self.ws.close();
    }
}

/// How much may wait in the browser's send buffer before the client holds further frames back.
/// The browser's `send` never refuses: without this, a client whose server reads slowly would
/// pile messages up in the browser without end, and a one-way send would resolve at once however
/// far behind the connection is.
const SEND_HIGH_WATER: u32 = 1024 * 1024;

/// How often a held-back client looks at the send buffer again, in milliseconds: the browser has no
/// event for it draining, and browsers stretch a chain of shorter timers to 4 ms anyway.
const SEND_RECHECK_MS: u32 = 4;

/// The driver's way out: the socket's `send`, ready only while the browser's send buffer holds at
/// most [`SEND_HIGH_WATER`] bytes, so that the browser gives the back-pressure TCP gives natively.
struct BrowserSink {
    ws: SendWrapper<WebSocket>,
    /// While the send buffer is over the mark: the timer to look again.
    recheck: Option<SendWrapper<TimeoutFuture>>,
}

impl Sink<Outgoing> for BrowserSink {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        let this = self.get_mut();
        loop {
            // A socket that is closing or closed sends nothing more: `send` then reports it.
            if this.ws.buffered_amount() <= SEND_HIGH_WATER
                || this.ws.ready_state() != WebSocket::OPEN
            {
                this.recheck = None;
                return Poll::Ready(Ok(()));
            }
            let timer = this
                .recheck
                .get_or_insert_with(|| SendWrapper::new(TimeoutFuture::new(SEND_RECHECK_MS)));
            ready!(Pin::new(&mut **timer).poll(cx));
            this.recheck = None;
        }
    }

    fn start_send(self: Pin<&mut Self>, item: Outgoing) -> Result<(), TransportError> {
        match item {
            Outgoing::Binary(frame) => self.ws.send_with_u8_array(&frame).map_err(js_error),
            // Browsers send no ping frames; the server's pings keep the connection checked.
            Outgoing::Ping => Ok(()),
            Outgoing::Close(code, reason) => {
                // Scripts may only send 1000 and 3000-4999; for the others the reason still goes.
                let code = if code == close::NORMAL || (3000..=4999).contains(&code) {
                    code
                } else {
                    close::NORMAL
                };
                self.ws
                    .close_with_code_and_reason(code, &reason)
                    .map_err(js_error)
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(self.ws.close().map_err(js_error))
    }
}

impl TransportSink for BrowserSink {
    fn start_send_slice(self: Pin<&mut Self>, payload: &[u8]) -> Result<(), TransportError> {
        self.ws.send_with_u8_array(payload).map_err(js_error)
    }

    fn start_send_packed(self: Pin<&mut Self>, packed: &mut Packed) -> Result<(), TransportError> {
        // Each message its own `send`: the browser frames and masks them.
        let sent = packed
            .messages()
            .try_for_each(|message| self.ws.send_with_u8_array(message).map_err(js_error));
        packed.clear();
        sent
    }
}

fn fell_behind() -> String {
    format!(
        "more than {MAX_BACKLOG_MESSAGES} messages or twice the message size limit arrived before \
         the client read them; closed with {}",
        close::SLOW_CONSUMER
    )
}

fn js_error(error: wasm_bindgen::JsValue) -> TransportError {
    // A `JsValue` is neither `Send` nor an error: its description stands for it.
    TransportError::message(format!("browser WebSocket: {error:?}"))
}
