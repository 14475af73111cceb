//! Arbitrary bytes through `Codable::decode` (rkyv, validated) for representative argument types: the
//! bytes a server decodes a call's arguments from, and a client a reply, state field or event from.
//! Decoding untrusted bytes must return `Ok` or `Err`, never panic or read out of bounds, and never
//! recurse past the maximum nesting depth: `Json` is recursive, and the fuzzer runs on libFuzzer's
//! thread, whose stack an unbounded recursion would overflow.

#![no_main]

use hardlight::{Codable, codable};
use libfuzzer_sys::fuzz_target;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
    pub label: String,
    pub tags: Vec<u16>,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Empty,
    Dot(Point),
    Line { from: Point, to: Point },
    Named(Option<String>, Vec<(u8, u64)>),
}

/// A recursive type: what a hostile peer nests tens of thousands of levels deep.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Flag(bool),
    Text(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
    Boxed(Box<Json>),
}

fuzz_target!(|data: &[u8]| {
    check::<Json>(data);
    check::<(u32, Json)>(data);
    if let Err(hardlight::wire::DecodeError::TooDeep { max_depth }) = Json::decode_within(data, 4) {
        assert_eq!(max_depth, 4);
    }
    check::<String>(data);
    check::<Vec<u8>>(data);
    check::<(u32, u32)>(data);
    check::<Option<Vec<String>>>(data);
    check::<Point>(data);
    check::<Shape>(data);
    check::<(String, Point, Option<Shape>)>(data);
});

/// A value that decodes must encode again and decode to itself.
fn check<T: Codable + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(value) = T::decode(data) {
        let bytes = value.encode().expect("a decoded value re-encodes");
        let again = T::decode(&bytes).expect("a re-encoded value decodes");
        assert_eq!(again, value);
    }
}
