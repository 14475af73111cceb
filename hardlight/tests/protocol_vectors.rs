//! Pins `docs/PROTOCOL.md` to the implementation: every test vector in the document is produced byte
//! for byte by the wire module's encoders and decodes back to the value the document describes, every
//! schema text of §3 is the one the macros' description of that service gives (and hashes to the
//! fingerprint the document gives), and its handshake examples and tables say what the code does.
//!
//! A vector is a line `<!-- vector: NAME -->` followed by a fenced `hex` block (lowercase hex digits,
//! whitespace anywhere); a text is `<!-- text: NAME -->` followed by a fenced `text` block.

#[path = "common/wide.rs"]
#[macro_use]
mod wide;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use hardlight::__private::wire::auth::{self, TokenCarrier};
use hardlight::__private::wire::compression::{COMPRESSION_THRESHOLD, open, seal};
use hardlight::__private::wire::frame::{
    ClientFrame, FieldList, FieldListWriter, FrameError, Hello, ItemsWriter, ReplyStatus,
    ServerFrame, decode_client, decode_server, encode_call, encode_call_within, encode_cancel,
    encode_credit, encode_end, encode_event, encode_notify, encode_opened, encode_reply_text,
    item_header, kind, reply_header,
};
use hardlight::__private::wire::handshake::{self, Negotiation, fnv1a64};
use hardlight::wire::Codable;
use hardlight::wire::close;
use hardlight::{HandlerError, Topic};

const PROTOCOL_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"));

/// Every vector the document must hold, and nothing else: each is checked by a test below.
const VECTORS: &[&str] = &[
    "value_primitives",
    "value_string_empty",
    "value_string_inline",
    "value_string_inline_full",
    "value_string_out_of_line",
    "value_vec_u32",
    "value_vec_empty",
    "value_nested_empty_vec",
    "value_vec_string",
    "value_option_none",
    "value_option_some",
    "value_counter_event_incremented",
    "value_counter_event_decremented",
    "value_counter_event_server_sent_test",
    "value_handler_error",
    "value_u8",
    "value_i8",
    "value_u16",
    "value_i16",
    "value_u32",
    "value_i32",
    "value_u64",
    "value_i64",
    "value_u128",
    "value_i128",
    "value_usize",
    "value_isize",
    "value_f32",
    "value_f64",
    "value_bool",
    "value_char",
    "value_unit_struct",
    "value_tuple_struct",
    "value_enum_unit_variant",
    "value_enum_struct_variant",
    "value_enum_tuple_variant",
    "value_enum_string_variant",
    "value_enum_256th_variant",
    "value_box_u32",
    "value_box_str",
    "value_option_box_none",
    "value_option_box_some",
    "value_option_nonzero_none",
    "value_option_nonzero_some",
    "value_niched_none",
    "value_niched_some",
    "value_array_u16",
    "value_array_string",
    "value_result_ok",
    "value_result_err",
    "value_arc_shared",
    "value_hashmap_empty",
    "value_hashmap_one",
    "value_hashmap_three",
    "value_hashset_u32",
    "value_btreemap_empty",
    "value_btreemap_two",
    "value_btreeset_seven",
    "call_increment",
    "call_new_counter",
    "call_increment_deadline",
    "call_increment_traced",
    "call_meta_tenant",
    "cancel_7",
    "reply_cancelled",
    "notify_log",
    "hello_counter",
    "reply_ok_unit",
    "reply_ok_get",
    "reply_handler_error",
    "reply_panicked",
    "reply_unknown_method",
    "state_counter",
    "event_room_u32",
    "event_counter_incremented",
    "reply_ok_long",
    "reply_ok_long_deflate",
    "schema_frame",
    "opened_7",
    "credit_7_256k",
    "item_7_42",
    "reply_stream_end",
    "item_9_5u64",
    "credit_9_64k",
    "end_9",
    "item_11_hi",
    "items_7_42_43",
];

mod common;

use common::counter::{Counter, CounterEvent, DOCUMENTED_FINGERPRINT};

// The example types of §4.4, as `#[codable]` derives them.

#[hardlight::codable]
#[derive(Debug, PartialEq)]
struct Unit;

#[hardlight::codable]
#[derive(Debug, PartialEq)]
struct Pair(u8, String);

#[hardlight::codable]
#[derive(Debug, PartialEq)]
enum Shape {
    Empty,
    Circle { radius: f32 },
    Rect(u16, u16),
    Named(String),
}

/// The niched layouts of `Option<Box<T>>` and `Option<NonZero*>`, which a field asks for.
#[hardlight::codable]
#[derive(Debug, PartialEq)]
struct Niched {
    #[rkyv(with = rkyv::with::Niche)]
    boxed: Option<Box<u32>>,
    #[rkyv(with = rkyv::with::Niche)]
    count: Option<NonZeroU32>,
}

/// A niched unsized box: its `None` is the "no pointer" offset and a zero length.
#[hardlight::codable]
#[derive(Debug, PartialEq)]
struct NichedText {
    #[rkyv(with = rkyv::with::Niche)]
    text: Option<Box<str>>,
}

macro_rules! wide_enum {
    ($($variant:ident)*) => {
        /// The widest enum the wire allows: 256 unit variants, tags `00` to `ff`.
        #[hardlight::codable]
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Wide {
            $($variant),*
        }

        impl Wide {
            const ALL: [Wide; 256] = [$(Wide::$variant),*];
        }
    };
}

with_256_variants!(wide_enum);

// The counter's method and state-field indices (declaration order).
const NEW_COUNTER: u16 = 0;
const INCREMENT: u16 = 1;
const COUNTER_FIELD: u16 = 0;
const TOPIC_FIELD: u16 = 1;

const FOUR_MIB: u32 = 4 << 20;

/// The value of the compressed vector's reply: "hardlight " 60 times, 600 bytes.
fn long_string() -> String {
    "hardlight ".repeat(60)
}

// ---------------------------------------------------------------------------------------------
// Reading the document

struct Document {
    vectors: BTreeMap<String, Vec<u8>>,
    texts: BTreeMap<String, String>,
}

fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| parse_document(PROTOCOL_MD))
}

fn parse_document(markdown: &str) -> Document {
    let mut document = Document {
        vectors: BTreeMap::new(),
        texts: BTreeMap::new(),
    };
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let Some((what, name)) = marker.split_once(": ") else {
            continue;
        };
        let fence = match what {
            "vector" => "```hex",
            "text" => "```text",
            _ => continue,
        };
        let opening = lines.by_ref().find(|l| !l.trim().is_empty());
        assert_eq!(
            opening.map(str::trim),
            Some(fence),
            "the marker `{line}` must be followed by a {fence} block"
        );
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l.trim() == "```" {
                closed = true;
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        assert!(closed, "the block after `{line}` is not closed");
        let duplicate = match what {
            "vector" => document
                .vectors
                .insert(name.to_owned(), parse_hex(name, &body))
                .is_some(),
            _ => document.texts.insert(name.to_owned(), body).is_some(),
        };
        assert!(!duplicate, "`{line}` appears twice in PROTOCOL.md");
    }
    document
}

fn parse_hex(name: &str, text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '0'..='9' | 'a'..='f' => c.to_digit(16).map_or(0, |d| d as u8),
            other => panic!("vector {name}: {other:?} is not a lowercase hex digit"),
        })
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "vector {name}: odd number of hex digits"
    );
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn vector(name: &str) -> &'static [u8] {
    match document().vectors.get(name) {
        Some(bytes) => bytes,
        None => panic!("PROTOCOL.md has no vector `{name}`"),
    }
}

fn text(name: &str) -> &'static str {
    match document().texts.get(name) {
        Some(text) => text,
        None => panic!("PROTOCOL.md has no text `{name}`"),
    }
}

/// Asserts that the encoder's bytes are the document's vector `name`.
#[track_caller]
fn assert_vector(name: &str, encoded: &[u8]) {
    assert_eq!(
        hex(encoded),
        hex(vector(name)),
        "vector {name}: the encoder's bytes (left) differ from PROTOCOL.md (right)"
    );
}

/// Asserts that `value` encodes to vector `name` and that the vector decodes to `value`.
#[track_caller]
fn assert_value<T: Codable + PartialEq + Debug>(name: &str, value: T) {
    assert_vector(name, &value.encode().expect("the value encodes"));
    assert_eq!(
        T::decode(vector(name)).expect("the vector validates"),
        value,
        "vector {name} decodes to another value"
    );
}

fn server_frame(name: &str) -> ServerFrame<'static> {
    decode_server(vector(name)).unwrap_or_else(|e| panic!("vector {name} does not parse: {e}"))
}

/// The call id, status and body of a `REPLY` vector.
fn reply(name: &str) -> (u32, ReplyStatus, &'static [u8]) {
    match server_frame(name) {
        ServerFrame::Reply {
            call_id,
            status,
            body,
        } => (call_id, status, body),
        other => panic!("vector {name} is not a REPLY: {other:?}"),
    }
}

/// The counter's state fields in a field list, in frame order.
fn counter_fields(list: FieldList<'_>) -> (Vec<u16>, Option<u32>, Option<Topic>) {
    let mut indices = Vec::new();
    let (mut counter, mut topic) = (None, None);
    for (index, bytes) in list.iter() {
        indices.push(index);
        match index {
            COUNTER_FIELD => counter = Some(u32::decode(bytes).expect("counter validates")),
            TOPIC_FIELD => topic = Some(Topic::decode(bytes).expect("topic validates")),
            other => panic!("the counter's state has no field {other}"),
        }
    }
    (indices, counter, topic)
}

// ---------------------------------------------------------------------------------------------
// The document

#[test]
fn the_document_holds_exactly_the_pinned_vectors() {
    let found: Vec<&str> = document().vectors.keys().map(String::as_str).collect();
    let mut expected = VECTORS.to_vec();
    expected.sort_unstable();
    assert_eq!(found, expected);
}

// ---------------------------------------------------------------------------------------------
// §3 Schema fingerprint

/// Checks that `text` is the schema text of `S` and that the document gives its fingerprint as
/// `fingerprint_text`.
fn assert_schema<S: ?Sized + hardlight::__private::ServiceSchema>(
    schema_text: &str,
    fingerprint_text: &str,
) {
    let text = text(schema_text);
    assert_eq!(
        hardlight::schema::<S>(),
        text,
        "the schema text `#[rpc]` describes (left) differs from PROTOCOL.md's `{schema_text}` (right)"
    );
    let fingerprint = fnv1a64(text.as_bytes());
    assert_eq!(fingerprint, hardlight::fingerprint::<S>());
    assert_eq!(
        self::text(fingerprint_text).trim(),
        format!("{}{fingerprint:016x}", handshake::SCHEMA_PREFIX)
    );
}

#[test]
fn the_counter_schema_is_the_documented_text_and_fingerprint() {
    assert_schema::<dyn Counter>("counter_schema", "counter_fingerprint");
    assert_eq!(
        hardlight::fingerprint::<dyn Counter>(),
        DOCUMENTED_FINGERPRINT
    );
}

/// The one-way example of §3.5, as `#[rpc]` sees it.
mod logger {
    use hardlight::{HandlerResult, rpc};

    #[rpc]
    pub trait Logger {
        #[oneway]
        async fn log(&self, line: String);
        async fn lines(&self) -> HandlerResult<Vec<String>>;
    }
}

#[test]
fn the_oneway_example_is_the_schema_rpc_writes() {
    assert_schema::<dyn logger::Logger>("logger_schema", "logger_fingerprint");
    assert_eq!(
        <dyn logger::Logger as hardlight::__private::ServiceSchema>::ONEWAY,
        [true, false]
    );
}

/// The example of §3.6: nested, recursive and generic types, as `#[codable]` and `#[rpc]` see them.
mod library {
    use std::collections::HashMap;

    use hardlight::{HandlerResult, Topic, codable, connection_state, rpc};

    /// A recursive type.
    #[codable]
    #[derive(Clone)]
    pub enum Shelf {
        Book { title: String, tags: Vec<String> },
        Nested(Vec<Shelf>),
        Empty,
    }

    /// A generic type, used with two arguments.
    #[codable]
    pub struct Page<T> {
        pub items: Vec<T>,
        pub next: Option<u32>,
    }

    /// A tuple struct and explicit discriminants.
    #[codable]
    pub struct Isbn(pub [u8; 13]);

    #[codable]
    pub enum Format {
        Paper = 1,
        Ebook = 2,
    }

    #[connection_state]
    pub struct Reader {
        pub name: String,
        pub room: Topic,
    }

    #[rpc(state = Reader, events = Shelf)]
    pub trait Library {
        async fn browse(&self, at: Option<u32>) -> HandlerResult<Page<Shelf>>;
        async fn lookup(&self, isbns: Vec<Isbn>) -> HandlerResult<HashMap<String, (Format, u16)>>;
        async fn count(&self) -> Result<Page<u64>, String>;
    }
}

#[test]
fn the_nested_recursive_and_generic_example_is_the_schema_rpc_writes() {
    assert_schema::<dyn library::Library>("library_schema", "library_fingerprint");
}

#[test]
fn fnv_known_answers_in_the_document_are_right() {
    for input in ["", "a"] {
        let line = format!(
            "`fnv1a64(\"{input}\") = {:016x}`",
            fnv1a64(input.as_bytes())
        );
        assert!(PROTOCOL_MD.contains(&line), "PROTOCOL.md lacks {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// §2 Handshake

#[test]
fn handshake_example_offer_is_what_the_client_sends_and_the_server_accepts() {
    let fingerprint = hardlight::fingerprint::<dyn Counter>();
    let offer = handshake::client_offer(fingerprint, Some(6));
    let header = format!("Sec-WebSocket-Protocol: {}", offer.join(", "));
    assert!(
        PROTOCOL_MD.lines().any(|line| line == header),
        "PROTOCOL.md's example request lacks the line {header:?}"
    );
    assert!(PROTOCOL_MD.contains(&format!(
        "Subprotocol token: `{}`",
        handshake::PROTOCOL_TOKEN
    )));
    assert_eq!(
        handshake::negotiate(offer.iter().map(String::as_str), &[fingerprint], true),
        Negotiation::Accept {
            service: 0,
            compression: Some(6)
        }
    );
}

#[test]
fn handshake_refusals_in_the_document_are_the_servers() {
    let fingerprint = hardlight::fingerprint::<dyn Counter>();
    let schema = format!("{}{fingerprint:016x}", handshake::SCHEMA_PREFIX);
    let cases: [(Vec<&str>, &str, u16); 6] = [
        (
            vec!["hardlight.v1", "hardlight.schema.0000000000000001"],
            "hardlight.v1",
            close::SCHEMA_MISMATCH,
        ),
        (
            vec!["hardlight.v2"],
            "hardlight.v2",
            close::UNSUPPORTED_VERSION,
        ),
        (
            vec!["hardlight.v1", "hardlight.schema.6EB0B5D4436741B3"],
            "hardlight.v1",
            close::BAD_HANDSHAKE,
        ),
        (
            vec!["hardlight.v1", &schema, "hardlight.schema.0000000000000001"],
            "hardlight.v1",
            close::BAD_HANDSHAKE,
        ),
        (
            vec!["hardlight.v1", &schema, "hardlight.deflate.0"],
            "hardlight.v1",
            close::BAD_HANDSHAKE,
        ),
        (
            vec![
                "hardlight.v1",
                &schema,
                "hardlight.deflate.1",
                "hardlight.deflate.9",
            ],
            "hardlight.v1",
            close::BAD_HANDSHAKE,
        ),
    ];
    for (offer, expected_selected, expected_code) in cases {
        match handshake::negotiate(offer.iter().copied(), &[fingerprint], true) {
            Negotiation::Refuse {
                selected,
                code,
                reason,
                ..
            } => {
                assert_eq!(
                    (selected.as_str(), code),
                    (expected_selected, expected_code)
                );
                assert!(
                    PROTOCOL_MD.contains(&format!("`{reason}`")),
                    "PROTOCOL.md does not quote the refusal reason `{reason}` for {offer:?}"
                );
            }
            other => panic!("{offer:?} was not refused: {other:?}"),
        }
    }

    match handshake::negotiate(["chat"], &[fingerprint], true) {
        Negotiation::NotHardlight(body) => {
            let quoted = format!("`{}`", body.replace('\n', "\\n"));
            assert!(PROTOCOL_MD.contains(&quoted), "PROTOCOL.md lacks {quoted}");
        }
        other => panic!("a non-hardlight offer was not refused over HTTP: {other:?}"),
    }
}

/// The token of the authentication example.
const AUTH_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";

#[test]
fn auth_example_carries_the_token_in_a_subprotocol_entry_the_server_does_not_select() {
    let fingerprint = hardlight::fingerprint::<dyn Counter>();
    let mut offer = handshake::client_offer(fingerprint, None);
    offer.push(auth::auth_subprotocol(AUTH_TOKEN));
    let header = format!("Sec-WebSocket-Protocol: {}", offer.join(", "));
    let request = text("auth_request");
    assert!(
        request.lines().any(|line| line == header),
        "the auth example request lacks the line {header:?}"
    );
    assert!(TokenCarrier::Subprotocol.check(AUTH_TOKEN).is_ok());
    assert_eq!(
        auth::subprotocol_token(offer.iter().map(String::as_str)),
        Some(AUTH_TOKEN)
    );
    // The auth entry changes nothing in the negotiation: hardlight.v1 is selected.
    assert_eq!(
        handshake::negotiate(offer.iter().map(String::as_str), &[fingerprint], true),
        Negotiation::Accept {
            service: 0,
            compression: None
        }
    );
    let selected = format!("Sec-WebSocket-Protocol: {}", handshake::PROTOCOL_TOKEN);
    assert!(text("auth_accepted").lines().any(|line| line == selected));

    // The other carriers of the same token, as the document writes them.
    assert_eq!(
        auth::bearer_token(&format!("{} {AUTH_TOKEN}", auth::BEARER_SCHEME)),
        Some(AUTH_TOKEN)
    );
    assert!(PROTOCOL_MD.contains(&format!("`Authorization: {} <token>`", auth::BEARER_SCHEME)));
    let query = format!(
        "{}={}",
        auth::TOKEN_QUERY_PARAMETER,
        auth::encode_query_value(AUTH_TOKEN)
    );
    assert!(PROTOCOL_MD.contains(&format!("`GET /rpc?{query} HTTP/1.1`")));
    assert_eq!(
        auth::query_param(&query, "token").as_deref(),
        Some(AUTH_TOKEN)
    );
    assert!(PROTOCOL_MD.contains(&format!("`{}<token>`", auth::AUTH_SUBPROTOCOL_PREFIX)));
}

// ---------------------------------------------------------------------------------------------
// Tables

#[test]
fn tables_give_the_wire_constants() {
    let kinds = [
        (kind::CALL, "CALL"),
        (kind::CANCEL, "CANCEL"),
        (kind::NOTIFY, "NOTIFY"),
        (kind::HELLO, "HELLO"),
        (kind::REPLY, "REPLY"),
        (kind::STATE, "STATE"),
        (kind::EVENT, "EVENT"),
    ];
    for (byte, name) in kinds {
        let row = format!("| `0x{byte:02x}` | `{name}` |");
        assert!(
            PROTOCOL_MD.contains(&row),
            "PROTOCOL.md lacks the row {row}"
        );
    }

    let statuses = [
        (ReplyStatus::Ok, "Ok"),
        (ReplyStatus::HandlerError, "HandlerError"),
        (ReplyStatus::Panicked, "Panicked"),
        (ReplyStatus::UnknownMethod, "UnknownMethod"),
        (ReplyStatus::BadArguments, "BadArguments"),
        (ReplyStatus::Internal, "Internal"),
        (ReplyStatus::TimedOut, "TimedOut"),
        (ReplyStatus::Cancelled, "Cancelled"),
    ];
    for (status, name) in statuses {
        let row = format!("| {} | `{name}` |", status as u8);
        assert!(
            PROTOCOL_MD.contains(&row),
            "PROTOCOL.md lacks the row {row}"
        );
    }

    let codes = [
        (close::NORMAL, "NORMAL"),
        (close::GOING_AWAY, "GOING_AWAY"),
        (close::PROTOCOL_ERROR, "PROTOCOL_ERROR"),
        (close::UNSUPPORTED_DATA, "UNSUPPORTED_DATA"),
        (close::INVALID_PAYLOAD, "INVALID_PAYLOAD"),
        (close::POLICY_VIOLATION, "POLICY_VIOLATION"),
        (close::MESSAGE_TOO_BIG, "MESSAGE_TOO_BIG"),
        (close::INTERNAL_ERROR, "INTERNAL_ERROR"),
        (close::SCHEMA_MISMATCH, "SCHEMA_MISMATCH"),
        (close::UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION"),
        (close::BAD_HANDSHAKE, "BAD_HANDSHAKE"),
        (close::SLOW_CONSUMER, "SLOW_CONSUMER"),
        (close::IDLE_TIMEOUT, "IDLE_TIMEOUT"),
        (close::REPLACED, "REPLACED"),
    ];
    for (code, name) in codes {
        let row = format!("| {code} | `{name}` |");
        assert!(
            PROTOCOL_MD.contains(&row),
            "PROTOCOL.md lacks the row {row}"
        );
    }
    assert!(PROTOCOL_MD.contains(&format!(
        "never for a frame shorter than **{COMPRESSION_THRESHOLD} bytes**"
    )));
}

// ---------------------------------------------------------------------------------------------
// §4 Value encoding

#[test]
fn primitive_values_are_little_endian_without_padding() {
    assert_value("value_primitives", (true, 0x1234u16, -2i32, 1.5f64, 'é'));
}

#[test]
fn strings_of_up_to_8_bytes_are_inline_and_longer_ones_out_of_line() {
    assert_value("value_string_empty", String::new());
    assert_value("value_string_inline", String::from("hi"));
    assert_value("value_string_inline_full", String::from("12345678"));
    assert_value("value_string_out_of_line", String::from("123456789"));
}

#[test]
fn vectors_point_back_at_their_elements() {
    assert_value("value_vec_u32", vec![1u32, 2]);
    assert_value("value_vec_empty", Vec::<u32>::new());
    assert_value("value_nested_empty_vec", (1u32, Vec::<u32>::new()));
    assert_value(
        "value_vec_string",
        vec![String::from("a"), String::from("long enough string")],
    );
}

#[test]
fn options_and_enums_are_a_tag_byte_then_the_variant() {
    assert_value("value_option_none", None::<u32>);
    assert_value("value_option_some", Some(5u32));
    assert_value(
        "value_counter_event_incremented",
        CounterEvent::Incremented { to: 6, from: 5 },
    );
    assert_value(
        "value_counter_event_decremented",
        CounterEvent::Decremented { to: 4, from: 5 },
    );
    assert_value(
        "value_counter_event_server_sent_test",
        CounterEvent::ServerSentTest,
    );
}

#[test]
fn handler_error_is_a_struct_of_one_string() {
    assert_value("value_handler_error", HandlerError::new("counter overflow"));
}

#[test]
fn every_integer_width_is_little_endian() {
    assert_value("value_u8", 0xfeu8);
    assert_value("value_i8", -2i8);
    assert_value("value_u16", 0x1234u16);
    assert_value("value_i16", -300i16);
    assert_value("value_u32", 0xdead_beefu32);
    assert_value("value_i32", -123_456i32);
    assert_value("value_u64", 0x0123_4567_89ab_cdefu64);
    assert_value("value_i64", -2i64);
    assert_value("value_u128", 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10u128);
    assert_value("value_i128", -2i128);
    assert_value("value_usize", 70_000usize);
    assert_value("value_isize", -70_000isize);
}

#[test]
fn usize_beyond_32_bits_loses_its_high_bits() {
    assert_eq!(
        hex(&((1usize << 32) | 5).encode().expect("encodes")),
        "05 00 00 00"
    );
    assert_eq!(
        hex(&(-(1isize << 40) - 1).encode().expect("encodes")),
        "ff ff ff ff"
    );
}

#[test]
fn floats_bools_and_chars_are_their_bits() {
    assert_value("value_f32", 1.5f32);
    assert_value("value_f64", -0.1f64);
    assert_value("value_bool", (false, true));
    assert_value("value_char", '😀');
    assert!(bool::decode(&[2]).is_err());
    assert!(char::decode(&0xd800u32.to_le_bytes()).is_err());
    assert!(char::decode(&0x11_0000u32.to_le_bytes()).is_err());
}

#[test]
fn unit_and_tuple_structs_are_their_fields() {
    assert_value("value_unit_struct", Unit);
    assert_value("value_tuple_struct", Pair(7, String::from("hi")));
}

#[test]
fn enum_variants_are_a_tag_and_the_largest_variants_size() {
    assert_value("value_enum_unit_variant", Shape::Empty);
    assert_value("value_enum_struct_variant", Shape::Circle { radius: 1.5 });
    assert_value("value_enum_tuple_variant", Shape::Rect(3, 4));
    assert_value(
        "value_enum_string_variant",
        Shape::Named(String::from("a longer name")),
    );
    assert!(Shape::decode(&[4, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    assert_value("value_enum_256th_variant", Wide::V255);
    for (tag, variant) in Wide::ALL.into_iter().enumerate() {
        assert_eq!(variant.encode().expect("encodes"), [tag as u8]);
    }
}

#[test]
fn boxes_point_at_their_value() {
    assert_value("value_box_u32", Box::new(7u32));
    assert_value("value_box_str", Box::<str>::from("hi"));
    let slice = Box::<[u16]>::from([1u16, 2]).encode().expect("encodes");
    assert_eq!(hex(&slice), "01 00 02 00 fc ff ff ff 02 00 00 00");
    // A zero-sized value writes nothing: the box points at the write position.
    assert_eq!(hex(&Box::new(()).encode().expect("encodes")), "00 00 00 00");
}

#[test]
fn options_of_boxes_and_nonzero_integers_have_a_tag_unless_a_field_niches_them() {
    assert_value("value_option_box_none", None::<Box<u32>>);
    assert_value("value_option_box_some", Some(Box::new(7u32)));
    assert_value("value_option_nonzero_none", None::<NonZeroU32>);
    assert_value("value_option_nonzero_some", NonZeroU32::new(9));
    assert!(Option::<NonZeroU32>::decode(&[1, 0, 0, 0, 0]).is_err());
    assert_value(
        "value_niched_none",
        Niched {
            boxed: None,
            count: None,
        },
    );
    assert_value(
        "value_niched_some",
        Niched {
            boxed: Some(Box::new(7)),
            count: NonZeroU32::new(9),
        },
    );
    let none = NichedText { text: None }.encode().expect("encodes");
    assert_eq!(hex(&none), "01 00 00 00 00 00 00 00");
    let some = NichedText {
        text: Some(Box::from("hi")),
    };
    assert_eq!(
        hex(&some.encode().expect("encodes")),
        "68 69 fe ff ff ff 02 00 00 00"
    );
}

#[test]
fn arrays_are_their_elements_inline() {
    assert_value("value_array_u16", [1u16, 2, 3]);
    assert_value(
        "value_array_string",
        [String::from("a"), String::from("long enough string")],
    );
}

#[test]
fn results_are_enums_of_two_variants() {
    assert_value("value_result_ok", Ok::<u32, String>(7));
    assert_value("value_result_err", Err::<u32, String>(String::from("oops")));
    assert!(Result::<u32, String>::decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn arcs_to_one_value_share_its_bytes() {
    let seven = Arc::new(7u32);
    assert_value("value_arc_shared", (Arc::clone(&seven), seven));
    let (a, b) = <(Arc<u32>, Arc<u32>)>::decode(vector("value_arc_shared")).expect("validates");
    assert!(Arc::ptr_eq(&a, &b), "one value in the archive is one Arc");
    let apart = (Arc::new(7u32), Arc::new(7u32)).encode().expect("encodes");
    assert_eq!(
        hex(&apart),
        "07 00 00 00 07 00 00 00 f8 ff ff ff f8 ff ff ff"
    );
    // A zero-sized value gets a byte of its own; unsized values carry their length.
    assert_eq!(
        hex(&Arc::new(()).encode().expect("encodes")),
        "00 ff ff ff ff"
    );
    let text = Arc::<str>::from("hi").encode().expect("encodes");
    assert_eq!(hex(&text), "68 69 fe ff ff ff 02 00 00 00");
    // One position read as two types is refused.
    assert!(<(Arc<u32>, Arc<i32>)>::decode(vector("value_arc_shared")).is_err());
}

/// `HashMap::new` gives each map its own random hasher, so each iterates (and rkyv inserts) in its
/// own order: a vector whose keys never compete for a slot encodes the same whatever that order.
fn assert_every_order<T: Codable + PartialEq + Debug>(name: &str, make: impl Fn() -> T) {
    for _ in 0..32 {
        assert_value(name, make());
    }
}

#[test]
fn hash_maps_and_sets_are_swiss_tables() {
    assert_value("value_hashmap_empty", HashMap::<String, u32>::new());
    assert_every_order("value_hashmap_one", || {
        HashMap::from([(String::from("a"), 1u32)])
    });
    assert_every_order("value_hashmap_three", || {
        HashMap::from([
            (String::from("one"), 1u32),
            (String::from("two"), 2),
            (String::from("a key longer than eight"), 3),
        ])
    });
    assert_every_order("value_hashset_u32", || HashSet::from([1u32, 2, 3]));
}

#[test]
fn fx_known_answers_in_the_document_are_rkyvs_hasher() {
    use rkyv::hash::{FxHasher64, hash_value};
    for line in [
        format!("`fx(1u32) = {:016x}`", hash_value::<u32, FxHasher64>(&1)),
        format!("`fx(\"a\") = {:016x}`", hash_value::<str, FxHasher64>("a")),
    ] {
        assert!(PROTOCOL_MD.contains(&line), "PROTOCOL.md lacks {line}");
    }
    // What the vectors' tables were placed by.
    for (key, hash) in [
        ("one", 0x0ba4_e8cd_c93d_4bf8u64),
        ("two", 0x4ff0_e945_ba95_1d2f),
        ("a key longer than eight", 0xf87e_5ba9_04c5_e9fa),
    ] {
        assert_eq!(hash_value::<String, FxHasher64>(&String::from(key)), hash);
        assert!(PROTOCOL_MD.contains(&format!("`{hash:016x}`")));
    }
}

#[test]
fn hash_tables_are_checked_but_never_probed() {
    let one = vector("value_hashmap_one");
    let root = one.len() - 12;
    let control = 24; // after the two 12-byte buckets
    let decoded = |bytes: &[u8]| HashMap::<String, u32>::decode(bytes);
    let expected = HashMap::from([(String::from("a"), 1u32)]);

    // The entry moved from slot 1 to slot 0, with another control byte: not where rkyv puts it,
    // but the receiver reads every full slot and never looks a key up.
    let mut moved = one.to_vec();
    moved.copy_within(0..12, 12);
    moved[..12].fill(0);
    moved[control..control + 4].copy_from_slice(&[0x00, 0xff, 0x00, 0xff]);
    assert_eq!(decoded(&moved), Ok(expected));

    // Refused: a length that is not below the capacity, a length that is not the number of full
    // slots, and a repeated control byte that does not repeat.
    let mut full = one.to_vec();
    full[root + 4] = 2;
    assert!(decoded(&full).is_err());
    let mut miscounted = one.to_vec();
    miscounted[control] = 0x12;
    miscounted[control + 2] = 0x12;
    assert!(decoded(&miscounted).is_err());
    let mut unrepeated = one.to_vec();
    unrepeated[control + 3] = 0xff;
    assert!(decoded(&unrepeated).is_err());

    // A key twice (slot 3's "two" made "one"): the later slot's value wins.
    let mut twice = vector("value_hashmap_three").to_vec();
    twice[23..26].copy_from_slice(b"one");
    assert_eq!(
        decoded(&twice),
        Ok(HashMap::from([
            (String::from("one"), 2),
            (String::from("a key longer than eight"), 3),
        ]))
    );
}

#[test]
fn btree_maps_and_sets_are_b_trees_of_five_entries_a_node() {
    assert_value("value_btreemap_empty", BTreeMap::<u32, String>::new());
    assert_value(
        "value_btreemap_two",
        BTreeMap::from([(1u32, String::from("one")), (2, String::from("two"))]),
    );
    assert_value(
        "value_btreeset_seven",
        (1u32..=7).collect::<BTreeSet<u32>>(),
    );

    let seven = vector("value_btreeset_seven");
    let mut miscounted = seven.to_vec();
    let root = seven.len() - 8;
    miscounted[root + 4] = 6;
    assert!(BTreeSet::<u32>::decode(&miscounted).is_err());
    let mut overfull = seven.to_vec();
    overfull[21] = 6; // the leaf's count
    assert!(BTreeSet::<u32>::decode(&overfull).is_err());

    // Keys out of order are not refused; a key twice keeps its last value.
    let two = vector("value_btreemap_two");
    let mut swapped = two.to_vec();
    swapped[1] = 2;
    swapped[5] = 1;
    assert_eq!(
        BTreeMap::<u32, String>::decode(&swapped),
        Ok(BTreeMap::from([
            (2, String::from("one")),
            (1, String::from("two"))
        ]))
    );
    let mut twice = two.to_vec();
    twice[5] = 1;
    assert_eq!(
        BTreeMap::<u32, String>::decode(&twice),
        Ok(BTreeMap::from([(1, String::from("two"))]))
    );
}

// ---------------------------------------------------------------------------------------------
// §11 Frames

#[test]
fn call_vectors_are_the_counters_calls() {
    assert_vector(
        "call_increment",
        &encode_call(7, INCREMENT, &(1u32,)).expect("the call encodes"),
    );
    let ClientFrame::Call {
        call_id,
        method,
        args,
        budget_ms: None,
        trace: None,
        metadata: None,
    } = decode_client(vector("call_increment")).expect("call_increment parses")
    else {
        panic!("call_increment is not a CALL");
    };
    assert_eq!((call_id, method), (7, INCREMENT));
    assert_eq!(
        <(u32,)>::decode(args).expect("the arguments validate"),
        (1,)
    );

    assert_vector(
        "call_new_counter",
        &encode_call(0, NEW_COUNTER, &()).expect("the call encodes"),
    );
    let ClientFrame::Call {
        call_id,
        method,
        args,
        budget_ms: None,
        trace: None,
        metadata: None,
    } = decode_client(vector("call_new_counter")).expect("call_new_counter parses")
    else {
        panic!("call_new_counter is not a CALL");
    };
    assert_eq!((call_id, method, args), (0, NEW_COUNTER, &[][..]));
    <()>::decode(args).expect("the empty argument tuple validates");
}

#[test]
fn deadline_and_cancel_vectors_are_what_the_client_sends() {
    assert_vector(
        "call_increment_deadline",
        &encode_call_within(7, INCREMENT, Some(1000), None, &(1u32,)).expect("the call encodes"),
    );
    let ClientFrame::Call {
        call_id,
        method,
        args,
        budget_ms,
        trace: None,
        metadata: None,
    } = decode_client(vector("call_increment_deadline")).expect("the vector parses")
    else {
        panic!("call_increment_deadline is not a CALL");
    };
    assert_eq!((call_id, method, budget_ms), (7, INCREMENT, Some(1000)));
    assert_eq!(
        <(u32,)>::decode(args).expect("the arguments validate"),
        (1,)
    );

    let traced =
        hardlight::TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("the example traceparent");
    assert_vector(
        "call_increment_traced",
        &encode_call_within(7, INCREMENT, Some(1000), Some(&traced), &(1u32,))
            .expect("the call encodes"),
    );
    let Ok(ClientFrame::Call {
        call_id: 7,
        budget_ms: Some(1000),
        trace: Some(trace),
        args,
        ..
    }) = decode_client(vector("call_increment_traced"))
    else {
        panic!("call_increment_traced is not a traced CALL");
    };
    assert_eq!(trace, traced);
    assert_eq!(
        <(u32,)>::decode(args).expect("the arguments validate"),
        (1,)
    );
    // The trace flag is for CALL (and HELLO) only; an all-zero context is ignored.
    assert!(decode_client(&[0x02, 0x04, 0x07, 0x00, 0x00, 0x00]).is_err());
    let mut zeros = vector("call_increment_traced").to_vec();
    zeros[12..37].fill(0);
    assert!(matches!(
        decode_client(&zeros),
        Ok(ClientFrame::Call { trace: None, .. })
    ));

    let tenant = hardlight::Metadata::new().with("tenant", "acme").unwrap();
    let extensions = hardlight::__private::wire::frame::CallExtensions {
        metadata: Some(&tenant),
        ..Default::default()
    };
    assert_vector(
        "call_meta_tenant",
        &hardlight::__private::wire::frame::encode_call_with(7, INCREMENT, &extensions, &(1u32,))
            .expect("the call encodes"),
    );
    let Ok(ClientFrame::Call {
        call_id: 7,
        metadata: Some(metadata),
        args,
        ..
    }) = decode_client(vector("call_meta_tenant"))
    else {
        panic!("call_meta_tenant is not a CALL with metadata");
    };
    assert_eq!(metadata, tenant);
    assert_eq!(
        <(u32,)>::decode(args).expect("the arguments validate"),
        (1,)
    );
    // Metadata that runs past its length, or is not UTF-8, is a violation.
    let mut short = vector("call_meta_tenant").to_vec();
    short[8] = 14;
    short.truncate(23);
    assert!(decode_client(&short).is_err());
    let mut not_utf8 = vector("call_meta_tenant").to_vec();
    not_utf8[11] = 0xff;
    assert!(decode_client(&not_utf8).is_err());

    assert_vector("cancel_7", &encode_cancel(7));
    assert!(matches!(
        decode_client(vector("cancel_7")),
        Ok(ClientFrame::Cancel { call_id: 7 })
    ));
    // One byte more is not a CANCEL.
    let mut long = vector("cancel_7").to_vec();
    long.push(0);
    assert!(decode_client(&long).is_err());

    let message = "cancelled by the client";
    assert_vector(
        "reply_cancelled",
        &encode_reply_text(7, ReplyStatus::Cancelled, message),
    );
    let (call_id, status, body) = reply("reply_cancelled");
    assert_eq!((call_id, status), (7, ReplyStatus::Cancelled));
    assert_eq!(std::str::from_utf8(body), Ok(message));
}

#[test]
fn streamed_argument_vectors_are_its_frames() {
    assert_vector(
        "item_9_5u64",
        &5u64
            .encode_into(item_header(9, 8))
            .expect("the item encodes"),
    );
    let Ok(ClientFrame::Item { call_id, item }) = decode_client(vector("item_9_5u64")) else {
        panic!("item_9_5u64 is not a client's ITEM");
    };
    assert_eq!((call_id, u64::decode(item).expect("validates")), (9, 5));

    assert_vector("credit_9_64k", &encode_credit(9, 64 * 1024));
    assert_eq!(
        decode_server(vector("credit_9_64k")).expect("credit_9_64k parses"),
        ServerFrame::Credit {
            call_id: 9,
            bytes: 65_536
        }
    );

    assert_vector("end_9", &encode_end(9));
    assert_eq!(
        decode_client(vector("end_9")).expect("end_9 parses"),
        ClientFrame::End { call_id: 9 }
    );
    let mut long = vector("end_9").to_vec();
    long.push(0);
    assert!(decode_client(&long).is_err(), "END is exactly 6 bytes");
    assert!(
        decode_client(&vector("end_9")[..5]).is_err(),
        "END is exactly 6 bytes"
    );
}

#[test]
fn streaming_vectors_are_a_streams_frames() {
    assert_vector("opened_7", &encode_opened(7));
    assert_eq!(
        decode_server(vector("opened_7")).expect("opened_7 parses"),
        ServerFrame::Opened { call_id: 7 }
    );
    let mut long = vector("opened_7").to_vec();
    long.push(0);
    assert!(decode_server(&long).is_err(), "OPENED is exactly 6 bytes");

    assert_vector("credit_7_256k", &encode_credit(7, 256 * 1024));
    assert!(matches!(
        decode_client(vector("credit_7_256k")),
        Ok(ClientFrame::Credit {
            call_id: 7,
            bytes: 262_144
        })
    ));
    let credit = vector("credit_7_256k");
    let mut long = credit.to_vec();
    long.push(0);
    assert!(decode_client(&long).is_err(), "CREDIT is exactly 10 bytes");
    assert!(
        decode_client(&credit[..9]).is_err(),
        "CREDIT is exactly 10 bytes"
    );
    let mut deadline = credit.to_vec();
    deadline[1] = 0x02;
    assert!(decode_client(&deadline).is_err(), "CREDIT has no deadline");

    assert_vector(
        "item_7_42",
        &42u32
            .encode_into(item_header(7, 4))
            .expect("the item encodes"),
    );
    let ServerFrame::Item { call_id, item } = decode_server(vector("item_7_42")).expect("parses")
    else {
        panic!("item_7_42 is not an ITEM");
    };
    assert_eq!((call_id, u32::decode(item).expect("validates")), (7, 42));

    assert_vector(
        "reply_stream_end",
        &().encode_into(reply_header(7, ReplyStatus::Ok, 0))
            .expect("the end encodes"),
    );
    let (call_id, status, body) = reply("reply_stream_end");
    assert_eq!((call_id, status), (7, ReplyStatus::Ok));
    <()>::decode(body).expect("the body is the archive of ()");
}

#[test]
fn items_vector_is_two_items_in_one_frame() {
    let item = |value: u32| {
        value
            .encode_into(item_header(7, 4))
            .expect("the item encodes")
    };
    let mut writer = ItemsWriter::starting_with(7, &item(42), 0);
    writer.push_item_frame(&item(43));
    assert_vector("items_7_42_43", &writer.finish());
    let Ok(ServerFrame::Items { call_id, items }) = decode_server(vector("items_7_42_43")) else {
        panic!("items_7_42_43 is not an ITEMS");
    };
    let values: Vec<u32> = items
        .iter()
        .map(|item| u32::decode(item.expect("well formed")).expect("validates"))
        .collect();
    assert_eq!((call_id, values), (7, vec![42, 43]));
    // No item is not an ITEMS, nor a first item cut short.
    let frame = vector("items_7_42_43");
    assert!(
        decode_server(&frame[..6]).is_err(),
        "an ITEMS holds an item"
    );
    assert!(decode_server(&frame[..8]).is_err(), "a length is 4 bytes");
    assert!(decode_server(&frame[..13]).is_err(), "the first item fits");
    // A later length past the end is found as that item is taken, after the items before it.
    let Ok(ServerFrame::Items { items, .. }) = decode_server(&frame[..frame.len() - 1]) else {
        panic!("the first item is whole");
    };
    let mut taken = items.iter();
    assert_eq!(taken.next(), Some(Ok(&frame[10..14])));
    assert!(
        matches!(taken.next(), Some(Err(_))),
        "lengths fill the frame"
    );
    assert_eq!(taken.next(), None);
}

/// The server builds an `ITEMS` frame from archives encoded on their own, and takes the last item
/// back out as an `ITEM` frame when it overflows the batch: the same bytes either way.
#[test]
fn an_items_frame_built_from_archives_is_the_vector() {
    let item = |value: u32| {
        value
            .encode_into(item_header(7, 4))
            .expect("the item encodes")
    };
    let mut writer = ItemsWriter::starting_with(7, &item(42), 0);
    assert_eq!(writer.pop_item_frame(7), None, "a frame keeps one item");
    writer.push_archive(&43u32.encode().expect("the archive encodes"));
    writer.push_archive(&44u32.encode().expect("the archive encodes"));
    assert_eq!(writer.count(), 3);
    assert_eq!(writer.pop_item_frame(7), Some(item(44)));
    assert_eq!(writer.count(), 2);
    assert_eq!(writer.finish(), vector("items_7_42_43"));
}

#[test]
fn byte_stream_vector_is_a_chunk() {
    assert_vector(
        "item_11_hi",
        &b"hi"
            .to_vec()
            .encode_into(item_header(11, 12))
            .expect("the chunk encodes"),
    );
    for decoded in [
        decode_server(vector("item_11_hi")).map(|frame| match frame {
            ServerFrame::Item { call_id, item } => (call_id, item),
            other => panic!("item_11_hi is not an ITEM: {other:?}"),
        }),
        decode_client(vector("item_11_hi")).map(|frame| match frame {
            ClientFrame::Item { call_id, item } => (call_id, item),
            other => panic!("item_11_hi is not an ITEM: {other:?}"),
        }),
    ] {
        let (call_id, item) = decoded.expect("item_11_hi parses");
        assert_eq!(call_id, 11);
        assert_eq!(<Vec<u8>>::decode(item).expect("validates"), b"hi");
    }
}

#[test]
fn notify_vector_is_the_loggers_oneway_message() {
    assert_vector(
        "notify_log",
        &encode_notify(0, &(String::from("hello"),)).expect("the message encodes"),
    );
    let ClientFrame::Notify { method, args } =
        decode_client(vector("notify_log")).expect("notify_log parses")
    else {
        panic!("notify_log is not a NOTIFY");
    };
    assert_eq!(method, 0);
    assert_eq!(
        <(String,)>::decode(args).expect("the arguments validate"),
        (String::from("hello"),)
    );

    // The header is 4 bytes: a method without arguments sends exactly those.
    assert_eq!(
        decode_client(&[0x03, 0x00, 0x01, 0x00]),
        Ok(ClientFrame::Notify {
            method: 1,
            args: &[]
        })
    );
    assert!(matches!(
        decode_client(&[0x03, 0x00, 0x01]),
        Err(FrameError::Truncated { needed: 4, got: 3 })
    ));
    // The deadline flag is for CALL only.
    assert_eq!(
        decode_client(&[0x03, 0x02, 0x01, 0x00]),
        Err(FrameError::UnknownFlags(0x02))
    );
}

#[test]
fn hello_vector_is_the_counters_default_state_with_default_limits() {
    let mut hello = FieldListWriter::hello(256, FOUR_MIB, 0);
    hello
        .push(COUNTER_FIELD, |out| 0u32.encode_into(out))
        .expect("counter encodes");
    hello
        .push(TOPIC_FIELD, |out| Topic::default().encode_into(out))
        .expect("topic encodes");
    assert_vector("hello_counter", &hello.finish());

    let ServerFrame::Hello(Hello {
        max_calls,
        max_message_size,
        compression,
        state,
        trace: false,
        metadata: false,
    }) = server_frame("hello_counter")
    else {
        panic!("hello_counter is not a HELLO");
    };
    assert_eq!(
        (max_calls, max_message_size, compression),
        (256, FOUR_MIB, 0)
    );
    assert_eq!(
        counter_fields(state),
        (
            vec![COUNTER_FIELD, TOPIC_FIELD],
            Some(0),
            Some(Topic::default())
        )
    );
}

#[test]
fn reply_vectors_carry_archives_for_ok_and_handler_errors() {
    assert_vector(
        "reply_ok_unit",
        &().encode_into(reply_header(7, ReplyStatus::Ok, 0))
            .expect("() encodes"),
    );
    let (call_id, status, body) = reply("reply_ok_unit");
    assert_eq!((call_id, status, body), (7, ReplyStatus::Ok, &[][..]));
    <()>::decode(body).expect("the empty body validates as ()");

    assert_vector(
        "reply_ok_get",
        &42u32
            .encode_into(reply_header(9, ReplyStatus::Ok, 4))
            .expect("u32 encodes"),
    );
    let (call_id, status, body) = reply("reply_ok_get");
    assert_eq!((call_id, status), (9, ReplyStatus::Ok));
    assert_eq!(u32::decode(body).expect("the body validates"), 42);

    let error = HandlerError::new("counter overflow");
    assert_vector(
        "reply_handler_error",
        &error
            .encode_into(reply_header(10, ReplyStatus::HandlerError, 24))
            .expect("HandlerError encodes"),
    );
    let (call_id, status, body) = reply("reply_handler_error");
    assert_eq!((call_id, status), (10, ReplyStatus::HandlerError));
    assert_eq!(
        HandlerError::decode(body).expect("the body validates"),
        error
    );
}

#[test]
fn reply_vectors_carry_text_for_failures() {
    let cases = [
        (
            "reply_panicked",
            8,
            ReplyStatus::Panicked,
            "attempt to subtract with overflow",
        ),
        (
            "reply_unknown_method",
            11,
            ReplyStatus::UnknownMethod,
            "no method with index 4",
        ),
    ];
    for (name, id, expected_status, message) in cases {
        assert_vector(name, &encode_reply_text(id, expected_status, message));
        let (call_id, status, body) = reply(name);
        assert_eq!((call_id, status), (id, expected_status));
        assert_eq!(std::str::from_utf8(body), Ok(message));
    }
}

#[test]
fn state_vector_carries_the_changed_fields() {
    let mut state = FieldListWriter::state();
    state
        .push(COUNTER_FIELD, |out| 5u32.encode_into(out))
        .expect("counter encodes");
    state
        .push(TOPIC_FIELD, |out| {
            Topic::from(vec![1, 2, 3]).encode_into(out)
        })
        .expect("topic encodes");
    assert_vector("state_counter", &state.finish());

    let ServerFrame::State(fields) = server_frame("state_counter") else {
        panic!("state_counter is not a STATE");
    };
    assert_eq!(
        counter_fields(fields),
        (
            vec![COUNTER_FIELD, TOPIC_FIELD],
            Some(5),
            Some(Topic::from(vec![1, 2, 3]))
        )
    );
}

#[test]
fn event_vectors_carry_topic_and_payload() {
    assert_vector(
        "event_room_u32",
        &encode_event(b"room", &42u32).expect("the event encodes"),
    );
    let ServerFrame::Event { topic, payload } = server_frame("event_room_u32") else {
        panic!("event_room_u32 is not an EVENT");
    };
    assert_eq!(topic, b"room");
    assert_eq!(u32::decode(payload).expect("the payload validates"), 42);

    let topic = Topic::from("counter-0123456789abcdef");
    let event = CounterEvent::Incremented { to: 6, from: 5 };
    assert_vector(
        "event_counter_incremented",
        &encode_event(topic.as_bytes(), &event).expect("the event encodes"),
    );
    let ServerFrame::Event {
        topic: received,
        payload,
    } = server_frame("event_counter_incremented")
    else {
        panic!("event_counter_incremented is not an EVENT");
    };
    assert_eq!(Topic::from(received), topic);
    assert_eq!(
        CounterEvent::decode(payload).expect("the payload validates"),
        event
    );
}

#[test]
fn compressed_vector_is_the_long_reply_deflated_at_level_6() {
    let plain = long_string()
        .encode_into(reply_header(12, ReplyStatus::Ok, 608))
        .expect("the string encodes");
    assert_vector("reply_ok_long", &plain);
    assert!(plain.len() >= COMPRESSION_THRESHOLD);
    let (call_id, status, body) = reply("reply_ok_long");
    assert_eq!((call_id, status), (12, ReplyStatus::Ok));
    assert_eq!(
        String::decode(body).expect("the body validates"),
        long_string()
    );

    // flate2 is deterministic for the version the lock file pins.
    assert_vector("reply_ok_long_deflate", &seal(plain, Some(6)));

    let compressed = vector("reply_ok_long_deflate");
    let opened = open(compressed, true, FOUR_MIB as usize).expect("the vector inflates");
    assert_eq!(hex(&opened), hex(vector("reply_ok_long")));
    assert_eq!(
        open(compressed, false, FOUR_MIB as usize),
        Err(FrameError::CompressionNotNegotiated)
    );
    assert_eq!(
        decode_server(compressed),
        Err(FrameError::CompressionNotNegotiated),
        "a compressed frame must be inflated before it is parsed"
    );
    assert_eq!(
        open(compressed, true, vector("reply_ok_long").len() - 1),
        Err(FrameError::InflatedTooLarge {
            limit: vector("reply_ok_long").len() - 1
        }),
        "the limit counts the inflated frame, prefix included"
    );
}

#[test]
fn frames_under_the_threshold_are_never_compressed() {
    for name in VECTORS.iter().filter(|name| !name.starts_with("value_")) {
        let frame = vector(name);
        if frame.len() < COMPRESSION_THRESHOLD {
            assert_eq!(
                seal(frame.to_vec(), Some(9)),
                frame,
                "{name} was compressed"
            );
        }
        if *name != "reply_ok_long_deflate" {
            // The compression flag is bit 0; a deadline (bit 1) is not compression.
            assert_eq!(frame[1] & 1, 0, "{name}: uncompressed frames lack the flag");
            assert_eq!(open(frame, true, FOUR_MIB as usize).as_deref(), Ok(frame));
        }
    }
}

#[test]
fn the_cancel_example_is_what_the_client_sends() {
    assert!(PROTOCOL_MD.contains("Example: `02 00 07 00 00 00` cancels call 7."));
    assert_eq!(
        hardlight::__private::wire::frame::encode_cancel(7),
        [0x02, 0x00, 0x07, 0x00, 0x00, 0x00]
    );
    assert_eq!(
        decode_client(&[0x02, 0x00, 0x07, 0x00, 0x00, 0x00]),
        Ok(ClientFrame::Cancel { call_id: 7 })
    );
}

#[test]
fn the_deadline_example_is_what_the_client_sends() {
    assert!(PROTOCOL_MD.contains(
        "Example: `01 02 07 00 00 00 02 00 e8 03 00 00`\ncalls method 2 as call 7 with one second"
    ));
    let frame =
        hardlight::__private::wire::frame::encode_call_within(7, 2, Some(1000), None, &()).unwrap();
    assert_eq!(
        frame,
        [
            0x01, 0x02, 0x07, 0x00, 0x00, 0x00, 0x02, 0x00, 0xe8, 0x03, 0x00, 0x00
        ]
    );
    assert_eq!(
        decode_client(&frame),
        Ok(ClientFrame::Call {
            call_id: 7,
            method: 2,
            args: &[],
            budget_ms: Some(1000),
            trace: None,
            metadata: None,
        })
    );
    // The deadline flag is for CALL only.
    assert!(decode_client(&[0x02, 0x02, 0x07, 0x00, 0x00, 0x00]).is_err());
}

#[test]
fn schema_frame_vector_is_what_the_server_sends() {
    let frame = hardlight::__private::wire::frame::encode_schema(["service A\n"]).unwrap();
    assert_vector("schema_frame", &frame);
    match decode_server(vector("schema_frame")).expect("a server frame") {
        ServerFrame::Schema(archive) => {
            assert_eq!(<Vec<String>>::decode(archive).unwrap(), ["service A\n"]);
        }
        other => panic!("expected SCHEMA, got {other:?}"),
    }
}
