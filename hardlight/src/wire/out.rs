//! Frames on their way out of the server: whole, or a header and a view's archive not yet joined.
//!
//! A handler that returns a view it received (or made with [`Archived::new`](super::Archived::new))
//! gives back an archive in a buffer that already has bytes before it: the `CALL` header it came
//! with, or the room a new view keeps. The `REPLY` header fits there, so the frame need not be a
//! copy of the archive after a new header, but the received buffer is shared with the WebSocket
//! reader until the reader moves on to its next message. So the two are joined only when the frame
//! is written: by then the buffer is usually the frame's alone and the header is written in place;
//! otherwise they are copied into a new buffer, as any other reply is encoded.

use bytes::Bytes;

use super::arena::InlineFrame;
use super::codec::{Codable, EncodeError};
use super::view::{ArchiveSlice, Outgoing};

/// The longest header a split frame carries (a `REPLY` header is 7 bytes, an `ITEM` header 6).
const MAX_HEADER: usize = 16;

/// A frame to send.
#[derive(Debug)]
pub enum OutFrame {
    /// The whole frame.
    Whole(Bytes),
    /// A small frame, held in place (no allocation of its own).
    Inline(InlineFrame),
    /// A header, and the archive that follows it, in the buffer it lies in.
    Split(SplitFrame),
}

/// A header and the archive that follows it, joined when written (see the module documentation).
#[derive(Debug)]
pub struct SplitFrame {
    header: [u8; MAX_HEADER],
    header_len: u8,
    archive: ArchiveSlice,
}

impl OutFrame {
    /// The frame `header` + `body`: split when the body is a view's archive, else encoded after the
    /// header (in the same buffer).
    ///
    /// # Errors
    /// When encoding the value fails.
    pub(crate) fn of<W: Codable>(
        header: Vec<u8>,
        body: Outgoing<W>,
    ) -> Result<OutFrame, EncodeError> {
        match body {
            Outgoing::Archive(archive) => match archive.into_slice() {
                Some(archive) => Ok(OutFrame::split(&header, archive)),
                // Only after the archive became a frame of its own: nothing left to send with it.
                None => Ok(OutFrame::from(header)),
            },
            Outgoing::Value(value) => value.encode_into(header).map(OutFrame::from),
        }
    }

    /// `header` followed by `archive`; a header longer than [`MAX_HEADER`] bytes is joined at once.
    pub(crate) fn split(header: &[u8], archive: ArchiveSlice) -> OutFrame {
        let Some(len) = u8::try_from(header.len())
            .ok()
            .filter(|&n| usize::from(n) <= MAX_HEADER)
        else {
            return OutFrame::Whole(archive.framed(header));
        };
        let mut bytes = [0; MAX_HEADER];
        bytes[..header.len()].copy_from_slice(header);
        OutFrame::Split(SplitFrame {
            header: bytes,
            header_len: len,
            archive,
        })
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            OutFrame::Whole(frame) => frame.len(),
            OutFrame::Inline(frame) => frame.as_slice().len(),
            OutFrame::Split(split) => split.header().len() + split.archive.len(),
        }
    }

    /// Whether the frame is empty (no frame is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame's first bytes: at least its header.
    pub fn head(&self) -> &[u8] {
        match self {
            OutFrame::Whole(frame) => frame,
            OutFrame::Inline(frame) => frame.as_slice(),
            OutFrame::Split(split) => split.header(),
        }
    }

    /// The frame in one buffer: the header written in place before the archive when the buffer is
    /// the frame's alone, else both copied.
    pub fn into_bytes(self) -> Bytes {
        match self {
            OutFrame::Whole(frame) => frame,
            OutFrame::Inline(frame) => Bytes::copy_from_slice(frame.as_slice()),
            OutFrame::Split(split) => {
                let len = usize::from(split.header_len);
                split.archive.framed(&split.header[..len])
            }
        }
    }
}

impl OutFrame {
    /// Hands the frame to `write` as two pieces to send one after the other, without joining them:
    /// its first bytes (the frame's own header when it is split) and the rest.
    #[cfg(hardlight_native)]
    pub(crate) fn write_with<R>(self, write: impl FnOnce(&[u8], Bytes) -> R) -> R {
        match self {
            OutFrame::Whole(frame) => write(&[], frame),
            OutFrame::Inline(frame) => write(frame.as_slice(), Bytes::new()),
            OutFrame::Split(split) => write(split.header(), split.archive.archive_bytes()),
        }
    }
}

impl SplitFrame {
    fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }
}

impl From<Bytes> for OutFrame {
    fn from(frame: Bytes) -> Self {
        OutFrame::Whole(frame)
    }
}

impl From<Vec<u8>> for OutFrame {
    fn from(frame: Vec<u8>) -> Self {
        OutFrame::Whole(Bytes::from(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Archived, WireValue};

    fn slice_of(view: Archived<Vec<u8>>) -> ArchiveSlice {
        match view.into_outgoing().unwrap() {
            Outgoing::Archive(archive) => archive.into_slice().unwrap(),
            Outgoing::Value(_) => panic!("a standalone view is sent as its archive"),
        }
    }

    #[test]
    fn a_view_held_by_nothing_else_becomes_the_frame_in_place() {
        let view = Archived::<Vec<u8>>::from_slice(&[7; 1000]).unwrap();
        let archive_at = view.archive_bytes().unwrap().as_ptr();
        let expected: Vec<u8> = [&[1, 2, 3][..], view.archive_bytes().unwrap()].concat();
        let frame = OutFrame::split(&[1, 2, 3], slice_of(view));
        assert_eq!(frame.len(), expected.len());
        assert_eq!(frame.head(), &[1, 2, 3]);
        let bytes = frame.into_bytes();
        assert_eq!(&bytes[..], &expected[..]);
        // The header was written in the view's buffer, just before the archive.
        assert_eq!(bytes[3..].as_ptr(), archive_at);
    }

    #[test]
    fn a_shared_view_is_copied_after_the_header() {
        let view = Archived::<Vec<u8>>::from_slice(&[7; 1000]).unwrap();
        let kept = view.clone();
        let frame = OutFrame::split(&[1, 2, 3], slice_of(view)).into_bytes();
        assert_eq!(&frame[..3], &[1, 2, 3]);
        assert_eq!(&frame[3..], kept.archive_bytes().unwrap());
        assert_ne!(frame[3..].as_ptr(), kept.archive_bytes().unwrap().as_ptr());
        // The kept view is untouched.
        assert_eq!(kept.as_slice(), &[7; 1000]);
    }

    #[test]
    fn a_header_longer_than_the_room_before_the_archive_is_copied() {
        let view = Archived::<Vec<u8>>::from_slice(&[7; 10]).unwrap();
        let archive = view.archive_bytes().unwrap().to_vec();
        let header = [9; MAX_HEADER];
        let slice = slice_of(view);
        let frame = slice.framed(&[9; 64]);
        assert_eq!(&frame[..64], &[9; 64]);
        assert_eq!(&frame[64..], &archive[..]);
        let view = Archived::<Vec<u8>>::from_slice(&[7; 10]).unwrap();
        let frame = OutFrame::split(&header, slice_of(view)).into_bytes();
        assert_eq!(&frame[..MAX_HEADER], &header);
        assert_eq!(&frame[MAX_HEADER..], &archive[..]);
    }
}
