//! The client: one connection to a server, typed calls through the struct `#[rpc]` generates
//! (`CounterClient` for `trait Counter`), the state mirror, event subscriptions, connection events
//! and reconnecting ([`Reconnect`]).
//!
//! Inside, the protocol logic (the private modules `session` and `driver`, with `outbox` for the way
//! out) knows nothing of sockets; `native` connects it to tokio's TCP and rustls, `browser` to a
//! browser's WebSocket (feature `wasm` on wasm32), and `reconnect` watches each connection and makes
//! the next.

mod admission;
#[cfg(hardlight_browser)]
mod browser;
mod calls;
mod config;
mod discovery;
mod driver;
mod intercept;
mod lifecycle;
#[cfg(hardlight_native)]
mod native;
mod outbox;
mod pacing;
mod reconnect;
mod request;
mod session;
mod sink;
mod stream;
mod subscription;
mod upload;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

#[allow(deprecated)]
pub use config::DEFAULT_CLIENT_MAX_MESSAGE_SIZE;
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_BUFFER, DEFAULT_MAX_MESSAGE_SIZE,
    WhenDisconnected,
};
pub use discovery::{OfferedService, offered_services};
pub use intercept::{CallOutcome, ClientInterceptor, OutgoingCall, Refusal};
pub use lifecycle::{ConnectionEvent, ConnectionEvents};
pub use reconnect::Reconnect;
use subscription::Delivery;
pub use subscription::{RecvError, StateWatcher, Subscription};

use crate::contract::{MethodReturn, ServiceSchema, StreamArg};
use crate::error::{CallError, ClosedError, ConnectError, RpcError};
use crate::metrics::{End, Failure, Outcome, ServiceMetrics};
use crate::rt::{self, Instant};
use crate::wire::Compression;
use crate::wire::frame::ReplyStatus;
use crate::wire::view::{Body, WireArgs};
use crate::wire::{Metadata, TraceParent};
#[cfg(hardlight_browser)]
use browser as transport;
#[cfg(hardlight_native)]
use native as transport;
use session::{Extensions, Session};
use tracing::Instrument;
use upload::Upload;

/// A client of service `S` (`dyn Trait` of an `#[rpc]` trait). Use it through the generated
/// `TraitClient`, which holds one (by composition, without `Deref`), adds one typed method per rpc
/// method, and forwards this one's public methods. A public method added here must be forwarded
/// there too: see `CLIENT_METHODS` in `hardlight-macros/src/names.rs` (an rpc method cannot take its
/// name).
///
/// Cheap to clone; clones share the connection. Dropping the last clone closes the connection.
pub struct Client<S: ?Sized + ServiceSchema> {
    inner: Arc<Inner<S>>,
    /// Deadline of each call made through this handle.
    timeout: Option<Duration>,
    /// Trace context each call made through this handle carries (instead of the current span's).
    trace: Option<TraceParent>,
    /// Metadata each call made through this handle carries.
    metadata: Option<Metadata>,
    _service: PhantomData<fn() -> *const S>,
}

struct Inner<S: ?Sized + ServiceSchema> {
    config: ClientConfig,
    link: watch::Sender<Link<S>>,
    /// True while connected or reconnecting: subscriptions follow the connections until it is false.
    live: watch::Sender<bool>,
    /// Held while connecting, so that one attempt runs at a time.
    connecting: tokio::sync::Mutex<()>,
    mirror: Mirror<S>,
    connected_once: AtomicBool,
    events: broadcast::Sender<ConnectionEvent>,
    /// The service's metrics, registered at the first call.
    metrics: std::sync::OnceLock<Arc<ServiceMetrics>>,
}

/// What every connection of a client feeds: the state mirror and the topic events, which outlive
/// any one connection.
pub(crate) struct Mirror<S: ?Sized + ServiceSchema> {
    state: watch::Sender<S::State>,
    events: broadcast::Sender<Delivery<S::Event>>,
    /// The schema texts of the services a server hosts, as it sent them when it last refused this
    /// client's fingerprint.
    server_schemas: std::sync::Mutex<Vec<String>>,
}

/// Where the client's connection is.
enum Link<S: ?Sized + ServiceSchema> {
    /// Never connected, or disconnected by the user.
    Idle,
    /// Connected (the session may have just ended: its watcher moves the link on).
    Up(Arc<Session<S>>),
    /// Lost (why), reconnecting.
    Reconnecting(RpcError),
    /// Lost, and not reconnecting (not configured, or given up): why the connection ended, or why
    /// the last attempt to reconnect failed.
    Down(ClosedError),
}

impl<S: ?Sized + ServiceSchema> Inner<S> {
    /// Moves the link on; returns the previous one.
    fn set_link(&self, link: Link<S>) -> Link<S> {
        let live = matches!(link, Link::Up(_) | Link::Reconnecting(_));
        let previous = self.link.send_replace(link);
        self.live.send_if_modified(|was| {
            let moved = std::mem::replace(was, live) != live;
            if moved && !live {
                // Behind every event of the connection that ended, and sent under the lock that
                // changes `live`, so that racing changes cannot put it after a later start; no
                // receiver is fine.
                let _ = self.mirror.events.send(Delivery::Ended);
            }
            moved
        });
        previous
    }

    fn emit(&self, event: ConnectionEvent) {
        // No receiver is fine: nobody follows this client's events.
        let _ = self.events.send(event);
    }
}

impl<S: ?Sized + ServiceSchema> Drop for Inner<S> {
    fn drop(&mut self) {
        if let Link::Up(session) = &*self.link.borrow() {
            session.shutdown();
        }
    }
}

impl<S: ?Sized + ServiceSchema> Clone for Client<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout: self.timeout,
            trace: self.trace,
            metadata: self.metadata.clone(),
            _service: PhantomData,
        }
    }
}

impl<S: ?Sized + ServiceSchema + 'static> Client<S> {
    /// A client that will connect as `config` says. Nothing happens until [`Client::connect`].
    pub fn new(config: ClientConfig) -> Self {
        Self {
            timeout: config.call_timeout,
            trace: None,
            metadata: None,
            inner: Arc::new(Inner {
                link: watch::channel(Link::Idle).0,
                live: watch::channel(false).0,
                connecting: tokio::sync::Mutex::new(()),
                mirror: Mirror {
                    state: watch::channel(S::State::default()).0,
                    events: broadcast::channel(config.event_buffer).0,
                    server_schemas: std::sync::Mutex::new(Vec::new()),
                },
                connected_once: AtomicBool::new(false),
                events: broadcast::channel(lifecycle::EVENT_BUFFER).0,
                config,
                metrics: std::sync::OnceLock::new(),
            }),
            _service: PhantomData,
        }
    }

    /// A client for a development server with a self-signed certificate (see
    /// [`ClientConfig::new_self_signed`]: encrypted, not authenticated; connecting prints a warning on
    /// stderr). Prefer [`ClientConfig::pinned`].
    pub fn new_self_signed(address: &str, compression: Compression) -> Self {
        Self::new(ClientConfig::new_self_signed(address).compression(compression))
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Connects, unless already connected: TCP, TLS, the WebSocket upgrade and the handshake. When it
    /// returns `Ok`, the initial state snapshot is in [`Client::state`].
    ///
    /// # Errors
    /// [`ConnectError::HandshakeRefused`] with the server's reason if it refused this client
    /// (another schema version, say), [`ConnectError::Unauthorized`] if it refused its credentials
    /// (do not retry with the same ones), [`ConnectError::InvalidToken`] if the configured token
    /// cannot be sent, [`ConnectError::InvalidAddress`], or a transport, TLS or timeout error (the
    /// I/O or rustls error underneath as the source). `connect` tries once;
    /// [`ClientConfig::reconnect`] takes over only once a connection it made is lost.
    pub async fn connect(&self) -> Result<(), ConnectError> {
        let _one_at_a_time = self.inner.connecting.lock().await;
        if self.session().is_ok() {
            return Ok(());
        }
        let session = transport::connect::<S>(&self.inner.config, &self.inner.mirror).await?;
        self.inner.set_link(Link::Up(session.clone()));
        self.inner.connected_once.store(true, Ordering::Release);
        self.inner.emit(ConnectionEvent::Connected);
        rt::spawn(reconnect::supervise(Arc::downgrade(&self.inner), session));
        Ok(())
    }

    /// The services the server said it hosts when it last refused this client's schema
    /// (`ConnectError::HandshakeRefused` with code 4001): their names, fingerprints and schema
    /// texts, to compare with [`schema`](fn@crate::schema)`::<S>()`. Empty if it never refused this
    /// client, or did not say (`ServerConfig::explain_schema_mismatch(false)`, or a server that
    /// does not know the `SCHEMA` frame).
    pub fn server_schemas(&self) -> Vec<OfferedService> {
        crate::locks::lock(&self.inner.mirror.server_schemas)
            .iter()
            .map(|text| OfferedService::from_text(text))
            .collect()
    }

    /// Closes the connection (and stops reconnecting). Calls in flight fail with
    /// [`RpcError::ConnectionClosed`].
    pub async fn disconnect(&self) {
        if let Link::Up(session) = self.inner.set_link(Link::Idle) {
            session.shutdown();
        }
    }

    /// Follows the connection: connected, disconnected (with the close code and reason, and whether
    /// the close was clean), reconnecting (which attempt), given up. Receives every event from now
    /// on.
    pub fn connection_events(&self) -> ConnectionEvents {
        ConnectionEvents {
            rx: self.inner.events.subscribe(),
        }
    }

    /// Resolves once the last connection made has ended (at once if it already has), with why:
    /// [`ClosedError::Ended`] with [`RpcError::ConnectionClosed`] and the server's close code and
    /// reason (1001 `server shutting down` when it shut down gracefully, 4009 when it went silent
    /// past the keepalive's idle timeout), or how the connection was lost;
    /// [`ClosedError::GaveUp`] with why the last attempt failed after reconnecting gave up;
    /// `ClosedError::Ended(RpcError::NotConnected)` at once when the client never connected or
    /// was disconnected by its user.
    pub async fn closed(&self) -> ClosedError {
        let session = match &*self.inner.link.borrow() {
            Link::Up(session) => session.clone(),
            Link::Reconnecting(why) => return ClosedError::Ended(why.clone()),
            Link::Down(why) => return why.clone(),
            Link::Idle => return ClosedError::Ended(RpcError::NotConnected),
        };
        ClosedError::Ended(session.ended().await)
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.session().is_ok()
    }

    /// The client's copy of the connection state: the snapshot from connecting, with every change the
    /// server sent since. A change made by a call is already here when the call returns.
    ///
    /// # Errors
    /// [`RpcError::NotConnected`] if the client never connected.
    pub async fn state(&self) -> Result<S::State, RpcError> {
        if !self.inner.connected_once.load(Ordering::Acquire) {
            return Err(RpcError::NotConnected);
        }
        Ok(self.inner.mirror.state.borrow().clone())
    }

    /// Watches the state: resolves on each change the server sends.
    pub fn watch_state(&self) -> StateWatcher<S::State> {
        StateWatcher {
            rx: self.inner.mirror.state.subscribe(),
        }
    }

    /// Receives the events of the topics the server subscribes this connection to, from now until the
    /// connection ends, or, with [`ClientConfig::reconnect`], across reconnects until reconnecting
    /// gives up (events sent while the client was disconnected are lost).
    ///
    /// # Errors
    /// [`RpcError::NotConnected`] if not connected.
    pub async fn subscribe(&self) -> Result<Subscription<S::Event>, RpcError> {
        self.session()?;
        Ok(Subscription::new(
            &self.inner.mirror.events,
            &self.inner.live,
        ))
    }

    /// Makes a call (used by the generated client methods). Not an `async fn`: the call's future
    /// is `call_with`'s itself, one layer less for every poll and for the result to pass through.
    #[doc(hidden)]
    pub fn call<A: WireArgs, R: MethodReturn>(
        &self,
        method: u16,
        args: A,
    ) -> impl Future<Output = Result<R::Ok, CallError<R::Err>>> {
        self.call_with::<A, R>(method, args, None)
    }

    /// Makes a call whose last argument, `upload`, streams (used by the generated client methods).
    #[doc(hidden)]
    pub async fn call_streaming<A: WireArgs, R: MethodReturn, U: StreamArg>(
        &self,
        method: u16,
        args: A,
        upload: U,
    ) -> Result<R::Ok, CallError<R::Err>> {
        let upload: Upload = Box::new(move |call_id| upload.into_frames(call_id));
        self.call_with::<A, R>(method, args, Some(upload)).await
    }

    async fn call_with<A: WireArgs, R: MethodReturn>(
        &self,
        method: u16,
        args: A,
        upload: Option<Upload>,
    ) -> Result<R::Ok, CallError<R::Err>> {
        let name = S::METHODS
            .get(usize::from(method))
            .copied()
            .unwrap_or("<unknown>");
        let span = tracing::info_span!(
            "hardlight.call",
            otel.kind = "client",
            rpc.system = "hardlight",
            rpc.service = S::NAME,
            rpc.method = name,
        );
        let trace = self.trace.or_else(|| crate::otel::context_of(&span));
        let timed = self.metrics().start(method);
        let interceptors = &self.inner.config.interceptors;
        let sending = if interceptors.is_empty() {
            None
        } else {
            let call = OutgoingCall {
                service: S::NAME,
                method: name,
                metadata: self.metadata.clone().unwrap_or_default(),
            };
            match interceptors.before(call) {
                Ok(sending) => Some(sending),
                Err(refusal) => {
                    let refused = RpcError::Refused(refusal.reason().to_owned());
                    if let Some(timed) = timed {
                        timed.finish(rpc_outcome(&refused));
                    }
                    return Err(refused.into());
                }
            }
        };
        let metadata = match &sending {
            Some(sending) => Some(sending.call().metadata()),
            None => self.metadata.as_ref(),
        };
        // A span no subscriber records is not entered and left on every poll of the call. (The
        // call's future is made in each branch: made before, it would be moved into either.)
        let result = if span.is_disabled() {
            self.call_untimed::<A, R>(method, args, upload, trace, metadata)
                .await
        } else {
            self.call_untimed::<A, R>(method, args, upload, trace, metadata)
                .instrument(span)
                .await
        };
        if let Some(sending) = sending {
            sending.finish_with(&result);
        }
        if let Some(timed) = timed {
            timed.finish(match &result {
                Ok(_) => Outcome::Status(ReplyStatus::Ok as u8),
                Err(CallError::Handler(_)) => Outcome::Status(ReplyStatus::HandlerError as u8),
                Err(CallError::Rpc(e)) => rpc_outcome(e),
            });
        }
        result
    }

    /// The service's metrics, registered on first use.
    fn metrics(&self) -> &Arc<ServiceMetrics> {
        self.inner.metrics.get_or_init(|| {
            Arc::new(ServiceMetrics::new(
                self.inner.config.metrics,
                End::Client,
                S::NAME,
                S::METHODS,
                S::ONEWAY,
            ))
        })
    }

    async fn call_untimed<A: WireArgs, R: MethodReturn>(
        &self,
        method: u16,
        args: A,
        upload: Option<Upload>,
        trace: Option<TraceParent>,
        metadata: Option<&Metadata>,
    ) -> Result<R::Ok, CallError<R::Err>> {
        // Once, before any wait: a lone view is then sent as its received bytes.
        let args = args.into_outgoing().map_err(RpcError::Encode)?;
        let extensions = Extensions {
            trace: trace.as_ref(),
            metadata,
        };
        let Ok(session) = self.session() else {
            // Boxed: waiting for a connection is rare, and its future would otherwise make every
            // call's future larger.
            return Box::pin(self.call_when_connected::<_, R>(method, &args, upload, extensions))
                .await;
        };
        session
            .call::<_, R>(method, &args, upload, self.timeout, extensions)
            .await
    }

    /// A call made while not connected: waits for the reconnect if configured to, within the
    /// call's deadline, then makes the call with what is left of it.
    async fn call_when_connected<A: Body + ?Sized, R: MethodReturn>(
        &self,
        method: u16,
        args: &A,
        upload: Option<Upload>,
        extensions: Extensions<'_>,
    ) -> Result<R::Ok, CallError<R::Err>> {
        let deadline = self.timeout.map(|timeout| Instant::now() + timeout);
        let session = self.wait_for_session(deadline).await?;
        let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        session
            .call::<A, R>(method, args, upload, left, extensions)
            .await
    }

    /// The connection for a call made while not connected: the next one if the client is
    /// reconnecting and configured to wait (until `deadline`), [`RpcError::NotConnected`]
    /// otherwise.
    async fn wait_for_session(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Arc<Session<S>>, RpcError> {
        if self.inner.config.when_disconnected == WhenDisconnected::Fail {
            return Err(RpcError::NotConnected);
        }
        let mut link = self.inner.link.subscribe();
        let connected = link.wait_for(|link| match link {
            Link::Up(session) => !session.is_closed(),
            Link::Reconnecting(_) => false,
            // An `Up` whose session ended becomes `Reconnecting` or `Down` right after.
            Link::Idle | Link::Down(_) => true,
        });
        let next = match deadline {
            None => connected.await.ok(),
            Some(deadline) => match rt::timeout_at(deadline, connected).await {
                Ok(next) => next.ok(),
                Err(_) => {
                    return Err(RpcError::Timeout(format!(
                        "not connected within {:?}",
                        self.timeout.unwrap_or_default()
                    )));
                }
            },
        };
        next.and_then(|link| match &*link {
            Link::Up(session) => Some(session.clone()),
            _ => None,
        })
        .ok_or(RpcError::NotConnected)
    }

    /// Sends a one-way message (used by the generated client methods).
    #[doc(hidden)]
    pub async fn notify<A: WireArgs>(&self, method: u16, args: A) -> Result<(), RpcError> {
        let args = &args.into_outgoing().map_err(RpcError::Encode)?;
        if let Ok(session) = self.session() {
            return session.notify(method, args, self.timeout).await;
        }
        let deadline = self.timeout.map(|timeout| Instant::now() + timeout);
        let session = self.wait_for_session(deadline).await?;
        let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
        session.notify(method, args, left).await
    }

    /// Another handle to the same connection whose calls have this deadline each (instead of
    /// [`ClientConfig::call_timeout`]): `client.with_timeout(Duration::from_millis(200)).get(key)`.
    /// A call past it fails with [`RpcError::Timeout`] and the server is told to stop it. A one-way
    /// message not written to the connection by then fails with [`RpcError::Timeout`] too.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout: Some(rt::bounded(timeout)),
            ..self.clone()
        }
    }

    /// Another handle to the same connection whose calls carry `parent` as their trace context
    /// (W3C `traceparent`): the server's span of each call is then a child of it. For a caller
    /// without OpenTelemetry in this process, a browser page passing on the context it was given,
    /// say; with the `opentelemetry` feature a call carries the current span's context without it.
    /// Sent only to a server that reads trace context (one that said so in `HELLO`).
    #[must_use]
    pub fn with_trace_parent(&self, parent: TraceParent) -> Self {
        Self {
            trace: Some(parent),
            ..self.clone()
        }
    }

    /// Another handle to the same connection whose calls carry `metadata` (string keys and
    /// values: a tenant, a request id), which the server's interceptors and handlers read
    /// (`hardlight::server::call_metadata()`). Sent only to a server that reads metadata (it says
    /// so in `HELLO`); an older server gets the calls without it.
    #[must_use]
    pub fn with_metadata(&self, metadata: Metadata) -> Self {
        Self {
            metadata: Some(metadata),
            ..self.clone()
        }
    }

    fn session(&self) -> Result<Arc<Session<S>>, RpcError> {
        match &*self.inner.link.borrow() {
            Link::Up(session) if !session.is_closed() => Ok(session.clone()),
            _ => Err(RpcError::NotConnected),
        }
    }
}

impl<S: ?Sized + ServiceSchema + 'static> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &S::NAME)
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// The `outcome` of a call that failed with `error`.
fn rpc_outcome(error: &RpcError) -> Outcome {
    let status = |status: ReplyStatus| Outcome::Status(status as u8);
    match error {
        RpcError::NotConnected => Outcome::Failed(Failure::NotConnected),
        RpcError::ConnectionClosed { .. } => Outcome::Failed(Failure::ConnectionClosed),
        RpcError::Protocol(_) => Outcome::Failed(Failure::Protocol),
        RpcError::LimitExceeded(_) => Outcome::Failed(Failure::LimitExceeded),
        RpcError::Encode(_) => Outcome::Failed(Failure::Encode),
        RpcError::HandlerPanicked(_) => status(ReplyStatus::Panicked),
        RpcError::UnknownMethod(_) => status(ReplyStatus::UnknownMethod),
        RpcError::BadArguments(_) => status(ReplyStatus::BadArguments),
        RpcError::Internal(_) => status(ReplyStatus::Internal),
        RpcError::Timeout(_) => status(ReplyStatus::TimedOut),
        RpcError::Cancelled(_) => status(ReplyStatus::Cancelled),
        RpcError::Refused(_) => status(ReplyStatus::Refused),
    }
}
