//! Runs an established session over any message transport until the connection ends.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};

use super::outbox::{Batch, WriterEnd};
use super::pacing::Pacing;
use super::session::{Incoming, ReadError, Session};
use super::sink::{BoxSink, Outgoing};
use crate::contract::ServiceSchema;
use crate::error::{Chain, ProtocolError, RpcError, TransportError};
use crate::keepalive::{Due, Instant, Keepalive};
use crate::rt;
use crate::wire::close;

/// Time allowed to send our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

enum End {
    Closed(Option<u16>, String),
    /// Nothing arrived within the idle timeout.
    Silent(Duration),
    /// The server broke the protocol: close with this code.
    Violation(u16, RpcError),
    /// The transport failed under the connection.
    Failed(TransportError),
    /// The transport ended without a close frame or a failure.
    Lost,
    Shutdown,
}

impl End {
    /// The close frame to send (if any) and the error every call still in flight fails with.
    fn outcome(self) -> (Option<(u16, String)>, RpcError) {
        match self {
            // A native client answers the server's close frame with its own (RFC 6455 §5.5.1),
            // echoing the code; a browser answers by itself.
            End::Closed(code, reason) => (
                cfg!(hardlight_native).then(|| (code.unwrap_or(close::NORMAL), String::new())),
                RpcError::closed(code, reason),
            ),
            End::Violation(code, error) => {
                let reason = Chain(&error).to_string();
                tracing::warn!(error = %reason, "server broke the protocol; closing");
                (Some((code, reason)), error)
            }
            End::Failed(why) => (None, RpcError::lost(why)),
            End::Lost => (None, RpcError::closed(None, "connection lost")),
            End::Silent(timeout) => {
                let reason = format!("nothing received from the server for {timeout:?}");
                tracing::warn!(%reason, "connection presumed dead");
                (
                    Some((close::IDLE_TIMEOUT, reason.clone())),
                    RpcError::closed(Some(close::IDLE_TIMEOUT), reason),
                )
            }
            End::Shutdown => (
                Some((close::NORMAL, String::new())),
                RpcError::closed(Some(close::NORMAL), "disconnected by the client"),
            ),
        }
    }
}

/// Pumps messages between the transport and the session; when the connection ends, for whatever
/// reason, every call in flight fails with the reason.
pub(crate) async fn drive<S, St>(
    session: Arc<Session<S>>,
    sink: BoxSink,
    mut stream: St,
    keepalive: Keepalive,
) where
    S: ?Sized + ServiceSchema,
    St: Stream<Item = Result<Incoming, ReadError>> + Unpin,
{
    session.outbox.attach(sink);
    // The reader notes when it last heard the server (nanoseconds since `base`); the writer, which
    // owns the keepalive timer, reads it on every poll.
    let mut keepalive = keepalive;
    let base = Instant::now();
    let heard_ns = AtomicU64::new(0);
    // Messages the reader hands out before the writer may flush what they prompted: set by the
    // writer, from how long its flushes take.
    let mut pacing = Pacing::default();
    let read_batch = AtomicUsize::new(pacing.read_batch());
    let reader = poll_fn(|cx| {
        // The clock is read once per batch of messages, not once per message.
        let mut heard = false;
        let mut read = 0;
        let read_batch = read_batch.load(Ordering::Relaxed);
        let polled = loop {
            let Poll::Ready(next) = stream.poll_next_unpin(cx) else {
                break Poll::Pending;
            };
            heard = true;
            if let Some(end) = on_incoming(&session, next) {
                break Poll::Ready(end);
            }
            read += 1;
            if read == read_batch {
                // Let the writer and the keepalive run between batches.
                cx.waker().wake_by_ref();
                break Poll::Pending;
            }
        };
        if heard {
            heard_ns.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        polled
    });
    let mut batch = Batch::default();
    let mut last_heard_ns = 0;
    let writer = poll_fn(|cx| {
        let heard_now = heard_ns.load(Ordering::Relaxed);
        let due = if heard_now == last_heard_ns {
            keepalive.poll_due(cx)
        } else {
            // The reader heard the server during this poll (it runs first): that time is now,
            // which spares the timer's shared state while the deadline is ahead.
            last_heard_ns = heard_now;
            let heard = base + Duration::from_nanos(heard_now);
            keepalive.heard_at(heard);
            keepalive.poll_due_at(cx, heard)
        };
        match due {
            Poll::Ready(Due::Ping) => {
                // Refused only once the connection has ended, and then no ping is needed.
                let _ = session.outbox.queue(Outgoing::Ping);
            }
            Poll::Ready(Due::Expired) => return Poll::Ready(End::Silent(keepalive.idle_timeout())),
            Poll::Pending => {}
        }
        let written = session
            .outbox
            .poll_write(cx, &mut batch, || session.calls_in_flight());
        if let Some((frames, took)) = batch.take_flushed() {
            pacing.flushed(frames, took);
            read_batch.store(pacing.read_batch(), Ordering::Relaxed);
        }
        written.map(|end| match end {
            WriterEnd::Failed(why) => End::Failed(why),
            WriterEnd::Stopped => match session.take_violation() {
                Some(error) => End::Violation(violation_code(&error), error),
                None => End::Shutdown,
            },
        })
    });
    // The reader first (it yields after a batch), then the writer, which also sees a request to
    // stop (`Outbox::stop`).
    let mut reader = pin!(reader);
    let mut writer = pin!(writer);
    let end = poll_fn(|cx| {
        if let Poll::Ready(end) = reader.as_mut().poll(cx) {
            return Poll::Ready(end);
        }
        writer.as_mut().poll(cx)
    })
    .await;

    // A close handshake took place: the server closed, or the user disconnected.
    let clean = matches!(end, End::Closed(..) | End::Shutdown);
    let (close_frame, error) = end.outcome();
    // Fail the calls first: nothing the peer does from here on may keep a caller waiting.
    let sink = session.outbox.close();
    session.fail_all(error, clean);
    if let (Some((code, reason)), Some(mut sink)) = (close_frame, sink) {
        let reason = close::truncate_reason(reason);
        let _ = rt::timeout(CLOSE_GRACE, sink.send(Outgoing::Close(code, reason))).await;
    }
}

/// Handles what the transport delivered: `Some` with how the connection ends, `None` to go on.
fn on_incoming<S: ?Sized + ServiceSchema>(
    session: &Session<S>,
    next: Option<Result<Incoming, ReadError>>,
) -> Option<End> {
    match next {
        #[cfg(hardlight_native)]
        Some(Ok(Incoming::Pong)) => None,
        #[cfg(hardlight_native)]
        Some(Ok(Incoming::Ping(payload))) => {
            session.outbox.pong(payload);
            None
        }
        Some(Ok(Incoming::Binary(message))) => session
            .on_message(message)
            .err()
            .map(|e| End::Violation(violation_code(&e), e)),
        Some(Ok(Incoming::Text)) => Some(End::Violation(
            close::UNSUPPORTED_DATA,
            ProtocolError::Unexpected("text message from the server".into()).into(),
        )),
        Some(Ok(Incoming::Close { code, reason })) => Some(End::Closed(code, reason)),
        Some(Err(ReadError::TooLarge(why))) => Some(End::Violation(
            close::MESSAGE_TOO_BIG,
            RpcError::LimitExceeded(why),
        )),
        Some(Err(ReadError::Failed(why))) => Some(End::Failed(why)),
        #[cfg(hardlight_native)]
        Some(Err(ReadError::Malformed(why))) => Some(End::Violation(
            close::PROTOCOL_ERROR,
            ProtocolError::WebSocket(why).into(),
        )),
        None => Some(End::Lost),
    }
}

/// The close code for a violation found in a message: too big after inflation, or malformed.
fn violation_code(error: &RpcError) -> u16 {
    match error {
        RpcError::LimitExceeded(_) => close::MESSAGE_TOO_BIG,
        _ => close::PROTOCOL_ERROR,
    }
}
