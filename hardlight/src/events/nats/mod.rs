//! The NATS bridge (feature `nats`): topic events cross between hardlight servers attached to the same
//! NATS, so an emit on any server reaches the topic's subscribers on every server.
//!
//! Each server's bridge has one NATS connection and two tasks, owned by the running server:
//! - the publisher sends every local emit, in emit order, from a bounded queue that `emit` never
//!   waits on: when NATS is away too long the queue fills and events are dropped (counted), so delivery
//!   across servers is at most once;
//! - the router follows the registry's topic changes, holding a NATS subscription to a topic's
//!   subject exactly while the topic has local subscribers, and delivers what arrives to them.
//!
//! Events travel as the EVENT frames sent to clients (encoded once for every server), with a header
//! naming the server that emitted them (`wire.rs`; `docs/PROTOCOL.md` §7.1). This module is the only
//! code that knows NATS.

mod publisher;
mod router;
mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::ConnectOptions;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::changes::TopicChanges;
use super::registry::TopicRegistry;
use crate::error::ServerError;
use crate::metrics::NatsMetrics;
use crate::wire::auth::{Plus, percent_decode};

/// Default [`NatsConfig::subject_prefix`].
pub const DEFAULT_SUBJECT_PREFIX: &str = "hardlight.events";
/// Default [`NatsConfig::queue`]: events waiting to be published.
pub const DEFAULT_NATS_QUEUE: usize = 8192;
/// Longest topic, in bytes, that is bridged. Its subject (two hex digits per byte) must fit the NATS
/// server's 4 KiB protocol line; longer topics stay on their server.
pub const MAX_BRIDGED_TOPIC: usize = 1024;
/// The header naming the server that emitted an event.
pub const ORIGIN_HEADER: &str = "Hardlight-Origin";
/// How long a round trip to the NATS server may take before it is tried again.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how a server bridges its events through NATS; give it to
/// [`ServerConfig::nats`](crate::ServerConfig::nats).
///
/// ```
/// use hardlight::events::NatsConfig;
/// let config = NatsConfig::new("nats://127.0.0.1:4222").subject_prefix("chat.events");
/// assert_eq!(config.url(), "nats://127.0.0.1:4222");
/// ```
///
/// Credentials in the URL (`nats://user:password@host`, `nats://token@host`) are handed to NATS as
/// its `CONNECT` options, never as part of a URL, and are shown nowhere: `Debug` output, errors and
/// logs have `<redacted>` in their place.
#[derive(Clone)]
pub struct NatsConfig {
    url: String,
    subject_prefix: String,
    queue: usize,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &crate::redact::addresses(&self.url))
            .field("subject_prefix", &self.subject_prefix)
            .field("queue", &self.queue)
            .finish()
    }
}

impl NatsConfig {
    /// Bridges through the NATS server(s) at `url`: `nats://host:port`, several separated by commas,
    /// `tls://` for TLS, credentials as `nats://user:password@host:port` or a token as
    /// `nats://token@host:port` (percent-encode `@`, `:` and `%` in them; every URL of the list
    /// carries the same credentials, or only the first does).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            queue: DEFAULT_NATS_QUEUE,
        }
    }

    /// The first tokens of every subject (default `hardlight.events`). Servers bridge to each other
    /// only if they use the same prefix; at most 256 characters, no spaces or wildcards.
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into();
        self
    }

    /// Emitted events that may wait to be published (default 8192, at least 1). While NATS is
    /// unreachable they wait here; once it is full, further events are dropped for other servers (local
    /// subscribers still get them) and counted in [`NatsStatus::dropped`].
    pub fn queue(mut self, events: usize) -> Self {
        self.queue = events.max(1);
        self
    }

    /// The NATS URL, as given (credentials included).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl From<&str> for NatsConfig {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for NatsConfig {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

/// What a bridge is doing, from [`NatsBridge::status`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsStatus {
    /// Connected to NATS now.
    pub connected: bool,
    /// NATS subscriptions held: one per topic with local subscribers.
    pub subscriptions: usize,
    /// Local emits handed to NATS.
    pub published: u64,
    /// Events from other servers delivered to local subscribers.
    pub received: u64,
    /// Local emits not sent to other servers: the queue was full or NATS refused them (too large).
    pub dropped: u64,
    /// Messages on a bridged subject that were not a valid event for it, and were ignored.
    pub rejected: u64,
    /// Topic changes waiting for the bridge to apply them on NATS (while NATS is slow or away):
    /// at most one per topic, since a change and the next one of the same topic cancel out.
    pub pending_changes: usize,
}

/// A server's NATS bridge: its status, and a way to wait for it. Get it with
/// [`Server::nats_bridge`](crate::Server::nats_bridge); clones share one bridge.
#[derive(Clone)]
pub struct NatsBridge {
    inner: Arc<Inner>,
}

struct Inner {
    config: NatsConfig,
    /// The URL as logs and `Debug` show it: without credentials.
    shown_url: String,
    /// Random per server: marks its publications so that it never delivers them twice.
    origin: String,
    state: watch::Sender<State>,
    /// Topic changes the registry has reported to the router.
    changes_sent: AtomicU64,
    /// The topic changes the router has yet to apply.
    changes: Arc<TopicChanges>,
    /// Set while the queue is full, so that a long outage logs once rather than once per event.
    dropping: AtomicBool,
    /// What the tasks take when the server binds.
    startup: Mutex<Option<Startup>>,
    /// Whether the bridge records metrics (the server's `ServerConfig::metrics`).
    metrics_enabled: bool,
    metrics: std::sync::OnceLock<NatsMetrics>,
}

#[derive(Default)]
struct State {
    status: NatsStatus,
    /// Topic changes known to be in effect on the NATS server, on the current connection.
    synced: u64,
}

struct Startup {
    outgoing: mpsc::Receiver<Bytes>,
}

impl NatsBridge {
    /// A bridge fed by `registry`'s emits and topic changes; it does nothing until [`Self::start`].
    pub(crate) fn attach(
        config: NatsConfig,
        registry: &mut TopicRegistry,
        metrics_enabled: bool,
    ) -> Self {
        let (outgoing_tx, outgoing) = mpsc::channel(config.queue);
        let (changes_tx, changes) = TopicChanges::channel();
        let inner = Arc::new(Inner {
            shown_url: crate::redact::addresses(&config.url),
            config,
            origin: wire::random_origin(),
            state: watch::Sender::default(),
            changes_sent: AtomicU64::new(0),
            changes,
            dropping: AtomicBool::new(false),
            startup: Mutex::new(Some(Startup { outgoing })),
            metrics_enabled,
            metrics: std::sync::OnceLock::new(),
        });
        let observer = inner.clone();
        // Like the user's notifier: never waits (subscribing is synchronous in handlers), and holds
        // at most one change per topic that the router has not applied yet.
        registry.add_observer(Box::new(move |change| {
            observer.changes_sent.fetch_add(1, Ordering::Relaxed);
            changes_tx.send(change);
        }));
        let relay = inner.clone();
        registry.set_relay(Box::new(move |frame| relay.enqueue(frame, &outgoing_tx)));
        Self { inner }
    }

    /// Connects (in the background: an unreachable NATS is retried, never fatal) and spawns the
    /// bridge's tasks into `tasks`, which stop when it is dropped.
    ///
    /// # Errors
    /// [`ServerError::InvalidNatsPrefix`] or [`ServerError::InvalidNatsUrl`] if the subject
    /// prefix or the URL cannot be used.
    pub(crate) async fn start(
        &self,
        registry: Arc<TopicRegistry>,
        tasks: &mut JoinSet<()>,
    ) -> Result<(), ServerError> {
        let Some(startup) = self.inner.startup.lock().ok().and_then(|mut s| s.take()) else {
            return Ok(());
        };
        let config = &self.inner.config;
        wire::check_prefix(&config.subject_prefix).map_err(|why| {
            ServerError::InvalidNatsPrefix {
                prefix: config.subject_prefix.clone(),
                reason: why.to_owned(),
            }
        })?;
        let invalid = |reason: &str, source: Option<Arc<dyn std::error::Error + Send + Sync>>| {
            ServerError::InvalidNatsUrl {
                url: self.inner.shown_url.clone(),
                reason: reason.to_owned(),
                source,
            }
        };
        let (urls, credentials) =
            split_credentials(&config.url).map_err(|why| invalid(why, None))?;
        let options = match credentials {
            None => ConnectOptions::new(),
            Some(Credentials::UserPassword(user, password)) => {
                ConnectOptions::with_user_and_password(user, password)
            }
            Some(Credentials::Token(token)) => ConnectOptions::with_token(token),
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let client = options
            .name(format!("hardlight {}", self.inner.origin))
            // Our own publications are of no use to us; the origin header still guards against them.
            .no_echo()
            .retry_on_initial_connect()
            .request_timeout(Some(SYNC_TIMEOUT))
            .event_callback(move |event| {
                let _ = events_tx.send(event);
                std::future::ready(())
            })
            .connect(urls.as_slice())
            .await
            .map_err(|e| invalid("the NATS client refused it", Some(Arc::new(e))))?;
        tasks.spawn(publisher::run(
            self.inner.clone(),
            client.clone(),
            startup.outgoing,
        ));
        let router = router::Router::new(self.inner.clone(), client, registry);
        tasks.spawn(router.run(self.inner.changes.clone(), events));
        Ok(())
    }

    /// What the bridge is doing now.
    pub fn status(&self) -> NatsStatus {
        NatsStatus {
            pending_changes: self.inner.changes.len(),
            ..self.inner.state.borrow().status
        }
    }

    /// Resolves once `condition` holds for the bridge's status.
    pub async fn wait_for(&self, condition: impl Fn(&NatsStatus) -> bool) {
        let mut rx = self.inner.state.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|state| condition(&state.status)).await;
    }

    /// Resolves once the bridge is connected and every subscription change made on this server before
    /// the call is in effect on the NATS server: from then on, events emitted on any bridged server
    /// reach the topics subscribed here. Waits as long as NATS is unreachable; add a timeout.
    pub async fn wait_synced(&self) {
        let wanted = self.inner.changes_sent.load(Ordering::Relaxed);
        let mut rx = self.inner.state.subscribe();
        let _ = rx
            .wait_for(|state| state.status.connected && state.synced >= wanted)
            .await;
    }

    /// The random id this server puts in the `Hardlight-Origin` header of its publications.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The configuration the bridge runs with.
    pub fn config(&self) -> &NatsConfig {
        &self.inner.config
    }
}

impl std::fmt::Debug for NatsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBridge")
            .field("url", &self.inner.shown_url)
            .field("origin", &self.inner.origin)
            .field("status", &self.status())
            .finish()
    }
}

/// Credentials found in a NATS URL.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    UserPassword(String, String),
    Token(String),
}

/// The URLs of a comma-separated list without their userinfo, and the credentials it held:
/// `user:password@` or `token@`, percent-decoded. async-nats would neither use credentials left in a
/// URL nor keep them out of its own logs (it logs server addresses with `Debug`), so they travel as
/// options. The error says why the list is refused, without the credentials.
fn split_credentials(list: &str) -> Result<(Vec<String>, Option<Credentials>), &'static str> {
    let mut urls = Vec::new();
    let mut found: Option<Credentials> = None;
    for url in list.split(',').map(str::trim) {
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, url),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let Some((userinfo, after)) = rest[..authority_end].rsplit_once('@') else {
            urls.push(url.to_owned());
            continue;
        };
        let decode = |text: &str| {
            percent_decode(text, Plus::Literal).ok_or("credentials in a NATS URL must be UTF-8 once decoded")
        };
        let credentials = match userinfo.split_once(':') {
            Some((user, password)) => Credentials::UserPassword(decode(user)?, decode(password)?),
            None => Credentials::Token(decode(userinfo)?),
        };
        if found.as_ref().is_some_and(|first| *first != credentials) {
            return Err("the NATS URLs carry different credentials; NATS takes one set");
        }
        found = Some(credentials);
        let scheme = scheme
            .map(|scheme| format!("{scheme}://"))
            .unwrap_or_default();
        urls.push(format!("{scheme}{after}{}", &rest[authority_end..]));
    }
    Ok((urls, found))
}

impl Inner {
    /// Called by every emit: queues the frame for NATS without ever waiting.
    fn enqueue(&self, frame: &Bytes, queue: &mpsc::Sender<Bytes>) {
        match queue.try_send(frame.clone()) {
            Ok(()) => {
                if self.dropping.load(Ordering::Relaxed)
                    && self.dropping.swap(false, Ordering::Relaxed)
                {
                    tracing::info!("NATS bridge: the queue has room again; publishing resumed");
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        queue = self.config.queue,
                        "NATS bridge: the queue is full (is NATS reachable?); dropping events for \
                         other servers until it has room"
                    );
                }
                self.state.send_modify(|s| s.status.dropped += 1);
                self.metrics().dropped.increment(1);
            }
            // The server stopped, and its bridge with it.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// The metrics' handles, registered on first use.
    fn metrics(&self) -> &NatsMetrics {
        self.metrics
            .get_or_init(|| NatsMetrics::new(self.metrics_enabled))
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        self.state.send_modify(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_urls_and_travel_as_options() {
        let (urls, credentials) =
            split_credentials("nats://ada:p%40ss+w@h:1, tls://ada:p%40ss+w@h:2/x").unwrap();
        assert_eq!(urls, ["nats://h:1", "tls://h:2/x"]);
        assert_eq!(
            credentials,
            Some(Credentials::UserPassword("ada".into(), "p@ss+w".into()))
        );
        let (urls, credentials) = split_credentials("s3cret@h:1,nats://h:2").unwrap();
        assert_eq!(urls, ["h:1", "nats://h:2"]);
        assert_eq!(credentials, Some(Credentials::Token("s3cret".into())));
        assert_eq!(
            split_credentials("nats://h:1").unwrap(),
            (vec!["nats://h:1".to_owned()], None)
        );
        let refused = split_credentials("nats://a:s3cret@h:1,nats://b:other@h:2").unwrap_err();
        assert!(!refused.contains("s3cret"), "{refused}");
    }

    #[test]
    fn debug_hides_the_credentials() {
        let config = NatsConfig::new("nats://ada:s3cret@127.0.0.1:4222");
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("nats://<redacted>@127.0.0.1:4222"),
            "{debug}"
        );
    }
}
