//! RFC 6455 frames (§5.2): reading a frame's header from the bytes received, writing one, masking a
//! payload, and a close frame's code and reason (§5.5.1). Nothing here knows which end it serves;
//! [`super::client`] applies the client's rules (a server's frames are never masked, a client's
//! always are).

/// Frame opcodes (§5.2, §11.8).
pub(crate) mod opcode {
    /// A continuation of a fragmented message.
    pub(crate) const CONTINUATION: u8 = 0x0;
    /// A text message (or its first fragment).
    pub(crate) const TEXT: u8 = 0x1;
    /// A binary message (or its first fragment).
    pub(crate) const BINARY: u8 = 0x2;
    /// A close frame.
    pub(crate) const CLOSE: u8 = 0x8;
    /// A ping.
    pub(crate) const PING: u8 = 0x9;
    /// A pong.
    pub(crate) const PONG: u8 = 0xA;
}

/// Largest payload of a control frame (§5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's header, as read from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The frame ends its message.
    pub(crate) fin: bool,
    /// One of [`opcode`]'s.
    pub(crate) opcode: u8,
    /// The masking key, if the frame is masked.
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload's length.
    pub(crate) len: u64,
    /// The header's own length: the payload starts this many bytes into the frame.
    pub(crate) size: usize,
}

/// A frame header no endpoint may send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeaderError {
    /// RSV1–3 set: no extension was negotiated that would give them a meaning.
    #[error("reserved bits {0:#05b} set, and no extension defines them")]
    Reserved(u8),
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    Opcode(u8),
    /// A close, ping or pong without FIN.
    #[error("a fragmented control frame")]
    FragmentedControl,
    /// A close, ping or pong with more than 125 bytes.
    #[error("a control frame of {0} bytes (at most 125)")]
    LongControl(u64),
    /// A 64-bit length with its most significant bit set.
    #[error("a payload length with its most significant bit set")]
    Length,
}

impl Header {
    /// Reads the header at the start of `bytes`: `None` while it has not arrived whole.
    ///
    /// # Errors
    /// If it breaks a rule of §5.2 or §5.5 that holds whichever end sent it.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Option<Header>, HeaderError> {
        let [first, second, ..] = *bytes else {
            return Ok(None);
        };
        let reserved = (first >> 4) & 0b111;
        if reserved != 0 {
            return Err(HeaderError::Reserved(reserved));
        }
        let fin = first & 0x80 != 0;
        let op = first & 0x0F;
        let control = match op {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => false,
            opcode::CLOSE | opcode::PING | opcode::PONG => true,
            other => return Err(HeaderError::Opcode(other)),
        };
        if control && !fin {
            return Err(HeaderError::FragmentedControl);
        }
        let (len, mut size) = match second & 0x7F {
            126 => match bytes.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match bytes.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 10),
                None => return Ok(None),
            },
            len => (u64::from(len), 2),
        };
        if len >> 63 != 0 {
            return Err(HeaderError::Length);
        }
        if control && len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(HeaderError::LongControl(len));
        }
        let mask = if second & 0x80 != 0 {
            match bytes
                .get(size..size + 4)
                .and_then(|k| <[u8; 4]>::try_from(k).ok())
            {
                Some(key) => {
                    size += 4;
                    Some(key)
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some(Header {
            fin,
            opcode: op,
            mask,
            len,
            size,
        }))
    }

    /// Appends the header of a final (unfragmented) frame with `len` bytes of payload to `out`, in
    /// its shortest form.
    pub(crate) fn write(out: &mut Vec<u8>, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
        let masked = if mask.is_some() { 0x80 } else { 0 };
        out.push(0x80 | opcode);
        if len < 126 {
            out.push(masked | len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            out.push(masked | 126);
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            out.push(masked | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if let Some(key) = mask {
            out.extend_from_slice(&key);
        }
    }
}

/// Masks (or unmasks: the operation is its own inverse) a whole payload with `key` (§5.3), eight
/// bytes at a time.
pub(crate) fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    let [a, b, c, d] = key;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    // The rest starts at a multiple of 8, so at the key's first byte.
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// What a close frame's payload says (§5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Close<'a> {
    /// The status code, if the payload had one.
    pub(crate) code: Option<u16>,
    /// The reason, possibly empty.
    pub(crate) reason: &'a str,
}

/// A close frame's payload that breaks §5.5.1 or §7.4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CloseError {
    /// One byte: too short for a code.
    #[error("a close frame of one byte")]
    OneByte,
    /// A code no endpoint may send (§7.4.1–2): 1004–1006, 1015, below 1000, 1016–2999, 5000 and up.
    #[error("close code {0}, which an endpoint may not send")]
    Code(u16),
    /// A reason that is not UTF-8.
    #[error("a close reason that is not UTF-8")]
    Reason,
}

impl Close<'_> {
    /// Reads a close frame's payload.
    ///
    /// # Errors
    /// If it is one byte long, carries a code an endpoint may not send, or a reason that is not
    /// UTF-8.
    pub(crate) fn parse(payload: &[u8]) -> Result<Close<'_>, CloseError> {
        match payload {
            [] => Ok(Close {
                code: None,
                reason: "",
            }),
            [_] => Err(CloseError::OneByte),
            [high, low, reason @ ..] => {
                let code = u16::from_be_bytes([*high, *low]);
                if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                    return Err(CloseError::Code(code));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| CloseError::Reason)?;
                Ok(Close {
                    code: Some(code),
                    reason,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> Result<Option<Header>, HeaderError> {
        Header::parse(bytes)
    }

    #[test]
    fn headers_are_read_in_each_length_form_and_wait_for_their_last_byte() {
        for (len, size) in [(0usize, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                Header::write(&mut out, opcode::BINARY, len, mask);
                let size = size + if mask.is_some() { 4 } else { 0 };
                assert_eq!(out.len(), size, "{len} bytes, mask {mask:?}");
                for cut in 0..size {
                    assert_eq!(header(&out[..cut]), Ok(None), "{len} bytes cut at {cut}");
                }
                let read = header(&out).unwrap().unwrap();
                assert_eq!(
                    read,
                    Header {
                        fin: true,
                        opcode: opcode::BINARY,
                        mask,
                        len: len as u64,
                        size,
                    }
                );
            }
        }
    }

    #[test]
    fn headers_no_endpoint_may_send_are_refused() {
        assert_eq!(header(&[0xC2, 0]), Err(HeaderError::Reserved(0b100)));
        assert_eq!(header(&[0x92, 0]), Err(HeaderError::Reserved(0b001)));
        assert_eq!(header(&[0x83, 0]), Err(HeaderError::Opcode(3)));
        assert_eq!(header(&[0x8B, 0]), Err(HeaderError::Opcode(0xB)));
        assert_eq!(header(&[0x09, 0]), Err(HeaderError::FragmentedControl));
        assert_eq!(
            header(&[0x89, 126, 0, 126]),
            Err(HeaderError::LongControl(126))
        );
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(header(&huge), Err(HeaderError::Length));
        // A fragment of a data message, and its continuation.
        assert!(!header(&[0x02, 0]).unwrap().unwrap().fin);
        assert_eq!(
            header(&[0x80, 0]).unwrap().unwrap().opcode,
            opcode::CONTINUATION
        );
    }

    #[test]
    fn masking_matches_the_rfc_example_and_undoes_itself() {
        // RFC 6455 §5.7: "Hello", masked with 37 fa 21 3d.
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut hello = *b"Hello";
        apply_mask(&mut hello, key);
        assert_eq!(hello, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let mut bytes = plain.clone();
            apply_mask(&mut bytes, key);
            let expected: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            assert_eq!(bytes, expected, "{len} bytes");
            apply_mask(&mut bytes, key);
            assert_eq!(bytes, plain);
        }
    }

    #[test]
    fn close_payloads_are_read_and_bad_ones_refused() {
        assert_eq!(
            Close::parse(&[]),
            Ok(Close {
                code: None,
                reason: ""
            })
        );
        assert_eq!(
            Close::parse(&[0x03, 0xE8, b'b', b'y', b'e']),
            Ok(Close {
                code: Some(1000),
                reason: "bye"
            })
        );
        assert_eq!(Close::parse(&[0x03]), Err(CloseError::OneByte));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert_eq!(
                Close::parse(&code.to_be_bytes()),
                Err(CloseError::Code(code))
            );
        }
        for code in [1001u16, 1011, 3000, 4999] {
            assert!(Close::parse(&code.to_be_bytes()).is_ok());
        }
        assert_eq!(Close::parse(&[0x03, 0xE8, 0xFF]), Err(CloseError::Reason));
    }
}
