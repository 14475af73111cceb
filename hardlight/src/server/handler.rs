//! What `#[rpc_handler]` generates code against: a connection's handler ([`Handler`]), what it is
//! built from (`ConnectionParts`, not public) and the per-connection construction of handlers
//! ([`Factory`]).
//! The service contract the handler implements lives in [`crate::contract`].

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use super::disconnect::Disconnect;
use super::identity::Identity;
use crate::contract::{Dispatch, EmittedBy, ServiceSchema};
use crate::events::{AnyEvent, EventEmitter, Subscriptions};
use crate::state::{ConnectionState, StateHandle};

/// A handler: one value per connection, made by the server when the connection is accepted.
///
/// Implemented by `#[rpc_handler]` for the struct it generates, and by nothing else: name it in
/// bounds (`fn serve<H: Handler>(factory: Factory<H>)`), but do not implement it by hand (what its
/// constructor takes is not part of the public API and changes without notice).
pub trait Handler: Send + Sync + Sized + 'static {
    /// The connection state this handler works on.
    type State: ConnectionState;
    /// Application context shared by all connections (a database pool, configuration); `()` for none.
    type Context: Send + Sync + 'static;
    /// The service (`dyn Trait`) this handler implements.
    type Service: ?Sized + ServiceSchema<State = Self::State> + Dispatch<Self>;

    /// Builds the handler of a new connection.
    #[doc(hidden)]
    fn new(
        connection: ConnectionParts<Self::State, EmittedBy<Self::Service>>,
        context: Arc<Self::Context>,
    ) -> Self;

    /// Runs once the handler is built, before the client gets `HELLO`: state set here is in the
    /// client's first snapshot, and topics subscribed here deliver from the start. `#[rpc_handler]`
    /// implements it with the method marked `#[on_connect]`; by default it does nothing.
    ///
    /// The server bounds it by [`ServerConfig::connect_hook_timeout`](crate::ServerConfig::connect_hook_timeout)
    /// and contains a panic; either closes the connection with 1011, without `on_disconnect`.
    fn on_connect(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Runs exactly once when a connection whose `on_connect` completed ends, however it ended, after
    /// its calls are stopped and before its subscriptions are dropped. `#[rpc_handler]` implements it
    /// with the method marked `#[on_disconnect]`; by default it does nothing.
    ///
    /// The server bounds it by
    /// [`ServerConfig::disconnect_hook_timeout`](crate::ServerConfig::disconnect_hook_timeout) and
    /// contains a panic.
    fn on_disconnect(&self, why: Disconnect) -> impl Future<Output = ()> + Send {
        let _ = why;
        async {}
    }
}

/// What a new connection hands its handler: the generated struct's `state`, `subscriptions`,
/// `events` and `identity` fields. `E` is what the handler's emitter publishes: its service's
/// event type.
#[doc(hidden)]
pub struct ConnectionParts<S, E = AnyEvent> {
    /// The connection's state.
    pub state: StateHandle<S>,
    /// The connection's topic subscriptions.
    pub subscriptions: Subscriptions,
    /// An emitter to publish the service's events to any topic.
    pub events: EventEmitter<E>,
    /// Who the connection belongs to, as authenticated ([`Identity::anonymous`] without
    /// authentication).
    pub identity: Identity,
}

/// Makes one handler per connection; build it with [`factory!`](crate::factory).
pub struct Factory<H: Handler> {
    pub(crate) context: Arc<H::Context>,
    _handler: PhantomData<fn() -> H>,
}

impl<H: Handler> Factory<H> {
    /// A factory for handlers whose context is its default value (`()` for handlers without one).
    pub fn new() -> Self
    where
        H::Context: Default,
    {
        Self::with_context(H::Context::default())
    }

    /// A factory whose handlers all share `context`.
    pub fn with_context(context: impl Into<Arc<H::Context>>) -> Self {
        Self {
            context: context.into(),
            _handler: PhantomData,
        }
    }

    pub(crate) fn make(&self, parts: ConnectionParts<H::State, EmittedBy<H::Service>>) -> H {
        H::new(parts, self.context.clone())
    }
}

impl<H: Handler> Default for Factory<H>
where
    H::Context: Default,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Handler> Clone for Factory<H> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
            _handler: PhantomData,
        }
    }
}

/// Builds the [`Factory`] a [`Server`](crate::Server) uses to make one handler per connection.
///
/// `factory!(Handler)` for a handler without context; `factory!(Handler, context)` to share `context`
/// (a value or an `Arc`) with every connection's handler, as its `context` field.
#[macro_export]
macro_rules! factory {
    ($handler:ty) => {
        $crate::Factory::<$handler>::new()
    };
    ($handler:ty, $context:expr) => {
        $crate::Factory::<$handler>::with_context($context)
    };
}
