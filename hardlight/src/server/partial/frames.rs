//! A passive reader of WebSocket frame headers (RFC 6455 §5.2): fed the bytes a connection
//! receives, in any pieces, it knows where each frame starts and ends, and so whether a data
//! message is being received and how many payload bytes of it have arrived. It never decodes or
//! validates payloads; tungstenite does that, and closes the connection on a malformed frame.

/// Longest frame header: 2 bytes, 8 of extended length, 4 of masking key.
const MAX_HEADER: usize = 14;

/// Where the scanner stands in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Inside a frame header: the bytes of it seen so far.
    Header { bytes: [u8; MAX_HEADER], seen: u8 },
    /// Inside a frame's payload.
    Payload { left: u64, data: bool, fin: bool },
}

/// The scanner: feed it every byte received, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameScanner {
    position: Position,
    /// A data message has started and its final frame has not ended.
    in_message: bool,
    /// Payload bytes of the message in progress received so far.
    held: u64,
    /// Data messages started so far (a message's first frame header completed).
    started: u64,
    /// Frames whose end has been seen, for tests.
    #[cfg(test)]
    pub(super) ends: Vec<u64>,
    #[cfg(test)]
    offset: u64,
}

impl Default for FrameScanner {
    fn default() -> Self {
        Self {
            position: Position::Header {
                bytes: [0; MAX_HEADER],
                seen: 0,
            },
            in_message: false,
            held: 0,
            started: 0,
            #[cfg(test)]
            ends: Vec::new(),
            #[cfg(test)]
            offset: 0,
        }
    }
}

impl FrameScanner {
    /// True while a data message is being received: from its first frame's header to the end of
    /// its final frame. Control frames in between change nothing.
    pub(crate) fn in_message(&self) -> bool {
        self.in_message
    }

    /// Payload bytes of the message in progress received so far (0 between messages).
    pub(crate) fn held(&self) -> u64 {
        self.held
    }

    /// Data messages started so far: tells a new message from the one seen before.
    pub(crate) fn started(&self) -> u64 {
        self.started
    }

    /// Takes the next bytes received.
    pub(crate) fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.position {
                Position::Payload { left, data, fin } => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[take..];
                    *left -= take as u64;
                    let (done, data, fin) = (*left == 0, *data, *fin);
                    if data {
                        self.held = self.held.saturating_add(take as u64);
                    }
                    #[cfg(test)]
                    {
                        self.offset += take as u64;
                    }
                    if done {
                        self.frame_ended(data, fin);
                    }
                }
                // The whole header in this piece, the common case: read in place.
                Position::Header { seen: 0, .. } if let Some((frame, size)) = parse_header(bytes) => {
                    bytes = &bytes[size..];
                    #[cfg(test)]
                    {
                        self.offset += size as u64;
                    }
                    self.frame_started(frame);
                }
                Position::Header { bytes: header, seen } => {
                    let Some((&byte, rest)) = bytes.split_first() else {
                        break;
                    };
                    bytes = rest;
                    #[cfg(test)]
                    {
                        self.offset += 1;
                    }
                    let at = usize::from(*seen);
                    if let Some(slot) = header.get_mut(at) {
                        *slot = byte;
                    }
                    *seen += 1;
                    let header = *header;
                    let seen = usize::from(*seen);
                    if let Some((frame, _)) = parse_header(&header[..seen.min(MAX_HEADER)]) {
                        self.frame_started(frame);
                    }
                }
            }
        }
    }

    fn frame_started(&mut self, frame: FrameHeader) {
        let data = frame.opcode < 0x8;
        if data && !self.in_message {
            self.in_message = true;
            self.started += 1;
        }
        if frame.len == 0 {
            self.frame_ended(data, frame.fin);
        } else {
            self.position = Position::Payload {
                left: frame.len,
                data,
                fin: frame.fin,
            };
        }
    }

    fn frame_ended(&mut self, data: bool, fin: bool) {
        #[cfg(test)]
        self.ends.push(self.offset);
        if data && fin {
            self.in_message = false;
            self.held = 0;
        }
        self.position = Position::Header {
            bytes: [0; MAX_HEADER],
            seen: 0,
        };
    }
}

/// What a complete frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    fin: bool,
    opcode: u8,
    len: u64,
}

/// The header at the start of `bytes` and its size, once they hold all of it; `None` while more
/// are needed.
fn parse_header(bytes: &[u8]) -> Option<(FrameHeader, usize)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let masked = second & 0x80 != 0;
    let (extended, len) = match second & 0x7f {
        126 => (2, u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?))),
        127 => (8, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
        len => (0, u64::from(len)),
    };
    let size = 2 + extended + if masked { 4 } else { 0 };
    let header = FrameHeader {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        len,
    };
    (bytes.len() >= size).then_some((header, size))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A masked frame as a client sends it.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn follows_a_fragmented_message_with_control_frames_between() {
        let mut scanner = FrameScanner::default();
        scanner.scan(&frame(false, 0x2, &[0; 300]));
        assert!(scanner.in_message());
        assert_eq!((scanner.held(), scanner.started()), (300, 1));
        scanner.scan(&frame(true, 0x9, b"ping"));
        scanner.scan(&frame(true, 0xa, b""));
        assert_eq!(scanner.held(), 300);
        scanner.scan(&frame(false, 0x0, &[0; 70_000]));
        assert_eq!(scanner.held(), 70_300);
        scanner.scan(&frame(true, 0x0, &[0; 5]));
        assert!(!scanner.in_message());
        assert_eq!(scanner.held(), 0);
        scanner.scan(&frame(true, 0x2, &[]));
        assert!(!scanner.in_message());
        assert_eq!(scanner.started(), 2);
    }

    #[test]
    fn a_single_frame_is_in_progress_until_its_last_byte() {
        let bytes = frame(true, 0x2, &[9; 1000]);
        let mut scanner = FrameScanner::default();
        scanner.scan(&bytes[..500]);
        assert!(scanner.in_message());
        assert_eq!(scanner.held(), 500 - 8);
        scanner.scan(&bytes[500..]);
        assert!(!scanner.in_message());
        assert_eq!(scanner.ends, vec![bytes.len() as u64]);
    }

    #[test]
    fn control_frames_alone_start_no_message() {
        let mut scanner = FrameScanner::default();
        for _ in 0..100 {
            scanner.scan(&frame(true, 0xa, b"pong"));
        }
        assert!(!scanner.in_message());
        assert_eq!(scanner.started(), 0);
    }

    #[test]
    fn a_huge_declared_length_is_held_not_trusted() {
        let mut scanner = FrameScanner::default();
        let mut header = vec![0x02, 0x80 | 127];
        header.extend_from_slice(&u64::MAX.to_be_bytes());
        header.extend_from_slice(&[0; 4]);
        scanner.scan(&header);
        scanner.scan(&[0; 10]);
        assert!(scanner.in_message());
        assert_eq!(scanner.held(), 10);
    }

    fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            prop::sample::select(vec![0x0u8, 0x1, 0x2, 0x8, 0x9, 0xa]),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..130),
                prop::collection::vec(any::<u8>(), 65_530..65_540),
                Just(vec![0u8; 70_000]),
            ],
        )
            .prop_map(|(fin, opcode, payload)| frame(fin, opcode, &payload))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// However the bytes are split into reads, the scanner finds the same frame ends and ends
        /// in the same state.
        #[test]
        fn splits_do_not_matter(
            frames in prop::collection::vec(arb_frame(), 1..8),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let stream: Vec<u8> = frames.iter().flatten().copied().collect();
            let mut whole = FrameScanner::default();
            whole.scan(&stream);
            let mut expected = Vec::new();
            let mut at = 0u64;
            for f in &frames {
                at += f.len() as u64;
                expected.push(at);
            }
            prop_assert_eq!(&whole.ends, &expected);

            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = FrameScanner::default();
            let mut from = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                pieces.scan(&stream[from..cut]);
                from = cut;
            }
            prop_assert_eq!(pieces, whole);
        }

        /// Any bytes at all: no panic, and never more held than was received.
        #[test]
        fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let mut scanner = FrameScanner::default();
            scanner.scan(&bytes);
            prop_assert!(scanner.held() <= bytes.len() as u64);
        }
    }
}
