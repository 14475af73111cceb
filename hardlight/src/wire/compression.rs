//! Per-message raw-deflate compression (flate2), negotiated at the handshake.
//!
//! Only the bytes after a frame's two-byte prefix are compressed, so the kind stays readable and the
//! [`FLAG_COMPRESSED`] bit says whether to inflate. Small frames are sent as they are: deflate's
//! overhead outweighs its gain below [`COMPRESSION_THRESHOLD`]. Inflation stops at the maximum message
//! size, so a decompression bomb costs the receiver at most that much memory.

use std::borrow::Cow;
use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use super::frame::{FLAG_COMPRESSED, FrameError};

/// Frames shorter than this many bytes are never compressed.
pub const COMPRESSION_THRESHOLD: usize = 512;

/// The compression a client asks for. Chosen by the client, announced in the handshake.
///
/// ```
/// use hardlight::Compression;
/// assert_eq!(Compression::default().level(), Some(6));
/// assert_eq!(Compression::none().level(), None);
/// assert_eq!(Compression::new(9).level(), Some(9));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression(Option<u8>);

impl Compression {
    /// No compression.
    pub const fn none() -> Self {
        Self(None)
    }

    /// Deflate at `level`, from 1 (fastest) to 9 (smallest); values above 9 are treated as 9 and 0 as 1.
    pub const fn new(level: u8) -> Self {
        let level = if level == 0 {
            1
        } else if level > 9 {
            9
        } else {
            level
        };
        Self(Some(level))
    }

    /// Deflate at level 1: least CPU.
    pub const fn fast() -> Self {
        Self::new(1)
    }

    /// Deflate at level 9: smallest frames.
    pub const fn best() -> Self {
        Self::new(9)
    }

    /// The deflate level, or `None` for no compression.
    pub const fn level(self) -> Option<u8> {
        self.0
    }
}

impl Default for Compression {
    /// Deflate at level 6, a good balance for most payloads.
    fn default() -> Self {
        Self::new(6)
    }
}

/// Compresses `frame` in place of its body if `level` is set and it is worth it.
pub fn seal(frame: Vec<u8>, level: Option<u8>) -> Vec<u8> {
    let Some(level) = level else { return frame };
    if frame.len() < COMPRESSION_THRESHOLD {
        return frame;
    }
    let mut out = Vec::with_capacity(frame.len() / 2 + 16);
    out.extend_from_slice(&[frame[0], frame[1] | FLAG_COMPRESSED]);
    let mut encoder = DeflateEncoder::new(out, flate2::Compression::new(u32::from(level)));
    // Writing into a Vec cannot fail.
    if encoder.write_all(&frame[2..]).is_err() {
        return frame;
    }
    match encoder.finish() {
        Ok(out) if out.len() < frame.len() => out,
        _ => frame,
    }
}

/// Undoes [`seal`]: returns the frame with its body inflated and the flag cleared, or borrowed as it is
/// when it was not compressed.
///
/// `negotiated` says whether compression was agreed for this connection; a compressed frame on a
/// connection without it is a protocol violation. At most `max_size` bytes are produced.
#[inline]
pub fn open(msg: &[u8], negotiated: bool, max_size: usize) -> Result<Cow<'_, [u8]>, FrameError> {
    // Inlined, so that a frame that was not compressed (most are) costs its caller a test of one
    // bit, not a call and a `Result` to read back.
    if msg.len() < 2 || msg[1] & FLAG_COMPRESSED == 0 {
        return Ok(Cow::Borrowed(msg));
    }
    inflate(msg, negotiated, max_size)
}

/// [`open`] for a compressed frame.
fn inflate(msg: &[u8], negotiated: bool, max_size: usize) -> Result<Cow<'_, [u8]>, FrameError> {
    if !negotiated {
        return Err(FrameError::CompressionNotNegotiated);
    }
    let mut out = Vec::with_capacity((msg.len() * 4).min(max_size));
    out.extend_from_slice(&[msg[0], msg[1] & !FLAG_COMPRESSED]);
    // Read one byte past the limit so that "exactly at the limit" and "over it" can be told apart.
    let limit = (max_size.saturating_sub(2) as u64).saturating_add(1);
    let mut decoder = DeflateDecoder::new(&msg[2..]).take(limit);
    decoder
        .read_to_end(&mut out)
        .map_err(|_| FrameError::BadCompression)?;
    if out.len() > max_size {
        return Err(FrameError::InflatedTooLarge { limit: max_size });
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_stay_uncompressed() {
        let frame = vec![0x11, 0, 1, 2, 3];
        assert_eq!(seal(frame.clone(), Some(6)), frame);
    }

    #[test]
    fn large_frames_round_trip() {
        let mut frame = vec![0x11, 0];
        frame.extend(std::iter::repeat_n(b'a', 10_000));
        let sealed = seal(frame.clone(), Some(6));
        assert!(sealed.len() < 200);
        assert_eq!(sealed[1] & FLAG_COMPRESSED, FLAG_COMPRESSED);
        assert_eq!(
            open(&sealed, true, 1 << 20).unwrap().as_ref(),
            frame.as_slice()
        );
    }

    #[test]
    fn compressed_frames_need_negotiation() {
        let mut frame = vec![0x11, 0];
        frame.extend(std::iter::repeat_n(b'a', 10_000));
        let sealed = seal(frame, Some(6));
        assert_eq!(
            open(&sealed, false, 1 << 20),
            Err(FrameError::CompressionNotNegotiated)
        );
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let mut frame = vec![0x11, 0];
        frame.extend(std::iter::repeat_n(0u8, 50 << 20));
        let sealed = seal(frame, Some(9));
        assert!(sealed.len() < 100_000);
        assert_eq!(
            open(&sealed, true, 1 << 20),
            Err(FrameError::InflatedTooLarge { limit: 1 << 20 })
        );
    }

    #[test]
    fn garbage_is_bad_compression() {
        let msg = [0x11, FLAG_COMPRESSED, 0xff, 0xff, 0xff, 0xff];
        assert!(open(&msg, true, 1024).is_err());
    }
}
