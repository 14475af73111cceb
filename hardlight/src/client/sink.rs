//! A transport's write half, as the client's [outbox](super::outbox) sees it: a sink of messages
//! that also takes a small message from where it lies, and runs of small messages packed by the
//! callers themselves.
//!
//! Packing is what keeps a busy connection's frames from being moved from layer to layer: a caller
//! encodes its small `CALL` frame into the thread's scratch buffer, then appends it (masked, framed:
//! as it will go on the wire, for the native transport) to the run at the back of the outbox's
//! queue. The driver hands the whole run to the transport, which takes it in one go; the native
//! writer takes the run's buffer as its own when it holds nothing else, so the run's bytes are not
//! copied again before the socket (measured: benches/PROFILE.md).

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Sink;

use crate::error::TransportError;

/// A message for a transport to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A binary message: one frame.
    Binary(Bytes),
    /// A keepalive ping.
    Ping,
    /// The answer to the server's ping, with its payload.
    #[cfg(hardlight_native)]
    Pong(Bytes),
    /// A close frame.
    Close(u16, String),
}

/// The write half of a transport.
pub(crate) trait TransportSink: Sink<Outgoing, Error = TransportError> + Send {
    /// Adds one binary message, copied from `payload` (a small one: this saves its sender a buffer
    /// of its own). Call only after `poll_ready` was ready, as `start_send`.
    fn start_send_slice(self: Pin<&mut Self>, payload: &[u8]) -> Result<(), TransportError>;

    /// Adds the messages of `packed`, in order, leaving it empty (its buffer may be exchanged for
    /// another, to be filled again). Call only after `poll_ready` was ready, as `start_send`.
    fn start_send_packed(self: Pin<&mut Self>, packed: &mut Packed) -> Result<(), TransportError>;
}

/// The write half of a transport, as the outbox holds it.
pub(crate) type BoxSink = Pin<Box<dyn TransportSink>>;

/// Small binary messages packed one after another in one buffer, in the form the transport takes
/// them: whole masked frames for the native transport ([`push_masked_binary`]), each behind its
/// length in two bytes for the browser's (which frames and masks them itself).
///
/// [`push_masked_binary`]: crate::ws::write::push_masked_binary
#[derive(Debug, Default)]
pub(crate) struct Packed {
    bytes: Vec<u8>,
    /// The messages packed.
    count: usize,
}

/// The longest frame a caller packs: a longer one keeps the buffer it was encoded in, since a copy
/// of it would cost more than the buffer does.
pub(crate) const PACKED_MAX: usize = 4 * 1024;

impl Packed {
    /// Appends a binary message of `payload` (at most [`PACKED_MAX`] bytes).
    pub(crate) fn push(&mut self, payload: &[u8]) {
        debug_assert!(payload.len() <= PACKED_MAX);
        #[cfg(hardlight_native)]
        crate::ws::write::push_masked_binary(&mut self.bytes, payload);
        #[cfg(hardlight_browser)]
        {
            // At most `PACKED_MAX` bytes: two bytes hold the length.
            let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
            self.bytes.extend_from_slice(&len.to_le_bytes());
            self.bytes.extend_from_slice(payload);
        }
        self.count += 1;
    }

    /// The messages packed.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Whether no message is packed.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[cfg(hardlight_native)]
    /// The packed bytes, for the native transport to take (emptying them, or exchanging the buffer for an
    /// empty one); the run is then empty.
    pub(crate) fn take_bytes(&mut self) -> &mut Vec<u8> {
        self.count = 0;
        &mut self.bytes
    }

    /// The messages, one by one, each as its payload (the browser's transport sends them so).
    #[cfg(hardlight_browser)]
    pub(crate) fn messages(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.bytes[..];
        std::iter::from_fn(move || {
            let (len, after) = rest.split_first_chunk::<2>()?;
            let (message, after) = after.split_at_checked(usize::from(u16::from_le_bytes(*len)))?;
            rest = after;
            Some(message)
        })
    }

    /// Empties the run, keeping its buffer.
    #[cfg(hardlight_browser)]
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}
