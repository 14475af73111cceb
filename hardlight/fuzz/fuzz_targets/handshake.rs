//! Arbitrary bytes, read as lossy UTF-8 and split into `Sec-WebSocket-Protocol` header values (at
//! newlines), through `handshake::negotiate`, checking the invariants its callers rely on.

#![no_main]

use hardlight::__private::wire::handshake::{self, Negotiation};
use hardlight::wire::close;
use libfuzzer_sys::fuzz_target;

/// The fingerprints the server serves.
const SERVED: [u64; 2] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let allow_compression = flags & 1 != 0;
    // Bit 1 serves a single fingerprint instead of two.
    let served: &[u64] = if flags & 2 != 0 {
        &SERVED[..1]
    } else {
        &SERVED
    };
    let text = String::from_utf8_lossy(rest);
    let values: Vec<&str> = text.split('\n').collect();

    let tokens: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();

    match handshake::negotiate(values.iter().copied(), served, allow_compression) {
        Negotiation::Accept {
            service,
            compression,
        } => {
            assert!(service < served.len(), "service {service} out of range");
            assert!(
                tokens.contains(&handshake::PROTOCOL_TOKEN),
                "accepted without {}",
                handshake::PROTOCOL_TOKEN
            );
            if let Some(level) = compression {
                assert!(allow_compression, "compression granted but not allowed");
                assert!((1..=9).contains(&level), "compression level {level}");
            }
        }
        Negotiation::Refuse {
            selected,
            code,
            reason,
            explain,
        } => {
            assert!(reason.len() <= 123, "reason of {} bytes", reason.len());
            assert!(
                !explain || code == close::SCHEMA_MISMATCH,
                "schema texts offered for a refusal with code {code}"
            );
            assert!(
                tokens.contains(&selected.as_str()),
                "selected {selected:?} was not offered"
            );
            assert!(
                close::is_handshake_refusal(code),
                "refusal with non-handshake code {code}"
            );
        }
        Negotiation::NotHardlight(_) => {
            assert!(
                !tokens.contains(&handshake::PROTOCOL_TOKEN),
                "{} offered but treated as not hardlight",
                handshake::PROTOCOL_TOKEN
            );
        }
    }
});
