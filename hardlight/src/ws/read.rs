//! Reading a connection's frames into whole messages (RFC 6455 §5), for either end.
//!
//! Bytes are read into the unused room of one `BytesMut` as it is (never zero-filled first), and
//! each binary message is handed out as a `Bytes` cut from that buffer: no copy, one system call for
//! whatever has arrived. A client's frames are unmasked in place. A message over `max_message` bytes
//! is refused by its header, before its payload is read, so the buffer never holds more than one
//! message and one read.
//!
//! The reader also says how far the data message being received has come ([`Progress`]), so that a
//! server can bound how long a message may take and how much its unfinished messages hold.

use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::AsyncRead;

use super::frame::{Close, CloseError, Header, HeaderError, apply_mask, opcode};

/// Bytes read at most past the end of a large frame (one of more than a read's room): enough for the
/// next frame's header and a small frame or two.
const PAST_LARGE_FRAME: usize = 256;

/// A message from the peer.
#[derive(Debug)]
pub(crate) enum Message {
    /// A binary message, whole.
    Binary(Bytes),
    /// A text message (its bytes are not kept: hardlight's protocol has none).
    Text,
    /// A ping, with its payload (the pong must carry it back).
    Ping(Bytes),
    /// A pong.
    Pong,
    /// A close frame: its code, if any, and reason.
    Close(Option<u16>, String),
}

/// Why the peer's frames cannot be read on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// A message longer than this end accepts.
    #[error("a message of {len} bytes or more, over the limit of {max} bytes")]
    TooLarge {
        /// Its length, as far as known when it was refused.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A frame's header no endpoint may send.
    #[error("invalid frame: {0}")]
    Header(#[from] HeaderError),
    /// A close frame no endpoint may send.
    #[error("invalid close frame: {0}")]
    Close(#[from] CloseError),
    /// Frames out of order, or masked when they must not be (or the other way round).
    #[error("invalid frame: {0}")]
    Sequence(&'static str),
    /// The socket failed, or ended without a close frame ([`io::ErrorKind::UnexpectedEof`]).
    #[error("reading from the socket failed")]
    Io(#[from] io::Error),
}

/// Which end's frames are read: a server reads a client's (always masked, §5.1), a client a
/// server's (never masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The peer is a client: its frames are masked.
    Client,
    /// The peer is a server: its frames are not masked.
    Server,
}

/// How far the data message being received has come, each time the reader is about to read more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Data messages started on this connection, this one included: tells a new message from the
    /// one seen before.
    pub(crate) number: u64,
    /// Payload bytes of it received so far.
    pub(crate) held: u64,
}

/// A fragmented message being put together.
struct Fragments {
    /// Its opcode: text or binary.
    opcode: u8,
    bytes: BytesMut,
}

/// What the bytes at hand held.
enum Parsed {
    Message(Message),
    /// A fragment, taken: look for the next frame.
    Fragment,
    /// A frame is not whole yet: it needs this many bytes in the buffer (at least); `held` payload
    /// bytes of the data message in progress are in hand.
    Need {
        bytes: usize,
        held: u64,
    },
}

/// Reads a peer's frames and hands out whole messages, from whatever byte stream it is given.
pub(crate) struct FrameReader {
    /// Bytes received and not yet handed out. Messages handed out share its allocation; when they
    /// are still held once it is full, the next bytes go to a new one.
    buf: BytesMut,
    /// Room to have for each read, at least.
    read_size: usize,
    /// Bytes read at most by one read.
    max_read: usize,
    /// Longest message accepted.
    max_message: usize,
    peer: Peer,
    fragments: Option<Fragments>,
    /// The number of the data message being received, from its first frame's header to the end of
    /// its last frame.
    message: Option<u64>,
    /// Data messages started so far.
    started: u64,
}

impl FrameReader {
    /// A reader whose first bytes (read past the upgrade) are `leftover`; it has room for
    /// `read_size` bytes at least for each read (more when a frame needs it), reads `max_read`
    /// bytes at most at a time, and refuses messages over `max_message` bytes.
    pub(crate) fn new(
        leftover: &[u8],
        (read_size, max_read): (usize, usize),
        max_message: usize,
        peer: Peer,
    ) -> Self {
        let mut buf = BytesMut::with_capacity(read_size.max(leftover.len()));
        buf.extend_from_slice(leftover);
        Self {
            buf,
            read_size,
            max_read,
            max_message,
            peer,
            fragments: None,
            message: None,
            started: 0,
        }
    }

    /// The next message read from `io`. Before each read, and with each message handed out,
    /// `observe` is told how far the data message in progress has come (`None` between messages);
    /// when it breaks before a read, nothing more is read and the answer is `None`. The socket's end is an error: a connection ends with a close frame.
    pub(crate) fn poll_message<R: AsyncRead + ?Sized>(
        &mut self,
        mut io: Pin<&mut R>,
        cx: &mut Context<'_>,
        mut observe: impl FnMut(Option<Progress>) -> ControlFlow<()>,
    ) -> Poll<Option<Result<Message, ReadError>>> {
        loop {
            let (need, held) = match self.parse() {
                Ok(Parsed::Message(message)) => {
                    // A message that ended is no longer in progress, even if nothing more is read
                    // for a while (what comes next is observed before it is read).
                    let held = self.fragments_held();
                    let _ = observe(self.message.map(|number| Progress { number, held }));
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(Parsed::Fragment) => continue,
                Ok(Parsed::Need { bytes, held }) => (bytes, held),
                Err(e) => return Poll::Ready(Some(Err(e))),
            };
            let progress = self.message.map(|number| Progress { number, held });
            if observe(progress).is_break() {
                return Poll::Ready(None);
            }
            let room = self.buf.capacity() - self.buf.len();
            let missing = need.saturating_sub(self.buf.len());
            // Whatever room is left is read into while the frame's length is unknown, or while it
            // holds the rest of the frame: growing the buffer reclaims it only once no message cut
            // from it is held, and right after a message was handed out its caller usually still
            // holds it. By the time bytes fill the last of the room, it has let go: messages
            // received one at a time cost no allocation here (the price: a short read once per
            // buffer).
            if room < missing {
                let len = self.buf.len();
                if missing > self.read_size {
                    // A large frame, and room for a read after it: the next frame's first bytes
                    // then go in that room while the message is still held, and once it is let go
                    // the next large frame takes its buffer back.
                    self.buf.reserve(missing + self.read_size);
                } else {
                    // Room for the frame and a whole read, within the first buffer's size:
                    // reclaimed in place when nothing cut from the buffer is held any more (asking
                    // for more would grow it instead), else a new buffer of that size.
                    self.buf
                        .reserve(missing.max(self.read_size.saturating_sub(len)));
                }
            }
            // The rest of a large frame, and little past it: the next frame's first bytes would
            // otherwise be copied to a new buffer with it when this one is still held (a stream's
            // items are taken from it while the next frame arrives).
            let limit = if need > self.read_size {
                self.max_read.min(missing.saturating_add(PAST_LARGE_FRAME))
            } else {
                self.max_read
            };
            let mut window = (&mut self.buf).limit(limit);
            let read = ready!(tokio_util::io::poll_read_buf(io.as_mut(), cx, &mut window))?;
            if read == 0 {
                // Ended without a close frame (between frames or within one): lost, not closed.
                return Poll::Ready(Some(Err(ReadError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer ended the connection without a close frame",
                )))));
            }
        }
    }

    /// Payload bytes of the fragments of the message in progress.
    fn fragments_held(&self) -> u64 {
        self.fragments.as_ref().map_or(0, |f| f.bytes.len() as u64)
    }

    /// Takes the frame at the start of the buffer, if it is whole.
    fn parse(&mut self) -> Result<Parsed, ReadError> {
        let Some(header) = Header::parse(&self.buf)? else {
            // Not whole yet: a byte more, at least.
            return Ok(Parsed::Need {
                bytes: self.buf.len() + 1,
                held: self.fragments_held(),
            });
        };
        match (self.peer, header.mask.is_some()) {
            (Peer::Server, true) => {
                return Err(ReadError::Sequence(
                    "a masked frame (a server's frames are not masked)",
                ));
            }
            (Peer::Client, false) => {
                return Err(ReadError::Sequence(
                    "an unmasked frame (a client's frames are masked)",
                ));
            }
            _ => {}
        }
        let held = self.fragments_held();
        let data = header.opcode & 0x08 == 0;
        if data && header.len > (self.max_message as u64).saturating_sub(held) {
            return Err(ReadError::TooLarge {
                len: held + header.len,
                max: self.max_message,
            });
        }
        if data && self.message.is_none() {
            self.started += 1;
            self.message = Some(self.started);
        }
        // Within `max_message` (data) or 125 (control): it fits a usize.
        let total = header.size + header.len as usize;
        if self.buf.len() < total {
            let arrived = (self.buf.len() - header.size) as u64;
            return Ok(Parsed::Need {
                bytes: total,
                held: held + if data { arrived } else { 0 },
            });
        }
        let mut payload = self.buf.split_to(total);
        payload.advance(header.size);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key);
        }
        let fragmented = self.fragments.is_some();
        let message = match (header.opcode, header.fin) {
            (opcode::PING, _) => Message::Ping(payload.freeze()),
            (opcode::PONG, _) => Message::Pong,
            (opcode::CLOSE, _) => {
                let close = Close::parse(&payload)?;
                Message::Close(close.code, close.reason.to_owned())
            }
            (opcode::TEXT | opcode::BINARY, _) if fragmented => {
                return Err(ReadError::Sequence(
                    "a new message before the fragmented one ended",
                ));
            }
            (opcode::BINARY, true) => Message::Binary(payload.freeze()),
            (opcode::TEXT, true) => Message::Text,
            (op @ (opcode::TEXT | opcode::BINARY), false) => {
                self.fragments = Some(Fragments {
                    opcode: op,
                    bytes: payload,
                });
                return Ok(Parsed::Fragment);
            }
            // A continuation.
            (_, fin) => {
                let Some(mut fragments) = self.fragments.take() else {
                    return Err(ReadError::Sequence(
                        "a continuation frame with no message to continue",
                    ));
                };
                fragments.bytes.extend_from_slice(&payload);
                if !fin {
                    self.fragments = Some(fragments);
                    return Ok(Parsed::Fragment);
                }
                match fragments.opcode {
                    opcode::BINARY => Message::Binary(fragments.bytes.freeze()),
                    _ => Message::Text,
                }
            }
        };
        if data {
            self.message = None;
        }
        Ok(Parsed::Message(message))
    }
}

#[cfg(test)]
mod tests {
    //! The reader against any split of its input: well-formed frames come out as the messages they
    //! carry wherever the reads cut them, and no bytes at all can make it panic or hold more than a
    //! message's limit.

    use std::task::Waker;

    use proptest::prelude::*;
    use tokio::io::ReadBuf;

    use super::super::frame::{Header, MAX_CONTROL_PAYLOAD};
    use super::*;

    /// A byte stream that hands out `data` in pieces ending at `cuts`, then ends.
    struct Pieces {
        data: Vec<u8>,
        cuts: Vec<usize>,
        at: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = &mut *self;
            let end = this
                .cuts
                .iter()
                .copied()
                .find(|&cut| cut > this.at)
                .unwrap_or(this.data.len())
                .min(this.data.len())
                .min(this.at + buf.remaining());
            buf.put_slice(&this.data[this.at..end]);
            this.at = end;
            Poll::Ready(Ok(()))
        }
    }

    /// Every message `reader` reads from `io` until an error or the end, with the most payload
    /// bytes of one data message in progress that it reported holding.
    fn read_all(
        reader: &mut FrameReader,
        io: &mut Pieces,
    ) -> (Vec<Message>, Option<ReadError>, u64) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut messages = Vec::new();
        let mut most_held = 0;
        loop {
            let polled = reader.poll_message(Pin::new(&mut *io), &mut cx, |progress| {
                most_held = most_held.max(progress.map_or(0, |p| p.held));
                ControlFlow::Continue(())
            });
            match polled {
                Poll::Ready(Some(Ok(message))) => messages.push(message),
                Poll::Ready(Some(Err(e))) => return (messages, Some(e), most_held),
                Poll::Ready(None) => return (messages, None, most_held),
                Poll::Pending => {
                    panic!("a byte stream that is always ready left the reader pending")
                }
            }
        }
    }

    /// A client's frame: `fin`, `op`, masked with `key`.
    fn frame(out: &mut Vec<u8>, op: u8, fin: bool, payload: &[u8], key: [u8; 4]) {
        let start = out.len();
        Header::write(out, op, payload.len(), Some(key));
        if !fin {
            out[start] &= 0x7F;
        }
        let at = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[at..], key);
    }

    /// A binary message sent in fragments (payload, then where it is cut), with a ping's payload
    /// after some of them.
    fn message() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Vec<Option<Vec<u8>>>)> {
        (
            prop::collection::vec(any::<u8>(), 0..700),
            prop::collection::vec(0usize..700, 0..4),
            prop::collection::vec(
                prop::option::of(prop::collection::vec(any::<u8>(), 0..126)),
                4,
            ),
        )
    }

    /// A frame as a peer might send it: a first byte that is usually a valid one and sometimes any
    /// byte; masked as `peer`'s frames must be, or (rarely) the other way; a length field that
    /// usually tells the payload's length and sometimes any length, in any of its three forms.
    fn any_frame(peer: Peer) -> impl Strategy<Value = Vec<u8>> {
        // Mostly what a peer sends: whole binary messages, fragments, pings and pongs.
        let valid = vec![
            0x82u8, 0x82, 0x82, 0x82, 0x02, 0x00, 0x80, 0x89, 0x8A, 0x81, 0x88,
        ];
        let first = prop_oneof![
            30 => prop::sample::select(valid),
            1 => any::<u8>(),
        ];
        let len = prop_oneof![
            30 => Just(None),
            1 => (0u64..126).prop_map(Some),
            1 => (0u64..70_000).prop_map(Some),
            1 => any::<u64>().prop_map(Some),
        ];
        (
            first,
            len,
            any::<[u8; 4]>(),
            prop::bool::weighted(0.02),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(move |(first, len, key, wrong, mut payload)| {
                if first & 0x08 != 0 {
                    // A control frame's payload fits its limit, unless `len` says otherwise.
                    payload.truncate(MAX_CONTROL_PAYLOAD);
                }
                let masked = (peer == Peer::Client) != wrong;
                let len = len.unwrap_or(payload.len() as u64);
                let mut out = vec![first];
                let bit = if masked { 0x80 } else { 0 };
                match len {
                    0..126 => out.push(bit | len as u8),
                    126..65_536 => {
                        out.push(bit | 126);
                        out.extend_from_slice(&(len as u16).to_be_bytes());
                    }
                    _ => {
                        out.push(bit | 127);
                        out.extend_from_slice(&len.to_be_bytes());
                    }
                }
                if masked {
                    out.extend_from_slice(&key);
                    apply_mask(&mut payload, key);
                }
                out.extend(payload);
                out
            })
    }

    /// Frames of `peer`, then bytes of any kind.
    fn any_input() -> impl Strategy<Value = (Peer, Vec<u8>)> {
        prop_oneof![Just(Peer::Client), Just(Peer::Server)].prop_flat_map(|peer| {
            (
                prop::collection::vec(any_frame(peer), 0..24),
                prop::collection::vec(any::<u8>(), 0..64),
            )
                .prop_map(move |(frames, garbage)| {
                    let mut data = frames.concat();
                    data.extend(garbage);
                    (peer, data)
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn messages_come_out_whole_however_the_reads_cut_them(
            messages in prop::collection::vec(message(), 1..12),
            key in any::<[u8; 4]>(),
            cuts in prop::collection::vec(0usize..20_000, 0..40),
            (read_size, max_read) in (1usize..64, 1usize..4096),
        ) {
            let mut data = Vec::new();
            let mut expected = Vec::new();
            for (payload, mut splits, pings) in messages {
                splits.retain(|&at| at <= payload.len());
                splits.sort_unstable();
                splits.dedup();
                let mut starts = vec![0];
                starts.extend(splits.iter().copied().filter(|&at| at > 0));
                starts.push(payload.len());
                let pieces = starts.len() - 1;
                for (i, window) in starts.windows(2).enumerate() {
                    let op = if i == 0 { opcode::BINARY } else { opcode::CONTINUATION };
                    frame(&mut data, op, i + 1 == pieces, &payload[window[0]..window[1]], key);
                    if let Some(Some(ping)) = pings.get(i) && i + 1 < pieces {
                        frame(&mut data, opcode::PING, true, ping, key);
                        expected.push(format!("{:?}", Message::Ping(Bytes::from(ping.clone()))));
                    }
                }
                expected.push(format!("{:?}", Message::Binary(Bytes::from(payload))));
            }
            frame(&mut data, opcode::CLOSE, true, &[0x03, 0xE8, b'o', b'k'], key);
            expected.push(format!("{:?}", Message::Close(Some(1000), "ok".into())));
            let mut io = Pieces { data, cuts, at: 0 };
            let sizes = (read_size, max_read.max(1));
            let mut reader = FrameReader::new(&[], sizes, 1 << 20, Peer::Client);
            let (got, error, _) = read_all(&mut reader, &mut io);
            let got: Vec<String> = got.iter().map(|m| format!("{m:?}")).collect();
            prop_assert_eq!(got, expected);
            // The stream ended after the close frame: lost, not closed.
            prop_assert!(matches!(
                error,
                Some(ReadError::Io(ref e)) if e.kind() == io::ErrorKind::UnexpectedEof
            ));
        }

        #[test]
        fn no_bytes_make_the_reader_panic_or_hold_past_the_limit(
            (peer, data) in any_input(),
            cuts in prop::collection::vec(0usize..8192, 0..16),
            max_message in 0usize..300,
        ) {
            let mut io = Pieces { data, cuts, at: 0 };
            let mut reader = FrameReader::new(&[], (64, 512), max_message, peer);
            let (messages, _, most_held) = read_all(&mut reader, &mut io);
            prop_assert!(most_held <= max_message as u64);
            for message in messages {
                if let Message::Binary(bytes) = message {
                    prop_assert!(bytes.len() <= max_message);
                }
            }
        }
    }
}
