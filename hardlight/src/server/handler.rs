//! What `#[rpc]` and `#[rpc_handler]` generate code against: the service description, the dispatch of
//! a call to a handler method, and the per-connection construction of handlers.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use super::hooks::Disconnect;
use super::identity::Identity;
use crate::events::{EventDecode, EventEmitter, Subscriptions};
use crate::state::{ConnectionState, StateHandle};
use crate::wire::frame::{ReplyStatus, encode_reply_text, reply_header};
use crate::wire::{Codable, DecodeError};

/// Describes one `#[rpc]` trait. Implemented by `#[rpc]` for `dyn Trait`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[rpc] trait",
    note = "add `#[hardlight::rpc]` to the trait's definition"
)]
pub trait ServiceSchema {
    /// The connection state clients of this service mirror (`()` for none).
    type State: ConnectionState;
    /// The event type clients of this service decode (`EventPayload` when the trait names none).
    type Event: EventDecode;
    /// The trait's name.
    const NAME: &'static str;
    /// Method names, in declaration order; a method's index on the wire is its position here.
    const METHODS: &'static [&'static str];
    /// For each method, in the same order: true if it is one-way (`#[oneway]`: sent in a `NOTIFY`
    /// frame, never answered), false if it is a call.
    const ONEWAY: &'static [bool];
    /// Canonical text of the service: trait name, event type, methods with argument and return types.
    const SCHEMA: &'static str;
    /// FNV-1a-64 of [`Self::SCHEMA`] continued over the state's [`ConnectionState::SCHEMA`]; client and
    /// server must agree on it at the handshake.
    const FINGERPRINT: u64;
}

/// Runs calls of service `Self` on handler `H`. Implemented by `#[rpc]` for `dyn Trait`, for every
/// `H` implementing the trait.
pub trait Dispatch<H>: ServiceSchema {
    /// Validates the arguments of method `method` and returns the future that runs the call and
    /// produces the complete `REPLY` frame.
    fn dispatch(
        handler: &Arc<H>,
        call_id: u32,
        method: u16,
        args: Args<'_>,
    ) -> Result<CallFuture, DispatchError>;

    /// Validates the arguments of one-way method `method` and returns the future that runs it.
    /// A method that is not one-way is an [`DispatchError::UnknownMethod`] here.
    fn dispatch_oneway(
        handler: &Arc<H>,
        method: u16,
        args: Args<'_>,
    ) -> Result<OnewayFuture, DispatchError>;
}

/// A received argument archive, with the limits its validation applies.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    bytes: &'a [u8],
    max_depth: usize,
}

impl<'a> Args<'a> {
    /// The archive `bytes`, to be validated nested at most `max_depth` levels deep.
    pub fn new(bytes: &'a [u8], max_depth: usize) -> Self {
        Self { bytes, max_depth }
    }
}

/// A running call: resolves to its encoded `REPLY` frame.
pub type CallFuture = Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'static>>;

/// A running one-way method: resolves when its handler returns; nothing is sent back.
pub type OnewayFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Why a call could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// No method has this index.
    #[error("no method with index {0}")]
    UnknownMethod(u16),
    /// The arguments failed validation.
    #[error("arguments failed validation: {0}")]
    BadArguments(String),
}

impl DispatchError {
    /// The `REPLY` frame that reports this error.
    pub(crate) fn reply(&self, call_id: u32) -> Vec<u8> {
        let status = match self {
            DispatchError::UnknownMethod(_) => ReplyStatus::UnknownMethod,
            DispatchError::BadArguments(_) => ReplyStatus::BadArguments,
        };
        encode_reply_text(call_id, status, &self.to_string())
    }
}

/// The return type of an rpc method: `Result<T, E>` with both sides codable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by an rpc method",
    note = "rpc methods return `HandlerResult<T>` or `Result<T, E>` where `T` and `E` are #[codable] types"
)]
pub trait MethodReturn: Send + 'static {
    /// The success value.
    type Ok: Codable;
    /// The handler's error value.
    type Err: Codable;
    /// As a plain `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T: Codable, E: Codable> MethodReturn for Result<T, E> {
    type Ok = T;
    type Err = E;

    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// Validates and decodes a call's argument tuple (used by generated dispatch code).
///
/// The reply names the expected type only: the validator's own message can hold memory addresses,
/// which a remote peer must not learn. It is logged at debug level instead.
pub fn decode_args<A: Codable>(args: Args<'_>) -> Result<A, DispatchError> {
    A::decode_within(args.bytes, args.max_depth).map_err(|e| {
        tracing::debug!(error = %e, "call arguments failed validation");
        DispatchError::BadArguments(match e {
            DecodeError::TooDeep { max_depth } => {
                format!("arguments nested deeper than the server's maximum depth of {max_depth}")
            }
            _ => format!("not a valid archive of {}", std::any::type_name::<A>()),
        })
    })
}

/// Wraps a handler method's future so that it resolves to the `REPLY` frame (used by generated code).
pub fn call<R, F>(call_id: u32, future: F) -> CallFuture
where
    R: MethodReturn,
    F: Future<Output = R> + Send + 'static,
{
    Box::pin(async move { encode_reply(call_id, future.await) })
}

/// Boxes a one-way handler method's future (used by generated code).
pub fn oneway<F>(future: F) -> OnewayFuture
where
    F: Future<Output = ()> + Send + 'static,
{
    Box::pin(future)
}

fn encode_reply<R: MethodReturn>(call_id: u32, result: R) -> Vec<u8> {
    let encoded = match result.into_result() {
        Ok(value) => value.encode_into(reply_header(call_id, ReplyStatus::Ok, 64)),
        Err(error) => error.encode_into(reply_header(call_id, ReplyStatus::HandlerError, 64)),
    };
    encoded.unwrap_or_else(|e| {
        tracing::error!(call_id, error = %e, "could not encode a reply");
        encode_reply_text(call_id, ReplyStatus::Internal, &e.to_string())
    })
}

/// A handler: one value per connection, made by the server when the connection is accepted.
/// Implemented by `#[rpc_handler]` for the struct it generates.
pub trait Handler: Send + Sync + Sized + 'static {
    /// The connection state this handler works on.
    type State: ConnectionState;
    /// Application context shared by all connections (a database pool, configuration); `()` for none.
    type Context: Send + Sync + 'static;
    /// The service (`dyn Trait`) this handler implements.
    type Service: ?Sized + ServiceSchema<State = Self::State> + Dispatch<Self>;

    /// Builds the handler of a new connection.
    fn new(connection: ConnectionParts<Self::State>, context: Arc<Self::Context>) -> Self;

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
/// `events` and `identity` fields.
pub struct ConnectionParts<S> {
    /// The connection's state.
    pub state: StateHandle<S>,
    /// The connection's topic subscriptions.
    pub subscriptions: Subscriptions,
    /// An emitter to publish events to any topic.
    pub events: EventEmitter,
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

    pub(crate) fn make(&self, parts: ConnectionParts<H::State>) -> H {
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
