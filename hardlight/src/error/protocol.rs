//! [`ProtocolError`]: what a client found wrong in what the server sent.

use crate::wire::handshake::PROTOCOL_TOKEN;
use crate::wire::{DecodeError, FrameError};

/// The server sent something this protocol does not allow; the client closes the connection (or,
/// for a reply that fails validation, fails that call alone).
///
/// The validation error that found it, if any, is the [`source`](std::error::Error::source).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message is not a valid frame, or not one a server may send.
    #[error("protocol violation: invalid frame from the server")]
    Frame(#[source] FrameError),
    /// A reply's value (or the handler's error in it) failed validation as the method's type.
    #[error("protocol violation: the reply failed validation")]
    Reply(#[source] DecodeError),
    /// A state field (in `HELLO` or `STATE`) failed validation as the field's type.
    #[error("protocol violation: state field {index} failed validation")]
    StateField {
        /// The field's index.
        index: u16,
        /// Why it failed.
        #[source]
        source: DecodeError,
    },
    /// The server's upgrade answer selected a subprotocol other than hardlight's (or none).
    #[error(
        "protocol violation: the server selected subprotocol {selected:?}, expected {}",
        PROTOCOL_TOKEN
    )]
    Subprotocol {
        /// What the server selected.
        selected: Option<String>,
    },
    /// The server's WebSocket framing broke RFC 6455: a masked frame, a reserved opcode or bit, a
    /// close code no endpoint may send, fragments out of order.
    #[error("protocol violation: invalid WebSocket framing: {0}")]
    WebSocket(String),
    /// A message that may not come where it came: no `HELLO` first, a second `HELLO`, a text
    /// message, a reply to a call that was not made.
    #[error("protocol violation: {0}")]
    Unexpected(String),
}
