//! What happens to a client's connection, as events its user can follow: connected, disconnected
//! (and why), reconnecting, given up.

use std::time::Duration;

use tokio::sync::broadcast;

use super::subscription::RecvError;
use crate::error::{Chain, ConnectError, RpcError};

/// Connection events kept for a [`ConnectionEvents`] receiver that has not read them yet.
pub(crate) const EVENT_BUFFER: usize = 64;

/// A change in a client's connection; see [`Client::connection_events`](super::Client::connection_events).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connected (by [`Client::connect`](super::Client::connect) or by a reconnect): the state
    /// snapshot is fresh and calls go through.
    Connected,
    /// The connection ended. Calls in flight failed with
    /// [`RpcError::ConnectionClosed`](crate::RpcError::ConnectionClosed); none is retried.
    Disconnected {
        /// The close code, if the connection was closed with one (sent by the server, or by this
        /// client: 1000 when its user disconnected, 4009 when the server went silent).
        code: Option<u16>,
        /// The close reason, or how the connection was lost (with the failure's causes).
        reason: String,
        /// True when the connection was closed with a close handshake (the server closed it, or
        /// the user disconnected); false when it was lost (reset, dropped, silent, broken).
        clean: bool,
    },
    /// Attempt `attempt` (from 1) to connect again starts after `delay`.
    Reconnecting {
        /// Which attempt, counting from 1 since the connection was lost.
        attempt: u32,
        /// How long the client waits before it.
        delay: Duration,
    },
    /// Reconnecting stopped: the last attempt failed with `error`, which either no further attempt
    /// can change (a refusal such as a different schema version or rejected credentials) or was
    /// the last one [`Reconnect::max_attempts`](super::Reconnect::max_attempts) allowed. Calls
    /// waiting for the connection fail; [`Client::connect`](super::Client::connect) may be called again.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        error: ConnectError,
    },
}

impl ConnectionEvent {
    pub(crate) fn disconnected(why: &RpcError, clean: bool) -> Self {
        let (code, reason) = match why {
            RpcError::ConnectionClosed {
                code,
                reason,
                source: None,
            } => (*code, reason.clone()),
            RpcError::ConnectionClosed {
                code,
                reason,
                source: Some(failure),
            } => (*code, format!("{reason}: {}", Chain(failure))),
            other => (None, Chain(other).to_string()),
        };
        Self::Disconnected {
            code,
            reason,
            clean,
        }
    }
}

/// Receives a client's [`ConnectionEvent`]s, from its creation on, in order.
#[derive(Debug)]
pub struct ConnectionEvents {
    pub(crate) rx: broadcast::Receiver<ConnectionEvent>,
}

impl ConnectionEvents {
    /// The next event.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] when this receiver fell more than 64 events behind (the oldest were
    /// dropped); [`RecvError::Closed`] once the client is dropped.
    pub async fn recv(&mut self) -> Result<ConnectionEvent, RecvError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }
}
