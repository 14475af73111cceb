//! tungstenite settings shared by client and server.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Bytes tungstenite reads from the socket at a time (at most).
pub(crate) const READ_BUFFER: usize = 4096;

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

/// The bytes read past the HTTP upgrade response, in the buffer tungstenite will read into.
///
/// tungstenite reads into a `BytesMut` built from this `Vec`, and every buffer it allocates later
/// is as large as this one's capacity. From a `Vec` of exactly the leftover bytes (often none) each
/// later read would be sized for the one frame it waits for: a system call per message. Giving it
/// [`READ_BUFFER`] of room makes it read what has arrived, many frames at once.
pub(crate) fn read_buffer_with(leftover: &[u8]) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(READ_BUFFER.max(leftover.len()));
    buffer.extend_from_slice(leftover);
    buffer
}
