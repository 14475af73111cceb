//! The end of a connection: why its loop stopped, and closing it, which tells its `on_disconnect`
//! hook how it ended.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::disconnect::Disconnect;
use crate::events::outbound::CloseReason;
use super::io::Io;
use crate::wire::close;

/// How long closing may take once decided: flushing the close frame to a peer that does not read,
/// and waiting for its answer.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Messages read at most, after the server's close frame, while waiting for the client's answer.
const READ_AFTER_CLOSE: usize = 64;

/// Why the connection loop stopped.
pub(super) enum End {
    /// Close with this code and reason.
    Close(CloseReason),
    /// The client sent a close frame (`None`: one without a code).
    ClosedByClient(Option<CloseFrame>),
    /// The connection failed, or ended without a close frame: how.
    Lost(String),
}

/// Closes the connection as `end` says, within [`CLOSE_GRACE`], and tells how it ended.
///
/// A close the server decides is sent, then the client's answer awaited: its close frame, or the
/// end of the connection. The answer to a client's close frame (queued by tungstenite, echoing its
/// code) is flushed before the connection is dropped.
pub(super) async fn close(ws: &mut WebSocketStream<Io>, end: End) -> Disconnect {
    match end {
        End::Close(CloseReason { code, reason }) => {
            tracing::debug!(code, %reason, "closing");
            let frame = CloseFrame {
                code: code.into(),
                reason: reason.as_str().into(),
            };
            let answered = async {
                ws.close(Some(frame)).await.ok()?;
                // Messages already on their way come first, then the client's close frame, after
                // which tungstenite ends the stream. A peer that keeps sending is not listening.
                for _ in 0..=READ_AFTER_CLOSE {
                    match ws.next().await {
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return Some(()),
                    }
                }
                None
            };
            let answered = matches!(timeout(CLOSE_GRACE, answered).await, Ok(Some(())));
            Disconnect::by_server(code, reason, answered)
        }
        End::ClosedByClient(frame) => {
            // tungstenite queued the answering close frame when it read the client's; flushing
            // writes it (a `close` would be refused as a send after closing, and the peer would see
            // the TCP connection drop without an answer: an unclean close to a browser). Dropping
            // the stream then closes TCP, the server's part of the closing handshake.
            let _ = timeout(CLOSE_GRACE, futures_util::SinkExt::flush(ws)).await;
            match frame {
                Some(frame) => {
                    Disconnect::by_client(Some(frame.code.into()), frame.reason.to_string())
                }
                None => Disconnect::by_client(None, String::new()),
            }
        }
        End::Lost(how) => {
            let _ = timeout(CLOSE_GRACE, ws.close(None)).await;
            Disconnect::lost(how)
        }
    }
}

/// The connection failed while doing `what`.
pub(super) fn lost(what: &str, error: WsError) -> End {
    End::Lost(format!("{what}: {error}"))
}

/// A close reason, cut to what a close frame holds.
pub(super) fn reason(code: u16, reason: impl Into<String>) -> CloseReason {
    CloseReason {
        code,
        reason: close::truncate_reason(reason.into()),
    }
}

/// Ends the connection closing with `code` and `why`.
pub(super) fn close_with(code: u16, why: impl Into<String>) -> End {
    End::Close(reason(code, why))
}
