//! The schema fingerprint covers the structure of every type a service uses, not how the source
//! spells it: each change that would make peers misread each other's bytes changes it, and nothing
//! else does. Each module below is one build of the same service (`Map`, with `Point` and `Marker`),
//! differing from `base` in one way.

#![allow(dead_code)] // Each module is a service that is only described, never served.

macro_rules! map_service {
    ($point:item $marker:item $topic:ty) => {
        use hardlight::{HandlerResult, codable, rpc};

        #[codable]
        #[derive(Clone)]
        $point

        #[codable]
        #[derive(Clone)]
        $marker

        #[rpc(events = Marker)]
        pub trait Map {
            async fn place(&self, at: Point, room: $topic) -> HandlerResult<Vec<Marker>>;
        }
    };
}

mod base {
    map_service! {
        pub struct Point { pub x: u32, pub y: u32 }
        pub enum Marker { Flag(Point), Label { at: Point, text: String } }
        hardlight::Topic
    }
}

/// `x` and `y` swapped: the bytes of one build are the other's with the values exchanged.
mod swapped_fields {
    map_service! {
        pub struct Point { pub y: u32, pub x: u32 }
        pub enum Marker { Flag(Point), Label { at: Point, text: String } }
        hardlight::Topic
    }
}

mod renamed_field {
    map_service! {
        pub struct Point { pub x: u32, pub z: u32 }
        pub enum Marker { Flag(Point), Label { at: Point, text: String } }
        hardlight::Topic
    }
}

mod wider_field {
    map_service! {
        pub struct Point { pub x: u64, pub y: u32 }
        pub enum Marker { Flag(Point), Label { at: Point, text: String } }
        hardlight::Topic
    }
}

mod added_variant {
    map_service! {
        pub struct Point { pub x: u32, pub y: u32 }
        pub enum Marker { Flag(Point), Label { at: Point, text: String }, Reset }
        hardlight::Topic
    }
}

mod reordered_variants {
    map_service! {
        pub struct Point { pub x: u32, pub y: u32 }
        pub enum Marker { Label { at: Point, text: String }, Flag(Point) }
        hardlight::Topic
    }
}

/// The same structure, spelled differently: `Topic` imported rather than by path, `u32` through an
/// alias, `String` through an alias.
mod respelled {
    use hardlight::Topic;

    type Coordinate = u32;
    type Text = std::string::String;

    map_service! {
        pub struct Point { pub x: Coordinate, pub y: u32 }
        pub enum Marker { Flag(Point), Label { at: Point, text: Text } }
        Topic
    }
}

/// The same service, written by hand: other argument names, doc comments, the types taken from
/// another module (`base`), `Topic` by another path.
mod renamed_arguments {
    use hardlight::{HandlerResult, rpc};

    use super::base::{Marker, Point};

    /// A map of markers.
    #[rpc(events = Marker)]
    pub trait Map {
        /// Places a marker at `position` in `channel`.
        async fn place(
            &self,
            position: Point,
            channel: ::hardlight::topic::Topic,
        ) -> HandlerResult<Vec<Marker>>;
    }
}

/// A recursive type, and one type of the same name from another module.
mod recursive {
    use hardlight::{HandlerResult, codable, rpc};

    pub mod other {
        #[hardlight::codable]
        pub struct Node(pub u8);
    }

    #[codable]
    #[derive(Clone)]
    pub enum Node {
        Leaf(u32),
        Branch(Vec<Node>, Option<Box<Node>>),
    }

    #[rpc(events = Node)]
    pub trait Tree {
        async fn graft(&self, node: Node, tag: other::Node) -> HandlerResult<Node>;
    }
}

use hardlight::fingerprint;

#[test]
fn every_structural_change_changes_the_fingerprint() {
    let base = fingerprint::<dyn base::Map>();
    let changed = [
        ("fields swapped", fingerprint::<dyn swapped_fields::Map>()),
        ("field renamed", fingerprint::<dyn renamed_field::Map>()),
        ("field type changed", fingerprint::<dyn wider_field::Map>()),
        ("variant added", fingerprint::<dyn added_variant::Map>()),
        (
            "variants reordered",
            fingerprint::<dyn reordered_variants::Map>(),
        ),
    ];
    for (change, fingerprint) in changed {
        assert_ne!(
            fingerprint, base,
            "{change}: the fingerprint did not change"
        );
    }
    let mut all: Vec<u64> = changed.iter().map(|(_, fp)| *fp).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        changed.len(),
        "each change gives its own fingerprint"
    );
}

#[test]
fn paths_and_aliases_do_not_change_the_fingerprint() {
    assert_eq!(
        hardlight::schema::<dyn respelled::Map>(),
        hardlight::schema::<dyn base::Map>()
    );
    assert_eq!(
        fingerprint::<dyn respelled::Map>(),
        fingerprint::<dyn base::Map>()
    );
}

#[test]
fn argument_names_docs_and_modules_do_not_change_the_fingerprint() {
    assert_eq!(
        fingerprint::<dyn renamed_arguments::Map>(),
        fingerprint::<dyn base::Map>()
    );
}

#[test]
fn the_text_names_what_changed() {
    let text = hardlight::schema::<dyn swapped_fields::Map>();
    assert!(
        text.contains("\ntype Point = struct { y: u32, x: u32 }\n"),
        "{text}"
    );
    let text = hardlight::schema::<dyn added_variant::Map>();
    assert!(
        text.contains(
            "\ntype Marker = enum { Flag(Point), Label { at: Point, text: String }, Reset }\n"
        ),
        "{text}"
    );
}

#[test]
fn recursive_types_terminate_and_same_names_are_told_apart() {
    assert_eq!(
        hardlight::schema::<dyn recursive::Tree>(),
        "service Tree\n\
         events Node\n\
         fn graft(Node,Node#2) -> Result<Node,HandlerError>\n\
         type Node = enum { Leaf(u32), Branch(Vec<Node>, Option<Box<Node>>) }\n\
         type Node#2 = struct(u8)\n\
         type HandlerError = struct { message: String }\n"
    );
}
