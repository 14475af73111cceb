//! Trace context on the wire: the W3C `traceparent` of a call (version `00`), carried in binary by
//! the `CALL` frame's trace extension (`docs/PROTOCOL.md` §5.2).

use std::fmt;

/// The trace context a call carries: a W3C `traceparent` (<https://www.w3.org/TR/trace-context/>),
/// version `00`, whose parent id is the caller's span.
///
/// With the `opentelemetry` feature the client fills it in from the current `tracing` span and the
/// server makes it the parent of the call's span; without it, set it per handle with
/// [`Client::with_trace_parent`](crate::client::Client::with_trace_parent) (a browser page passing
/// on its own context, say) and read it in a handler with `hardlight::call_trace_parent()`.
///
/// ```
/// use hardlight::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse(header).unwrap();
/// assert!(parent.sampled());
/// assert_eq!(parent.to_string(), header);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

/// The extension's length in a `CALL` frame: trace id, parent id, trace flags.
pub const TRACE_LEN: usize = 25;

impl TraceParent {
    /// A trace context; `None` if either id is all zeros (invalid in W3C trace context).
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// Parses a `traceparent` header value of version `00` (lower-case hex, as W3C requires);
    /// `None` if it is not one, or has an all-zero id.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" {
            return None;
        }
        let mut trace_id = [0; 16];
        let mut parent_id = [0; 8];
        let mut flag = [0; 1];
        hex_into(trace, &mut trace_id)?;
        hex_into(parent, &mut parent_id)?;
        hex_into(flags, &mut flag)?;
        Self::new(trace_id, parent_id, flag[0])
    }

    /// The trace id (16 bytes).
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The caller's span id (8 bytes).
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 != 0
    }

    /// The trace id in lower-case hex, as logs show it.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// Appends the wire form ([`TRACE_LEN`] bytes) to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.trace_id);
        out.extend_from_slice(&self.parent_id);
        out.push(self.flags);
    }

    /// Reads the wire form; `None` (the extension is ignored) for all-zero ids.
    pub(crate) fn read(bytes: &[u8; TRACE_LEN]) -> Option<Self> {
        let mut trace_id = [0; 16];
        let mut parent_id = [0; 8];
        trace_id.copy_from_slice(&bytes[..16]);
        parent_id.copy_from_slice(&bytes[16..24]);
        Self::new(trace_id, parent_id, bytes[24])
    }
}

/// The `traceparent` header value: `00-{trace id}-{parent id}-{flags}`.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `out` from exactly `2 * out.len()` lower-case hex digits.
fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return None;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = value(pair[0])? << 4 | value(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_header() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(header).unwrap();
        assert_eq!(
            parent.parent_id(),
            [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(parent.to_string(), header);
        let mut wire = Vec::new();
        parent.write(&mut wire);
        assert_eq!(wire.len(), TRACE_LEN);
        assert_eq!(
            TraceParent::read(wire.as_slice().try_into().unwrap()),
            Some(parent)
        );
    }

    #[test]
    fn refuses_what_is_not_a_version_00_traceparent() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}
