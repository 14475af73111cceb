//! Frame layouts. Every WebSocket binary message carries exactly one frame.
//!
//! All integers are little-endian. Byte 0 is the frame kind, byte 1 the flags. `docs/PROTOCOL.md` is the
//! normative description; the constants here are its single implementation.

use std::ops::Range;

use super::codec::{Codable, EncodeError};
use super::metadata::Metadata;
use super::trace::{TRACE_LEN, TraceParent};
use super::view::Body;

/// Flag bit: the bytes after the two-byte prefix are raw-deflate compressed.
pub const FLAG_COMPRESSED: u8 = 0x01;
/// Flag bit, `CALL` only: a `u32` time budget in milliseconds follows the method index.
pub const FLAG_DEADLINE: u8 = 0x02;
/// Flag bit, `CALL` and `HELLO` only. On `CALL`: the caller's trace context ([`TraceParent`], 25
/// bytes) follows the method index and the budget, if any. On `HELLO`: the server reads it (sent
/// only to a client that offered [`TRACE_TOKEN`](crate::wire::handshake::TRACE_TOKEN)); a client
/// sets it on `CALL` only then.
pub const FLAG_TRACE: u8 = 0x04;
/// Flag bit, `CALL` and `HELLO` only. On `CALL`: per-call [`Metadata`] follows the trace context
/// (a `u16` length, then the entries). On `HELLO`: the server reads it and may answer status 8
/// (`Refused`) (sent only to a client that offered
/// [`METADATA_TOKEN`](crate::wire::handshake::METADATA_TOKEN)); a client sets it on `CALL` only then.
pub const FLAG_METADATA: u8 = 0x08;
/// The `CALL` and `HELLO` extensions' flags.
const EXTENSIONS: u8 = FLAG_TRACE | FLAG_METADATA;
/// Flags this version understands on every frame; any other bit set is a protocol violation
/// (except [`FLAG_DEADLINE`] on `CALL`).
pub const KNOWN_FLAGS: u8 = FLAG_COMPRESSED;

/// Frame kinds.
pub mod kind {
    /// Client → server: invoke a method.
    pub const CALL: u8 = 0x01;
    /// Client → server: stop a call in flight (its caller gave up).
    pub const CANCEL: u8 = 0x02;
    /// Client → server: invoke a one-way method; no reply, ever.
    pub const NOTIFY: u8 = 0x03;
    /// Both ways: let a stream send this many more bytes of items (client → server for the items of
    /// a streaming reply, server → client for the items of a streamed argument).
    pub const CREDIT: u8 = 0x04;
    /// Client → server: the items of a call's streamed argument are complete.
    pub const END: u8 = 0x05;
    /// Server → client: first frame after the upgrade; limits and the full state snapshot.
    pub const HELLO: u8 = 0x10;
    /// Server → client: the outcome of one call.
    pub const REPLY: u8 = 0x11;
    /// Server → client: changed connection-state fields.
    pub const STATE: u8 = 0x12;
    /// Server → client: an event published to a topic the connection is subscribed to.
    pub const EVENT: u8 = 0x13;
    /// Server → client, only as the first message of a connection refused with 4001: the schema
    /// texts of the services the server hosts, so that the client can say what differs.
    pub const SCHEMA: u8 = 0x14;
    /// Both ways: one item of a stream, within the credit its receiver granted (server → client for
    /// a streaming reply, client → server for a streamed argument).
    pub const ITEM: u8 = 0x15;
    /// Server → client: a streaming call's handler accepted the call; its items follow.
    pub const OPENED: u8 = 0x16;
    /// Server → client: several items of a stream in one frame, each an item's archive after its
    /// length; only to a client that offered [`BATCH_TOKEN`](crate::wire::handshake::BATCH_TOKEN).
    pub const ITEMS: u8 = 0x17;
}

/// Header sizes, in bytes, before the variable part of each frame.
pub const CALL_HEADER: usize = 8;
/// `CALL` header with [`FLAG_DEADLINE`]: the header, then the budget.
pub const CALL_DEADLINE_HEADER: usize = 12;
/// `CANCEL` frame: kind, flags, call id; nothing follows.
pub const CANCEL_LEN: usize = 6;
/// `CREDIT` frame: kind, flags, call id, bytes; nothing follows.
pub const CREDIT_LEN: usize = 10;
/// `ITEM` header: kind, flags, call id; the item's archive follows.
pub const ITEM_HEADER: usize = 6;
/// `END` frame: kind, flags, call id; nothing follows.
pub const END_LEN: usize = 6;
/// `OPENED` frame: kind, flags, call id; nothing follows.
pub const OPENED_LEN: usize = 6;
/// `ITEMS` header: kind, flags, call id; the items follow, each a `u32` length and an archive.
pub const ITEMS_HEADER: usize = 6;
/// The largest `ITEMS` frame the reference server builds: items are batched only while the frame
/// stays within this many bytes (a larger item goes alone, as an `ITEM`).
pub const MAX_BATCH: usize = 64 * 1024;
/// `NOTIFY` header: kind, flags, method index; the argument archive follows.
pub const NOTIFY_HEADER: usize = 4;
/// `REPLY` header: kind, flags, call id, status.
pub const REPLY_HEADER: usize = 7;
/// `HELLO` header: kind, flags, max calls, max message size, compression level.
pub const HELLO_HEADER: usize = 9;
/// Largest `SCHEMA` frame a server sends: the texts of the services it hosts that fit, in the order
/// they were added.
pub const MAX_SCHEMA_FRAME: usize = 64 * 1024;
/// Bytes of `ITEM` frames a stream may send ahead of what its receiver has read: a client grants
/// this much to a streaming reply when it calls, and a `CALL` whose argument streams grants it to
/// the client's items by itself. Each side then grants back what was read, [`REGRANT_AT`] bytes at
/// a time.
pub const STREAM_WINDOW: u32 = 256 * 1024;
/// Bytes of items read before a receiver grants them back.
pub const REGRANT_AT: u32 = STREAM_WINDOW / 4;
/// The room a frame whose body is encoded into it starts with: a small value (a 64-byte payload
/// with its header) fits without the buffer growing; a larger one grows it once or twice.
pub const SMALL_FRAME: usize = 256;
/// Longest topic an `EVENT` frame can carry (its length is a `u16`).
pub const MAX_TOPIC_LEN: usize = u16::MAX as usize;

/// The status byte of a `REPLY` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum ReplyStatus {
    /// The handler returned `Ok`; the body is the archived value.
    Ok = 0,
    /// The handler returned `Err`; the body is the archived error value.
    HandlerError = 1,
    /// The handler panicked; the body is a UTF-8 message.
    Panicked = 2,
    /// No method has this index; the body is a UTF-8 message.
    UnknownMethod = 3,
    /// The arguments failed validation; the body is a UTF-8 message.
    BadArguments = 4,
    /// The server failed to encode the reply; the body is a UTF-8 message.
    Internal = 5,
    /// The call ran longer than the server's call timeout and was stopped; the body is a UTF-8
    /// message.
    TimedOut = 6,
    /// The client cancelled the call (a `CANCEL` frame) and it was stopped; the body is a UTF-8
    /// message.
    Cancelled = 7,
    /// An interceptor refused the call before its handler ran; the body is a UTF-8 message. Sent
    /// only to a client that offered `hardlight.metadata` (others get `Internal`).
    Refused = 8,
}

impl ReplyStatus {
    fn from_byte(byte: u8) -> Result<Self, FrameError> {
        Ok(match byte {
            0 => Self::Ok,
            1 => Self::HandlerError,
            2 => Self::Panicked,
            3 => Self::UnknownMethod,
            4 => Self::BadArguments,
            5 => Self::Internal,
            6 => Self::TimedOut,
            7 => Self::Cancelled,
            8 => Self::Refused,
            other => return Err(FrameError::UnknownReplyStatus(other)),
        })
    }
}

/// Why a message is not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The message ends before its header (or a length it declares) does.
    #[error("frame truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the header or a declared length requires.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// Byte 0 names no frame kind valid in this direction.
    #[error("unknown frame kind 0x{0:02x}")]
    UnknownKind(u8),
    /// A flag bit this version does not define is set.
    #[error("unknown flags 0x{0:02x}")]
    UnknownFlags(u8),
    /// The compressed flag is set but compression was not negotiated.
    #[error("compressed frame received but compression was not negotiated")]
    CompressionNotNegotiated,
    /// The compressed bytes are not valid raw deflate.
    #[error("compressed frame is not valid deflate data")]
    BadCompression,
    /// Inflating the frame would exceed the maximum message size.
    #[error("frame inflates beyond the maximum message size of {limit} bytes")]
    InflatedTooLarge {
        /// The maximum message size in force.
        limit: usize,
    },
    /// A `CALL`'s metadata extension is malformed or over its limits.
    #[error("malformed call metadata: {0}")]
    BadMetadata(String),
    /// A `REPLY` status byte this version does not define.
    #[error("unknown reply status {0}")]
    UnknownReplyStatus(u8),
    /// A `STATE` or `HELLO` field list ends early or has bytes after its last field.
    #[error("malformed state field list")]
    BadFieldList,
    /// A fixed-size frame has bytes after its end.
    #[error("frame of kind 0x{kind:02x} has {extra} bytes after its end")]
    TrailingBytes {
        /// The frame kind.
        kind: u8,
        /// Bytes too many.
        extra: usize,
    },
    /// A topic is longer than [`MAX_TOPIC_LEN`].
    #[error("topic of {0} bytes is longer than the 65535 bytes a frame can carry")]
    TopicTooLong(usize),
}

/// A frame sent by a client, borrowed from the message that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFrame<'a> {
    /// Invoke method number `method` with the archived argument tuple `args`.
    Call {
        /// Chosen by the client; unique among its calls in flight.
        call_id: u32,
        /// Index of the method in the trait's declaration order.
        method: u16,
        /// rkyv archive of the tuple of arguments.
        args: &'a [u8],
        /// The client's time budget for the call, in milliseconds from when the server reads it
        /// ([`FLAG_DEADLINE`]); `None` when the client set none.
        budget_ms: Option<u32>,
        /// The caller's trace context ([`FLAG_TRACE`]); `None` when absent (or all-zero).
        trace: Option<TraceParent>,
        /// The call's metadata ([`FLAG_METADATA`]); `None` when absent.
        metadata: Option<Metadata>,
    },
    /// Stop call `call_id` if it is still in flight; its `REPLY` (status `Cancelled`, or whatever
    /// it had already produced) ends it as for any call.
    Cancel {
        /// The call to stop.
        call_id: u32,
    },
    /// Invoke one-way method number `method` with the archived argument tuple `args`; nothing is
    /// sent back.
    Notify {
        /// Index of the method in the trait's declaration order.
        method: u16,
        /// rkyv archive of the tuple of arguments.
        args: &'a [u8],
    },
    /// Let streaming call `call_id` send `bytes` more bytes of `ITEM` frames.
    Credit {
        /// The streaming call.
        call_id: u32,
        /// Bytes granted, on top of those granted before.
        bytes: u32,
    },
    /// One item of call `call_id`'s streamed argument.
    Item {
        /// The call whose argument streams.
        call_id: u32,
        /// rkyv archive of the item.
        item: &'a [u8],
    },
    /// Call `call_id`'s streamed argument has no more items.
    End {
        /// The call whose argument streams.
        call_id: u32,
    },
}

/// A frame sent by a server, borrowed from the message that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerFrame<'a> {
    /// The first frame of a connection.
    Hello(Hello<'a>),
    /// The outcome of a call.
    Reply {
        /// The id the client gave the call.
        call_id: u32,
        /// How the call ended.
        status: ReplyStatus,
        /// Archived value, or UTF-8 text, depending on `status`.
        body: &'a [u8],
    },
    /// Changed fields of the connection state.
    State(FieldList<'a>),
    /// An event on a topic.
    Event {
        /// The topic's bytes.
        topic: &'a [u8],
        /// rkyv archive of the event value.
        payload: &'a [u8],
    },
    /// Before a 4001 refusal: rkyv archive of a `Vec<String>`, the schema texts of the server's
    /// services.
    Schema(&'a [u8]),
    /// A streaming call's handler accepted it: its items follow, then its `REPLY`.
    Opened {
        /// The streaming call.
        call_id: u32,
    },
    /// One item of a streaming call.
    Item {
        /// The streaming call.
        call_id: u32,
        /// rkyv archive of the item.
        item: &'a [u8],
    },
    /// Call `call_id`'s streamed argument may send `bytes` more bytes of `ITEM` frames.
    Credit {
        /// The call whose argument streams.
        call_id: u32,
        /// Bytes granted, on top of those granted before.
        bytes: u32,
    },
    /// Several items of a streaming call, in order.
    Items {
        /// The streaming call.
        call_id: u32,
        /// The items' archives.
        items: ItemList<'a>,
    },
}

/// The items of an `ITEMS` frame: at least one, each a `u32` length and that many bytes of an
/// item's archive, filling the frame exactly.
///
/// Decoding checks the first item only; each later length is checked as the item is taken
/// ([`next_range`](Self::next_range), [`iter`](Self::iter)), in the same pass that reads it. A
/// list walked twice (once to check it, once to read it) cost a stream of small items 3–7% of
/// its rate: each length is a load that the next one depends on, in a frame larger than the
/// cache closest to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemList<'a> {
    bytes: &'a [u8],
}

impl<'a> ItemList<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let mut first = 0..bytes.len();
        match Self::next_range(bytes, &mut first) {
            Some(Ok(_)) => Ok(Self { bytes }),
            Some(Err(e)) => Err(e),
            None => Err(FrameError::Truncated { needed: 4, got: 0 }),
        }
    }

    /// The list's bytes: the items, each with its length before it.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Takes the first item off `rest`, a part of `message` holding items as an `ITEMS` frame
    /// does (each a `u32` length, then the archive): where that item's archive lies in `message`.
    /// `None` once `rest` is empty; an error if the item's length, or the item, runs past `rest`'s
    /// end (or `message`'s): the list is malformed from there on, and `rest` is left as it was.
    #[inline]
    pub fn next_range(
        message: &[u8],
        rest: &mut Range<usize>,
    ) -> Option<Result<Range<usize>, FrameError>> {
        if rest.start >= rest.end {
            return None;
        }
        Some(match Self::take(message, rest) {
            Some(range) => Ok(range),
            None => Err(Self::fault(message, rest)),
        })
    }

    /// The first item of `rest`, taken off it; `None` if it does not fit.
    #[inline(always)]
    fn take(message: &[u8], rest: &mut Range<usize>) -> Option<Range<usize>> {
        let len = message.get(rest.start..)?.first_chunk::<4>()?;
        let start = rest.start + 4;
        let end = start.checked_add(u32::from_le_bytes(*len) as usize)?;
        if end > rest.end || end > message.len() {
            return None;
        }
        rest.start = end;
        Some(start..end)
    }

    /// Why the first item of `rest` does not fit.
    #[cold]
    fn fault(message: &[u8], rest: &Range<usize>) -> FrameError {
        let got = rest.end.min(message.len()).saturating_sub(rest.start);
        let needed = match message.get(rest.start..).and_then(<[u8]>::first_chunk::<4>) {
            Some(len) if got >= 4 => 4usize.saturating_add(u32::from_le_bytes(*len) as usize),
            _ => 4,
        };
        FrameError::Truncated { needed, got }
    }

    /// The items' archives, in frame order; an error ends them where a length runs past the
    /// list's end.
    pub fn iter(&self) -> impl Iterator<Item = Result<&'a [u8], FrameError>> + 'a {
        let bytes = self.bytes;
        let mut rest = 0..bytes.len();
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let taken = Self::next_range(bytes, &mut rest)?;
            failed = taken.is_err();
            Some(taken.map(|range| &bytes[range]))
        })
    }
}

/// Builds an `ITEMS` frame from the archives of `ITEM` frames' items.
#[derive(Debug)]
pub struct ItemsWriter {
    buf: Vec<u8>,
    /// Items in the frame.
    count: usize,
    /// Where the last item's entry (its length, then its archive) starts.
    last_at: usize,
}

impl ItemsWriter {
    /// An `ITEMS` frame of call `call_id` holding the item of the `ITEM` frame `first`, with room
    /// for `capacity` bytes before it grows.
    pub fn starting_with(call_id: u32, first: &[u8], capacity: usize) -> Self {
        let mut buf = crate::buffers::take(capacity.max(ITEMS_HEADER + 4 + first.len()));
        buf.extend_from_slice(&[kind::ITEMS, 0]);
        buf.extend_from_slice(&call_id.to_le_bytes());
        let mut writer = Self {
            buf,
            count: 0,
            last_at: 0,
        };
        writer.push_item_frame(first);
        writer
    }

    /// Appends the item of the `ITEM` frame `frame` (its archive, after its header).
    pub fn push_item_frame(&mut self, frame: &[u8]) {
        self.push_archive(frame.get(ITEM_HEADER..).unwrap_or_default());
    }

    /// Appends an item's archive.
    pub fn push_archive(&mut self, archive: &[u8]) {
        self.last_at = self.buf.len();
        self.buf
            .extend_from_slice(&(archive.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(archive);
        self.count += 1;
    }

    /// The frame's buffer, for a writer that appends items to it itself ([`ItemsWriter::open_item`],
    /// [`ItemsWriter::close_item`], [`ItemsWriter::appended`]) and then gives it back
    /// ([`ItemsWriter::restore_buffer`]).
    pub fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Gives back the buffer [`ItemsWriter::take_buffer`] took, with the items appended to it.
    pub fn restore_buffer(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    /// Starts an item at the end of `buf`, a frame's buffer: its length, filled in by
    /// [`ItemsWriter::close_item`] once its archive follows. Returns where the item starts.
    pub fn open_item(buf: &mut Vec<u8>) -> usize {
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        at
    }

    /// Ends the item started at `at` in `buf`: its length is what follows its length field.
    pub fn close_item(buf: &mut [u8], at: usize) {
        let len = buf.len().saturating_sub(at + 4) as u32;
        if let Some(slot) = buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&len.to_le_bytes());
        }
    }

    /// Counts an item appended (opened and closed) at `at` of the frame's buffer.
    pub fn appended(&mut self, at: usize) {
        self.last_at = at;
        self.count += 1;
    }

    /// Takes the last item appended back out, as an `ITEM` frame of call `call_id`; `None` when
    /// the frame holds one item or none (it must keep one).
    pub fn pop_item_frame(&mut self, call_id: u32) -> Option<Vec<u8>> {
        if self.count < 2 {
            return None;
        }
        let archive = self.buf.get(self.last_at + 4..)?;
        let mut frame = item_header(call_id, archive.len());
        frame.extend_from_slice(archive);
        self.buf.truncate(self.last_at);
        self.count -= 1;
        // Not needed again: one item is taken out at most, then the frame is finished.
        self.last_at = self.buf.len();
        Some(frame)
    }

    /// The frame's length so far.
    pub fn frame_len(&self) -> usize {
        self.buf.len()
    }

    /// Items in the frame.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The finished frame.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// The `HELLO` frame's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello<'a> {
    /// Calls the client may have in flight at once.
    pub max_calls: u16,
    /// Largest message, in bytes, either side may send (after inflation).
    pub max_message_size: u32,
    /// Deflate level in effect for this connection; 0 when compression is off.
    pub compression: u8,
    /// Every field of the initial state.
    pub state: FieldList<'a>,
    /// The server reads trace context on `CALL` ([`FLAG_TRACE`]).
    pub trace: bool,
    /// The server reads metadata on `CALL` and may answer status 8 ([`FLAG_METADATA`]).
    pub metadata: bool,
}

/// A validated list of `(field index, archived field value)` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldList<'a> {
    count: u16,
    bytes: &'a [u8],
}

impl<'a> FieldList<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let count = read_u16(bytes, 0)?;
        let list = Self {
            count,
            bytes: &bytes[2..],
        };
        // Walk once so that iteration afterwards cannot fail.
        let mut rest = list.bytes;
        for _ in 0..count {
            let len = read_u32(rest, 2).map_err(|_| FrameError::BadFieldList)? as usize;
            let end = 6usize.checked_add(len).ok_or(FrameError::BadFieldList)?;
            if rest.len() < end {
                return Err(FrameError::BadFieldList);
            }
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            return Err(FrameError::BadFieldList);
        }
        Ok(list)
    }

    /// Number of fields in the list.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True when the list holds no field.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `(index, archived value)` pairs, in frame order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut rest = self.bytes;
        (0..self.count).map(move |_| {
            // `parse` checked every length, so this slicing stays in bounds.
            let index = u16::from_le_bytes([rest[0], rest[1]]);
            let len = u32::from_le_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
            let value = &rest[6..6 + len];
            rest = &rest[6 + len..];
            (index, value)
        })
    }
}

/// Builds a field list for a `HELLO` or `STATE` frame.
#[derive(Debug)]
pub struct FieldListWriter {
    buf: Vec<u8>,
    count_at: usize,
    count: u16,
}

impl FieldListWriter {
    /// Starts a `STATE` frame.
    pub fn state() -> Self {
        Self::after(vec![kind::STATE, 0])
    }

    /// Starts a `HELLO` frame.
    pub fn hello(max_calls: u16, max_message_size: u32, compression: u8) -> Self {
        Self::hello_with(0, max_calls, max_message_size, compression)
    }

    /// Starts a `HELLO` frame with `flags` ([`FLAG_TRACE`] or 0).
    pub fn hello_with(flags: u8, max_calls: u16, max_message_size: u32, compression: u8) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[kind::HELLO, flags & EXTENSIONS]);
        buf.extend_from_slice(&max_calls.to_le_bytes());
        buf.extend_from_slice(&max_message_size.to_le_bytes());
        buf.push(compression);
        Self::after(buf)
    }

    fn after(mut buf: Vec<u8>) -> Self {
        let count_at = buf.len();
        buf.extend_from_slice(&[0, 0]);
        Self {
            buf,
            count_at,
            count: 0,
        }
    }

    /// Appends one field; `encode` appends the archive of its value to the buffer it is given.
    pub fn push(
        &mut self,
        index: u16,
        encode: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(&index.to_le_bytes());
        let len_at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        let mut buf = encode(buf)?;
        let len = (buf.len() - len_at - 4) as u32;
        buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        self.buf = buf;
        self.count += 1;
        Ok(())
    }

    /// Appends one field whose archive is already encoded.
    pub fn push_encoded(&mut self, index: u16, value: &[u8]) {
        self.buf.extend_from_slice(&index.to_le_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(value);
        self.count += 1;
    }

    /// Number of fields pushed so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The finished frame.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[self.count_at..self.count_at + 2].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Encodes a `CALL` frame.
pub fn encode_call<A: Codable>(
    call_id: u32,
    method: u16,
    args: &A,
) -> Result<Vec<u8>, EncodeError> {
    encode_call_within(call_id, method, None, None, args)
}

/// Encodes a `CALL` frame, with a time budget in milliseconds if `budget_ms` is set and the
/// caller's trace context if `trace` is.
pub fn encode_call_within<A: Body + ?Sized>(
    call_id: u32,
    method: u16,
    budget_ms: Option<u32>,
    trace: Option<&TraceParent>,
    args: &A,
) -> Result<Vec<u8>, EncodeError> {
    let extensions = CallExtensions {
        budget_ms,
        trace,
        metadata: None,
    };
    encode_call_with(call_id, method, &extensions, args)
}

/// What a `CALL` may carry besides its arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallExtensions<'a> {
    /// The time budget in milliseconds ([`FLAG_DEADLINE`]).
    pub budget_ms: Option<u32>,
    /// The caller's trace context ([`FLAG_TRACE`]).
    pub trace: Option<&'a TraceParent>,
    /// The call's metadata ([`FLAG_METADATA`]); empty metadata is not sent.
    pub metadata: Option<&'a Metadata>,
}

/// Encodes a `CALL` frame with `extensions`.
pub fn encode_call_with<A: Body + ?Sized>(
    call_id: u32,
    method: u16,
    extensions: &CallExtensions<'_>,
    args: &A,
) -> Result<Vec<u8>, EncodeError> {
    args.encode_body(call_header(call_id, method, extensions))
}

/// A `CALL` frame's header with `extensions`: what precedes the argument archive.
pub fn call_header(call_id: u32, method: u16, extensions: &CallExtensions<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(SMALL_FRAME);
    push_call_header(&mut buf, call_id, method, extensions);
    buf
}

/// Appends a `CALL` frame's header with `extensions` to `buf`.
pub fn push_call_header(
    buf: &mut Vec<u8>,
    call_id: u32,
    method: u16,
    extensions: &CallExtensions<'_>,
) {
    let metadata = extensions.metadata.filter(|m| !m.is_empty());
    let mut flags = 0;
    if extensions.budget_ms.is_some() {
        flags |= FLAG_DEADLINE;
    }
    if extensions.trace.is_some() {
        flags |= FLAG_TRACE;
    }
    if metadata.is_some() {
        flags |= FLAG_METADATA;
    }
    buf.extend_from_slice(&[kind::CALL, flags]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf.extend_from_slice(&method.to_le_bytes());
    if let Some(budget) = extensions.budget_ms {
        buf.extend_from_slice(&budget.to_le_bytes());
    }
    if let Some(trace) = extensions.trace {
        trace.write(buf);
    }
    if let Some(metadata) = metadata {
        metadata.write(buf);
    }
}

/// Encodes a `CANCEL` frame.
pub fn encode_cancel(call_id: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(CANCEL_LEN);
    buf.extend_from_slice(&[kind::CANCEL, 0]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf
}

/// Encodes a `CREDIT` frame: streaming call `call_id` may send `bytes` more bytes of `ITEM`
/// frames.
pub fn encode_credit(call_id: u32, bytes: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(CREDIT_LEN);
    buf.extend_from_slice(&[kind::CREDIT, 0]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf.extend_from_slice(&bytes.to_le_bytes());
    buf
}

/// Encodes an `END` frame: the streamed argument of call `call_id` has no more items.
pub fn encode_end(call_id: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(END_LEN);
    buf.extend_from_slice(&[kind::END, 0]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf
}

/// Encodes an `OPENED` frame: streaming call `call_id` was accepted by its handler.
pub fn encode_opened(call_id: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(OPENED_LEN);
    buf.extend_from_slice(&[kind::OPENED, 0]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf
}

/// Starts an `ITEM` frame of call `call_id`'s stream (either way); append the item's archive to the returned
/// buffer.
pub fn item_header(call_id: u32, body_capacity: usize) -> Vec<u8> {
    let mut buf = crate::buffers::take(ITEM_HEADER + body_capacity);
    buf.extend_from_slice(&[kind::ITEM, 0]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf
}

/// Encodes a `NOTIFY` frame: one-way method `method` with the argument tuple `args`.
pub fn encode_notify<A: Body + ?Sized>(method: u16, args: &A) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::with_capacity(SMALL_FRAME);
    buf.extend_from_slice(&[kind::NOTIFY, 0]);
    buf.extend_from_slice(&method.to_le_bytes());
    args.encode_body(buf)
}

/// Starts a `REPLY` frame; append the body to the returned buffer.
pub fn reply_header(call_id: u32, status: ReplyStatus, body_capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(REPLY_HEADER + body_capacity);
    push_reply_header(&mut buf, call_id, status);
    buf
}

/// Appends a `REPLY` frame's header to `buf`; append the body after it.
pub fn push_reply_header(buf: &mut Vec<u8>, call_id: u32, status: ReplyStatus) {
    buf.extend_from_slice(&[kind::REPLY, 0]);
    buf.extend_from_slice(&call_id.to_le_bytes());
    buf.push(status as u8);
}

/// Encodes a `REPLY` frame whose body is a UTF-8 message (every status but `Ok` and `HandlerError`).
pub fn encode_reply_text(call_id: u32, status: ReplyStatus, message: &str) -> Vec<u8> {
    let mut buf = reply_header(call_id, status, message.len());
    buf.extend_from_slice(message.as_bytes());
    buf
}

/// Encodes an `EVENT` frame.
pub fn encode_event<E: Codable>(topic: &[u8], event: &E) -> Result<Vec<u8>, EventEncodeError> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(EventEncodeError::TopicTooLong {
            len: topic.len(),
            max: MAX_TOPIC_LEN,
        });
    }
    let mut buf = Vec::with_capacity(4 + topic.len() + 64);
    buf.extend_from_slice(&[kind::EVENT, 0]);
    buf.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    buf.extend_from_slice(topic);
    event.encode_into(buf).map_err(EventEncodeError::Encode)
}

/// Why an event could not be turned into a frame.
#[derive(Debug, thiserror::Error)]
pub enum EventEncodeError {
    /// The event value could not be encoded.
    #[error(transparent)]
    Encode(EncodeError),
    /// The frame cannot carry the topic.
    #[error("topic of {len} bytes is longer than the {max} bytes a frame can carry")]
    TopicTooLong {
        /// The topic's length.
        len: usize,
        /// [`MAX_TOPIC_LEN`].
        max: usize,
    },
}

/// Parses a client frame (already inflated, see [`super::compression::open`]).
pub fn decode_client(msg: &[u8]) -> Result<ClientFrame<'_>, FrameError> {
    match prefix(msg, FLAG_DEADLINE | EXTENSIONS)? {
        kind::CALL => {
            let (budget_ms, mut header) = if msg[1] & FLAG_DEADLINE != 0 {
                need(msg, CALL_DEADLINE_HEADER)?;
                (Some(read_u32(msg, 8)?), CALL_DEADLINE_HEADER)
            } else {
                need(msg, CALL_HEADER)?;
                (None, CALL_HEADER)
            };
            let trace = if msg[1] & FLAG_TRACE != 0 {
                need(msg, header + TRACE_LEN)?;
                let at = header;
                header += TRACE_LEN;
                msg[at..header].try_into().ok().and_then(TraceParent::read)
            } else {
                None
            };
            let metadata = if msg[1] & FLAG_METADATA != 0 {
                let len = usize::from(read_u16(msg, header)?);
                let start = header + 2;
                header = start + len;
                need(msg, header)?;
                Some(Metadata::parse(&msg[start..header]).map_err(FrameError::BadMetadata)?)
            } else {
                None
            };
            Ok(ClientFrame::Call {
                call_id: read_u32(msg, 2)?,
                method: read_u16(msg, 6)?,
                args: &msg[header..],
                budget_ms,
                trace,
                metadata,
            })
        }
        _ if msg[1] & EXTENSIONS != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::CANCEL if msg[1] & FLAG_DEADLINE != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::CANCEL => {
            need(msg, CANCEL_LEN)?;
            if msg.len() > CANCEL_LEN {
                return Err(FrameError::TrailingBytes {
                    kind: kind::CANCEL,
                    extra: msg.len() - CANCEL_LEN,
                });
            }
            Ok(ClientFrame::Cancel {
                call_id: read_u32(msg, 2)?,
            })
        }
        kind::CREDIT if msg[1] & FLAG_DEADLINE != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::CREDIT => {
            need(msg, CREDIT_LEN)?;
            if msg.len() > CREDIT_LEN {
                return Err(FrameError::TrailingBytes {
                    kind: kind::CREDIT,
                    extra: msg.len() - CREDIT_LEN,
                });
            }
            Ok(ClientFrame::Credit {
                call_id: read_u32(msg, 2)?,
                bytes: read_u32(msg, 6)?,
            })
        }
        kind::ITEM if msg[1] & FLAG_DEADLINE != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::ITEM => {
            need(msg, ITEM_HEADER)?;
            Ok(ClientFrame::Item {
                call_id: read_u32(msg, 2)?,
                item: &msg[ITEM_HEADER..],
            })
        }
        kind::END if msg[1] & FLAG_DEADLINE != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::END => {
            need(msg, END_LEN)?;
            if msg.len() > END_LEN {
                return Err(FrameError::TrailingBytes {
                    kind: kind::END,
                    extra: msg.len() - END_LEN,
                });
            }
            Ok(ClientFrame::End {
                call_id: read_u32(msg, 2)?,
            })
        }
        kind::NOTIFY if msg[1] & FLAG_DEADLINE != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::NOTIFY => {
            need(msg, NOTIFY_HEADER)?;
            Ok(ClientFrame::Notify {
                method: read_u16(msg, 2)?,
                args: &msg[NOTIFY_HEADER..],
            })
        }
        other => Err(FrameError::UnknownKind(other)),
    }
}

/// Parses a server frame (already inflated, see [`super::compression::open`]).
pub fn decode_server(msg: &[u8]) -> Result<ServerFrame<'_>, FrameError> {
    match prefix(msg, EXTENSIONS)? {
        kind::HELLO => {
            need(msg, HELLO_HEADER)?;
            Ok(ServerFrame::Hello(Hello {
                max_calls: read_u16(msg, 2)?,
                max_message_size: read_u32(msg, 4)?,
                compression: msg[8],
                state: FieldList::parse(&msg[HELLO_HEADER..])?,
                trace: msg[1] & FLAG_TRACE != 0,
                metadata: msg[1] & FLAG_METADATA != 0,
            }))
        }
        _ if msg[1] & EXTENSIONS != 0 => Err(FrameError::UnknownFlags(msg[1])),
        kind::REPLY => {
            need(msg, REPLY_HEADER)?;
            Ok(ServerFrame::Reply {
                call_id: read_u32(msg, 2)?,
                status: ReplyStatus::from_byte(msg[6])?,
                body: &msg[REPLY_HEADER..],
            })
        }
        kind::STATE => Ok(ServerFrame::State(FieldList::parse(&msg[2..])?)),
        kind::EVENT => {
            let len = usize::from(read_u16(msg, 2)?);
            need(msg, 4 + len)?;
            Ok(ServerFrame::Event {
                topic: &msg[4..4 + len],
                payload: &msg[4 + len..],
            })
        }
        kind::SCHEMA => Ok(ServerFrame::Schema(&msg[2..])),
        kind::OPENED => {
            need(msg, OPENED_LEN)?;
            if msg.len() > OPENED_LEN {
                return Err(FrameError::TrailingBytes {
                    kind: kind::OPENED,
                    extra: msg.len() - OPENED_LEN,
                });
            }
            Ok(ServerFrame::Opened {
                call_id: read_u32(msg, 2)?,
            })
        }
        kind::ITEM => {
            need(msg, ITEM_HEADER)?;
            Ok(ServerFrame::Item {
                call_id: read_u32(msg, 2)?,
                item: &msg[ITEM_HEADER..],
            })
        }
        kind::CREDIT => {
            need(msg, CREDIT_LEN)?;
            if msg.len() > CREDIT_LEN {
                return Err(FrameError::TrailingBytes {
                    kind: kind::CREDIT,
                    extra: msg.len() - CREDIT_LEN,
                });
            }
            Ok(ServerFrame::Credit {
                call_id: read_u32(msg, 2)?,
                bytes: read_u32(msg, 6)?,
            })
        }
        kind::ITEMS => {
            need(msg, ITEMS_HEADER)?;
            Ok(ServerFrame::Items {
                call_id: read_u32(msg, 2)?,
                items: ItemList::parse(&msg[ITEMS_HEADER..])?,
            })
        }
        other => Err(FrameError::UnknownKind(other)),
    }
}

/// A `SCHEMA` frame holding as many of `texts` as fit in [`MAX_SCHEMA_FRAME`], in order.
pub fn encode_schema<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Vec<u8>, EncodeError> {
    let mut kept: Vec<String> = Vec::new();
    let mut size = 2 + 8;
    for text in texts {
        // An archived string is its bytes and an 8-byte header.
        if size + text.len() + 8 > MAX_SCHEMA_FRAME {
            break;
        }
        size += text.len() + 8;
        kept.push(text.to_owned());
    }
    kept.encode_into(vec![kind::SCHEMA, 0])
}

/// Checks the two-byte prefix and returns the kind. Compression must already have been undone.
/// Checks the two-byte prefix (allowing the flags `extra` besides [`KNOWN_FLAGS`]); returns the kind.
fn prefix(msg: &[u8], extra: u8) -> Result<u8, FrameError> {
    need(msg, 2)?;
    let flags = msg[1];
    if flags & !(KNOWN_FLAGS | extra) != 0 {
        return Err(FrameError::UnknownFlags(flags));
    }
    if flags & FLAG_COMPRESSED != 0 {
        // `compression::open` clears the flag after inflating; seeing it here means it was not negotiated.
        return Err(FrameError::CompressionNotNegotiated);
    }
    Ok(msg[0])
}

fn need(msg: &[u8], needed: usize) -> Result<(), FrameError> {
    if msg.len() < needed {
        Err(FrameError::Truncated {
            needed,
            got: msg.len(),
        })
    } else {
        Ok(())
    }
}

fn read_u16(msg: &[u8], at: usize) -> Result<u16, FrameError> {
    need(msg, at + 2)?;
    Ok(u16::from_le_bytes([msg[at], msg[at + 1]]))
}

fn read_u32(msg: &[u8], at: usize) -> Result<u32, FrameError> {
    need(msg, at + 4)?;
    Ok(u32::from_le_bytes([
        msg[at],
        msg[at + 1],
        msg[at + 2],
        msg[at + 3],
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_appended_in_place_read_back_in_order() {
        let mut writer = ItemsWriter::starting_with(7, &[kind::ITEM, 0, 7, 0, 0, 0, 42], 0);
        let mut buf = writer.take_buffer();
        let at = ItemsWriter::open_item(&mut buf);
        buf.extend_from_slice(&[1, 2, 3]);
        ItemsWriter::close_item(&mut buf, at);
        writer.restore_buffer(buf);
        writer.appended(at);
        assert_eq!(writer.count(), 2);
        let frame = writer.finish();
        let ServerFrame::Items { call_id, items } = decode_server(&frame).expect("a frame") else {
            panic!("not an ITEMS frame");
        };
        assert_eq!(call_id, 7);
        assert_eq!(
            items
                .iter()
                .collect::<Result<Vec<_>, _>>()
                .expect("well formed"),
            [&[42][..], &[1, 2, 3]]
        );
        // Taken off one by one from the frame's bytes, as a client's stream does.
        let list = items.as_bytes();
        let start = list.as_ptr() as usize - frame.as_ptr() as usize;
        let mut rest = start..start + list.len();
        let mut taken = Vec::new();
        while let Some(range) = ItemList::next_range(&frame, &mut rest) {
            taken.push(&frame[range.expect("well formed")]);
        }
        assert_eq!(taken, [&[42][..], &[1, 2, 3]]);
        assert!(rest.is_empty());
    }

    #[test]
    fn an_item_running_past_its_list_is_not_taken() {
        // One item of 2 bytes, then a length of 9 with 1 byte after it.
        let bytes = [2, 0, 0, 0, 5, 6, 9, 0, 0, 0, 1];
        let mut rest = 0..bytes.len();
        assert_eq!(ItemList::next_range(&bytes, &mut rest), Some(Ok(4..6)));
        let past = FrameError::Truncated { needed: 13, got: 5 };
        assert_eq!(
            ItemList::next_range(&bytes, &mut rest),
            Some(Err(past.clone()))
        );
        // The list stays where it failed.
        assert_eq!(rest, 6..bytes.len());
        // Nor past the end of the list it is given, though the message goes on.
        let mut rest = 0..5;
        let short = FrameError::Truncated { needed: 6, got: 5 };
        assert_eq!(ItemList::next_range(&bytes, &mut rest), Some(Err(short)));
        // A length cut short.
        let mut rest = 6..9;
        let cut = FrameError::Truncated { needed: 4, got: 3 };
        assert_eq!(ItemList::next_range(&bytes, &mut rest), Some(Err(cut)));
        // Iterating gives the items before the fault, then the fault, then nothing.
        let list = ItemList::parse(&bytes).expect("the first item fits");
        let items: Vec<_> = list.iter().collect();
        assert_eq!(items, [Ok(&[5, 6][..]), Err(past)]);
        // A list whose first item does not fit is no list.
        assert!(ItemList::parse(&bytes[6..]).is_err());
        assert!(ItemList::parse(&bytes[..3]).is_err());
        assert!(ItemList::parse(&[]).is_err());
    }
}
