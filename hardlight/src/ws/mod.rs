//! The WebSocket layer (RFC 6455) under both ends, past the upgrade: the rules of frames
//! ([`frame`]), a reader of whole messages ([`read`]) and a writer of frames ([`write`]) that serve
//! either end, and each end's socket on them ([`server`]; [`client`], in two halves).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;

pub(crate) mod client;
pub(crate) mod frame;
pub(crate) mod read;
pub(crate) mod server;
pub(crate) mod write;

/// Room the client's reader has for each read, at least: a client has few connections, and
/// receives the bulk of the bytes (stream items, events), so that a read of a whole batch of items
/// takes one system call rather than one per 4 KiB.
pub(crate) const CLIENT_READ_BUFFER: usize = 16 << 10;

/// Bytes of frames the client gathers before it writes them out without waiting for a flush.
pub(crate) const CLIENT_WRITE_BUFFER: usize = 64 << 10;

/// At most this many parts go in one vectored write.
const MAX_SLICES: usize = 8;

/// Writes `parts` (frames or pieces of frames, in order) to `io` as they are, with vectored writes,
/// dropping each part once written; ready once none is left. Both ends send large payloads this
/// way, without copying them into a buffer.
pub(crate) fn poll_write_parts<W: AsyncWrite + ?Sized>(
    mut io: Pin<&mut W>,
    cx: &mut Context<'_>,
    parts: &mut VecDeque<Bytes>,
) -> Poll<io::Result<()>> {
    while !parts.is_empty() {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = slices.len().min(parts.len());
        for (slot, part) in slices.iter_mut().zip(parts.iter()) {
            *slot = IoSlice::new(part);
        }
        let mut written = ready!(io.as_mut().poll_write_vectored(cx, &slices[..count]))?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        while let Some(front) = parts.front_mut() {
            let taken = written.min(front.len());
            front.advance(taken);
            written -= taken;
            if !front.is_empty() {
                break;
            }
            // A large frame written out and ours alone: kept for the next one (see `buffers`).
            if let Some(Ok(written)) = parts.pop_front().map(Bytes::try_into_mut) {
                crate::buffers::give(Vec::from(written));
            }
        }
    }
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    #[tokio::test]
    async fn a_large_part_written_out_and_owned_alone_is_kept_for_the_next_frame() {
        let (mut near, mut far) = tokio::io::duplex(1 << 20);
        let mine = crate::buffers::take(64 << 10);
        let at = mine.as_ptr();
        let mut owned = mine;
        owned.resize(64 << 10, 7);
        let shared = Bytes::from(vec![9u8; 40 << 10]);
        let mut parts = VecDeque::from([Bytes::from(owned), shared.clone()]);
        poll_fn(|cx| poll_write_parts(Pin::new(&mut near), cx, &mut parts))
            .await
            .expect("written");
        drop(near);
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut far, &mut bytes)
            .await
            .expect("read");
        assert_eq!(bytes.len(), (64 << 10) + (40 << 10));
        // The part owned alone was kept; the one still shared elsewhere was not.
        let kept = crate::buffers::kept();
        assert!(kept.contains(&at), "{kept:?}");
        assert!(!kept.contains(&shared.as_ptr()));
    }
}
