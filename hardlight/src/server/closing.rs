//! The end of a connection: why its loop stopped, and closing it, which tells its `on_disconnect`
//! hook how it ended.

use std::time::Duration;

use tokio::time::timeout;

use super::disconnect::Disconnect;
use super::io::Socket;
use crate::events::outbound::CloseReason;
use crate::wire::close;
use crate::ws::server::Message;

/// How long closing may take once decided: flushing the close frame to a peer that does not read,
/// and waiting for its answer.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Messages read at most, after the server's close frame, while waiting for the client's answer.
const READ_AFTER_CLOSE: usize = 64;

/// Why the connection loop stopped.
pub(super) enum End {
    /// Close with this code and reason.
    Close(CloseReason),
    /// The client sent a close frame: its code (`None`: a frame without one) and reason.
    ClosedByClient(Option<u16>, String),
    /// The connection failed, or ended without a close frame: how.
    Lost(String),
}

/// Closes the connection as `end` says, within [`CLOSE_GRACE`], and tells how it ended.
///
/// A close the server decides is sent, then the client's answer awaited: its close frame, or the
/// end of the connection. A client's close frame is answered with its code (RFC 6455 §5.5.1), and
/// the stream shut (the server closes TCP first, §7.1.1).
pub(super) async fn close(ws: &mut Socket, end: End) -> Disconnect {
    match end {
        End::Close(CloseReason { code, reason }) => {
            tracing::debug!(code, %reason, "closing");
            ws.close(Some(code), &reason);
            let answered = async {
                ws.flush().await.ok()?;
                // Messages already on their way come first, then the client's close frame. A peer
                // that keeps sending is not listening.
                for _ in 0..=READ_AFTER_CLOSE {
                    match ws.next().await {
                        Some(Ok(Message::Close(..))) | Some(Err(_)) | None => return Some(()),
                        Some(Ok(_)) => {}
                    }
                }
                None
            };
            let answered = matches!(timeout(CLOSE_GRACE, answered).await, Ok(Some(())));
            if answered {
                let _ = timeout(CLOSE_GRACE, ws.shutdown()).await;
            }
            Disconnect::by_server(code, reason, answered)
        }
        End::ClosedByClient(code, reason) => {
            // Without the answer, a browser would see the TCP connection drop: an unclean close.
            ws.close(code, "");
            let _ = timeout(CLOSE_GRACE, ws.shutdown()).await;
            Disconnect::by_client(code, reason)
        }
        End::Lost(how) => {
            ws.close(None, "");
            let _ = timeout(CLOSE_GRACE, ws.flush()).await;
            Disconnect::lost(how)
        }
    }
}

/// The connection failed while doing `what`.
pub(super) fn lost(what: &str, error: impl std::fmt::Display) -> End {
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
