//! One connection, from accepted TCP stream to close: handshake, `HELLO`, then a reader that dispatches
//! calls to tasks and a writer that drains the outbound queue.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;

use super::accept::upgrade;
use super::handler::{Dispatch, Handler, ServiceSchema};
use super::outbound::{CloseSignal, Outbound};
use super::state_sync::StateSync;
use super::{ConnectionParts, Shared};
use crate::events::{EventEmitter, Subscriptions};
use crate::state::StateHandle;
use crate::wire::close;
use crate::wire::compression::{open, seal};
use crate::wire::frame::{ClientFrame, FrameError, ReplyStatus, decode_client, encode_reply_text};
use crate::wire::handshake::Negotiation;

/// How long closing may take once decided: flushing the close frame to a peer that does not read.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Frames written before one flush, so a busy connection sends few large TCP writes.
const WRITE_BATCH: usize = 64;

/// Serves one accepted TCP connection until it ends.
pub(crate) async fn serve<H: Handler>(shared: Arc<Shared<H>>, tcp: TcpStream, peer: SocketAddr) {
    let id = shared.next_connection_id();
    let span = tracing::debug_span!("connection", id, %peer);
    async move {
        let _counted = shared.stats.connection_opened();
        // Small frames are the norm: do not let Nagle's algorithm hold them back.
        let _ = tcp.set_nodelay(true);
        let deadline = Instant::now() + shared.config.handshake_timeout;
        match shared.tls.clone() {
            Some(acceptor) => match timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => serve_websocket(shared, tls, id, deadline).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            },
            None => serve_websocket(shared, tcp, id, deadline).await,
        }
    }
    .instrument(span)
    .await
}

async fn serve_websocket<H, S>(shared: Arc<Shared<H>>, stream: S, id: u64, deadline: Instant)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &shared.config;
    let upgraded = timeout_at(
        deadline,
        upgrade(
            stream,
            <H::Service as ServiceSchema>::FINGERPRINT,
            config.compression,
            config.max_message_size,
        ),
    )
    .await;
    let (mut ws, negotiation) = match upgraded {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return tracing::debug!(error = %e, "WebSocket upgrade failed"),
        Err(_) => return tracing::debug!("WebSocket upgrade timed out"),
    };
    let compression = match negotiation {
        Negotiation::Accept { compression } => compression,
        Negotiation::Refuse { code, reason, .. } => {
            tracing::debug!(code, %reason, "handshake refused");
            let frame = CloseFrame {
                code: code.into(),
                reason: reason.into(),
            };
            let _ = timeout(CLOSE_GRACE, ws.close(Some(frame))).await;
            return;
        }
        Negotiation::NotHardlight(_) => return,
    };
    Connection::<H>::start(shared.clone(), id, compression)
        .await
        .run(ws)
        .await;
}

struct Connection<H: Handler> {
    shared: Arc<Shared<H>>,
    handler: Arc<H>,
    state: Arc<StateSync<H::State>>,
    subscriptions: Subscriptions,
    outbound: Outbound,
    outbound_rx: Option<mpsc::Receiver<Bytes>>,
    close: CloseSignal,
    compression: Option<u8>,
    in_flight: Arc<Mutex<HashSet<u32>>>,
}

impl<H: Handler> Connection<H> {
    async fn start(shared: Arc<Shared<H>>, id: u64, compression: Option<u8>) -> Self {
        let close = CloseSignal::new();
        let (outbound, outbound_rx) =
            Outbound::new(id, shared.config.outbound_queue, close.clone());
        let state = StateHandle::<H::State>::default();
        let subscriptions = Subscriptions::new(shared.registry.clone(), outbound.clone());
        let parts = ConnectionParts {
            state: state.clone(),
            subscriptions: subscriptions.clone(),
            events: EventEmitter::new(shared.registry.clone()),
        };
        let handler = Arc::new(shared.factory.make(parts));
        Self {
            shared,
            handler,
            state: Arc::new(StateSync::new(state)),
            subscriptions,
            outbound,
            outbound_rx: Some(outbound_rx),
            close,
            compression,
            in_flight: Arc::default(),
        }
    }

    async fn run<S>(mut self, mut ws: WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = &self.shared.config;
        let hello = self
            .state
            .hello(
                config.max_calls_in_flight,
                config.max_message_size as u32,
                self.compression.unwrap_or(0),
            )
            .await;
        if ws.send(Message::Binary(hello.into())).await.is_err() {
            return;
        }
        let (sink, mut stream) = ws.split();
        let Some(rx) = self.outbound_rx.take() else {
            return;
        };
        let writer = tokio::spawn(
            write_loop(sink, rx, self.close.clone(), self.compression)
                .instrument(tracing::Span::current()),
        );
        let mut calls = JoinSet::new();

        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Binary(data))) => self.on_message(&data, &mut calls),
                    Some(Ok(Message::Text(_))) => self.close.request(
                        close::UNSUPPORTED_DATA,
                        "text messages are not part of the hardlight protocol; send binary frames",
                    ),
                    Some(Ok(Message::Close(_))) | None => {
                        self.close.request(close::NORMAL, "");
                        break;
                    }
                    Some(Ok(_)) => {} // Ping and pong are answered by tungstenite itself.
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                        self.close.request(
                            close::MESSAGE_TOO_BIG,
                            format!("message of {size} bytes exceeds the limit of {max_size}"),
                        );
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "read failed");
                        self.close.request(close::PROTOCOL_ERROR, e.to_string());
                        break;
                    }
                },
                Some(_) = calls.join_next(), if !calls.is_empty() => {}
                reason = self.close.requested() => {
                    tracing::debug!(code = reason.code, reason = %reason.reason, "closing");
                    break;
                }
            }
        }

        // Stop every call of this connection and leave every topic before the writer is awaited, so
        // nothing of this connection outlives it.
        calls.shutdown().await;
        self.subscriptions.clear();
        let _ = timeout(CLOSE_GRACE * 2, writer).await;
    }

    fn on_message(&self, data: &Bytes, calls: &mut JoinSet<()>) {
        let max = self.shared.config.max_message_size;
        let frame = match open(data, self.compression.is_some(), max) {
            Ok(frame) => frame,
            Err(e) => return self.violation(&e),
        };
        let (call_id, method, args) = match decode_client(&frame) {
            Ok(ClientFrame::Call {
                call_id,
                method,
                args,
            }) => (call_id, method, args),
            Err(e) => return self.violation(&e),
        };
        {
            let mut in_flight = lock(&self.in_flight);
            let limit = usize::from(self.shared.config.max_calls_in_flight);
            if in_flight.contains(&call_id) {
                return self.close.request(
                    close::PROTOCOL_ERROR,
                    format!("call id {call_id} reused while that call is still in flight"),
                );
            }
            if in_flight.len() >= limit {
                return self.close.request(
                    close::POLICY_VIOLATION,
                    format!("more than {limit} calls in flight"),
                );
            }
            in_flight.insert(call_id);
        }
        let call = <H::Service as Dispatch<H>>::dispatch(&self.handler, call_id, method, args);
        let state = self.state.clone();
        let outbound = self.outbound.clone();
        let in_flight = self.in_flight.clone();
        let stats = self.shared.stats.clone();
        let max_message_size = self.shared.config.max_message_size;
        calls.spawn(async move {
            let _counted = stats.call_started();
            let reply = match call {
                Ok(call) => AssertUnwindSafe(call)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        let message = panic_message(&*panic);
                        tracing::warn!(call_id, %message, "handler panicked");
                        encode_reply_text(call_id, ReplyStatus::Panicked, &message)
                    }),
                Err(e) => e.reply(call_id),
            };
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
            // State changes first, so the client has them when the call resolves.
            state.flush(&outbound).await;
            // Freed before the reply is queued: once the client has the reply it may reuse the id.
            lock(&in_flight).remove(&call_id);
            outbound.send(Bytes::from(reply)).await;
        });
    }

    fn violation(&self, error: &FrameError) {
        tracing::warn!(%error, "protocol violation");
        let code = match error {
            FrameError::InflatedTooLarge { .. } => close::MESSAGE_TOO_BIG,
            _ => close::PROTOCOL_ERROR,
        };
        self.close.request(code, error.to_string());
    }
}

async fn write_loop<Si>(
    mut sink: Si,
    mut rx: mpsc::Receiver<Bytes>,
    close: CloseSignal,
    compression: Option<u8>,
) where
    Si: futures_util::Sink<Message, Error = WsError> + Unpin,
{
    let seal_frame = |frame: Bytes| -> Message {
        match compression {
            Some(level) if frame.len() >= crate::wire::compression::COMPRESSION_THRESHOLD => {
                Message::Binary(seal(frame.to_vec(), Some(level)).into())
            }
            _ => Message::Binary(frame),
        }
    };
    let written = async {
        while let Some(frame) = rx.recv().await {
            sink.feed(seal_frame(frame)).await?;
            let mut batch = 1;
            while batch < WRITE_BATCH {
                let Ok(frame) = rx.try_recv() else { break };
                sink.feed(seal_frame(frame)).await?;
                batch += 1;
            }
            sink.flush().await?;
        }
        Ok::<(), WsError>(())
    };
    // A close request interrupts even a write stuck on a peer that stopped reading.
    let reason = tokio::select! {
        result = written => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "write failed");
            }
            close.reason()
        }
        reason = close.requested() => Some(reason),
    };
    if let Some(reason) = reason {
        let frame = CloseFrame {
            code: reason.code.into(),
            reason: reason.reason.into(),
        };
        let _ = timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "handler panicked".to_owned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Critical sections here are set operations that do not panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
