//! Zero-copy views: a received value read in place, in the buffer it arrived in.
//!
//! [`Archived<T>`] holds the received message's buffer (a reference-counted [`Bytes`], not a copy)
//! and a reference to the archive of a `T` inside it, validated once, with the same nesting-depth
//! bound as decoding. It derefs to `T`'s archived form (`ArchivedVec`, `ArchivedString`, the
//! `Archived...` struct `#[codable]` derives); [`Archived::deserialize`] gives the owned `T`.
//!
//! Owned and archived forms are the same on the wire and have the same fingerprint: a method
//! declared with `Vec<u8>` on one side and `Archived<Vec<u8>>` on the other is the same method.
//! Which form a method uses is said by its signature: [`WireValue`] is implemented by every
//! [`Codable`] type (received by deserializing it) and by every `Archived<T>` (received in place).
//!
//! The reference into the shared buffer is kept by [`yoke`] (ICU4X's self-referential cart),
//! so that this crate needs no `unsafe` code and no unchecked access: the only way to a view is
//! through the validator.
//!
//! ## Where the copies are
//!
//! Between the socket and a view, the payload is copied only where the transport must: TLS
//! decryption writes the plaintext into the WebSocket reader's buffer (a message of one frame is
//! handed out as [`Bytes`] cut from that buffer, unmasked in place on the server; a fragmented
//! message is assembled into one buffer; a browser copies the `ArrayBuffer` into wasm memory), and a
//! frame
//! compressed with hardlight's per-message deflate is inflated into a new buffer. Nothing after
//! that copies it: the frame is decoded in place, the argument, reply or event archive is validated
//! in place, and the view points into that buffer. An owned value adds one more copy (and an
//! allocation per `Vec`, `String`, ...) when it is deserialized.
//!
//! On the way out, a view handed back as a reply (an argument echoed or forwarded, a view made
//! with [`Archived::new`]) is not copied into a `REPLY` frame either: the frame stays the view's
//! buffer and a small header ([`OutFrame`](super::out::OutFrame)). The server's WebSocket writer
//! sends a frame of 16 KiB or more as the WebSocket header plus the frame's header in one buffer
//! and the archive in place behind it (one vectored write); smaller frames are copied into its
//! write buffer, where copying is cheaper than a second write. Only the transport copies it then:
//! TLS encrypts it into its own buffer, compression deflates it. A client sends a view made with
//! [`Archived::from_slice`] from its own buffer (the header goes in place before the archive),
//! and masks it, which the WebSocket protocol requires of clients, in a copy.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

use bytes::Bytes;
use rkyv::rancor;
use yoke::Yoke;

use super::codec::{
    Codable, DEFAULT_MAX_DEPTH, DecodeError, EncodeError, ValueSerializer, access_within,
};
use super::shape::ShapeFn;

/// The shared buffer a view points into. An `Arc` around the `Bytes` because [`Yoke`] needs a cart
/// whose address is stable (`StableDeref`), which `Bytes` does not declare: one small allocation per
/// received message, never a copy of the payload.
type Cart = Arc<Bytes>;

/// A zero-copy view of a received `T`: the received message's buffer, shared, and `T`'s archive in
/// it, validated once. Derefs to `T::Archived`.
///
/// Usable wherever a method's signature names a value: as a handler argument
/// (`async fn ingest(&self, batch: Archived<Vec<Sample>>) -> HandlerResult<u64>`), as a method's
/// return (`-> HandlerResult<Archived<Report>>`: the client's method then returns the view), and as
/// a service's event type (`#[rpc(events = Archived<Tick>)]`). On the wire it is `T` itself, with
/// `T`'s fingerprint: a peer declaring `T` talks to one declaring `Archived<T>`.
///
/// Cloning is cheap (a reference count). Holding a view keeps the whole received message alive:
/// call [`deserialize`](Self::deserialize) to keep a small part of a large message.
///
/// A view can also be made from a value with [`Archived::new`] (encode once, validate once) and sent
/// as an argument or returned by a handler: its archive is copied into each frame as it is, without
/// serializing again. See the module documentation for where the transport itself copies bytes.
pub struct Archived<T: Codable> {
    yoke: Yoke<&'static T::Archived, Cart>,
    /// Where, in the buffer, the archive that was validated lies (the whole argument tuple for an
    /// argument: its elements are views into it).
    range: Range<usize>,
}

impl<T: Codable> Archived<T> {
    /// Encodes `value` and validates the result as a view: a pre-encoded value, sent as it is each
    /// time it is used as an argument or a reply (encode once, send to many).
    ///
    /// # Errors
    /// When `value` cannot be encoded, or is nested deeper than
    /// [`DEFAULT_MAX_DEPTH`].
    pub fn new(value: &T) -> Result<Self, EncodeError> {
        // Room for a frame header before the archive, as `from_slice` keeps: a view sent once as
        // an argument becomes its frame without another copy.
        let bytes = value.encode_into(vec![0; FRAME_HEADROOM])?;
        let range = FRAME_HEADROOM..bytes.len();
        Self::validate(Bytes::from(bytes), range, DEFAULT_MAX_DEPTH)
            .map_err(|e| EncodeError::new(<rancor::Error as rancor::Source>::new(e)))
    }

    /// Validates `bytes` as an archive of `T` nested at most
    /// [`DEFAULT_MAX_DEPTH`] levels deep, and views it in place.
    ///
    /// # Errors
    /// When the bytes are not a valid archive of `T`, or are nested too deep.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, DecodeError> {
        Self::from_bytes_within(bytes, DEFAULT_MAX_DEPTH)
    }

    /// Like [`Archived::from_bytes`], nested at most `max_depth` levels deep (see
    /// [`Codable::decode_within`]).
    ///
    /// # Errors
    /// When the bytes are not a valid archive of `T`, or are nested too deep.
    pub fn from_bytes_within(bytes: Bytes, max_depth: usize) -> Result<Self, DecodeError> {
        let range = 0..bytes.len();
        Self::validate(bytes, range, max_depth)
    }

    /// Validates `message[range]` as an archive of `T` and views it, sharing `message`.
    pub(crate) fn validate(
        message: Bytes,
        range: Range<usize>,
        max_depth: usize,
    ) -> Result<Self, DecodeError> {
        let at = range.clone();
        let yoke = Yoke::try_attach_to_cart(Arc::new(message), move |bytes: &Bytes| {
            let archive = bytes
                .get(at)
                .ok_or_else(|| DecodeError::new("archive out of the message's bounds"))?;
            access_within::<T>(archive, max_depth)
        })?;
        Ok(Self { yoke, range })
    }

    /// The view of a part of this value (an element of the argument tuple), sharing the buffer and
    /// the validation.
    pub(crate) fn project<U: Codable>(
        &self,
        part: impl for<'a> FnOnce(&'a T::Archived) -> &'a U::Archived,
    ) -> Archived<U> {
        Archived {
            yoke: self
                .yoke
                .map_project_cloned(move |archived, _| part(archived)),
            range: self.range.clone(),
        }
    }

    /// The archived value (as `*view`).
    pub fn get(&self) -> &T::Archived {
        self.yoke.get()
    }

    /// Deserializes the owned `T`.
    ///
    /// # Errors
    /// Only if deserializing fails, which a validated archive of the standard types never does
    /// (rkyv reports, for example, a shared pointer it cannot rebuild).
    pub fn deserialize(&self) -> Result<T, DecodeError> {
        rkyv::deserialize::<T, rancor::Error>(self.get())
            .map_err(|e| DecodeError::Invalid(e.to_string()))
    }

    /// The received bytes of this value's archive, when they form an archive of `T` by themselves:
    /// the value is the root of the range validated (it ends the range), as a whole reply, event or
    /// single argument is. `None` for an element of a tuple of several arguments other than the
    /// last.
    pub fn archive_bytes(&self) -> Option<&[u8]> {
        let buffer: &Bytes = self.yoke.backing_cart();
        let base = buffer.as_ptr() as usize;
        // Addresses compared as integers: safe, and never turned back into references.
        let at = std::ptr::from_ref::<T::Archived>(self.get()) as *const u8 as usize;
        let end = at - base + size_of::<T::Archived>();
        (end == self.range.end).then(|| &buffer[self.range.clone()])
    }

    /// The buffer the view shares: the received message (frame header included), or the bytes it
    /// was made from.
    pub fn buffer(&self) -> &Bytes {
        self.yoke.backing_cart()
    }

    /// Appends this value's archive to `out`: its bytes as received when they stand alone
    /// ([`Archived::archive_bytes`]), otherwise by deserializing and encoding it again.
    fn write_to(&self, mut out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        match self.archive_bytes() {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(out)
            }
            None => self.to_owned_value()?.encode_into(out),
        }
    }

    fn to_owned_value(&self) -> Result<T, EncodeError> {
        rkyv::deserialize::<T, rancor::Error>(self.get()).map_err(EncodeError::new)
    }
}

impl<U: Codable> Archived<Vec<U>>
where
    Vec<U>: Codable,
{
    /// Encodes a borrowed slice as the archive of a `Vec<U>`, without building the `Vec`: the bytes
    /// are the same as [`Archived::new`] of a vector with these elements. For an argument declared
    /// `Archived<Vec<U>>` (or `Archived<Vec<u8>>`) sent from data the caller keeps, e.g. a buffer
    /// it reuses: one copy, into the archive, where an owned `Vec<U>` argument costs a clone and
    /// then that copy. The view keeps room before its archive for a frame header: moved into a
    /// call (and not cloned meanwhile), its buffer becomes the `CALL` frame without another copy.
    ///
    /// ```
    /// use hardlight::Archived;
    ///
    /// let frame = [0xde_u8, 0xad, 0xbe, 0xef];
    /// let view = Archived::<Vec<u8>>::from_slice(&frame)?;
    /// assert_eq!(view.as_slice(), &frame);
    /// assert_eq!(view.archive_bytes(), Archived::new(&frame.to_vec())?.archive_bytes());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// When an element cannot be encoded, or the result is nested deeper than
    /// [`DEFAULT_MAX_DEPTH`].
    pub fn from_slice(items: &[U]) -> Result<Self, EncodeError> {
        // Room for a `CALL` header before the archive: sent as an argument, the view's buffer
        // becomes the frame, without copying the archive again (see `ArchiveOut::take_framed`).
        let bytes = encode_slice_into(items, vec![0; FRAME_HEADROOM])?;
        let range = FRAME_HEADROOM..bytes.len();
        Self::validate(Bytes::from(bytes), range, DEFAULT_MAX_DEPTH)
            .map_err(|e| EncodeError::new(<rancor::Error as rancor::Source>::new(e)))
    }
}

/// What the archive of a slice as a `Vec` takes beyond its elements' bytes, at most: padding to
/// the vector's alignment and the vector itself (its root). A frame that will hold a slice's
/// archive is sized with it ([`encode_slice_into`] reserves it too).
pub(crate) const SLICE_ROOT: usize = 16;

/// Appends the archive of `items` as a `Vec<U>` to `out` (a frame header, or nothing) and returns
/// it: what encoding a `Vec<U>` of those items gives, without the `Vec`. `out` is first given
/// room for the elements' bytes and the vector ([`SLICE_ROOT`]), so that a large slice is copied
/// once.
pub(crate) fn encode_slice_into<U>(items: &[U], mut out: Vec<u8>) -> Result<Vec<u8>, EncodeError>
where
    U: for<'a> rkyv::Serialize<
            rkyv::api::high::HighSerializer<
                Vec<u8>,
                rkyv::ser::allocator::ArenaHandle<'a>,
                rancor::Error,
            >,
        >,
{
    out.reserve(std::mem::size_of_val(items) + SLICE_ROOT);
    rkyv::api::high::to_bytes_in::<_, rancor::Error>(&SliceAsVec(items), out)
        .map_err(EncodeError::new)
}

/// A slice archived as a `Vec` of its elements: rkyv's `Vec` impl, without owning the elements.
struct SliceAsVec<'a, U>(&'a [U]);

impl<U: rkyv::Archive> rkyv::Archive for SliceAsVec<'_, U> {
    type Archived = rkyv::vec::ArchivedVec<U::Archived>;
    type Resolver = rkyv::vec::VecResolver;

    fn resolve(&self, resolver: Self::Resolver, out: rkyv::Place<Self::Archived>) {
        rkyv::vec::ArchivedVec::resolve_from_slice(self.0, resolver, out);
    }
}

impl<U, S> rkyv::Serialize<S> for SliceAsVec<'_, U>
where
    U: rkyv::Serialize<S>,
    S: rancor::Fallible + rkyv::ser::Allocator + rkyv::ser::Writer + ?Sized,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        rkyv::vec::ArchivedVec::serialize_from_slice(self.0, serializer)
    }
}

impl<T: Codable> Deref for Archived<T> {
    type Target = T::Archived;

    fn deref(&self) -> &T::Archived {
        self.get()
    }
}

impl<T: Codable> Clone for Archived<T> {
    fn clone(&self) -> Self {
        Self {
            yoke: self.yoke.clone(),
            range: self.range.clone(),
        }
    }
}

/// The type and the size of the archive: archived types need not implement `Debug`.
impl<T: Codable> fmt::Debug for Archived<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Archived<{}>({} bytes)",
            std::any::type_name::<T>(),
            self.range.len()
        )
    }
}

/// Compares the archived values.
impl<T: Codable> PartialEq for Archived<T>
where
    T::Archived: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// Compares the archived value with an owned one (where rkyv can: `ArchivedVec<u8>` with `Vec<u8>`,
/// `ArchivedString` with `String`, ...).
impl<T: Codable> PartialEq<T> for Archived<T>
where
    T::Archived: PartialEq<T>,
{
    fn eq(&self, other: &T) -> bool {
        self.get() == other
    }
}

/// What a method's argument, return value or event may be declared as: a [`Codable`] type, received
/// by deserializing it, or an [`Archived`] view of one, received in place. Both travel as
/// [`WireValue::Wire`], with its shape. Implemented for those two only.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent over a hardlight connection",
    note = "add `#[hardlight::codable]` to the type's definition (deriving rkyv's traits is not enough), or use a type that is already codable (numbers, `String`, `Vec`, `Option`, tuples, other #[codable] types), or `hardlight::Archived<T>` of one"
)]
pub trait WireValue: Sized + Send + 'static {
    /// The type on the wire: `T` for both `T` and `Archived<T>`.
    type Wire: Codable;

    /// The shape of [`WireValue::Wire`]: a view and its owned form have the same fingerprint.
    const SHAPE: ShapeFn = <Self::Wire as Codable>::SHAPE;

    /// The received value from its validated view: the view itself, or its deserialization.
    ///
    /// # Errors
    /// When deserializing fails.
    fn from_view(view: Archived<Self::Wire>) -> Result<Self, DecodeError>;

    /// Appends the archive of `self` to `out`.
    ///
    /// # Errors
    /// When encoding fails.
    fn write_wire(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError>;

    /// Appends the archive of `self` to `serializer`'s buffer ([`Codable::encode_with`]): the
    /// bytes of a view as they are, an owned value encoded. On failure the buffer is left as it
    /// was.
    ///
    /// # Errors
    /// When encoding fails.
    #[doc(hidden)]
    fn encode_wire_with(&self, serializer: &mut ValueSerializer<'_>) -> Result<(), EncodeError>;

    /// `self` as the owned wire value: `self` for an owned value, deserialized for a view (which a
    /// tuple of several arguments needs to encode it).
    ///
    /// # Errors
    /// When deserializing fails.
    fn into_wire(self) -> Result<Self::Wire, EncodeError>;

    /// What to send for `self` as a lone argument: the view's bytes as they are, or the value.
    #[doc(hidden)]
    fn into_outgoing(self) -> Result<Outgoing<Self::Wire>, EncodeError>;

    /// Whether `Self` is a view. An argument tuple without views is deserialized whole, so that
    /// values shared between arguments (an `Arc` sent twice) stay shared.
    #[doc(hidden)]
    const IS_VIEW: bool;

    /// `Self` from its deserialized wire value: `Some` for an owned type, `None` for a view.
    #[doc(hidden)]
    fn from_owned(wire: Self::Wire) -> Option<Self>;
}

#[diagnostic::do_not_recommend]
impl<T: Codable> WireValue for T {
    type Wire = T;

    fn from_view(view: Archived<T>) -> Result<T, DecodeError> {
        view.deserialize()
    }

    fn write_wire(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        self.encode_into(out)
    }

    #[inline]
    fn encode_wire_with(&self, serializer: &mut ValueSerializer<'_>) -> Result<(), EncodeError> {
        self.encode_with(serializer)
    }

    fn into_wire(self) -> Result<T, EncodeError> {
        Ok(self)
    }

    fn into_outgoing(self) -> Result<Outgoing<T>, EncodeError> {
        Ok(Outgoing::Value(self))
    }

    const IS_VIEW: bool = false;

    fn from_owned(wire: T) -> Option<T> {
        Some(wire)
    }
}

impl<T: Codable> WireValue for Archived<T> {
    type Wire = T;

    fn from_view(view: Archived<T>) -> Result<Self, DecodeError> {
        Ok(view)
    }

    fn write_wire(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        self.write_to(out)
    }

    fn encode_wire_with(&self, serializer: &mut ValueSerializer<'_>) -> Result<(), EncodeError> {
        match self.archive_bytes() {
            Some(bytes) => {
                serializer.writer.extend_from_slice(bytes);
                Ok(())
            }
            None => self.to_owned_value()?.encode_with(serializer),
        }
    }

    fn into_wire(self) -> Result<T, EncodeError> {
        self.to_owned_value()
    }

    fn into_outgoing(self) -> Result<Outgoing<T>, EncodeError> {
        Ok(match self.archive_bytes() {
            Some(_) => Outgoing::Archive(ArchiveOut {
                slot: std::sync::Mutex::new(Some(ArchiveSlice {
                    buffer: self.buffer().clone(),
                    range: self.range.clone(),
                })),
            }),
            None => Outgoing::Value(self.to_owned_value()?),
        })
    }

    const IS_VIEW: bool = true;

    fn from_owned(_: T) -> Option<Self> {
        None
    }
}

/// An argument tuple ready to be encoded: a value, or the bytes of a view's archive, sent as they
/// are.
#[doc(hidden)]
#[derive(Debug)]
pub enum Outgoing<W> {
    /// An owned value, serialized when the frame is encoded.
    Value(W),
    /// The archive of a `W`, standing alone (see [`Archived::archive_bytes`]); shares the buffer of
    /// the view it comes from.
    Archive(ArchiveOut),
}

/// Bytes before a view's archive in its buffer that [`Archived::from_slice`] keeps free for a
/// frame header: a `CALL` header with a budget and trace context fits (8 + 4 + 25 bytes).
pub(crate) const FRAME_HEADROOM: usize = 40;

/// A view's archive on its way out: the view's buffer and where the archive lies in it.
#[doc(hidden)]
#[derive(Debug)]
pub struct ArchiveOut {
    /// Taken when the buffer becomes the frame itself.
    slot: std::sync::Mutex<Option<ArchiveSlice>>,
}

impl ArchiveOut {
    /// The archive's bytes.
    fn with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let slot = crate::locks::lock(&self.slot);
        f(slot.as_ref().map(ArchiveSlice::archive).unwrap_or_default())
    }

    /// The frame `header` + archive, written in the view's own buffer when nothing else holds it and
    /// there is room before the archive: no copy of the archive. `None` otherwise (the caller then
    /// encodes the frame by copying).
    fn take_framed(&self, header: &[u8]) -> Option<Bytes> {
        let mut slot = crate::locks::lock(&self.slot);
        match slot.take()?.try_framed(header) {
            Ok(frame) => Some(frame),
            Err(slice) => {
                *slot = Some(slice);
                None
            }
        }
    }

    /// The archive and the buffer it lies in.
    pub(crate) fn into_slice(self) -> Option<ArchiveSlice> {
        self.slot.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// A standalone archive in a shared buffer (a view's, or a received message's), with whatever the
/// buffer holds before it.
#[derive(Debug)]
pub(crate) struct ArchiveSlice {
    buffer: Bytes,
    range: Range<usize>,
}

impl ArchiveSlice {
    /// The archive's bytes.
    pub(crate) fn archive(&self) -> &[u8] {
        self.buffer.get(self.range.clone()).unwrap_or_default()
    }

    /// The archive as shared bytes (no copy).
    #[cfg(hardlight_native)]
    pub(crate) fn archive_bytes(&self) -> Bytes {
        if self.buffer.len() < self.range.end {
            return Bytes::new();
        }
        self.buffer.slice(self.range.clone())
    }

    /// The frame `header` + archive in the buffer itself, the header written over the bytes
    /// before the archive: when nothing else holds the buffer and the header fits there. The
    /// slice back otherwise.
    pub(crate) fn try_framed(self, header: &[u8]) -> Result<Bytes, Self> {
        if header.len() > self.range.start || self.buffer.len() < self.range.end {
            return Err(self);
        }
        match self.buffer.try_into_mut() {
            Ok(mut frame) => {
                frame.truncate(self.range.end);
                let _ = frame.split_to(self.range.start - header.len());
                frame[..header.len()].copy_from_slice(header);
                Ok(frame.freeze())
            }
            Err(buffer) => Err(Self {
                buffer,
                range: self.range,
            }),
        }
    }

    /// The frame `header` + archive: in place when [`try_framed`](Self::try_framed) can, else
    /// copied into a new buffer.
    pub(crate) fn framed(self, header: &[u8]) -> Bytes {
        self.try_framed(header).unwrap_or_else(|slice| {
            let archive = slice.archive();
            let mut frame = Vec::with_capacity(header.len() + archive.len());
            frame.extend_from_slice(header);
            frame.extend_from_slice(archive);
            Bytes::from(frame)
        })
    }

    /// The archive's length.
    pub(crate) fn len(&self) -> usize {
        self.range.len()
    }
}

impl<W: Codable> Outgoing<W> {
    /// Appends the archive to `out`.
    ///
    /// # Errors
    /// When encoding the value fails.
    pub fn encode_into(&self, mut out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        match self {
            Outgoing::Value(value) => value.encode_into(out),
            Outgoing::Archive(archive) => {
                archive.with(|bytes| out.extend_from_slice(bytes));
                Ok(out)
            }
        }
    }
}

/// What a frame's body can be encoded from: a [`Codable`] value, or [`Outgoing`] arguments.
#[doc(hidden)]
pub trait Body {
    /// Appends the archive to `out`.
    ///
    /// # Errors
    /// When encoding fails.
    fn encode_body(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError>;

    /// The frame `header` + body in one buffer without copying the body, when the body is a view's
    /// archive that nothing else holds, with room before it. `None` otherwise.
    fn take_framed(&self, header: &[u8]) -> Option<Bytes> {
        let _ = header;
        None
    }
}

impl<T: Codable> Body for T {
    fn encode_body(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        self.encode_into(out)
    }
}

impl<W: Codable> Body for Outgoing<W> {
    fn encode_body(&self, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        self.encode_into(out)
    }

    fn take_framed(&self, header: &[u8]) -> Option<Bytes> {
        match self {
            Outgoing::Archive(archive) => archive.take_framed(header),
            Outgoing::Value(_) => None,
        }
    }
}

/// A method's argument tuple, each element a [`WireValue`]: on the wire, the tuple of their
/// [`WireValue::Wire`] types. Implemented for tuples of up to 13 elements.
#[doc(hidden)]
pub trait WireArgs: Sized + Send + 'static {
    /// The tuple on the wire.
    type Wire: Codable;

    /// The arguments from the tuple's validated view: each element a view into it, or deserialized.
    ///
    /// # Errors
    /// When deserializing an element fails.
    fn from_view(view: Archived<Self::Wire>) -> Result<Self, DecodeError>;

    /// Whether any argument is a view: without one, the tuple is deserialized where it lies,
    /// with no view of it to build ([`WireArgs::from_wire`]).
    const HAS_VIEW: bool;

    /// The arguments from the deserialized tuple: `None` if one of them is a view.
    fn from_wire(wire: Self::Wire) -> Option<Self>;

    /// The arguments ready to be encoded: a lone view is sent as it is; a tuple of several, with
    /// its views deserialized (their archives cannot be moved into the tuple's).
    ///
    /// # Errors
    /// When deserializing a view fails.
    fn into_outgoing(self) -> Result<Outgoing<Self::Wire>, EncodeError>;
}

impl WireArgs for () {
    type Wire = ();

    fn from_view(_: Archived<()>) -> Result<(), DecodeError> {
        Ok(())
    }

    const HAS_VIEW: bool = false;

    fn from_wire((): ()) -> Option<()> {
        Some(())
    }

    fn into_outgoing(self) -> Result<Outgoing<()>, EncodeError> {
        Ok(Outgoing::Value(()))
    }
}

impl<A: WireValue> WireArgs for (A,) {
    type Wire = (A::Wire,);

    fn from_view(view: Archived<(A::Wire,)>) -> Result<Self, DecodeError> {
        Ok((A::from_view(view.project::<A::Wire>(|tuple| &tuple.0))?,))
    }

    const HAS_VIEW: bool = A::IS_VIEW;

    fn from_wire(wire: (A::Wire,)) -> Option<Self> {
        Some((A::from_owned(wire.0)?,))
    }

    fn into_outgoing(self) -> Result<Outgoing<(A::Wire,)>, EncodeError> {
        // The archive of a 1-tuple is its element's: a view's bytes stand for the tuple as they are.
        Ok(match self.0.into_outgoing()? {
            Outgoing::Value(value) => Outgoing::Value((value,)),
            Outgoing::Archive(bytes) => Outgoing::Archive(bytes),
        })
    }
}

macro_rules! wire_args {
    ($(($($param:ident $index:tt),+)),* $(,)?) => {$(
        impl<$($param: WireValue),+> WireArgs for ($($param,)+) {
            type Wire = ($($param::Wire,)+);

            fn from_view(view: Archived<Self::Wire>) -> Result<Self, DecodeError> {
                if !($($param::IS_VIEW)||+) {
                    // No views: deserialized whole, so that what the arguments share stays shared.
                    let owned = view.deserialize()?;
                    let not_a_view = || DecodeError::new("an owned argument is a view");
                    return Ok(($($param::from_owned(owned.$index).ok_or_else(not_a_view)?,)+));
                }
                Ok(($($param::from_view(view.project::<$param::Wire>(|tuple| &tuple.$index))?,)+))
            }

            const HAS_VIEW: bool = $($param::IS_VIEW)||+;

            fn from_wire(wire: Self::Wire) -> Option<Self> {
                Some(($($param::from_owned(wire.$index)?,)+))
            }

            fn into_outgoing(self) -> Result<Outgoing<Self::Wire>, EncodeError> {
                Ok(Outgoing::Value(($(self.$index.into_wire()?,)+)))
            }
        }
    )*};
}

wire_args! {
    (A 0, B 1), (A 0, B 1, C 2), (A 0, B 1, C 2, D 3), (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5), (A 0, B 1, C 2, D 3, E 4, F 5, G 6),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7), (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12),
}
