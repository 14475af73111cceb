//! The opening handshake: everything is carried in the WebSocket subprotocol list, the one header a
//! browser lets a page set.
//!
//! A client offers, in `Sec-WebSocket-Protocol`:
//! - [`PROTOCOL_TOKEN`] (required; the server selects it in its response),
//! - `hardlight.schema.<16 lowercase hex digits>`: the fingerprint of the service it was built from,
//! - optionally `hardlight.deflate.<1-9>`: compression at that level;
//! - optionally [`EXPLAIN_TOKEN`]: if the server refuses the fingerprint, send the schema texts of
//!   its services first (a `SCHEMA` frame), so that the client can say what differs;
//! - optionally `hardlight-auth.<token>`: a token for the server's authentication hook
//!   ([`super::auth`]), which the server never selects.
//!
//! Problems that a browser should be able to read (wrong schema, wrong version, a bad parameter) are
//! reported after the upgrade, as a close frame with a code from [`super::close`] and a reason.

use super::close;

/// Prefix of every subprotocol token of this protocol (versions and parameters); the auth entry
/// (`hardlight-auth.`) is not one of them.
pub const HARDLIGHT_PREFIX: &str = "hardlight.";
/// The subprotocol token of this protocol version.
pub const PROTOCOL_TOKEN: &str = "hardlight.v1";
/// Prefix shared by every version's token.
pub const VERSION_PREFIX: &str = "hardlight.v";
/// Prefix of the schema fingerprint parameter.
pub const SCHEMA_PREFIX: &str = "hardlight.schema.";
/// Prefix of the compression parameter.
pub const DEFLATE_PREFIX: &str = "hardlight.deflate.";
/// Asks a server that refuses the offered fingerprint to send its services' schema texts first.
/// A server that does not know it ignores it, as it ignores every unknown token.
pub const EXPLAIN_TOKEN: &str = "hardlight.explain";
/// Says the client reads `ITEMS` frames (several items of a stream in one frame): a server may then
/// batch a stream's items. A server that does not know it ignores it, and sends `ITEM` frames.
pub const BATCH_TOKEN: &str = "hardlight.batch";
/// Says the client may send trace context on `CALL` (`FLAG_TRACE`): a server that knows it says
/// so in `HELLO`'s flags, and only then does the client send it. A server that does not know it
/// ignores it.
pub const TRACE_TOKEN: &str = "hardlight.trace";
/// Says the client may send per-call metadata on `CALL` (`FLAG_METADATA`) and reads `REPLY`
/// status 8 (`Refused`, an interceptor's refusal): a server that knows it says so in `HELLO`'s
/// flags, and only then does the client send metadata. A server that does not know it ignores it.
pub const METADATA_TOKEN: &str = "hardlight.metadata";

/// True if the offered tokens (each header value split at commas) include [`BATCH_TOKEN`].
pub fn offers_batch<'a>(offered: impl IntoIterator<Item = &'a str>) -> bool {
    offers(offered, BATCH_TOKEN)
}

/// True if the offered tokens (each header value split at commas) include [`METADATA_TOKEN`].
pub fn offers_metadata<'a>(offered: impl IntoIterator<Item = &'a str>) -> bool {
    offers(offered, METADATA_TOKEN)
}

/// True if the offered tokens (each header value split at commas) include [`TRACE_TOKEN`].
pub fn offers_trace<'a>(offered: impl IntoIterator<Item = &'a str>) -> bool {
    offers(offered, TRACE_TOKEN)
}

fn offers<'a>(offered: impl IntoIterator<Item = &'a str>, wanted: &str) -> bool {
    offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .any(|token| token.trim() == wanted)
}

/// FNV-1a, 64 bits: the schema fingerprint of a service is this hash of its canonical schema text.
///
/// ```
/// assert_eq!(hardlight::__private::wire::handshake::fnv1a64(b""), 0xcbf29ce484222325);
/// assert_eq!(hardlight::__private::wire::handshake::fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
/// ```
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_extend(0xcbf2_9ce4_8422_2325, bytes)
}

/// Continues an FNV-1a-64 hash over more bytes: `fnv1a64(a ++ b) == fnv1a64_extend(fnv1a64(a), b)`.
pub const fn fnv1a64_extend(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The subprotocol list a client offers.
pub fn client_offer(fingerprint: u64, compression: Option<u8>) -> Vec<String> {
    let mut offer = vec![
        PROTOCOL_TOKEN.to_owned(),
        format!("{SCHEMA_PREFIX}{fingerprint:016x}"),
        EXPLAIN_TOKEN.to_owned(),
        BATCH_TOKEN.to_owned(),
        TRACE_TOKEN.to_owned(),
        METADATA_TOKEN.to_owned(),
    ];
    if let Some(level) = compression {
        offer.push(format!("{DEFLATE_PREFIX}{level}"));
    }
    offer
}

/// What the server decides about an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiation {
    /// Upgrade, select `PROTOCOL_TOKEN`, and serve the service at this index with this compression
    /// level.
    Accept {
        /// Index, in the list of served fingerprints, of the one the client offered.
        service: usize,
        /// Deflate level for this connection, if compression was asked for and allowed.
        compression: Option<u8>,
    },
    /// Upgrade selecting `selected` (a token the client offered), then close with `code` and `reason`.
    Refuse {
        /// The token to select so that the client (a browser too) completes the upgrade and reads the close.
        selected: String,
        /// Close code, one of the handshake codes in [`super::close`].
        code: u16,
        /// Human-readable reason (at most 123 bytes, the WebSocket limit).
        reason: String,
        /// A schema refusal (4001) of a client that offered [`EXPLAIN_TOKEN`]: the server may send
        /// its services' schema texts before the close.
        explain: bool,
    },
    /// Not a hardlight client: answer the HTTP request with 400 and this text.
    NotHardlight(String),
}

/// Decides on the tokens a client offered (each header value split at commas), for a server that
/// serves the services with these fingerprints (at least one).
pub fn negotiate<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    served: &[u64],
    allow_compression: bool,
) -> Negotiation {
    let tokens: Vec<&str> = offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();

    let selected = if tokens.contains(&PROTOCOL_TOKEN) {
        PROTOCOL_TOKEN
    } else if let Some(other) = tokens.iter().find(|t| is_version_token(t)) {
        return refuse(
            other,
            close::UNSUPPORTED_VERSION,
            format!("unsupported protocol {other}; this server speaks {PROTOCOL_TOKEN}"),
        );
    } else {
        return Negotiation::NotHardlight(format!(
            "expected the WebSocket subprotocol {PROTOCOL_TOKEN}\n"
        ));
    };

    let (schema, level) = match options(&tokens) {
        Ok(options) => options,
        Err(why) => return refuse(selected, close::BAD_HANDSHAKE, why.into()),
    };

    let served_list = || {
        served
            .iter()
            .map(|f| format!("{f:016x}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let explain = tokens.contains(&EXPLAIN_TOKEN);
    let Some(client) = schema else {
        return refuse_schema(
            selected,
            format!(
                "missing schema fingerprint: offer {SCHEMA_PREFIX}{}",
                served_list()
            ),
            explain,
        );
    };
    match served.iter().position(|&f| f == client) {
        Some(service) => Negotiation::Accept {
            service,
            compression: level.filter(|_| allow_compression),
        },
        None => refuse_schema(
            selected,
            format!(
                "schema mismatch: client {client:016x}, server {}",
                served_list()
            ),
            explain,
        ),
    }
}

/// The schema fingerprint and the compression level among the offered tokens, each offered at most
/// once (or repeated with the same value); an error says what is malformed.
fn options(tokens: &[&str]) -> Result<(Option<u64>, Option<u8>), &'static str> {
    let mut schema = None;
    let mut level = None;
    for token in tokens {
        if let Some(hex) = token.strip_prefix(SCHEMA_PREFIX) {
            let value = parse_fingerprint(hex)
                .ok_or("malformed schema fingerprint: expected 16 lowercase hex digits")?;
            if schema.is_some_and(|s| s != value) {
                return Err("two different schema fingerprints offered");
            }
            schema = Some(value);
        } else if let Some(digit) = token.strip_prefix(DEFLATE_PREFIX) {
            let value = match digit.as_bytes() {
                [d @ b'1'..=b'9'] => d - b'0',
                _ => return Err("malformed compression level: expected hardlight.deflate.1 to .9"),
            };
            if level.is_some_and(|l| l != value) {
                return Err("two different compression levels offered");
            }
            level = Some(value);
        }
    }
    Ok((schema, level))
}

fn is_version_token(token: &str) -> bool {
    token
        .strip_prefix(VERSION_PREFIX)
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_fingerprint(hex: &str) -> Option<u64> {
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// A 4001 refusal; `explain` if the client asked for the server's schema texts.
fn refuse_schema(selected: &str, reason: String, explain: bool) -> Negotiation {
    Negotiation::Refuse {
        selected: selected.to_owned(),
        code: close::SCHEMA_MISMATCH,
        reason: close::truncate_reason(reason),
        explain,
    }
}

fn refuse(selected: &str, code: u16, reason: String) -> Negotiation {
    Negotiation::Refuse {
        selected: selected.to_owned(),
        code,
        reason: close::truncate_reason(reason),
        explain: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: u64 = 0x0123_4567_89ab_cdef;

    #[test]
    fn accepts_matching_offer_with_compression() {
        let offer = client_offer(FP, Some(6));
        let got = negotiate(offer.iter().map(String::as_str), &[FP], true);
        assert_eq!(
            got,
            Negotiation::Accept {
                service: 0,
                compression: Some(6)
            }
        );
        let got = negotiate(offer.iter().map(String::as_str), &[FP], false);
        assert_eq!(
            got,
            Negotiation::Accept {
                service: 0,
                compression: None
            }
        );
    }

    #[test]
    fn accepts_a_single_comma_separated_header() {
        let got = negotiate(
            ["hardlight.v1, hardlight.schema.0123456789abcdef"],
            &[FP],
            true,
        );
        assert_eq!(
            got,
            Negotiation::Accept {
                service: 0,
                compression: None
            }
        );
    }

    #[test]
    fn refuses_other_schema_with_both_fingerprints() {
        let offer = client_offer(1, None);
        match negotiate(offer.iter().map(String::as_str), &[FP], true) {
            Negotiation::Refuse { code, reason, .. } => {
                assert_eq!(code, close::SCHEMA_MISMATCH);
                assert!(reason.contains("0000000000000001") && reason.contains("0123456789abcdef"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_other_versions_by_selecting_their_token() {
        match negotiate(["hardlight.v2"], &[FP], true) {
            Negotiation::Refuse { selected, code, .. } => {
                assert_eq!(selected, "hardlight.v2");
                assert_eq!(code, close::UNSUPPORTED_VERSION);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_non_hardlight_clients_over_http() {
        assert!(matches!(
            negotiate(["chat"], &[FP], true),
            Negotiation::NotHardlight(_)
        ));
        assert!(matches!(
            negotiate([], &[FP], true),
            Negotiation::NotHardlight(_)
        ));
    }

    #[test]
    fn refuses_malformed_parameters() {
        for bad in [
            "hardlight.schema.xyz",
            "hardlight.deflate.0",
            "hardlight.deflate.10",
        ] {
            let got = negotiate(
                ["hardlight.v1", "hardlight.schema.0123456789abcdef", bad],
                &[FP],
                true,
            );
            assert!(
                matches!(
                    got,
                    Negotiation::Refuse {
                        code: close::BAD_HANDSHAKE,
                        ..
                    }
                ),
                "{bad}: {got:?}"
            );
        }
    }

    #[test]
    fn picks_the_offered_service_among_several() {
        let served = [7, FP, 9];
        let offer = client_offer(FP, None);
        assert_eq!(
            negotiate(offer.iter().map(String::as_str), &served, true),
            Negotiation::Accept {
                service: 1,
                compression: None
            }
        );
        let offer = client_offer(8, None);
        match negotiate(offer.iter().map(String::as_str), &served, true) {
            Negotiation::Refuse { code, reason, .. } => {
                assert_eq!(code, close::SCHEMA_MISMATCH);
                assert!(reason.contains("0000000000000008"), "{reason}");
                assert!(
                    reason.contains("0000000000000007 or 0123456789abcdef"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
