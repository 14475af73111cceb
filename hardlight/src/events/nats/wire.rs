//! How events look on NATS: subjects, the check on what arrives, and server ids.
//! `docs/PROTOCOL.md` §7.1 describes them.

use super::MAX_BRIDGED_TOPIC;
use crate::wire::frame::{ServerFrame, decode_server};

/// Longest [`NatsConfig::subject_prefix`](super::NatsConfig::subject_prefix), so that every bridged
/// subject fits the NATS server's protocol line.
const MAX_PREFIX: usize = 256;

/// The subject of `topic`: `<prefix>.<lowercase hex of its bytes>`, `<prefix>._` for the empty topic;
/// `None` if the topic is longer than [`MAX_BRIDGED_TOPIC`].
pub(super) fn subject_for(prefix: &str, topic: &[u8]) -> Option<String> {
    if topic.len() > MAX_BRIDGED_TOPIC {
        return None;
    }
    let mut subject = String::with_capacity(prefix.len() + 1 + 2 * topic.len().max(1));
    subject.push_str(prefix);
    subject.push('.');
    if topic.is_empty() {
        subject.push('_');
    }
    for byte in topic {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        subject.push(char::from(HEX[usize::from(byte >> 4)]));
        subject.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Some(subject)
}

/// Why `payload` is not an EVENT frame for `topic` that this server could send to its clients.
pub(super) fn check_event(
    topic: &[u8],
    payload: &[u8],
    max_frame: usize,
) -> Result<(), &'static str> {
    if payload.len() > max_frame {
        return Err("larger than the server's maximum message size");
    }
    match decode_server(payload) {
        Ok(ServerFrame::Event { topic: carried, .. }) if carried == topic => Ok(()),
        Ok(ServerFrame::Event { .. }) => Err("an event for another topic than its subject's"),
        Ok(_) => Err("a frame that is not an event"),
        Err(_) => Err("not a valid frame"),
    }
}

/// Why `prefix` cannot start NATS subjects: it must be dot-separated non-empty tokens without spaces
/// or wildcards.
pub(super) fn check_prefix(prefix: &str) -> Result<(), &'static str> {
    if prefix.len() > MAX_PREFIX {
        return Err("the subject prefix is longer than 256 characters");
    }
    let bad_token = |token: &str| {
        token.is_empty()
            || token == "*"
            || token == ">"
            || token.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if prefix.split('.').any(bad_token) {
        return Err("the subject prefix must be dot-separated tokens without spaces or wildcards");
    }
    Ok(())
}

pub(super) fn random_origin() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    // The system's random source failing is not something a server can run without.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    subject_for("", &bytes)
        .expect("8 bytes fit a subject")
        .split_off(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::encode_event;

    #[test]
    fn subjects_are_the_prefix_and_the_topic_in_lowercase_hex() {
        assert_eq!(
            subject_for("hardlight.events", b"room/42").as_deref(),
            Some("hardlight.events.726f6f6d2f3432")
        );
        assert_eq!(subject_for("p", &[0, 0xff]).as_deref(), Some("p.00ff"));
        assert_eq!(subject_for("p", b"").as_deref(), Some("p._"));
        assert!(subject_for("p", &[1; MAX_BRIDGED_TOPIC]).is_some());
        assert!(subject_for("p", &[1; MAX_BRIDGED_TOPIC + 1]).is_none());
    }

    #[test]
    fn only_an_event_frame_for_the_subjects_topic_is_accepted() {
        let frame = encode_event(b"t", &7u32).unwrap();
        assert_eq!(check_event(b"t", &frame, 1 << 20), Ok(()));
        assert!(check_event(b"u", &frame, 1 << 20).is_err());
        assert!(check_event(b"t", &frame, frame.len() - 1).is_err());
        assert!(check_event(b"t", b"\x13", 1 << 20).is_err());
        assert!(check_event(b"t", b"", 1 << 20).is_err());
        let mut compressed = frame.clone();
        compressed[1] = crate::wire::frame::FLAG_COMPRESSED;
        assert!(check_event(b"t", &compressed, 1 << 20).is_err());
    }

    #[test]
    fn prefixes_with_empty_tokens_spaces_or_wildcards_are_refused() {
        assert!(check_prefix("hardlight.events").is_ok());
        for bad in [
            "",
            "a..b",
            "a.",
            "a b",
            "a.*",
            "a.>",
            &"x".repeat(MAX_PREFIX + 1),
        ] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins_are_sixteen_hex_digits_and_differ() {
        let (a, b) = (random_origin(), random_origin());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
