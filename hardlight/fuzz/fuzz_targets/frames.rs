//! Arbitrary bytes through every frame decoder a peer's message reaches: `compression::open` (with and
//! without compression negotiated), then `decode_client` (what the server runs) and `decode_server`
//! (what the client runs), walking every field list and item list the latter accepts.

#![no_main]

use hardlight::__private::wire::compression;
use hardlight::__private::wire::frame::{self, ClientFrame, FieldList, ItemList, ServerFrame};
use libfuzzer_sys::fuzz_target;

const MAX_SIZE: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The raw bytes, as if they had already been inflated.
    decode_both(data);

    for negotiated in [false, true] {
        if let Ok(opened) = compression::open(data, negotiated, MAX_SIZE) {
            assert!(
                opened.len() <= MAX_SIZE.max(data.len()),
                "open exceeded its limit"
            );
            if !negotiated && data.len() >= 2 {
                assert_eq!(
                    data[1] & frame::FLAG_COMPRESSED,
                    0,
                    "compressed frame opened without negotiation"
                );
            }
            if opened.len() >= 2 {
                assert_eq!(
                    opened[1] & frame::FLAG_COMPRESSED,
                    0,
                    "flag left set after open"
                );
            }
            decode_both(&opened);
        }
    }
});

fn decode_both(msg: &[u8]) {
    match frame::decode_client(msg) {
        Ok(ClientFrame::Call {
            args, budget_ms, ..
        }) => {
            let mut header = match budget_ms {
                Some(_) => frame::CALL_DEADLINE_HEADER,
                None => frame::CALL_HEADER,
            };
            // Trace context (present or ignored as all zeros) takes its 25 bytes.
            if msg[1] & frame::FLAG_TRACE != 0 {
                header += hardlight::wire::trace::TRACE_LEN;
            }
            // Metadata: its length, then its entries.
            if msg[1] & frame::FLAG_METADATA != 0 {
                header += 2 + usize::from(u16::from_le_bytes([msg[header], msg[header + 1]]));
            }
            assert_eq!(args.len(), msg.len() - header);
        }
        Ok(ClientFrame::Notify { args, .. }) => {
            assert_eq!(args.len(), msg.len() - frame::NOTIFY_HEADER);
        }
        Ok(ClientFrame::Cancel { .. }) => assert_eq!(msg.len(), frame::CANCEL_LEN),
        // Frame kinds added later (the enums are `#[non_exhaustive]`).
        Ok(_) | Err(_) => {}
    }
    match frame::decode_server(msg) {
        Ok(ServerFrame::Hello(hello)) => walk(hello.state),
        Ok(ServerFrame::State(fields)) => walk(fields),
        Ok(ServerFrame::Reply { body, .. }) => {
            assert_eq!(body.len(), msg.len() - frame::REPLY_HEADER);
        }
        Ok(ServerFrame::Event { topic, payload }) => {
            assert_eq!(4 + topic.len() + payload.len(), msg.len());
        }
        Ok(ServerFrame::Items { items, .. }) => walk_items(items),
        Ok(_) | Err(_) => {}
    }
}

/// An item list that parsed holds a first item; its later lengths are checked as they are taken:
/// the items before a fault (each within the list), then at most one error, then nothing.
fn walk_items(items: ItemList<'_>) {
    let list = items.as_bytes();
    let mut taken = 0;
    let mut failed = false;
    for item in items.iter() {
        assert!(!failed, "an item after the list's fault");
        match item {
            Ok(item) => {
                taken += 4 + item.len();
                assert!(taken <= list.len(), "an item past the list's end");
            }
            Err(_) => failed = true,
        }
    }
    assert!(taken > 0, "a parsed list holds an item");
    assert!(failed || taken == list.len(), "items fill the list");
}

/// A field list that parsed must iterate without panicking and yield exactly `len()` fields.
fn walk(fields: FieldList<'_>) {
    let n = fields.iter().count();
    assert_eq!(n, fields.len());
    assert_eq!(fields.is_empty(), n == 0);
}
