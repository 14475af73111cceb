//! Value encoding: rkyv 0.8 archives, always validated before they are read.
//!
//! hardlight pins rkyv's format so that peers in other languages can produce and read it: little-endian,
//! unaligned (no padding anywhere) and 32-bit relative pointers. Because the format is unaligned, an
//! archive can be read in place from any offset of a received message: no copy to realign it.

use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::{Archive, Deserialize, Serialize};

/// Why a value could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("could not encode value: {0}")]
pub struct EncodeError(#[source] pub(crate) rancor::Error);

/// Why bytes could not be decoded as the expected type: they failed validation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub(crate) String);

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A type that can cross the wire: every `#[codable]` type, the primitives, `String`, `Vec`, `Option`,
/// tuples and the other types rkyv supports.
///
/// Implemented automatically for every type whose rkyv archive can be validated; you never implement it
/// by hand. Decoding validates the bytes first, so untrusted input yields a [`DecodeError`], never
/// undefined behaviour or a panic.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent over a hardlight connection",
    note = "add `#[hardlight::codable]` to the type's definition (it derives the rkyv encoding with validation)"
)]
pub trait Codable: Sized + Send + 'static {
    /// Appends the archive of `self` to `out` and returns it.
    fn encode_into(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError>;

    /// Validates `bytes` as an archive of `Self`, then deserializes it.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;

    /// Encodes `self` into a fresh buffer.
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_into(Vec::new())
    }
}

impl<T> Codable for T
where
    T: Archive + Send + 'static,
    T: for<'a> Serialize<HighSerializer<Vec<u8>, ArenaHandle<'a>, rancor::Error>>,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<T, HighDeserializer<rancor::Error>>,
{
    fn encode_into(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        // The archive is appended after whatever `out` holds (a frame header): relative pointers stay
        // valid because the unaligned format never pads relative to the buffer's start.
        rkyv::api::high::to_bytes_in::<_, rancor::Error>(self, out).map_err(EncodeError)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        rkyv::from_bytes::<T, rancor::Error>(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_after_a_header() {
        let header = vec![1u8, 2, 3];
        let value = (7u32, String::from("hello"), vec![1u16, 2, 3]);
        let bytes = value.encode_into(header).unwrap();
        assert_eq!(&bytes[..3], &[1, 2, 3]);
        let back = <(u32, String, Vec<u16>)>::decode(&bytes[3..]).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn unit_encodes_to_nothing() {
        assert!(().encode().unwrap().is_empty());
        <()>::decode(&[]).unwrap();
    }

    #[test]
    fn truncated_bytes_are_rejected() {
        let bytes = String::from("a string long enough to live out of line")
            .encode()
            .unwrap();
        assert!(String::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(u64::decode(&[1, 2, 3]).is_err());
    }
}
