//! Codec micro-benchmarks: hardlight's frames against protobuf (prost) carrying the same fields.
//!
//! Each iteration encodes a frame and decodes it the way a receiver does:
//! - `call`: `encode_call` + `decode_client` + validated decode of the argument tuple, against a
//!   `CallFrame { call_id, method, payload }` message, for 64 B and 1 KiB payloads;
//! - `event`: `encode_event` + `decode_server` + validated decode of the `Tick`, against an
//!   `EventFrame { topic, event: Tick }` message.
//!
//! `cargo bench -p hardlight-benches --bench codec` (about half a minute).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hardlight::__private::wire::frame::{
    ClientFrame, ServerFrame, decode_client, decode_server, encode_call, encode_event,
};
use hardlight::Codable;
use hardlight_benches::measure::payload;
use hardlight_benches::proto;
use hardlight_benches::report::size;
use hardlight_benches::systems::hardlight::{TOPIC, Tick};
use prost::Message;

fn call(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    for len in [64, 1024] {
        let payload = payload(len);
        group.bench_with_input(
            BenchmarkId::new("hardlight", size(len)),
            &payload,
            |b, payload| {
                b.iter(|| {
                    let frame = encode_call(7, 0, &(payload.clone(),))
                        .expect("a byte vector always encodes");
                    let Ok(ClientFrame::Call { args, .. }) = decode_client(black_box(&frame))
                    else {
                        unreachable!("the frame just encoded parses as a CALL");
                    };
                    let (decoded,) =
                        <(Vec<u8>,)>::decode(args).expect("the arguments just encoded validate");
                    decoded
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("prost", size(len)),
            &payload,
            |b, payload| {
                b.iter(|| {
                    let frame = proto::CallFrame {
                        call_id: 7,
                        method: 0,
                        payload: payload.clone(),
                    }
                    .encode_to_vec();
                    proto::CallFrame::decode(black_box(frame.as_slice()))
                        .expect("the message just encoded decodes")
                })
            },
        );
    }
    group.finish();
}

fn event(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    let label = "fan-out".to_owned();
    group.bench_function("hardlight", |b| {
        b.iter(|| {
            let tick = Tick {
                seq: 42,
                label: label.clone(),
            };
            let frame =
                encode_event(TOPIC.as_bytes(), &tick).expect("a short topic and tick encode");
            let ServerFrame::Event { topic, payload } =
                decode_server(black_box(&frame)).expect("the frame just encoded parses")
            else {
                panic!("an EVENT frame decoded as another kind");
            };
            let tick = Tick::decode(payload).expect("the tick just encoded validates");
            (topic.len(), tick)
        })
    });
    group.bench_function("prost", |b| {
        b.iter(|| {
            let frame = proto::EventFrame {
                topic: TOPIC.to_owned(),
                event: Some(proto::Tick {
                    seq: 42,
                    label: label.clone(),
                }),
            }
            .encode_to_vec();
            proto::EventFrame::decode(black_box(frame.as_slice()))
                .expect("the message just encoded decodes")
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // Short windows keep the whole run under a minute; the differences measured are far larger than
    // what longer windows would resolve.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = codec;
    config = config();
    targets = call, event
}
criterion_main!(codec);
