//! Small frames without an allocation each.
//!
//! A frame is encoded into a buffer the thread keeps from frame to frame ([`encode_reusing`]);
//! what is small is then copied out of it: into an [`InlineFrame`] (a reply waiting in the
//! server's queue, copied into the socket's write buffer from there), or by the client straight
//! into its outbox's queue, packed with the calls queued beside it. So a 64-byte call or reply
//! costs a copy of its frame rather than an allocation for it.

use std::cell::Cell;
use std::fmt;

/// The longest frame an [`InlineFrame`] holds: a `REPLY` carrying about a hundred bytes.
pub const INLINE: usize = 118;

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
}
