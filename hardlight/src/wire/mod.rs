//! The hardlight wire format, in one place: handshake tokens, authentication token carriers, frame
//! layouts, value encoding, compression and close codes. `docs/PROTOCOL.md` describes the same thing
//! in prose; nothing outside this module builds or parses frames.
//!
//! Public here is what an application uses: the close codes ([`close`]), value encoding
//! ([`codec`]: [`Codable`], [`DecodeError`], the default nesting depth), [`Compression`] and where
//! a token travels ([`TokenCarrier`]). The frame codec, handshake negotiation and compression
//! functions are internal: tests, fuzz targets and benchmarks reach them through the hidden
//! `hardlight::__private::wire`, which is not a stable API.

#[doc(hidden)]
pub mod arena;
pub(crate) mod auth;
pub mod close;
pub mod codec;
pub(crate) mod compression;
pub(crate) mod frame;
pub(crate) mod handshake;
pub mod metadata;
#[doc(hidden)]
pub mod out;
pub mod shape;
pub mod trace;
pub mod view;

pub use auth::TokenCarrier;
pub use codec::{Codable, DecodeError, EncodeError};
pub use compression::Compression;
pub use frame::FrameError;
pub use metadata::{Metadata, MetadataError};
pub use shape::Shape;
pub use trace::TraceParent;
pub use view::{Archived, WireValue};
