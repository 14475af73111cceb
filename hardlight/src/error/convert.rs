//! The conversions between the errors that `?` relies on: any operation's error into the umbrella
//! [`Error`], and hardlight's errors into the [`HandlerError`] a handler returns.

use super::Error;
use super::call::{CallError, RpcError};
use super::connect::{ClosedError, ConnectError};
#[cfg(hardlight_native)]
use super::events::{EmitError, SubscribeError, TopicTooLong};
use super::handler::HandlerError;
#[cfg(hardlight_native)]
use super::server::NotifierTaken;

/// A call's error: the handler's (as a [`HandlerError`]) or the call's own.
impl<E: Into<HandlerError>> From<CallError<E>> for Error {
    fn from(e: CallError<E>) -> Self {
        match e {
            CallError::Handler(e) => Error::Handler(e.into()),
            CallError::Rpc(e) => Error::Rpc(e),
        }
    }
}

/// Why a connection ended: how it ended, or why reconnecting gave up.
impl From<ClosedError> for Error {
    fn from(e: ClosedError) -> Self {
        match e {
            ClosedError::Ended(e) => Error::Rpc(e),
            ClosedError::GaveUp(e) => Error::Connect(e),
        }
    }
}

// Lets a handler use `?` on hardlight's own fallible operations: `EventEmitter::emit`,
// `Subscriptions::try_add`, a call through a client, `Archived::new` and `Archived::deserialize`. A handler's error travels to its caller as a
// message: the error's text, with its causes ("could not encode the event: ...").
macro_rules! handler_error_from {
    ($($(#[$cfg:meta])* $error:ty),* $(,)?) => {
        $(
            $(#[$cfg])*
            impl From<$error> for HandlerError {
                fn from(e: $error) -> Self {
                    Self::new(super::Chain(&e).to_string())
                }
            }
        )*
    };
}

handler_error_from!(
    Error,
    RpcError,
    // Making a view (`Archived::new`), or deserializing one.
    crate::wire::EncodeError,
    crate::wire::DecodeError,
    ConnectError,
    ClosedError,
    #[cfg(hardlight_native)]
    EmitError,
    #[cfg(hardlight_native)]
    SubscribeError,
    #[cfg(hardlight_native)]
    TopicTooLong,
    #[cfg(hardlight_native)]
    NotifierTaken,
);

/// Lets a handler use `?` on a call it makes through a client: the called handler's error (as a
/// `HandlerError`), or why the call failed.
impl<E: Into<HandlerError>> From<CallError<E>> for HandlerError {
    fn from(e: CallError<E>) -> Self {
        match e {
            CallError::Handler(e) => e.into(),
            CallError::Rpc(e) => e.into(),
        }
    }
}
