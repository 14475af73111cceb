//! Large frame buffers, kept for reuse on the thread that wrote them out.
//!
//! A stream's frames (a byte stream's 64 KiB chunks, a batch of items) are allocated, written to
//! the socket and freed, frame after frame. Freed together, a few of them leave the allocator's
//! heap with a large free top, which glibc gives back to the kernel (`madvise`), and the next frame
//! faults its pages in again and has them zeroed: on the byte-stream benchmark the server's worker
//! took about 250,000 page faults a run. The writer hands each large buffer it has written out and
//! owns alone to [`give`]; the next large frame [`take`]s it. At most [`KEPT`] buffers of at most
//! [`LARGEST`] bytes wait per thread: 512 KiB at most.

use std::cell::RefCell;

/// Buffers smaller than this are left to the allocator: small ones cost it little.
pub(crate) const SMALLEST: usize = 32 << 10;
/// Buffers larger than this are not kept.
pub(crate) const LARGEST: usize = 128 << 10;
/// Buffers kept per thread.
const KEPT: usize = 4;

thread_local! {
    static KEPT_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes: one kept on this thread when one is
/// large enough, a new one otherwise.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if (SMALLEST..=LARGEST).contains(&capacity) {
        let kept = KEPT_BUFFERS
            .try_with(|kept| {
                let mut kept = kept.borrow_mut();
                let at = kept.iter().rposition(|buf| buf.capacity() >= capacity)?;
                Some(kept.swap_remove(at))
            })
            .ok()
            .flatten();
        if let Some(buf) = kept {
            return buf;
        }
    }
    Vec::with_capacity(capacity)
}

// Only the native WebSocket writer gives buffers back.
#[cfg_attr(not(hardlight_native), allow(dead_code))]
/// Keeps `buf` (emptied) for a later [`take`] on this thread, if it is large, not too large, and
/// fewer than [`KEPT`] wait; frees it otherwise.
pub(crate) fn give(mut buf: Vec<u8>) {
    if !(SMALLEST..=LARGEST).contains(&buf.capacity()) {
        return;
    }
    buf.clear();
    // During the thread's teardown the buffer is simply freed.
    let _ = KEPT_BUFFERS.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < KEPT {
            kept.push(buf);
        }
    });
}

/// Where the buffers kept on this thread start (for tests elsewhere in the crate).
#[cfg(test)]
pub(crate) fn kept() -> Vec<*const u8> {
    KEPT_BUFFERS.with(|kept| kept.borrow().iter().map(|buf| buf.as_ptr()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_buffer_given_back_is_taken_again_and_the_thread_keeps_few() {
        let buf = take(64 << 10);
        let at = buf.as_ptr();
        give(buf);
        let again = take(40 << 10);
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(again.is_empty());
        // Small, huge and surplus buffers are not kept.
        give(Vec::with_capacity(1024));
        give(Vec::with_capacity(LARGEST + 1));
        for _ in 0..KEPT + 3 {
            give(Vec::with_capacity(SMALLEST));
        }
        let kept = KEPT_BUFFERS.with(|kept| {
            let kept = kept.borrow();
            assert!(kept.iter().all(|buf| buf.capacity() == SMALLEST));
            kept.len()
        });
        assert_eq!(kept, KEPT);
        // A request larger than every kept buffer gets a new one; small requests never take one.
        assert!(take(2 * SMALLEST).capacity() >= 2 * SMALLEST);
        assert_eq!(take(100).capacity(), 100);
        KEPT_BUFFERS.with(|kept| assert_eq!(kept.borrow().len(), KEPT));
        drop(again);
    }
}
