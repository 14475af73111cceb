//! Runs an established session over any message transport until the connection ends.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use super::session::{Incoming, Outbox, Session};
use crate::error::Error;
use crate::keepalive::{Due, Keepalive};
use crate::server::handler::ServiceSchema;
use crate::wire::close;
use crate::wire::compression::seal;
use crate::wire::frame::encode_cancel;

/// A message for a transport to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A binary message: one frame.
    Binary(Vec<u8>),
    /// A keepalive ping.
    Ping,
    /// A close frame.
    Close(u16, String),
}

/// What the writer does next.
enum Next {
    Frame(Vec<u8>),
    Closed,
    Cancel(u32),
    Keepalive(Due),
}

/// Frames written before one flush.
const WRITE_BATCH: usize = 256;
/// Time allowed to send our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

enum End {
    Closed(Option<u16>, String),
    /// Nothing arrived within the idle timeout.
    Silent(Duration),
    /// The server broke the protocol: close with this code.
    Violation(u16, Error),
    Failed(String),
    Shutdown,
}

/// Pumps messages between the transport and the session; when the connection ends, for whatever
/// reason, every call in flight fails with the reason.
pub(crate) async fn drive<S, Si, St>(
    session: Arc<Session<S>>,
    mut sink: Si,
    mut stream: St,
    outbox: Outbox,
    keepalive: Keepalive,
) where
    S: ?Sized + ServiceSchema,
    Si: Sink<Outgoing, Error = Error> + Unpin,
    St: Stream<Item = Result<Incoming, Error>> + Unpin,
{
    let compression = session.compression;
    let Outbox {
        calls: mut outbound,
        mut cancelled,
    } = outbox;
    // The reader notes when it last heard the server (milliseconds since `base`); the writer, which
    // owns the keepalive timer and the sink, reads it when the timer fires.
    let mut keepalive = keepalive;
    let base = Instant::now();
    let heard_ms = AtomicU64::new(0);
    let reader = async {
        loop {
            let next = stream.next().await;
            heard_ms.store(base.elapsed().as_millis() as u64, Ordering::Relaxed);
            match next {
                Some(Ok(Incoming::Control)) => {}
                Some(Ok(Incoming::Binary(message))) => {
                    if let Err(e) = session.on_message(&message) {
                        return End::Violation(violation_code(&e), e);
                    }
                }
                Some(Ok(Incoming::Text)) => {
                    return End::Violation(
                        close::UNSUPPORTED_DATA,
                        Error::Protocol("text message from the server".into()),
                    );
                }
                Some(Ok(Incoming::Close { code, reason })) => return End::Closed(code, reason),
                Some(Err(e @ Error::LimitExceeded(_))) => {
                    return End::Violation(close::MESSAGE_TOO_BIG, e);
                }
                Some(Err(e)) => return End::Failed(e.to_string()),
                None => return End::Failed("connection lost".into()),
            }
        }
    };
    let writer = async {
        loop {
            // Calls first (a `CANCEL` then never overtakes the `CALL` it cancels), then cancels,
            // then the keepalive; the common case polls one channel and nothing else.
            let next = poll_fn(|cx| {
                if let Poll::Ready(frame) = outbound.poll_recv(cx) {
                    return Poll::Ready(frame.map_or(Next::Closed, Next::Frame));
                }
                if let Poll::Ready(Some(call_id)) = cancelled.poll_recv(cx) {
                    return Poll::Ready(Next::Cancel(call_id));
                }
                let heard = base + Duration::from_millis(heard_ms.load(Ordering::Relaxed));
                keepalive.heard_at(heard);
                keepalive.poll_due(cx).map(Next::Keepalive)
            })
            .await;
            let frame = match next {
                Next::Frame(frame) => frame,
                Next::Closed => break,
                Next::Cancel(call_id) => {
                    sink.send(Outgoing::Binary(seal(encode_cancel(call_id), compression)))
                        .await?;
                    continue;
                }
                Next::Keepalive(Due::Ping) => {
                    sink.send(Outgoing::Ping).await?;
                    continue;
                }
                Next::Keepalive(Due::Expired) => {
                    return Ok(Some(keepalive.idle_timeout()));
                }
            };
            sink.feed(Outgoing::Binary(seal(frame, compression)))
                .await?;
            let mut batch = 1;
            let mut yielded = false;
            loop {
                while batch < WRITE_BATCH {
                    let Ok(frame) = outbound.try_recv() else {
                        break;
                    };
                    sink.feed(Outgoing::Binary(seal(frame, compression)))
                        .await?;
                    batch += 1;
                }
                // With other calls in flight, callers woken by the last replies are about to queue
                // their next calls: let them run once so the batch leaves in one write. A lone call
                // is flushed at once.
                if yielded || batch >= WRITE_BATCH || session.calls_in_flight() <= batch {
                    break;
                }
                yielded = true;
                tokio::task::yield_now().await;
            }
            sink.flush().await?;
        }
        Ok::<_, Error>(None)
    };
    let end = tokio::select! {
        end = reader => end,
        written = writer => match written {
            Err(e) => End::Failed(e.to_string()),
            Ok(Some(silent)) => End::Silent(silent),
            Ok(None) => End::Shutdown,
        },
        () = session.shutdown_requested() => End::Shutdown,
    };

    let (close_frame, error) = match end {
        End::Closed(code, reason) => (None, Error::ConnectionClosed { code, reason }),
        End::Violation(code, error) => {
            tracing::warn!(%error, "server broke the protocol; closing");
            (Some((code, error.to_string())), error)
        }
        End::Failed(reason) => (None, Error::ConnectionClosed { code: None, reason }),
        End::Silent(timeout) => {
            let reason = format!("nothing received from the server for {timeout:?}");
            tracing::warn!(%reason, "connection presumed dead");
            (
                Some((close::IDLE_TIMEOUT, reason.clone())),
                Error::ConnectionClosed {
                    code: Some(close::IDLE_TIMEOUT),
                    reason,
                },
            )
        }
        End::Shutdown => (
            Some((close::NORMAL, String::new())),
            Error::ConnectionClosed {
                code: Some(close::NORMAL),
                reason: "disconnected by the client".into(),
            },
        ),
    };
    // Fail the calls first: nothing the peer does from here on may keep a caller waiting.
    session.fail_all(error);
    if let Some((code, reason)) = close_frame {
        let reason = close::truncate_reason(reason);
        let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Outgoing::Close(code, reason))).await;
    }
}

/// The close code for a violation found in a message: too big after inflation, or malformed.
fn violation_code(error: &Error) -> u16 {
    match error {
        Error::LimitExceeded(_) => close::MESSAGE_TOO_BIG,
        _ => close::PROTOCOL_ERROR,
    }
}
