//! Value encoding: rkyv 0.8 archives, always validated before they are read.
//!
//! hardlight pins rkyv's format so that peers in other languages can produce and read it: little-endian,
//! unaligned (no padding anywhere) and 32-bit relative pointers. Because the format is unaligned, an
//! archive can be read in place from any offset of a received message: no copy to realign it.
//!
//! Validation, deserialization and dropping a value all recurse once per level of nesting, so a
//! received archive nested without limit (a recursive `#[codable]` type, a few hundred bytes when
//! compressed) would overflow the thread's stack and abort the process. Every decode therefore has a
//! maximum nesting depth ([`DEFAULT_MAX_DEPTH`] unless configured): one level per out-of-line value
//! the archive points to (a `Vec`, `String`, `Box`, map...), counting the root.

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::sync::Arc;

use rkyv::api::high::{HighDeserializer, HighSerializer};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::Serializer;
pub(crate) use rkyv::ser::allocator::Arena;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::sharing::Share;
use rkyv::validation::Validator;
use rkyv::validation::archive::ArchiveValidator;
use rkyv::validation::shared::SharedValidator;
use rkyv::{Archive, Deserialize, Serialize};

use super::shape::{Shape, ShapeFn, Shapes};

/// Default maximum nesting depth of a received value (see [`Codable::decode_within`]): 128 levels,
/// as serde_json's default recursion limit. Deep enough for ordinary data; shallow enough that
/// validating, deserializing and dropping such a value fits a 512 KiB stack in a debug build (a level
/// takes about 3 KiB of stack there, under 0.5 KiB in a release build; tokio's worker threads have
/// 2 MiB).
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Why a value could not be encoded.
///
/// The error the value's serializer failed with is the [`source`](std::error::Error::source) (in
/// a debug build; a release build of rkyv keeps no detail). Shared, so that the error is cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct EncodeError(Arc<rancor::Error>);

impl EncodeError {
    pub(crate) fn new(e: rancor::Error) -> Self {
        Self(Arc::new(e))
    }
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not encode value")
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // rkyv's error boxes the serializer's: that one is the cause, as it was raised.
        let held = rancor::Error::inner(&self.0);
        Some(match held.downcast_ref::<rancor::BoxedError>() {
            Some(boxed) => rancor::BoxedError::inner(boxed),
            None => held,
        })
    }
}

/// Why bytes could not be decoded as the expected type: they failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The value is nested deeper than the maximum depth allowed (see [`Codable::decode_within`]).
    #[error("value nested deeper than the maximum depth of {max_depth}")]
    TooDeep {
        /// The maximum depth in force.
        max_depth: usize,
    },
    /// The bytes are not a valid archive of the type.
    #[error("{0}")]
    Invalid(String),
}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// rkyv's validator, with an error type that remembers whether the depth bound tripped.
type Checker<'a> = rancor::Strategy<Validator<ArchiveValidator<'a>, SharedValidator>, CheckError>;

/// A validation failure as rkyv reports it: its message, and whether the maximum depth was exceeded.
///
/// One pointer wide, and built only on cold paths: validating a slice checks each element with a
/// `Result<(), CheckError>`, and a small error whose tracing is out of line lets the compiler see
/// that an element which cannot fail (a byte) costs nothing, so that a `Vec<u8>` of any length is
/// checked in constant time rather than one call per byte.
#[derive(Debug)]
struct CheckError(Box<CheckFailure>);

#[derive(Debug)]
struct CheckFailure {
    message: String,
    too_deep: bool,
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for CheckError {}

impl rancor::Trace for CheckError {
    #[cold]
    #[inline(never)]
    fn trace<R>(mut self, trace: R) -> Self
    where
        R: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static,
    {
        // rkyv signals a depth overrun only through this trace, whose type is private: its text is
        // what can be matched (`depth_overrun_is_recognised` pins it to rkyv's wording).
        if trace
            .to_string()
            .contains("exceeded the maximum subtree depth")
        {
            self.0.too_deep = true;
        }
        self
    }
}

impl rancor::Source for CheckError {
    #[cold]
    #[inline(never)]
    fn new<T: std::error::Error + Send + Sync + 'static>(source: T) -> Self {
        Self(Box::new(CheckFailure {
            message: source.to_string(),
            too_deep: false,
        }))
    }
}

impl CheckError {
    fn into_decode_error(self, max_depth: usize) -> DecodeError {
        if self.0.too_deep {
            DecodeError::TooDeep { max_depth }
        } else {
            DecodeError::Invalid(self.0.message)
        }
    }
}

/// A type that can cross the wire: every `#[codable]` type, the primitives, `String`, `Vec`, `Option`,
/// tuples and the other types rkyv supports.
///
/// Implemented automatically for every type whose rkyv archive can be validated and that describes
/// its structure ([`Shape`], for the schema fingerprint); you never implement it by hand. Decoding validates the bytes first, so untrusted input yields a [`DecodeError`], never
/// undefined behaviour or a panic.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent over a hardlight connection",
    note = "add `#[hardlight::codable]` to the type's definition (deriving rkyv's traits is not enough), or use a type that is already codable (numbers, `String`, `Vec`, `Option`, tuples, other #[codable] types)"
)]
// The supertraits are what the blanket impl below requires, stated on the trait so that they follow
// from `T: Codable`: the tuple of a method's arguments is then `Codable` wherever each argument is, and
// the code `#[rpc]` generates checks each argument on its own, at its own span. `Checker` is private:
// nobody names these bounds, they are only implied. `Shape` is required by the impl only (as a
// supertrait, a type without it would be reported twice); `SHAPE` reaches it from `T: Codable`.
#[expect(
    private_bounds,
    reason = "the validator type is an implementation detail; the bound is only ever implied"
)]
pub trait Codable:
    Archive<
        Archived: for<'a> CheckBytes<Checker<'a>>
                      + Deserialize<Self, HighDeserializer<rancor::Error>>
                      + Sync
                      + 'static,
    > + for<'a> Serialize<HighSerializer<Vec<u8>, ArenaHandle<'a>, rancor::Error>>
    + Sized
    + Send
    + 'static
{
    /// How the type describes its structure: its [`Shape`], which a service's schema fingerprint is
    /// built from.
    const SHAPE: ShapeFn;

    /// Appends the archive of `self` to `out` and returns it.
    fn encode_into(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError>;

    /// Validates `bytes` as an archive of `Self` nested at most [`DEFAULT_MAX_DEPTH`] levels deep,
    /// then deserializes it.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_within(bytes, DEFAULT_MAX_DEPTH)
    }

    /// Validates `bytes` as an archive of `Self` nested at most `max_depth` levels deep, then
    /// deserializes it. A level is the root, and each out-of-line value (the contents of a `Vec`,
    /// `String`, `Box`, map, ...) below it; deeper archives are refused with
    /// [`DecodeError::TooDeep`] before any recursion could exhaust the stack. A `max_depth` of 0
    /// counts as 1.
    fn decode_within(bytes: &[u8], max_depth: usize) -> Result<Self, DecodeError>;

    /// Appends the archive of `self` to `serializer`'s buffer. A caller encoding many values in a
    /// row (the items of a stream) keeps one serializer, and one arena acquired, for all of them,
    /// where [`encode_into`](Self::encode_into) sets up a serializer for each value. Each archive
    /// stands alone all the same: nothing one shares is pointed to by the next. On failure the
    /// buffer is left as it was.
    ///
    /// # Errors
    /// When the value's serializer fails.
    #[doc(hidden)]
    fn encode_with(&self, serializer: &mut ValueSerializer<'_>) -> Result<(), EncodeError>;

    /// Encodes `self` into a fresh buffer.
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_into(Vec::new())
    }
}

#[diagnostic::do_not_recommend]
impl<T> Codable for T
where
    T: Archive + Shape + Send + 'static,
    T: for<'a> Serialize<HighSerializer<Vec<u8>, ArenaHandle<'a>, rancor::Error>>,
    T::Archived: for<'a> CheckBytes<Checker<'a>>
        + Deserialize<T, HighDeserializer<rancor::Error>>
        + Sync
        + 'static,
{
    const SHAPE: ShapeFn = T::write_shape;

    #[inline]
    fn encode_into(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        // The archive is appended after whatever `out` holds (a frame header): relative pointers stay
        // valid because the unaligned format never pads relative to the buffer's start.
        with_thread_arena(|arena| {
            let mut serializer = value_serializer(out, arena);
            rkyv::api::serialize_using::<_, rancor::Error>(self, &mut serializer)
                .map_err(EncodeError::new)?;
            Ok(serializer.into_writer())
        })
    }

    #[inline]
    fn encode_with(&self, serializer: &mut ValueSerializer<'_>) -> Result<(), EncodeError> {
        let start = serializer.writer.len();
        let encoded = rkyv::api::serialize_using::<_, rancor::Error>(self, serializer);
        // Shared values (an `Arc` met twice) are shared within one archive, never across two.
        serializer.sharing.clear();
        encoded.map(drop).map_err(|e| {
            serializer.writer.truncate(start);
            EncodeError::new(e)
        })
    }

    #[inline]
    fn decode_within(bytes: &[u8], max_depth: usize) -> Result<Self, DecodeError> {
        let archived = access_within::<T>(bytes, max_depth)?;
        rkyv::deserialize::<T, rancor::Error>(archived)
            .map_err(|e| DecodeError::Invalid(e.to_string()))
    }
}

/// The serializer that [`Codable::encode_with`] appends archives with: the buffer they go to, the
/// scratch space of an arena, and the table of values shared within one archive: one serves all
/// the items of a stream's frame.
#[doc(hidden)]
pub type ValueSerializer<'a> = Serializer<Vec<u8>, ArenaHandle<'a>, Share>;

/// A serializer appending to `out`, with `arena`'s scratch space; `out` comes back with
/// [`Serializer::into_writer`].
#[inline]
pub(crate) fn value_serializer(out: Vec<u8>, arena: &mut Arena) -> ValueSerializer<'_> {
    Serializer::new(out, arena.acquire(), Share::new())
}

thread_local! {
    /// The scratch space [`Codable::encode_into`] serializes with, kept for the thread's next value.
    static THREAD_ARENA: Cell<Option<Arena>> = const { Cell::new(None) };
}

/// Runs `f` with the thread's arena, taken out of its slot and put back: rkyv's `to_bytes_in` does
/// the same, but also shrinks the arena twice and moves the buffer through more layers, which was
/// about 4% of a 64-byte echo's CPU on each end. A value encoded while another is (a `Serialize`
/// impl that encodes) finds the slot empty and gets an arena of its own.
#[inline]
fn with_thread_arena<T>(f: impl FnOnce(&mut Arena) -> T) -> T {
    let mut arena = THREAD_ARENA
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default();
    let done = f(&mut arena);
    // The thread may be ending: the arena is then dropped here.
    let _ = THREAD_ARENA.try_with(|slot| slot.set(Some(arena)));
    done
}

/// Validates `bytes` as an archive of `T` nested at most `max_depth` levels deep (see
/// [`Codable::decode_within`]) and returns the archived value, in place: the one validation both
/// decoding and views ([`Archived`](super::view::Archived)) rely on.
#[inline]
pub(crate) fn access_within<T: Codable>(
    bytes: &[u8],
    max_depth: usize,
) -> Result<&T::Archived, DecodeError> {
    let max_depth = max_depth.max(1);
    // rkyv fails the push that would take its budget to zero: one more than the levels allowed.
    let budget = NonZeroUsize::new(max_depth.saturating_add(1)).unwrap_or(NonZeroUsize::MAX);
    let mut validator = Validator::new(
        ArchiveValidator::with_max_depth(bytes, Some(budget)),
        SharedValidator::new(),
    );
    rkyv::api::access_with_context::<T::Archived, _, CheckError>(bytes, &mut validator)
        .map_err(|e| e.into_decode_error(max_depth))
}

/// The shape of tuples, written `(A,B,...)` (see [`Shape`]). Here rather than with the other shapes:
/// their elements need only be [`Codable`], so that the argument tuple of a method is codable
/// wherever each argument is, as the `where` clauses of generated code state.
macro_rules! tuple_shapes {
    ($(($($param:ident),+)),* $(,)?) => {$(
        impl<$($param: Codable),+> Shape for ($($param,)+) {
            fn write_shape(shapes: &mut Shapes, out: &mut String) {
                out.push('(');
                let mut first = true;
                $(
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    ($param::SHAPE)(shapes, out);
                )+
                let _ = first;
                out.push(')');
            }
        }
    )*};
}

tuple_shapes! {
    (A), (A, B), (A, B, C), (A, B, C, D), (A, B, C, D, E), (A, B, C, D, E, F),
    (A, B, C, D, E, F, G), (A, B, C, D, E, F, G, H), (A, B, C, D, E, F, G, H, I),
    (A, B, C, D, E, F, G, H, I, J), (A, B, C, D, E, F, G, H, I, J, K),
    (A, B, C, D, E, F, G, H, I, J, K, L), (A, B, C, D, E, F, G, H, I, J, K, L, M),
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
    fn a_value_encoded_while_another_is_gets_an_arena_of_its_own() {
        // A map needs the arena's scratch space; the inner encode runs while the outer one holds
        // the thread's arena, as a `Serialize` impl that encodes would.
        let map: std::collections::HashMap<String, u32> =
            (0..50).map(|i| (format!("key {i}"), i)).collect();
        let (outer, inner) = with_thread_arena(|arena| {
            let inner = map.encode().unwrap();
            let mut serializer = value_serializer(Vec::new(), arena);
            rkyv::api::serialize_using::<_, rancor::Error>(&map, &mut serializer).unwrap();
            (serializer.into_writer(), inner)
        });
        assert_eq!(outer, inner);
        assert_eq!(
            <std::collections::HashMap<String, u32>>::decode(&outer).unwrap(),
            map
        );
        // The thread's arena is back in its slot for the next value.
        assert!(THREAD_ARENA.with(|slot| {
            let arena = slot.take();
            let kept = arena.is_some();
            slot.set(arena);
            kept
        }));
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

    /// `Vec` nested `levels` deep around one `u8`.
    fn nested(levels: usize) -> Vec<u8> {
        // Built by hand: the archive of `vec![vec![..vec![7u8]..]]` is each level's 8-byte
        // (offset, length) header pointing back at the level below it.
        let mut bytes = vec![7u8];
        let mut inner_at = 0usize;
        for _ in 0..levels {
            let here = bytes.len();
            let offset = i32::try_from(inner_at as i64 - here as i64).unwrap();
            bytes.extend_from_slice(&offset.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
            inner_at = here;
        }
        bytes
    }

    #[test]
    fn the_nested_archive_helper_matches_rkyv() {
        let value = vec![vec![vec![7u8]]];
        assert_eq!(value.encode().unwrap(), nested(3));
    }

    #[test]
    fn depth_overrun_is_recognised() {
        let bytes = nested(3);
        // Three `Vec`s: the root holds the outer header, and three levels are out of line.
        assert!(<Vec<Vec<Vec<u8>>>>::decode_within(&bytes, 4).is_ok());
        assert_eq!(
            <Vec<Vec<Vec<u8>>>>::decode_within(&bytes, 3),
            Err(DecodeError::TooDeep { max_depth: 3 })
        );
        assert_eq!(
            <Vec<Vec<Vec<u8>>>>::decode_within(&bytes, 0),
            Err(DecodeError::TooDeep { max_depth: 1 })
        );
    }

    #[test]
    fn other_failures_are_invalid_not_too_deep() {
        assert!(matches!(
            u64::decode(&[1, 2, 3]),
            Err(DecodeError::Invalid(_))
        ));
    }
}
