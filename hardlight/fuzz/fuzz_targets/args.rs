//! Arbitrary bytes through `Codable::decode` (rkyv, validated) for representative argument types: the
//! bytes a server decodes a call's arguments from, and a client a reply, state field or event from.
//! Decoding untrusted bytes must return `Ok` or `Err`, never panic or read out of bounds.

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

fuzz_target!(|data: &[u8]| {
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
