//! Small frames without an allocation each.
//!
//! A frame is encoded into a buffer the thread keeps from frame to frame ([`encode_reusing`]);
//! what is small is then copied out of it, either into an [`InlineFrame`] (a reply waiting in the
//! server's queue, or a call in the client's outbox, copied into the socket's write buffer from
//! there) or, when larger than that, into a [`FrameArena`], whose one shared buffer hands frames
//! out as [`Bytes`] (what the client's outbox takes). Once the
//! frames cut from an arena's buffer are dropped (the WebSocket layer copies each into its write
//! buffer at once), the arena reuses the buffer; while
//! some are held, it starts another. So a 64-byte call or reply costs a copy of its frame rather
//! than an allocation for it and another for the `Bytes` that shares it.

use std::cell::Cell;
use std::fmt;

use bytes::{Bytes, BytesMut};

/// The longest frame an [`InlineFrame`] holds: a `REPLY` carrying about a hundred bytes.
pub const INLINE: usize = 118;

/// The longest frame worth copying into an arena: longer ones keep their own buffer.
pub const ARENA_MAX_FRAME: usize = 4 * 1024;

/// The room an arena takes at a time.
const ARENA_CHUNK: usize = 16 * 1024;

/// The largest scratch buffer a thread keeps (a larger one was for a large frame, which kept it).
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// The thread's encoding buffer, empty between frames.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Encodes a frame into the thread's scratch buffer (handed to `encode` empty), then offers it to
/// `small`: `Ok(Ok(t))` when `small` copied it out (the buffer is kept for the next frame),
/// `Ok(Err(frame))` when it declined (the frame keeps the buffer), `Err` when encoding failed.
///
/// # Errors
/// `encode`'s.
pub fn encode_reusing<T, E>(
    encode: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, E>,
    small: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<Result<T, Vec<u8>>, E> {
    let mut scratch = SCRATCH.take();
    scratch.clear();
    let mut frame = encode(scratch)?;
    match small(&frame) {
        Some(taken) => {
            if frame.capacity() <= SCRATCH_KEEP {
                frame.clear();
                SCRATCH.set(frame);
            }
            Ok(Ok(taken))
        }
        None => Ok(Err(frame)),
    }
}

/// A frame of at most [`INLINE`] bytes, held in place.
#[derive(Clone, Copy)]
pub struct InlineFrame {
    len: u8,
    bytes: [u8; INLINE],
}

impl InlineFrame {
    /// `frame`, if it fits.
    pub fn new(frame: &[u8]) -> Option<Self> {
        let len = u8::try_from(frame.len())
            .ok()
            .filter(|&n| usize::from(n) <= INLINE)?;
        let mut bytes = [0; INLINE];
        bytes[..frame.len()].copy_from_slice(frame);
        Some(Self { len, bytes })
    }

    /// The frame's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for InlineFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineFrame")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Hands small frames out as [`Bytes`] cut from one shared buffer (see the module documentation).
#[derive(Debug, Default)]
pub struct FrameArena {
    buf: BytesMut,
}

impl FrameArena {
    /// An arena that has taken no room yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `frame` as `Bytes`: copied into the arena's buffer when it is at most [`ARENA_MAX_FRAME`]
    /// bytes, into a buffer of its own otherwise.
    pub fn bytes(&mut self, frame: &[u8]) -> Bytes {
        if frame.len() > ARENA_MAX_FRAME {
            return Bytes::copy_from_slice(frame);
        }
        if self.buf.capacity() < frame.len() {
            // Reuses the buffer when no frame cut from it is alive any more; takes another else.
            self.buf.reserve(ARENA_CHUNK);
        }
        self.buf.extend_from_slice(frame);
        self.buf.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_are_copied_out_and_large_ones_keep_the_buffer() {
        let small = encode_reusing::<_, ()>(
            |mut buf| {
                buf.extend_from_slice(b"hello");
                Ok(buf)
            },
            InlineFrame::new,
        );
        let inline = small.unwrap().unwrap();
        assert_eq!(inline.as_slice(), b"hello");
        let large = encode_reusing::<_, ()>(
            |mut buf| {
                // Handed over empty, whatever the last frame left.
                assert!(buf.is_empty());
                buf.resize(INLINE + 1, 7);
                Ok(buf)
            },
            InlineFrame::new,
        );
        assert_eq!(large.unwrap().unwrap_err(), vec![7; INLINE + 1]);
        let failed = encode_reusing::<InlineFrame, _>(|_| Err("no"), InlineFrame::new);
        assert_eq!(failed.unwrap_err(), "no");
        assert!(InlineFrame::new(&[0; INLINE]).is_some());
        assert!(InlineFrame::new(&[0; INLINE + 1]).is_none());
    }

    #[test]
    fn an_arena_reuses_its_buffer_once_its_frames_are_dropped() {
        let mut arena = FrameArena::new();
        let first = arena.bytes(b"one");
        let second = arena.bytes(b"two");
        assert_eq!((&first[..], &second[..]), (&b"one"[..], &b"two"[..]));
        // Cut from one buffer.
        assert_eq!(first.as_ptr().wrapping_add(3), second.as_ptr());
        let start = first.as_ptr();
        drop((first, second));
        // Fill what is left, then one more: the buffer is taken back from its start.
        let mut held = Vec::new();
        while arena.buf.capacity() >= 100 {
            held.push(arena.bytes(&[1; 100]));
        }
        drop(held);
        let again = arena.bytes(&[2; 100]);
        assert_eq!(again.as_ptr(), start);
        assert_eq!(&again[..], &[2; 100][..]);
        // A frame held keeps its bytes when the arena moves on.
        let kept = again.clone();
        let mut later = Vec::new();
        for _ in 0..(ARENA_CHUNK / 100 + 2) {
            later.push(arena.bytes(&[3; 100]));
        }
        assert_eq!(&kept[..], &[2; 100][..]);
        assert!(later.iter().all(|b| b[..] == [3; 100][..]));
        let big = arena.bytes(&[4; ARENA_MAX_FRAME + 1]);
        assert_eq!(big.len(), ARENA_MAX_FRAME + 1);
    }
}
