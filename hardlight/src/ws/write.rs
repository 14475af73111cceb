//! Writing messages as frames (RFC 6455 §5), for either end: masked by a client (§5.3), not by a
//! server.
//!
//! Small frames are encoded into one buffer, so that a batch leaves in one system call at the next
//! flush (or once `high_water` bytes wait). A payload of [`LARGE`] bytes or more is not copied: it is
//! written from where it lies after its header (masked in place first by a client, when the buffer
//! is not shared), with a vectored write.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::frame::{Header, apply_mask, opcode};
use super::poll_write_parts;

/// Payloads from this size on are not copied into the writer's buffer: below it, copying costs less
/// than a part of its own in the vectored write.
pub(crate) const LARGE: usize = 16 << 10;

/// Gathers frames and writes them to whatever byte stream it is given.
pub(crate) struct FrameWriter {
    /// Every frame is masked (a client's writer), with a key of its own.
    mask: bool,
    /// Large frames' headers and payloads (and the small frames gathered before them), in order:
    /// written before `buf`.
    parts: VecDeque<Bytes>,
    /// Small frames, encoded after everything in `parts`, not yet written.
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    high_water: usize,
}

/// A client's masking keys (RFC 6455 §5.3: a fresh one for every frame, from a strong source of
/// entropy), drawn from the thread's cryptographically secure generator sixteen at a time: one
/// draw from it costs about what masking a small frame does, so a key each was 1% of a client's
/// time at 256 calls in flight (benches/PROFILE.md). Each key is used once.
struct MaskKeys {
    block: [u8; 64],
    /// Bytes of `block` already handed out.
    used: usize,
}

impl MaskKeys {
    const fn new() -> Self {
        Self {
            block: [0; 64],
            used: 64,
        }
    }

    fn next(&mut self) -> [u8; 4] {
        if self.used == self.block.len() {
            rand::fill(&mut self.block[..]);
            self.used = 0;
        }
        let mut key = [0; 4];
        key.copy_from_slice(&self.block[self.used..self.used + 4]);
        self.used += 4;
        key
    }
}

thread_local! {
    /// The thread's masking keys: frames are masked by whichever thread encodes them (the driver's
    /// writer, or a caller packing its call's frame: see [`push_masked_binary`]).
    static MASK_KEYS: std::cell::RefCell<MaskKeys> = const { std::cell::RefCell::new(MaskKeys::new()) };
}

/// A fresh masking key for one frame.
fn mask_key() -> [u8; 4] {
    MASK_KEYS.with_borrow_mut(MaskKeys::next)
}

/// Appends a binary message of `payload` to `out` as a client sends it: one whole frame, masked
/// with a key of its own, ready to be written as it is (see [`FrameWriter::encoded`]).
pub(crate) fn push_masked_binary(out: &mut Vec<u8>, payload: &[u8]) {
    let key = mask_key();
    Header::write(out, opcode::BINARY, payload.len(), Some(key));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

impl FrameWriter {
    /// A writer that masks its frames if `mask`, and writes out what it holds once it holds
    /// `high_water` bytes.
    pub(crate) fn new(mask: bool, high_water: usize) -> Self {
        Self {
            mask,
            parts: VecDeque::new(),
            buf: Vec::new(),
            written: 0,
            high_water,
        }
    }

    /// Whether bytes wait to be written.
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.written == self.buf.len()
    }

    /// Whether fewer than `high_water` bytes of small frames wait (and no large frame).
    pub(crate) fn has_room(&self) -> bool {
        self.parts.is_empty() && self.buf.len() - self.written < self.high_water
    }

    /// Ready when another message may be added: fewer than `high_water` bytes wait.
    pub(crate) fn poll_ready<W: AsyncWrite + ?Sized>(
        &mut self,
        io: Pin<&mut W>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.has_room() {
            ready!(self.poll_write_out(io, cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Adds a binary message.
    pub(crate) fn binary(&mut self, payload: Bytes) {
        self.binary_parts(&[], payload);
    }

    /// Adds a binary message whose payload is `head` followed by `body`.
    pub(crate) fn binary_parts(&mut self, head: &[u8], body: Bytes) {
        let len = head.len() + body.len();
        if len < LARGE {
            self.frame(opcode::BINARY, &[head, &body]);
            return;
        }
        let key = self.mask.then(mask_key);
        let mut first = Vec::with_capacity(14 + head.len());
        Header::write(&mut first, opcode::BINARY, len, key);
        let start = first.len();
        first.extend_from_slice(head);
        let body = match key {
            None => body,
            Some(key) => {
                apply_mask(&mut first[start..], key);
                // The body's first byte is the payload's `head.len()`th: the key turned to it.
                let mut turned = key;
                turned.rotate_left(head.len() % 4);
                match body.try_into_mut() {
                    Ok(mut mine) => {
                        apply_mask(&mut mine, turned);
                        mine.freeze()
                    }
                    Err(shared) => {
                        let mut copy = shared.to_vec();
                        apply_mask(&mut copy, turned);
                        Bytes::from(copy)
                    }
                }
            }
        };
        if self.written < self.buf.len() {
            let mut small = std::mem::take(&mut self.buf);
            small.drain(..self.written);
            self.parts.push_back(Bytes::from(small));
        }
        self.buf.clear();
        self.written = 0;
        self.parts.push_back(Bytes::from(first));
        if !body.is_empty() {
            self.parts.push_back(body);
        }
    }

    /// Adds a binary message copied from `payload` (meant for small ones: a large one is copied
    /// whole into the buffer, where [`FrameWriter::binary`] writes it from where it lies).
    pub(crate) fn binary_slice(&mut self, payload: &[u8]) {
        self.frame(opcode::BINARY, &[payload]);
    }

    /// Adds whole frames already encoded as this writer would have (by [`push_masked_binary`], for a
    /// client's writer), taking them from `frames` and leaving it empty. When nothing else waits to
    /// be written the two buffers are exchanged, not copied: `frames` is handed back as the empty
    /// buffer this writer had, to be filled again.
    pub(crate) fn encoded(&mut self, frames: &mut Vec<u8>) {
        if self.buf.is_empty() {
            std::mem::swap(&mut self.buf, frames);
        } else {
            self.buf.extend_from_slice(frames);
            frames.clear();
        }
    }

    /// Adds a ping.
    pub(crate) fn ping(&mut self, payload: &[u8]) {
        self.frame(opcode::PING, &[payload]);
    }

    /// Adds a pong.
    pub(crate) fn pong(&mut self, payload: &[u8]) {
        self.frame(opcode::PONG, &[payload]);
    }

    /// Adds a close frame with `code` and `reason` (which the caller keeps within a control frame's
    /// 123 bytes), or an empty one without a code.
    pub(crate) fn close(&mut self, code: Option<u16>, reason: &str) {
        match code {
            Some(code) => self.frame(opcode::CLOSE, &[&code.to_be_bytes(), reason.as_bytes()]),
            None => self.frame(opcode::CLOSE, &[]),
        }
    }

    /// Copies a small frame whose payload is `parts` one after the other, masked by a client, into
    /// the buffer.
    fn frame(&mut self, op: u8, parts: &[&[u8]]) {
        let len = parts.iter().map(|part| part.len()).sum();
        // §5.3: a fresh, unpredictable key for every frame.
        let key = self.mask.then(mask_key);
        Header::write(&mut self.buf, op, len, key);
        let start = self.buf.len();
        for part in parts {
            self.buf.extend_from_slice(part);
        }
        if let Some(key) = key {
            apply_mask(&mut self.buf[start..], key);
        }
    }

    /// Writes out everything added, then flushes `io`.
    pub(crate) fn poll_flush<W: AsyncWrite + ?Sized>(
        &mut self,
        mut io: Pin<&mut W>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(io.as_mut(), cx))?;
        io.poll_flush(cx)
    }

    /// Writes out everything added, then shuts `io`'s write side.
    pub(crate) fn poll_close<W: AsyncWrite + ?Sized>(
        &mut self,
        mut io: Pin<&mut W>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(io.as_mut(), cx))?;
        io.poll_shutdown(cx)
    }

    /// Writes out everything added.
    pub(crate) fn poll_write_out<W: AsyncWrite + ?Sized>(
        &mut self,
        mut io: Pin<&mut W>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        ready!(poll_write_parts(io.as_mut(), cx, &mut self.parts))?;
        while self.written < self.buf.len() {
            let n = ready!(io.as_mut().poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::future::poll_fn;

    use super::*;

    #[test]
    fn every_frame_gets_a_key_of_its_own_across_the_blocks_keys_are_drawn_in() {
        let mut keys = MaskKeys::new();
        // Five blocks of sixteen: a key repeated (within a block or across a refill) would show
        // here; 80 random 32-bit keys collide by chance about once in a million runs.
        let drawn: Vec<[u8; 4]> = (0..80).map(|_| keys.next()).collect();
        let distinct: HashSet<[u8; 4]> = drawn.iter().copied().collect();
        assert_eq!(distinct.len(), drawn.len(), "a masking key was used twice");
        assert!(drawn.iter().any(|key| *key != [0; 4]));
    }

    /// Everything written to a pipe by `fill`, read back as (opcode, unmasked payload, masked) frames.
    async fn written(mask: bool, fill: impl FnOnce(&mut FrameWriter)) -> Vec<(u8, Vec<u8>, bool)> {
        let (mut near, mut far) = tokio::io::duplex(1 << 20);
        let mut writer = FrameWriter::new(mask, 64 << 10);
        poll_fn(|cx| writer.poll_ready(Pin::new(&mut near), cx))
            .await
            .unwrap();
        fill(&mut writer);
        poll_fn(|cx| writer.poll_flush(Pin::new(&mut near), cx))
            .await
            .unwrap();
        drop(near);
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut far, &mut bytes)
            .await
            .unwrap();
        let mut frames = Vec::new();
        let mut rest = &bytes[..];
        while let Some(header) = Header::parse(rest).unwrap() {
            let end = header.size + header.len as usize;
            let mut payload = rest[header.size..end].to_vec();
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key);
            }
            frames.push((header.opcode, payload, header.mask.is_some()));
            rest = &rest[end..];
        }
        assert!(rest.is_empty());
        frames
    }

    #[tokio::test]
    async fn frames_leave_in_order_small_and_large_masked_or_not() {
        let big = vec![9u8; 70_000];
        let shared = Bytes::from(vec![5u8; 20_000]);
        for mask in [true, false] {
            let frames = written(mask, |writer| {
                writer.binary(Bytes::from_static(b"small"));
                writer.binary(Bytes::from(big.clone()));
                writer.binary(Bytes::from_static(b"after"));
                writer.binary(shared.clone());
                // A header of 3 bytes: the body's mask starts at the key's fourth byte.
                writer.binary_parts(b"hdr", Bytes::from(vec![3u8; 30_000]));
                writer.binary_parts(b"h", Bytes::from_static(b"tiny"));
                writer.ping(b"p");
                writer.close(Some(1000), "bye");
                writer.close(None, "");
            })
            .await;
            let with_head = [&b"hdr"[..], &[3u8; 30_000]].concat();
            let expected = [
                (opcode::BINARY, b"small".to_vec()),
                (opcode::BINARY, big.clone()),
                (opcode::BINARY, b"after".to_vec()),
                (opcode::BINARY, shared.to_vec()),
                (opcode::BINARY, with_head),
                (opcode::BINARY, b"htiny".to_vec()),
                (opcode::PING, b"p".to_vec()),
                (opcode::CLOSE, [&[0x03, 0xE8][..], b"bye"].concat()),
                (opcode::CLOSE, Vec::new()),
            ];
            let got: Vec<_> = frames.iter().map(|(op, p, _)| (*op, p.clone())).collect();
            assert_eq!(got, expected, "mask {mask}");
            assert!(frames.iter().all(|(_, _, masked)| *masked == mask));
        }
        // A shared buffer is copied to be masked, never masked where another holder reads it.
        assert!(shared.iter().all(|&b| b == 5));
    }
}
