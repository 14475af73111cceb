//! The router: NATS subscriptions that follow this server's topics, delivery of what they receive, and
//! round trips that tell when subscriptions are in effect.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::{Client, Event, Message, RequestErrorKind};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{AbortHandle, Abortable, BoxStream, FuturesUnordered, SelectAll};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;

use super::super::changes::TopicChanges;
use super::wire::{check_event, subject_for};
use super::{Inner, MAX_BRIDGED_TOPIC, ORIGIN_HEADER};
use crate::events::registry::{TopicNotification, TopicRegistry};
use crate::topic::Topic;

type Incoming = Abortable<BoxStream<'static, (Arc<[u8]>, Message)>>;
/// A finished round trip: the connection epoch it was sent in, the topic changes it covers, and
/// whether the NATS server answered.
type SyncDone = (u64, u64, bool);

/// The router: NATS subscriptions that follow local topics, and delivery of what they receive. One
/// task does both, so a topic's subscription is replaced only after its last message was delivered:
/// no event reaches a client twice.
pub(super) struct Router {
    inner: Arc<Inner>,
    client: Client,
    registry: Arc<TopicRegistry>,
    active: HashMap<Topic, AbortHandle>,
    incoming: SelectAll<Incoming>,
    /// Topic changes applied (subscribe or unsubscribe sent to the client), or cancelled out
    /// before they had to be: every change numbered up to this one.
    applied: u64,
    connected: bool,
    /// Counts connections; a round trip only proves something on the connection it was sent on.
    epoch: u64,
    sync_in_flight: bool,
    sync_wanted: bool,
    syncs: FuturesUnordered<BoxFuture<'static, SyncDone>>,
    /// An unreachable NATS is reported once per outage, not once per attempt.
    outage_reported: bool,
}

impl Router {
    pub(super) fn new(inner: Arc<Inner>, client: Client, registry: Arc<TopicRegistry>) -> Self {
        Self {
            inner,
            client,
            registry,
            active: HashMap::new(),
            incoming: SelectAll::new(),
            applied: 0,
            connected: false,
            epoch: 0,
            sync_in_flight: false,
            sync_wanted: false,
            syncs: FuturesUnordered::new(),
            outage_reported: false,
        }
    }

    pub(super) async fn run(
        mut self,
        changes: Arc<TopicChanges>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        loop {
            tokio::select! {
                Some(event) = events.recv() => self.on_connection(event),
                change = changes.pop() => match change {
                    Some(change) => {
                        let done = changes.done_through();
                        self.on_topic(change).await;
                        self.applied = self.applied.max(done);
                    }
                    None => return,
                },
                Some((topic, message)) = self.incoming.next(), if !self.incoming.is_empty() => {
                    self.deliver(&topic, &message);
                }
                Some(done) = self.syncs.next(), if !self.syncs.is_empty() => self.on_synced(done),
            }
            self.start_sync();
        }
    }

    fn on_connection(&mut self, event: Event) {
        let url = &self.inner.shown_url;
        match event {
            Event::Connected => {
                tracing::info!(url, "NATS bridge connected");
                self.connected = true;
                self.outage_reported = false;
                self.epoch += 1;
                self.sync_in_flight = false;
                self.sync_wanted = true;
                self.inner.update(|s| {
                    s.status.connected = true;
                    s.synced = 0;
                });
            }
            Event::Disconnected => {
                tracing::warn!(
                    url,
                    "NATS bridge: lost the connection; reconnecting (local events are unaffected)"
                );
                self.connected = false;
                self.outage_reported = true;
                self.inner.update(|s| {
                    s.status.connected = false;
                    s.synced = 0;
                });
            }
            Event::ClientError(e) if !self.connected => {
                if !std::mem::replace(&mut self.outage_reported, true) {
                    tracing::error!(
                        url,
                        error = %e,
                        "NATS bridge: NATS is unreachable; events stay on this server and the bridge \
                         keeps retrying"
                    );
                } else {
                    tracing::debug!(url, error = %e, "NATS bridge: still unreachable");
                }
            }
            other => tracing::warn!(url, event = %other, "NATS bridge: NATS reported a problem"),
        }
    }

    async fn on_topic(&mut self, change: TopicNotification) {
        self.sync_wanted = true;
        match change {
            TopicNotification::Created(topic) => {
                let Some(subject) =
                    subject_for(&self.inner.config.subject_prefix, topic.as_bytes())
                else {
                    tracing::warn!(
                        len = topic.as_bytes().len(),
                        "NATS bridge: topic longer than {MAX_BRIDGED_TOPIC} bytes; not bridged"
                    );
                    return;
                };
                let subscriber = match self.client.subscribe(subject).await {
                    Ok(subscriber) => subscriber,
                    Err(e) => {
                        tracing::error!(error = %e, "NATS bridge: could not subscribe");
                        return;
                    }
                };
                let tag: Arc<[u8]> = topic.as_bytes().into();
                let tagged = subscriber
                    .map(move |message| (tag.clone(), message))
                    .boxed();
                let (stream, handle) = futures_util::stream::abortable(tagged);
                self.incoming.push(stream);
                self.active.insert(topic, handle);
            }
            TopicNotification::Removed(topic) => {
                // The stream ends at once, before yielding anything more; dropping its subscriber
                // unsubscribes on NATS.
                if let Some(handle) = self.active.remove(&topic) {
                    handle.abort();
                }
            }
        }
        let subscriptions = self.active.len();
        self.inner
            .update(|s| s.status.subscriptions = subscriptions);
    }

    /// Delivers a message from NATS to local subscribers, if it is a valid event from another server.
    fn deliver(&self, topic: &[u8], message: &Message) {
        let origin = message.headers.as_ref().and_then(|h| h.get(ORIGIN_HEADER));
        if origin.is_some_and(|origin| origin.as_str() == self.inner.origin) {
            return;
        }
        // Bytes from NATS are untrusted: forward only what this server could have emitted itself.
        match check_event(topic, &message.payload, self.registry.max_frame) {
            Ok(()) => {
                self.registry.deliver(topic, &message.payload);
                self.inner.update(|s| s.status.received += 1);
                self.inner.metrics().received.increment(1);
            }
            Err(why) => {
                tracing::warn!(subject = %message.subject, why, "NATS bridge: ignored a message");
                self.inner.update(|s| s.status.rejected += 1);
            }
        }
    }

    /// Starts a round trip when subscription changes or a new connection are not yet known to be in
    /// effect on the NATS server; one at a time, covering every change applied so far.
    fn start_sync(&mut self) {
        if !(self.connected && self.sync_wanted && !self.sync_in_flight) {
            return;
        }
        self.sync_wanted = false;
        self.sync_in_flight = true;
        let (client, epoch, target) = (self.client.clone(), self.epoch, self.applied);
        let subject = format!(
            "{}._sync.{}",
            self.inner.config.subject_prefix, self.inner.origin
        );
        self.syncs.push(
            async move {
                // Nobody answers this subject, so the NATS server itself replies "no responders",
                // after processing everything this connection sent before: subscriptions included.
                let ok = match client.request(subject, Bytes::new()).await {
                    Ok(_) => true,
                    Err(e) => e.kind() == RequestErrorKind::NoResponders,
                };
                (epoch, target, ok)
            }
            .boxed(),
        );
    }

    fn on_synced(&mut self, (epoch, target, ok): SyncDone) {
        if epoch != self.epoch {
            return;
        }
        self.sync_in_flight = false;
        if ok {
            self.inner.update(|s| s.synced = s.synced.max(target));
        } else {
            self.sync_wanted = true;
        }
    }
}
