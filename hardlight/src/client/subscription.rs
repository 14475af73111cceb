//! Receiving events and watching state changes on the client.

use tokio::sync::{broadcast, watch};

use crate::error::RpcError;
use crate::events::Event;

/// What a client's event channel carries to its subscriptions: the events of every connection, in
/// arrival order, and a mark each time the client stops connecting.
///
/// The mark travels behind the events that arrived before it, so a subscription delivers those and
/// then ends, with one wait per event (no second channel to watch beside it).
#[derive(Debug, Clone)]
pub(crate) enum Delivery<E> {
    /// An event, validated and decoded.
    Event(Event<E>),
    /// The client stopped connecting (the connection ended without reconnecting, reconnecting gave
    /// up, or the user disconnected).
    Ended,
}

/// The events of the topics the server subscribed this connection to; see `Client::subscribe`.
///
/// Each subscription receives every event that arrives after it was created, in arrival order.
pub struct Subscription<E> {
    rx: broadcast::Receiver<Delivery<E>>,
    /// True once the client stopped connecting, or is gone: nothing more is delivered.
    ended: bool,
}

impl<E> Subscription<E> {
    /// A subscription to what `events` carries from now on. `live` is read after subscribing: a
    /// client that stopped before then sent its [`Delivery::Ended`] too early for this receiver, and
    /// the subscription starts ended; one that stops later sends it to this receiver too.
    pub(crate) fn new(events: &broadcast::Sender<Delivery<E>>, live: &watch::Sender<bool>) -> Self {
        let rx = events.subscribe();
        let ended = !*live.borrow();
        Self { rx, ended }
    }
}

impl<E> std::fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("pending", &self.rx.len())
            .field("ended", &self.ended)
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
    /// connection's events; once the client stops connecting, the events that arrived before are
    /// still delivered, then [`RecvError::Closed`], every time.
    pub async fn recv(&mut self) -> Result<Event<E>, RecvError> {
        if self.ended {
            return Err(RecvError::Closed);
        }
        match self.rx.recv().await {
            Ok(Delivery::Event(event)) => Ok(event),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            // The mark, or the client is gone.
            Ok(Delivery::Ended) | Err(broadcast::error::RecvError::Closed) => self.end(),
        }
    }

    /// An event if one has arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Result<Event<E>, RecvError>> {
        if self.ended {
            return Some(Err(RecvError::Closed));
        }
        match self.rx.try_recv() {
            Ok(Delivery::Event(event)) => Some(Ok(event)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            Ok(Delivery::Ended) | Err(broadcast::error::TryRecvError::Closed) => Some(self.end()),
        }
    }

    fn end(&mut self) -> Result<Event<E>, RecvError> {
        self.ended = true;
        Err(RecvError::Closed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::Topic;

    fn event(n: u32) -> Delivery<u32> {
        Delivery::Event(Event {
            topic: Topic::from("t"),
            payload: n,
        })
    }

    #[tokio::test]
    async fn events_before_the_end_mark_are_delivered_then_it_stays_closed() {
        let (events, _) = broadcast::channel(8);
        let live = watch::channel(true).0;
        let mut subscription = Subscription::new(&events, &live);
        assert!(subscription.try_recv().is_none());
        events.send(event(1)).unwrap();
        events.send(event(2)).unwrap();
        live.send_replace(false);
        events.send(Delivery::Ended).unwrap();
        // An event of a later connection (the user connected again) is not delivered.
        events.send(event(3)).unwrap();
        assert_eq!(subscription.recv().await.unwrap().payload, 1);
        assert_eq!(subscription.try_recv().unwrap().unwrap().payload, 2);
        assert_eq!(subscription.recv().await, Err(RecvError::Closed));
        assert_eq!(subscription.recv().await, Err(RecvError::Closed));
        assert_eq!(subscription.try_recv(), Some(Err(RecvError::Closed)));
    }

    #[tokio::test]
    async fn a_subscription_made_after_the_client_stopped_starts_closed() {
        let (events, _) = broadcast::channel::<Delivery<u32>>(8);
        let live = watch::channel(false).0;
        let mut subscription = Subscription::new(&events, &live);
        assert_eq!(subscription.recv().await, Err(RecvError::Closed));
    }

    #[tokio::test]
    async fn a_dropped_client_closes_its_subscriptions() {
        let (events, _) = broadcast::channel::<Delivery<u32>>(8);
        let live = watch::channel(true).0;
        let mut subscription = Subscription::new(&events, &live);
        drop(events);
        assert_eq!(subscription.recv().await, Err(RecvError::Closed));
    }
}
