//! The client: one connection to a server, typed calls through the struct `#[rpc]` generates
//! (`CounterClient` for `trait Counter`), the state mirror, and event subscriptions.
//!
//! The protocol logic lives in [`session`] and [`driver`], which know nothing of sockets; [`native`]
//! connects them to tokio's TCP and rustls.

mod config;
mod driver;
mod native;
mod request;
mod session;
mod subscription;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

pub use config::{
    ClientConfig, DEFAULT_CLIENT_MAX_MESSAGE_SIZE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_BUFFER,
};
pub use subscription::{RecvError, StateWatcher, Subscription};

use crate::error::{CallError, Error};
use crate::locks::lock;
use crate::server::handler::{MethodReturn, ServiceSchema};
use crate::wire::{Codable, Compression};
use session::Session;

/// A client of service `S` (`dyn Trait` of an `#[rpc]` trait). Use it through the generated
/// `TraitClient`, which adds one typed method per rpc method and derefs to this.
///
/// Cheap to clone; clones share the connection. Dropping the last clone closes the connection.
pub struct Client<S: ?Sized + ServiceSchema> {
    inner: Arc<Inner<S>>,
    /// Deadline of each call made through this handle.
    timeout: Option<Duration>,
    _service: PhantomData<fn() -> *const S>,
}

struct Inner<S: ?Sized + ServiceSchema> {
    config: ClientConfig,
    session: Mutex<Option<Arc<Session<S>>>>,
    connecting: tokio::sync::Mutex<()>,
    state: watch::Sender<S::State>,
    connected_once: AtomicBool,
}

impl<S: ?Sized + ServiceSchema> Drop for Inner<S> {
    fn drop(&mut self) {
        if let Some(session) = lock(&self.session).take() {
            session.shutdown();
        }
    }
}

impl<S: ?Sized + ServiceSchema> Clone for Client<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout: self.timeout,
            _service: PhantomData,
        }
    }
}

impl<S: ?Sized + ServiceSchema + 'static> Client<S> {
    /// A client that will connect as `config` says. Nothing happens until [`Client::connect`].
    pub fn new(config: ClientConfig) -> Self {
        Self {
            timeout: config.call_timeout,
            inner: Arc::new(Inner {
                config,
                session: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                state: watch::channel(S::State::default()).0,
                connected_once: AtomicBool::new(false),
            }),
            _service: PhantomData,
        }
    }

    /// A client for a development server with a self-signed certificate (see
    /// [`ClientConfig::self_signed`]: encrypted, not authenticated).
    pub fn new_self_signed(address: &str, compression: Compression) -> Self {
        Self::new(ClientConfig::self_signed(address).compression(compression))
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Connects, unless already connected: TCP, TLS, the WebSocket upgrade and the handshake. When it
    /// returns `Ok`, the initial state snapshot is in [`Client::state`].
    ///
    /// # Errors
    /// [`Error::HandshakeRefused`] with the server's reason if it refused this client (another schema
    /// version, say), [`Error::Unauthorized`] if it refused its credentials (do not retry with the
    /// same ones), [`Error::InvalidToken`] if the configured token cannot be sent, or a transport,
    /// TLS or timeout error. `connect` tries once: it never retries by itself.
    pub async fn connect(&self) -> Result<(), Error> {
        let _one_at_a_time = self.inner.connecting.lock().await;
        if self.session().is_ok() {
            return Ok(());
        }
        let session = native::connect::<S>(&self.inner.config, self.inner.state.clone()).await?;
        *lock(&self.inner.session) = Some(session);
        self.inner.connected_once.store(true, Ordering::Release);
        Ok(())
    }

    /// Closes the connection. Calls in flight fail with [`Error::ConnectionClosed`].
    pub async fn disconnect(&self) {
        if let Some(session) = lock(&self.inner.session).take() {
            session.shutdown();
        }
    }

    /// Resolves once the last connection made has ended (at once if it already has), with why:
    /// [`Error::ConnectionClosed`] with the server's close code and reason (1001 `server shutting
    /// down` when it shut down gracefully, 4009 when it went silent past the keepalive's idle
    /// timeout), or how the connection was lost. [`Error::NotConnected`] at once when the client
    /// never connected or was disconnected by its user.
    pub async fn closed(&self) -> Error {
        let session = lock(&self.inner.session).clone();
        match session {
            Some(session) => session.ended().await,
            None => Error::NotConnected,
        }
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.session().is_ok()
    }

    /// The client's copy of the connection state: the snapshot from connecting, with every change the
    /// server sent since. A change made by a call is already here when the call returns.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if the client never connected.
    pub async fn state(&self) -> Result<S::State, Error> {
        if !self.inner.connected_once.load(Ordering::Acquire) {
            return Err(Error::NotConnected);
        }
        Ok(self.inner.state.borrow().clone())
    }

    /// Watches the state: resolves on each change the server sends.
    pub fn watch_state(&self) -> StateWatcher<S::State> {
        StateWatcher {
            rx: self.inner.state.subscribe(),
        }
    }

    /// Receives the events of the topics the server subscribes this connection to, from now until the
    /// connection ends.
    ///
    /// # Errors
    /// [`Error::NotConnected`] if not connected.
    pub async fn subscribe(&self) -> Result<Subscription<S::Event>, Error> {
        Ok(Subscription {
            rx: self.session()?.subscribe(),
        })
    }

    /// Makes a call (used by the generated client methods).
    #[doc(hidden)]
    pub async fn call<A: Codable, R: MethodReturn>(
        &self,
        method: u16,
        args: &A,
    ) -> Result<R::Ok, CallError<R::Err>> {
        let session = self.session()?;
        session.call::<A, R>(method, args, self.timeout).await
    }

    /// Another handle to the same connection whose calls have this deadline each (instead of
    /// [`ClientConfig::call_timeout`]): `client.with_timeout(Duration::from_millis(200)).get(key)`.
    /// A call past it fails with [`Error::Timeout`] and the server is told to stop it.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    fn session(&self) -> Result<Arc<Session<S>>, Error> {
        match lock(&self.inner.session).as_ref() {
            Some(session) if !session.is_closed() => Ok(session.clone()),
            _ => Err(Error::NotConnected),
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
