//! Receiving events and watching state changes on the client.

use tokio::sync::{broadcast, watch};

use crate::error::Error;
use crate::events::Event;

/// The events of the topics the server subscribed this connection to; see `Client::subscribe`.
///
/// Each subscription receives every event that arrives after it was created, in arrival order.
#[derive(Debug)]
pub struct Subscription<E> {
    pub(crate) rx: broadcast::Receiver<Event<E>>,
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// This subscription fell behind by this many events, which were dropped; the next `recv` returns
    /// the oldest event still kept.
    #[error("subscription lagged behind; {0} events were dropped")]
    Lagged(u64),
    /// The connection ended; no more events will arrive on this subscription.
    #[error("the connection ended")]
    Closed,
}

impl<E: Clone> Subscription<E> {
    /// The next event.
    pub async fn recv(&mut self) -> Result<Event<E>, RecvError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }

    /// An event if one has arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Event<E>, RecvError>> {
        match self.rx.try_recv() {
            Ok(event) => Some(Ok(event)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
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
    /// [`Error::NotConnected`] once the client is gone.
    pub async fn changed(&mut self) -> Result<T, Error> {
        self.rx.changed().await.map_err(|_| Error::NotConnected)?;
        Ok(self.rx.borrow_and_update().clone())
    }
}
