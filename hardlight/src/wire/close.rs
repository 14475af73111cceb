//! WebSocket close codes hardlight uses, and what each means.

/// The connection ended normally (the client disconnected).
pub const NORMAL: u16 = 1000;
/// The server is shutting down.
pub const GOING_AWAY: u16 = 1001;
/// The peer sent a malformed frame, an unknown frame kind, a compressed frame without negotiating
/// compression, reused a call id still in flight, or sent a `NOTIFY` for a method that is unknown or
/// not one-way (or a `CALL` for a one-way method).
pub const PROTOCOL_ERROR: u16 = 1002;
/// The peer sent a text message; hardlight speaks binary only.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// The arguments of a one-way message (`NOTIFY`) failed validation: with no reply to carry the
/// error, the connection is closed.
pub const INVALID_PAYLOAD: u16 = 1007;
/// The peer broke a limit: more calls in flight than the server allows.
pub const POLICY_VIOLATION: u16 = 1008;
/// A message was larger than the maximum message size (after inflation, for compressed frames).
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an internal error.
pub const INTERNAL_ERROR: u16 = 1011;

/// Handshake refused: the client's schema fingerprint is missing or differs from the server's.
pub const SCHEMA_MISMATCH: u16 = 4001;
/// Handshake refused: the client speaks another protocol version.
pub const UNSUPPORTED_VERSION: u16 = 4002;
/// Handshake refused: a handshake parameter is malformed.
pub const BAD_HANDSHAKE: u16 = 4003;
/// The connection fell too far behind reading what the server sends (its outbound queue is full).
pub const SLOW_CONSUMER: u16 = 4008;
/// Nothing arrived from the peer within the idle timeout, not even a pong to a keepalive ping.
pub const IDLE_TIMEOUT: u16 = 4009;
/// A newer connection of the same identity replaced this one (the server allows one connection per
/// identity and replaces the old one).
pub const REPLACED: u16 = 4010;

/// True for the codes that mean "the handshake was refused" (4000–4007).
pub const fn is_handshake_refusal(code: u16) -> bool {
    matches!(code, 4000..=4007)
}

/// WebSocket limits a close reason to 123 bytes; cut at a character boundary.
pub fn truncate_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}
