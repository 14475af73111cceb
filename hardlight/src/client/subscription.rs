//! Receiving events and watching state changes on the client.

use tokio::sync::{broadcast, watch};

use crate::error::RpcError;
use crate::events::Event;

/// The events of the topics the server subscribed this connection to; see `Client::subscribe`.
///
/// Each subscription receives every event that arrives after it was created, in arrival order.
pub struct Subscription<E> {
    pub(crate) rx: broadcast::Receiver<Event<E>>,
    /// False once the client stops connecting: then the subscription ends.
    pub(crate) live: watch::Receiver<bool>,
}

impl<E> std::fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("pending", &self.rx.len())
            .finish_non_exhaustive()
    }
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// This subscription fell behind by this many events, which were dropped; the next `recv` returns
    /// the oldest event still kept.
    #[error("subscription lagged behind; {0} events were dropped")]
    Lagged(u64),
    /// The connection ended and no other follows it (the client is not reconnecting, gave up, or
    /// was dropped); no more events will arrive.
    #[error("the connection ended")]
    Closed,
}

impl<E: Clone> Subscription<E> {
    /// The next event. When the client reconnects, the subscription carries on with the new
    /// connection's events.
    pub async fn recv(&mut self) -> Result<Event<E>, RecvError> {
        tokio::select! {
            biased;
            received = self.rx.recv() => received.map_err(recv_error),
            // The client stopped connecting (or is gone): what arrived before is still delivered.
            _ = self.live.wait_for(|live| !*live) => match self.rx.try_recv() {
                Ok(event) => Ok(event),
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(_) => Err(RecvError::Closed),
            },
        }
    }

    /// An event if one has arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Event<E>, RecvError>> {
        match self.rx.try_recv() {
            Ok(event) => Some(Ok(event)),
            Err(broadcast::error::TryRecvError::Empty) if *self.live.borrow() => None,
            Err(broadcast::error::TryRecvError::Empty) => Some(Err(RecvError::Closed)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
    }
}

fn recv_error(e: broadcast::error::RecvError) -> RecvError {
    match e {
        broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
        broadcast::error::RecvError::Closed => RecvError::Closed,
    }
}

/// Watches the client's copy of the connection state; see `Client::watch_state`.
#[derive(Debug, Clone)]
pub struct StateWatcher<T> {
    pub(crate) rx: watch::Receiver<T>,
}

impl<T: Clone> StateWatcher<T> {
    /// The state now.
    pub fn current(&self) -> T {
        self.rx.borrow().clone()
    }

    /// Waits for the next change and returns the state after it.
    ///
    /// # Errors
    /// [`RpcError::NotConnected`] once the client is gone.
    pub async fn changed(&mut self) -> Result<T, RpcError> {
        self.rx
            .changed()
            .await
            .map_err(|_| RpcError::NotConnected)?;
        Ok(self.rx.borrow_and_update().clone())
    }
}
