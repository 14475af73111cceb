//! A service whose methods take and return every kind of value docs/PROTOCOL.md §4.3 lays out, for
//! the Python peer (`tests/peers/kinds_peer.py`), which encodes the arguments and decodes the replies
//! with its own code. Each method changes what it receives in a small, checkable way, so that a reply
//! shows the server read every part of it.
//!
//! Not in `common`'s module tree: `python_peer.rs` includes it by path (after `common/wide.rs`, whose
//! macro names the wide enum's variants), so that the other test binaries do not build it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;

use hardlight::*;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Unit;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Pair(pub u8, pub String);

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Empty,
    Circle { radius: f32 },
    Rect(u16, u16),
    Named(String),
}

/// `Option<Box<u32>>` and `Option<NonZeroU32>` in their niched forms (no tag).
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Niched {
    #[rkyv(with = rkyv::with::Niche)]
    pub boxed: Option<Box<u32>>,
    #[rkyv(with = rkyv::with::Niche)]
    pub count: Option<NonZeroU32>,
}

macro_rules! codable_wide_enum {
    ($($variant:ident)*) => {
        /// The widest enum the wire allows: 256 unit variants.
        #[codable]
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Wide {
            $($variant),*
        }

        impl Wide {
            pub const ALL: [Wide; 256] = [$(Wide::$variant),*];
        }
    };
}

with_256_variants!(codable_wide_enum);

/// The keys of the maps the server builds: some short (inline), some out of line.
pub fn key(i: u32) -> String {
    if i.is_multiple_of(3) {
        format!("a longer key {i}")
    } else {
        format!("k{i}")
    }
}

/// What `ints` returns: each of its arguments plus one (wrapping).
pub type Ints = (
    u8,
    i8,
    u16,
    i16,
    u32,
    i32,
    u64,
    i64,
    u128,
    i128,
    usize,
    isize,
);

#[rpc]
pub trait Kinds {
    #[allow(clippy::too_many_arguments)]
    async fn ints(
        &self,
        a: u8,
        b: i8,
        c: u16,
        d: i16,
        e: u32,
        f: i32,
        g: u64,
        h: i64,
        i: u128,
        j: i128,
        k: usize,
        l: isize,
    ) -> HandlerResult<Ints>;
    async fn floats(&self, x: f32, y: f64) -> HandlerResult<(f64, f32)>;
    async fn logic(&self, b: bool, c: char) -> HandlerResult<(char, bool)>;
    async fn structs(&self, unit: Unit, pair: Pair) -> HandlerResult<Pair>;
    async fn scale(&self, shape: Shape, by: u16) -> HandlerResult<Shape>;
    async fn wide(&self, w: Wide) -> HandlerResult<u16>;
    async fn wide_at(&self, index: u8) -> HandlerResult<Wide>;
    async fn echo_option(&self, o: Option<u32>) -> HandlerResult<Option<u32>>;
    async fn niche(&self, o: Option<NonZeroU32>) -> HandlerResult<Option<Box<u32>>>;
    async fn niched(&self, n: Niched) -> HandlerResult<Niched>;
    async fn boxed(&self, b: Box<u32>, s: Box<str>) -> HandlerResult<Box<String>>;
    async fn arr(&self, a: [u16; 3]) -> HandlerResult<u32>;
    async fn reverse(&self, a: [String; 3]) -> HandlerResult<[String; 3]>;
    async fn flip(&self, r: Result<u32, String>) -> HandlerResult<Result<String, u32>>;
    async fn sum_map(&self, m: HashMap<String, u32>) -> HandlerResult<u64>;
    async fn table(&self, n: u32) -> HandlerResult<(Vec<String>, HashMap<String, u32>)>;
    async fn set_sum(&self, s: HashSet<u32>) -> HandlerResult<u64>;
    async fn squares(&self, n: u32) -> HandlerResult<(Vec<u32>, HashSet<u32>)>;
    async fn sorted(&self, s: BTreeSet<u32>) -> HandlerResult<Vec<u32>>;
    async fn btree(&self, n: u32) -> HandlerResult<BTreeMap<u32, String>>;
    async fn entries(&self, m: BTreeMap<u32, String>) -> HandlerResult<Vec<(u32, String)>>;
    async fn shared(&self, a: Arc<String>, b: Arc<String>) -> HandlerResult<bool>;
    async fn share(&self, s: String) -> HandlerResult<(Arc<String>, Arc<String>)>;
}

#[rpc_handler(vis = pub)]
impl Kinds for KindsHandler {
    async fn ints(
        &self,
        a: u8,
        b: i8,
        c: u16,
        d: i16,
        e: u32,
        f: i32,
        g: u64,
        h: i64,
        i: u128,
        j: i128,
        k: usize,
        l: isize,
    ) -> HandlerResult<Ints> {
        Ok((
            a.wrapping_add(1),
            b.wrapping_add(1),
            c.wrapping_add(1),
            d.wrapping_add(1),
            e.wrapping_add(1),
            f.wrapping_add(1),
            g.wrapping_add(1),
            h.wrapping_add(1),
            i.wrapping_add(1),
            j.wrapping_add(1),
            k.wrapping_add(1),
            l.wrapping_add(1),
        ))
    }

    async fn floats(&self, x: f32, y: f64) -> HandlerResult<(f64, f32)> {
        Ok((f64::from(x) + y, -x))
    }

    async fn logic(&self, b: bool, c: char) -> HandlerResult<(char, bool)> {
        Ok((char::from_u32(u32::from(c) + 1).unwrap_or('?'), !b))
    }

    async fn structs(&self, _unit: Unit, pair: Pair) -> HandlerResult<Pair> {
        Ok(Pair(pair.0.wrapping_add(1), pair.1.to_uppercase()))
    }

    async fn scale(&self, shape: Shape, by: u16) -> HandlerResult<Shape> {
        Ok(match shape {
            Shape::Empty => Shape::Empty,
            Shape::Circle { radius } => Shape::Circle {
                radius: radius * f32::from(by),
            },
            Shape::Rect(w, h) => Shape::Rect(w.wrapping_mul(by), h.wrapping_mul(by)),
            Shape::Named(name) => Shape::Named(name.repeat(usize::from(by))),
        })
    }

    async fn wide(&self, w: Wide) -> HandlerResult<u16> {
        let index = Wide::ALL.iter().position(|v| *v == w).ok_or("unknown")?;
        Ok(index as u16)
    }

    async fn wide_at(&self, index: u8) -> HandlerResult<Wide> {
        Ok(Wide::ALL[usize::from(index)])
    }

    async fn echo_option(&self, o: Option<u32>) -> HandlerResult<Option<u32>> {
        Ok(o.map(|v| v.wrapping_add(1)))
    }

    async fn niche(&self, o: Option<NonZeroU32>) -> HandlerResult<Option<Box<u32>>> {
        Ok(o.map(|v| Box::new(v.get())))
    }

    async fn niched(&self, n: Niched) -> HandlerResult<Niched> {
        Ok(Niched {
            boxed: n.count.map(|c| Box::new(c.get())),
            count: n.boxed.and_then(|b| NonZeroU32::new(*b)),
        })
    }

    async fn boxed(&self, b: Box<u32>, s: Box<str>) -> HandlerResult<Box<String>> {
        Ok(Box::new(format!("{s}{b}")))
    }

    async fn arr(&self, a: [u16; 3]) -> HandlerResult<u32> {
        Ok(a.iter().map(|&v| u32::from(v)).sum())
    }

    async fn reverse(&self, mut a: [String; 3]) -> HandlerResult<[String; 3]> {
        a.reverse();
        Ok(a)
    }

    async fn flip(&self, r: Result<u32, String>) -> HandlerResult<Result<String, u32>> {
        Ok(match r {
            Ok(n) => Err(n.wrapping_add(1)),
            Err(s) => Ok(format!("{s}!")),
        })
    }

    async fn sum_map(&self, m: HashMap<String, u32>) -> HandlerResult<u64> {
        Ok(m.values().map(|&v| u64::from(v)).sum::<u64>() + m.len() as u64 * 1000)
    }

    async fn table(&self, n: u32) -> HandlerResult<(Vec<String>, HashMap<String, u32>)> {
        let map: HashMap<String, u32> = (0..n).map(|i| (key(i), i)).collect();
        // The order the map iterates, which is the order the encoder inserts in: the peer inserts
        // in the same order to get the same bytes.
        Ok((map.keys().cloned().collect(), map))
    }

    async fn set_sum(&self, s: HashSet<u32>) -> HandlerResult<u64> {
        Ok(s.iter().map(|&v| u64::from(v)).sum::<u64>() + s.len() as u64 * 1000)
    }

    async fn squares(&self, n: u32) -> HandlerResult<(Vec<u32>, HashSet<u32>)> {
        let set: HashSet<u32> = (0..n).map(|i| i * i).collect();
        Ok((set.iter().copied().collect(), set))
    }

    async fn sorted(&self, s: BTreeSet<u32>) -> HandlerResult<Vec<u32>> {
        Ok(s.into_iter().collect())
    }

    async fn btree(&self, n: u32) -> HandlerResult<BTreeMap<u32, String>> {
        Ok((0..n).map(|i| (i * 7, key(i))).collect())
    }

    async fn entries(&self, m: BTreeMap<u32, String>) -> HandlerResult<Vec<(u32, String)>> {
        Ok(m.into_iter().collect())
    }

    async fn shared(&self, a: Arc<String>, b: Arc<String>) -> HandlerResult<bool> {
        Ok(Arc::ptr_eq(&a, &b))
    }

    async fn share(&self, s: String) -> HandlerResult<(Arc<String>, Arc<String>)> {
        let shared = Arc::new(s);
        Ok((Arc::clone(&shared), shared))
    }
}
