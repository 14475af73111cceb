//! The server's side of the contract that `#[rpc]` generates for every service: running a received
//! call or one-way message on a handler ([`Dispatch`]), from validated arguments to the encoded
//! `REPLY` frame.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::ops::Range;

use bytes::Bytes;

use super::method::Started;
use super::schema::ServiceSchema;
use super::upload::{RawUpload, StreamArg};
#[cfg(hardlight_native)]
use crate::wire::frame::{ReplyStatus, encode_reply_text};
use crate::wire::view::WireArgs;
use crate::wire::{Archived, Codable, DecodeError};

/// Runs calls of service `Self` on handler `H`. Implemented by `#[rpc]` for `dyn Trait`, for every
/// `H` implementing the trait.
pub trait Dispatch<H>: ServiceSchema {
    /// Validates the arguments of method `method` and starts the call: a future that produces the
    /// complete `REPLY` frame, or for a streaming method the stream of its `ITEM` frames. `upload`
    /// is the streamed argument of a method that takes one ([`ServiceSchema::UPLOADS`]), opened by
    /// the connection.
    fn dispatch(
        handler: &Arc<H>,
        call_id: u32,
        method: u16,
        args: Args<'_>,
        upload: Option<RawUpload>,
    ) -> Result<Started, DispatchError>;

    /// Validates the arguments of one-way method `method` and returns the future that runs it.
    /// A method that is not one-way is an [`DispatchError::UnknownMethod`] here.
    fn dispatch_oneway(
        handler: &Arc<H>,
        method: u16,
        args: Args<'_>,
    ) -> Result<OnewayFuture, DispatchError>;
}

/// A received argument archive, with the limits its validation applies: a slice of the received
/// message, which arguments received as views ([`Archived`]) share.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    message: Option<&'a Bytes>,
    bytes: &'a [u8],
    max_depth: usize,
}

impl<'a> Args<'a> {
    /// The archive `bytes`, to be validated nested at most `max_depth` levels deep. Views of these
    /// arguments get a copy of them; see [`Args::in_message`].
    pub fn new(bytes: &'a [u8], max_depth: usize) -> Self {
        Self {
            message: None,
            bytes,
            max_depth,
        }
    }

    /// The archive `bytes`, a slice of `message`, to be validated nested at most `max_depth` levels
    /// deep. Views of these arguments share `message`.
    pub fn in_message(message: &'a Bytes, bytes: &'a [u8], max_depth: usize) -> Self {
        Self {
            message: Some(message),
            bytes,
            max_depth,
        }
    }

    /// The message the arguments lie in, shared, and their range in it (a copy of them when they
    /// are not a slice of the message).
    fn shared(&self) -> (Bytes, Range<usize>) {
        if let Some(message) = self.message {
            // Addresses compared as integers (safe code): where the slice starts in the message.
            let start = (self.bytes.as_ptr() as usize).wrapping_sub(message.as_ptr() as usize);
            if let Some(end) = start.checked_add(self.bytes.len())
                && end <= message.len()
            {
                return (message.clone(), start..end);
            }
        }
        (Bytes::copy_from_slice(self.bytes), 0..self.bytes.len())
    }
}

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
    #[cfg(hardlight_native)]
    pub(crate) fn reply(&self, call_id: u32) -> Vec<u8> {
        let status = match self {
            DispatchError::UnknownMethod(_) => ReplyStatus::UnknownMethod,
            DispatchError::BadArguments(_) => ReplyStatus::BadArguments,
        };
        encode_reply_text(call_id, status, &self.to_string())
    }
}

/// Validates a call's argument tuple once and gives each argument as declared: a view into the
/// received message ([`Archived`]) or a deserialized value (used by generated dispatch code).
///
/// The reply names the expected type only: the validator's own message can hold memory addresses,
/// which a remote peer must not learn. It is logged at debug level instead.
pub fn decode_args<A: WireArgs>(args: Args<'_>) -> Result<A, DispatchError> {
    let decoded = if A::HAS_VIEW {
        let (message, range) = args.shared();
        Archived::<A::Wire>::validate(message, range, args.max_depth).and_then(A::from_view)
    } else {
        // No view keeps the message: validated and deserialized where it lies.
        <A::Wire as Codable>::decode_within(args.bytes, args.max_depth).and_then(|wire| {
            A::from_wire(wire).ok_or_else(|| DecodeError::new("an owned argument is a view"))
        })
    };
    decoded.map_err(|e| {
        tracing::debug!(error = %e, "call arguments failed validation");
        DispatchError::BadArguments(match e {
            DecodeError::TooDeep { max_depth } => {
                format!("arguments nested deeper than the server's maximum depth of {max_depth}")
            }
            _ => format!(
                "not a valid archive of {}",
                std::any::type_name::<A::Wire>()
            ),
        })
    })
}

/// Boxes a one-way handler method's future (used by generated code).
pub fn oneway<F>(future: F) -> OnewayFuture
where
    F: Future<Output = ()> + Send + 'static,
{
    Box::pin(future)
}

/// Takes the streamed argument the connection opened for a call (used by generated code).
pub fn take_upload<U: StreamArg>(upload: Option<RawUpload>) -> Result<U, DispatchError> {
    upload
        .map(U::from_upload)
        .ok_or_else(|| DispatchError::BadArguments("the streamed argument is missing".into()))
}
