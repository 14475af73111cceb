//! tungstenite settings shared by client and server.

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// WebSocket settings for a connection whose largest message is `max_message_size` bytes.
///
/// Buffers are sized for many small idle connections: tungstenite's defaults (128 KiB each way)
/// would cost more per idle connection than everything else hardlight keeps for it.
pub(crate) fn websocket_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(max_message_size.saturating_mul(2).max(1 << 16))
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}
