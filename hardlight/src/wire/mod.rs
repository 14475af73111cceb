//! The hardlight wire format, in one place: handshake tokens, authentication token carriers, frame
//! layouts, value encoding, compression and close codes. `docs/PROTOCOL.md` describes the same thing in prose; nothing outside
//! this module builds or parses frames.

pub mod auth;
pub mod close;
pub mod codec;
pub mod compression;
pub mod frame;
pub mod handshake;

pub use codec::{Codable, DecodeError, EncodeError};
pub use compression::Compression;
pub use frame::FrameError;
