//! Any bytes fed to the decoders give a value or an error, never a panic.
use hardlight::wire::Codable;
use hardlight::wire::compression::{open, seal};
use hardlight::wire::frame::{
    ClientFrame, ServerFrame, decode_client, decode_server, encode_call, encode_notify,
};
use hardlight::{HandlerError, Topic};
use proptest::prelude::*;

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
            ClientFrame::Call { call_id: c, method: m, args, budget_ms: None } => {
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
}
