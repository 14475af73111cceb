//! tungstenite settings shared by client and server.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Bytes tungstenite reads from the socket at a time (at most), on the server.
pub(crate) const READ_BUFFER: usize = 4096;

/// Bytes tungstenite reads from the socket at a time (at most), on a client: a client has few
/// connections, and receives the bulk of the bytes (stream items, events), so that a read of a
/// whole batch of items takes one system call rather than one per 4 KiB.
pub(crate) const CLIENT_READ_BUFFER: usize = 16 << 10;

/// WebSocket settings for a connection whose largest message is `max_message_size` bytes.
///
/// The read buffer is small because it is allocated for every connection, idle or not: tungstenite's
/// default (128 KiB) would cost more per idle connection than everything else hardlight keeps for it.
/// The write buffer only takes memory once frames are written, and lets a batch of frames leave in
/// one system call at the next flush instead of one call per frame.
pub(crate) fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    websocket_config_reading(max_message_size, READ_BUFFER)
}

/// [`websocket_config`], reading at most `read_buffer` bytes at a time.
pub(crate) fn websocket_config_reading(
    max_message_size: usize,
    read_buffer: usize,
) -> WebSocketConfig {
    let write_buffer = (64 << 10).min(max_message_size);
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
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
/// `read_buffer` bytes of room (the size in the connection's [`WebSocketConfig`]) makes it read
/// what has arrived, many frames at once.
pub(crate) fn read_buffer_with(leftover: &[u8], read_buffer: usize) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(read_buffer.max(leftover.len()));
    buffer.extend_from_slice(leftover);
    buffer
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read, Write};

    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};

    use super::*;

    /// A connection's bytes, arriving `burst` bytes at a time (as segments do), counting the reads
    /// made of them.
    struct Counted {
        bytes: Cursor<Vec<u8>>,
        burst: usize,
        reads: usize,
    }

    impl Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.reads += 1;
            let len = buf.len().min(self.burst);
            self.bytes.read(&mut buf[..len])
        }
    }

    impl Write for Counted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn frames_that_arrived_together_are_read_together() {
        // 1,000 small binary frames from a server (unmasked), arriving 20 frames at a time.
        let payload = [7u8; 77];
        let frame = payload.len() + 2;
        let mut bytes = Vec::new();
        for _ in 0..1000 {
            bytes.extend_from_slice(&[0x82, payload.len() as u8]);
            bytes.extend_from_slice(&payload);
        }
        let total = bytes.len();
        let stream = Counted {
            bytes: Cursor::new(bytes),
            burst: 20 * frame,
            reads: 0,
        };
        let config = websocket_config_reading(1 << 20, CLIENT_READ_BUFFER);
        let mut ws = WebSocket::from_partially_read(
            stream,
            read_buffer_with(&[], CLIENT_READ_BUFFER),
            Role::Client,
            Some(config),
        );
        // Kept, as a client keeps replies until their callers take them: the buffer they were
        // read into stays shared, and tungstenite reads into a new one.
        let mut kept = Vec::new();
        for _ in 0..1000 {
            let message = ws.read().expect("a frame").into_data();
            assert_eq!(message.len(), payload.len());
            kept.push(message);
        }
        // A read per burst (and a short one where a buffer ends), not one per frame.
        let reads = ws.get_ref().reads;
        let bursts = total / (20 * frame);
        assert!(
            reads <= 2 * bursts + 5,
            "{reads} reads for {bursts} bursts of 20 frames"
        );
    }
}
