//! The WebSocket layer (RFC 6455) under both ends: the server's settings for tungstenite, which
//! frames its connections, and the native client's own framing ([`client`], on [`frame`]).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub(crate) mod client;
pub(crate) mod frame;

/// Bytes tungstenite reads from the socket at a time (at most), on the server.
pub(crate) const READ_BUFFER: usize = 4096;

/// Room the client's reader has for each read, at least: a client has few connections, and
/// receives the bulk of the bytes (stream items, events), so that a read of a whole batch of items
/// takes one system call rather than one per 4 KiB.
pub(crate) const CLIENT_READ_BUFFER: usize = 16 << 10;

/// Bytes of frames the client gathers before it writes them out without waiting for a flush.
pub(crate) const CLIENT_WRITE_BUFFER: usize = 64 << 10;

/// WebSocket settings for a connection whose largest message is `max_message_size` bytes.
///
/// The read buffer is small because it is allocated for every connection, idle or not: tungstenite's
/// default (128 KiB) would cost more per idle connection than everything else hardlight keeps for it.
/// The write buffer only takes memory once frames are written, and lets a batch of frames leave in
/// one system call at the next flush instead of one call per frame.
pub(crate) fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    let write_buffer = (64 << 10).min(max_message_size);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(write_buffer)
        // Room for the buffered batch plus one frame of the largest size (and its header); tungstenite
        // requires this to be larger than the write buffer.
        .max_write_buffer_size(write_buffer + max_message_size.saturating_mul(2) + 64)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// At most this many parts go in one vectored write.
const MAX_SLICES: usize = 8;

/// Writes `parts` (frames or pieces of frames, in order) to `io` as they are, with vectored writes,
/// dropping each part once written; ready once none is left. Both ends send large payloads this
/// way, without copying them into a buffer.
pub(crate) fn poll_write_parts<W: AsyncWrite + ?Sized>(
    mut io: Pin<&mut W>,
    cx: &mut Context<'_>,
    parts: &mut VecDeque<Bytes>,
) -> Poll<io::Result<()>> {
    while !parts.is_empty() {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = slices.len().min(parts.len());
        for (slot, part) in slices.iter_mut().zip(parts.iter()) {
            *slot = IoSlice::new(part);
        }
        let mut written = ready!(io.as_mut().poll_write_vectored(cx, &slices[..count]))?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        while let Some(front) = parts.front_mut() {
            let taken = written.min(front.len());
            front.advance(taken);
            written -= taken;
            if !front.is_empty() {
                break;
            }
            parts.pop_front();
        }
    }
    Poll::Ready(Ok(()))
}
