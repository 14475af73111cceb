//! Any bytes fed to the decoders give a value or an error, never a panic.
use hardlight::__private::wire::compression::{open, seal};
use hardlight::__private::wire::frame::{
    ClientFrame, ServerFrame, decode_client, decode_server, encode_call, encode_notify,
};
use hardlight::codable;
use hardlight::wire::{Codable, DecodeError};
use hardlight::{HandlerError, Topic};
use proptest::prelude::*;

/// A recursive wire type, as a JSON-like value would be.
#[codable]
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Number(f64),
    Text(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
    Boxed(Box<Json>),
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |n| !n.is_nan())
            .prop_map(Json::Number),
        ".{0,12}".prop_map(Json::Text),
    ];
    leaf.prop_recursive(24, 96, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::List),
            proptest::collection::vec((".{0,6}", inner.clone()), 0..3).prop_map(Json::Object),
            inner.prop_map(|j| Json::Boxed(Box::new(j))),
        ]
    })
}

/// A value nested `levels` deep: each level a one-element list or a box, chosen by `path`.
fn nested(levels: usize, path: u64) -> Json {
    let mut value = Json::Null;
    for level in 0..levels {
        value = if path >> (level % 64) & 1 == 0 {
            Json::List(vec![value])
        } else {
            Json::Boxed(Box::new(value))
        };
    }
    value
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn frame_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_client(&bytes);
        if let Ok(frame) = decode_server(&bytes) {
            // Iterating a validated field list never goes out of bounds.
            match frame {
                ServerFrame::Hello(hello) => { let _ = hello.state.iter().count(); }
                ServerFrame::State(fields) => { let _ = fields.iter().count(); }
                _ => {}
            }
        }
        let _ = open(&bytes, true, 1 << 16);
    }

    #[test]
    fn value_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = String::decode(&bytes);
        let _ = Vec::<u64>::decode(&bytes);
        let _ = Option::<(u32, String)>::decode(&bytes);
        let _ = Topic::decode(&bytes);
        let _ = HandlerError::decode(&bytes);
        let _ = <(u8, u16, u32, u64, bool, f64)>::decode(&bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        value in ".{0,40}",
        numbers in proptest::collection::vec(any::<u32>(), 0..8),
        flip in any::<usize>(),
        bit in 0u8..8,
    ) {
        let mut frame = encode_call(9, 1, &(value.clone(), numbers.clone())).unwrap();
        let at = flip % frame.len();
        frame[at] ^= 1 << bit;
        if let Ok(ClientFrame::Call { args, .. }) = decode_client(&frame) {
            let _ = <(String, Vec<u32>)>::decode(args);
        }
    }

    #[test]
    fn calls_round_trip(call_id in any::<u32>(), method in any::<u16>(), a in any::<u32>(), s in ".{0,64}") {
        let frame = encode_call(call_id, method, &(a, s.clone())).unwrap();
        match decode_client(&frame).unwrap() {
            ClientFrame::Call { call_id: c, method: m, args, budget_ms: None, trace: None, metadata: None } => {
                prop_assert_eq!(c, call_id);
                prop_assert_eq!(m, method);
                prop_assert_eq!(<(u32, String)>::decode(args).unwrap(), (a, s));
            }
            other => prop_assert!(false, "not a CALL: {:?}", other),
        }
    }

    #[test]
    fn notifies_round_trip(method in any::<u16>(), a in any::<u32>(), s in ".{0,64}") {
        let frame = encode_notify(method, &(a, s.clone())).unwrap();
        match decode_client(&frame).unwrap() {
            ClientFrame::Notify { method: m, args } => {
                prop_assert_eq!(m, method);
                prop_assert_eq!(<(u32, String)>::decode(args).unwrap(), (a, s));
            }
            other => prop_assert!(false, "not a NOTIFY: {:?}", other),
        }
    }

    #[test]
    fn compression_round_trips(body in proptest::collection::vec(any::<u8>(), 0..4096), level in 1u8..=9) {
        let mut frame = vec![0x11, 0];
        frame.extend(body);
        let sealed = seal(frame.clone(), Some(level));
        let opened = open(&sealed, true, 1 << 20).unwrap();
        prop_assert_eq!(opened.as_ref(), frame.as_slice());
    }

    /// Any recursive value decodes to itself with a depth bound it fits in, and with a smaller bound
    /// fails as too deep: never as invalid, never a panic; a bound that fits stays fitting above it.
    #[test]
    fn recursive_values_decode_or_are_too_deep(value in json(), max_depth in 1usize..40) {
        let bytes = value.encode().unwrap();
        prop_assert_eq!(Json::decode_within(&bytes, 1 << 20).unwrap(), value.clone());
        match Json::decode_within(&bytes, max_depth) {
            Ok(decoded) => {
                prop_assert_eq!(decoded, value.clone());
                prop_assert!(Json::decode_within(&bytes, max_depth + 1).is_ok());
            }
            Err(e) => prop_assert_eq!(e, DecodeError::TooDeep { max_depth }),
        }
    }

    /// A chain of `levels` lists or boxes is `levels + 1` deep (the root, then one per level).
    #[test]
    fn the_depth_of_a_chain_is_its_levels_and_the_root(levels in 0usize..200, path in any::<u64>()) {
        let value = nested(levels, path);
        let bytes = value.encode().unwrap();
        prop_assert_eq!(Json::decode_within(&bytes, levels + 1).unwrap(), value);
        if levels > 0 {
            prop_assert_eq!(
                Json::decode_within(&bytes, levels),
                Err(DecodeError::TooDeep { max_depth: levels })
            );
        }
    }

    /// Flipped bits in a deep archive give a value, an invalid archive or a depth refusal.
    #[test]
    fn mutated_recursive_archives_never_panic(
        levels in 100usize..3_000,
        path in any::<u64>(),
        flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..4),
    ) {
        let mut bytes = nested_archive(levels, path);
        for (at, bit) in flips {
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
        }
        let _ = Json::decode(&bytes);
        let _ = Json::decode_within(&bytes, 1);
    }
}

/// The archive of [`nested`]; a chain of thousands of levels is built, encoded and dropped on a
/// thread with room for that recursion (the decoder under test needs none of it).
fn nested_archive(levels: usize, path: u64) -> Vec<u8> {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || nested(levels, path).encode().unwrap())
        .unwrap()
        .join()
        .unwrap()
}
