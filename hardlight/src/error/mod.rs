//! Errors a client or server reports to its user: one type per operation, listing only what that
//! operation can fail with, and the umbrella [`Error`] any of them converts into with `?`.
//!
//! | operation | error |
//! |---|---|
//! | a call (a generated client's method) | [`CallError<E>`]: the handler's `E`, or [`RpcError`] |
//! | a one-way message, `state`, `subscribe`, `StateWatcher::changed` | [`RpcError`] |
//! | `connect`, each attempt of a reconnect | [`ConnectError`] |
//! | `closed` (why the connection ended) | [`ClosedError`] |
//! | `Server::bind`, `run`, `into_axum_service`, `BoundServer::local_addr` | [`ServerError`] |
//! | `Server::get_topic_notifier` | [`NotifierTaken`] |
//! | `EventEmitter::emit` | [`EmitError`] |
//! | `Subscriptions::try_add` | [`SubscribeError`] |
//! | a handler | [`HandlerError`] (through [`HandlerResult`]), or its own type |
//!
//! A failure on this side keeps its cause as the [`source`](std::error::Error::source) (the
//! [`std::io::Error`] of a refused connection, rustls's error of an untrusted certificate, the
//! validation error of a reply); texts the peer sent (a close reason, a panic message) are kept as
//! they came. Every error is cheap to clone: one failure fails many calls.
//!
//! ```
//! use hardlight::{ConnectError, Error, RpcError};
//!
//! // `?` turns any operation's error into `hardlight::Error`.
//! fn connect() -> Result<(), ConnectError> {
//!     Err(ConnectError::InvalidToken("empty".into()))
//! }
//! fn state() -> Result<u32, RpcError> {
//!     Err(RpcError::NotConnected)
//! }
//! fn run() -> Result<u32, Error> {
//!     connect()?;
//!     Ok(state()?)
//! }
//! assert!(matches!(run(), Err(Error::Connect(ConnectError::InvalidToken(_)))));
//! ```

mod call;
mod connect;
mod convert;
#[cfg(hardlight_native)]
mod events;
mod handler;
mod protocol;
#[cfg(hardlight_native)]
mod server;
mod transport;

use std::fmt;

#[cfg(hardlight_native)]
pub use crate::tls::TlsError;
pub use call::{CallError, RpcError};
pub use connect::{ClosedError, ConnectError};
#[cfg(hardlight_native)]
pub use events::{EmitError, SubscribeError, TopicTooLong};
pub use handler::{HandlerError, HandlerResult};
pub use protocol::ProtocolError;
#[cfg(hardlight_native)]
pub use server::{NotifierTaken, ServerError};
pub use transport::TransportError;

/// Any of hardlight's errors: what a function that makes several kinds of operation returns, with
/// `?` on each (`From` is implemented for every operation's error, and for `CallError<E>` when `E`
/// converts into [`HandlerError`]).
///
/// Shows as the error it holds, and has that error's source.
///
/// ```no_run
/// # use hardlight::*;
/// # #[rpc] trait Counter { async fn add(&self, n: u32) -> HandlerResult<u32>; }
/// async fn add_one(address: &str) -> Result<u32, hardlight::Error> {
///     let client = CounterClient::new(ClientConfig::new_self_signed(address));
///     client.connect().await?;
///     Ok(client.add(1).await?)
/// }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A call, a one-way message or another operation on a connection failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A handler's error: returned by a handler, or by a call's handler.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// A server could not start or serve.
    #[cfg(hardlight_native)]
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A certificate or trust configuration could not be made (`ServerTls`, `ServerTrust`,
    /// `ServerConfig::try_new_self_signed`).
    #[cfg(hardlight_native)]
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An event was not sent.
    #[cfg(hardlight_native)]
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// A topic was not subscribed to.
    #[cfg(hardlight_native)]
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
    /// The topic notifier was already taken.
    #[cfg(hardlight_native)]
    #[error(transparent)]
    NotifierTaken(#[from] NotifierTaken),
}

/// Shows an error with its causes, `outer: cause: cause's cause`: for logs and close reasons, where
/// the chain would otherwise be lost.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}
