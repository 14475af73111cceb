//! What a value looks like on the wire, as text: every type that crosses a connection describes its
//! structure ([`Shape`]), and a service's schema text (`docs/PROTOCOL.md` §3) is built from those
//! descriptions, so that two peers whose types differ in structure refuse each other at the
//! handshake instead of misreading each other's bytes.
//!
//! A type is written in one of two ways:
//!
//! - **by reference**, where it is used: `u32`, `String`, `Vec<u32>`, `Option<Box<Tree>>`, `(u8,bool)`,
//!   `[u16;3]`, `Result<u32,HandlerError>`, `CounterEvent`, `Page<u32>`. Built-in types are written
//!   by their Rust name (a path is never written: `hardlight::Topic` is `Topic`), with their type
//!   arguments; a type alias is the type it names.
//! - **by definition**, once per named (`#[codable]`) type, in a `type` line:
//!   `type CounterEvent = enum { Incremented { to: u32, from: u32 }, ServerSentTest }`. Field names,
//!   their order, their types, variant names, their order and explicit discriminants are all in it.
//!
//! A named type met a second time, including inside its own definition (a recursive type), is
//! written by reference only, so describing terminates. Two different types with the same name (in
//! different modules) are told apart by a suffix: the second one met is `Name#2`.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;
use std::rc::Rc;
use std::sync::Arc;

/// Writes a type by reference into `out`, defining the named types it uses in `shapes`.
pub type ShapeFn = fn(&mut Shapes, &mut String);

/// A type whose wire structure can be described: every type a service sends or receives.
///
/// Implemented by `#[codable]` for the types it derives, and here for the built-in types hardlight
/// can send. The description is part of the service's schema fingerprint (`docs/PROTOCOL.md` §3).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot describe its wire structure, which the service's schema fingerprint needs",
    note = "add `#[hardlight::codable]` to the type's definition (a type deriving rkyv's traits directly is not enough)"
)]
pub trait Shape: 'static {
    /// Writes how this type is referred to into `out`, and adds the definitions of the named types
    /// it uses (itself included, for a named type) to `shapes`.
    fn write_shape(shapes: &mut Shapes, out: &mut String);
}

/// The named types met while describing a service, each with its definition, in the order they were
/// first met.
#[derive(Debug, Default)]
pub struct Shapes {
    /// `(name, definition)`, in the order first met. The definition is empty while it is written.
    named: Vec<(String, String)>,
    index: HashMap<TypeId, usize>,
    taken: HashSet<String>,
}

/// A generic argument of a named type: a type, or the value of a const parameter.
#[derive(Clone, Copy)]
pub enum TypeArg<'a> {
    /// A type parameter's argument.
    Type(ShapeFn),
    /// A const parameter's value, as Rust writes it (`4`, `true`, `'x'`).
    Const(&'a dyn std::fmt::Display),
}

/// The definition of a named type.
#[derive(Clone, Copy)]
pub enum Definition<'a> {
    /// A struct and its fields.
    Struct(Fields<'a>),
    /// An enum and its variants, in declaration order.
    Enum(&'a [Variant<'a>]),
}

/// The fields of a struct or of an enum's variant.
#[derive(Clone, Copy)]
pub enum Fields<'a> {
    /// `{ a: A, b: B }`.
    Named(&'a [(&'a str, ShapeFn)]),
    /// `(A, B)`.
    Unnamed(&'a [ShapeFn]),
    /// No fields.
    Unit,
}

/// One variant of an enum.
#[derive(Clone, Copy)]
pub struct Variant<'a> {
    /// The variant's name.
    pub name: &'a str,
    /// Its explicit discriminant, as written without whitespace (`5`, `-1`), if it has one.
    pub discriminant: Option<&'a str>,
    /// Its fields.
    pub fields: Fields<'a>,
}

impl Shapes {
    /// No type met yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes type `T` by reference into `out`.
    pub fn write<T: Shape + ?Sized>(&mut self, out: &mut String) {
        T::write_shape(self, out);
    }

    /// The reference text of type `T`.
    pub fn reference<T: Shape + ?Sized>(&mut self) -> String {
        let mut out = String::new();
        T::write_shape(self, &mut out);
        out
    }

    /// Writes named type `T`, called `name` with generic arguments `args`, by reference into `out`;
    /// the first time, also adds its `definition`.
    pub fn named<T: ?Sized + 'static>(
        &mut self,
        out: &mut String,
        name: &str,
        args: &[TypeArg<'_>],
        definition: Definition<'_>,
    ) {
        if let Some(&at) = self.index.get(&TypeId::of::<T>()) {
            out.push_str(&self.named[at].0);
            return;
        }
        let mut full = name.to_owned();
        if !args.is_empty() {
            full.push('<');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    full.push(',');
                }
                match arg {
                    TypeArg::Type(shape) => shape(self, &mut full),
                    TypeArg::Const(value) => {
                        let _ = write!(full, "{value}");
                    }
                }
            }
            full.push('>');
        }
        if self.taken.contains(&full) {
            let base = full;
            full = (2..)
                .map(|n| format!("{base}#{n}"))
                .find(|candidate| !self.taken.contains(candidate))
                .unwrap_or(base);
        }
        // Registered before its definition is written: a reference to it from inside the
        // definition (a recursive type) is then written by name.
        let at = self.named.len();
        self.named.push((full.clone(), String::new()));
        self.index.insert(TypeId::of::<T>(), at);
        self.taken.insert(full.clone());
        let mut text = String::new();
        self.write_definition(&mut text, definition);
        self.named[at].1 = text;
        out.push_str(&full);
    }

    fn write_definition(&mut self, out: &mut String, definition: Definition<'_>) {
        match definition {
            Definition::Struct(fields) => {
                out.push_str("struct");
                self.write_fields(out, fields);
            }
            Definition::Enum(variants) => {
                out.push_str("enum {");
                for (i, variant) in variants.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { ", " });
                    out.push_str(variant.name);
                    self.write_fields(out, variant.fields);
                    if let Some(discriminant) = variant.discriminant {
                        let _ = write!(out, " = {discriminant}");
                    }
                }
                out.push_str(if variants.is_empty() { "}" } else { " }" });
            }
        }
    }

    fn write_fields(&mut self, out: &mut String, fields: Fields<'_>) {
        match fields {
            Fields::Named(fields) => {
                out.push_str(" {");
                for (i, (name, shape)) in fields.iter().enumerate() {
                    out.push_str(if i == 0 { " " } else { ", " });
                    out.push_str(name);
                    out.push_str(": ");
                    shape(self, out);
                }
                out.push_str(if fields.is_empty() { "}" } else { " }" });
            }
            Fields::Unnamed(fields) => {
                out.push('(');
                for (i, shape) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    shape(self, out);
                }
                out.push(')');
            }
            Fields::Unit => {}
        }
    }

    /// The `type` lines: one per named type met, in the order first met, each ending in `\n`.
    pub fn definitions(&self) -> String {
        let mut out = String::new();
        for (name, definition) in &self.named {
            let _ = writeln!(out, "type {name} = {definition}");
        }
        out
    }
}

/// Built-in types written by their name alone.
macro_rules! leaf_shapes {
    ($($ty:ty => $name:literal),* $(,)?) => {$(
        impl Shape for $ty {
            fn write_shape(_: &mut Shapes, out: &mut String) {
                out.push_str($name);
            }
        }
    )*};
}

leaf_shapes! {
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128", usize => "usize",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128", isize => "isize",
    f32 => "f32", f64 => "f64", bool => "bool", char => "char", () => "()", String => "String",
    std::num::NonZeroU8 => "NonZeroU8", std::num::NonZeroU16 => "NonZeroU16",
    std::num::NonZeroU32 => "NonZeroU32", std::num::NonZeroU64 => "NonZeroU64",
    std::num::NonZeroU128 => "NonZeroU128", std::num::NonZeroUsize => "NonZeroUsize",
    std::num::NonZeroI8 => "NonZeroI8", std::num::NonZeroI16 => "NonZeroI16",
    std::num::NonZeroI32 => "NonZeroI32", std::num::NonZeroI64 => "NonZeroI64",
    std::num::NonZeroI128 => "NonZeroI128", std::num::NonZeroIsize => "NonZeroIsize",
    str => "str", std::ffi::CString => "CString", std::time::Duration => "Duration",
    std::net::IpAddr => "IpAddr", std::net::Ipv4Addr => "Ipv4Addr", std::net::Ipv6Addr => "Ipv6Addr",
    std::net::SocketAddr => "SocketAddr", std::net::SocketAddrV4 => "SocketAddrV4",
    std::net::SocketAddrV6 => "SocketAddrV6", std::ops::RangeFull => "RangeFull",
    crate::topic::Topic => "Topic",
}

/// Built-in generic types written as `Name<Arg,...>`.
macro_rules! generic_shapes {
    ($($name:literal: [$($param:ident),+] $ty:ty),* $(,)?) => {$(
        impl<$($param: Shape),+> Shape for $ty {
            fn write_shape(shapes: &mut Shapes, out: &mut String) {
                out.push_str(concat!($name, "<"));
                let mut first = true;
                $(
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    $param::write_shape(shapes, out);
                )+
                let _ = first;
                out.push('>');
            }
        }
    )*};
}

generic_shapes! {
    "Vec": [T] Vec<T>,
    "Option": [T] Option<T>,
    "Result": [T, E] Result<T, E>,
    "BTreeMap": [K, V] BTreeMap<K, V>,
    "BTreeSet": [T] BTreeSet<T>,
    "VecDeque": [T] std::collections::VecDeque<T>,
    "Range": [T] std::ops::Range<T>,
    "RangeInclusive": [T] std::ops::RangeInclusive<T>,
    "RangeFrom": [T] std::ops::RangeFrom<T>,
    "RangeTo": [T] std::ops::RangeTo<T>,
    "RangeToInclusive": [T] std::ops::RangeToInclusive<T>,
    "Bound": [T] std::ops::Bound<T>,
}

/// Pointers, written `Name<T>`; `T` may be unsized (`Box<str>`, `Box<[u8]>`).
macro_rules! pointer_shapes {
    ($($name:literal $ptr:ident),* $(,)?) => {$(
        impl<T: Shape + ?Sized> Shape for $ptr<T> {
            fn write_shape(shapes: &mut Shapes, out: &mut String) {
                out.push_str(concat!($name, "<"));
                T::write_shape(shapes, out);
                out.push('>');
            }
        }
    )*};
}

pointer_shapes! { "Box" Box, "Arc" Arc, "Rc" Rc }

impl<K: Shape, V: Shape, H: 'static> Shape for HashMap<K, V, H> {
    fn write_shape(shapes: &mut Shapes, out: &mut String) {
        out.push_str("HashMap<");
        K::write_shape(shapes, out);
        out.push(',');
        V::write_shape(shapes, out);
        out.push('>');
    }
}

impl<T: Shape, H: 'static> Shape for HashSet<T, H> {
    fn write_shape(shapes: &mut Shapes, out: &mut String) {
        out.push_str("HashSet<");
        T::write_shape(shapes, out);
        out.push('>');
    }
}

impl<T: Shape> Shape for [T] {
    fn write_shape(shapes: &mut Shapes, out: &mut String) {
        out.push('[');
        T::write_shape(shapes, out);
        out.push(']');
    }
}

impl<T: Shape, const N: usize> Shape for [T; N] {
    fn write_shape(shapes: &mut Shapes, out: &mut String) {
        out.push('[');
        T::write_shape(shapes, out);
        let _ = write!(out, ";{N}]");
    }
}

impl<T: ?Sized + 'static> Shape for std::marker::PhantomData<T> {
    fn write_shape(_: &mut Shapes, out: &mut String) {
        out.push_str("PhantomData");
    }
}

// Tuples are in `codec`: their elements need only be `Codable`.

#[cfg(test)]
mod tests {
    use super::*;

    /// `enum Tree { Leaf(u32), Node(Vec<Tree>) }`, described by hand as `#[codable]` does.
    enum Tree {}

    impl Shape for Tree {
        fn write_shape(shapes: &mut Shapes, out: &mut String) {
            shapes.named::<Self>(
                out,
                "Tree",
                &[],
                Definition::Enum(&[
                    Variant {
                        name: "Leaf",
                        discriminant: None,
                        fields: Fields::Unnamed(&[<u32 as Shape>::write_shape]),
                    },
                    Variant {
                        name: "Node",
                        discriminant: None,
                        fields: Fields::Unnamed(&[<Vec<Tree> as Shape>::write_shape]),
                    },
                ]),
            );
        }
    }

    /// `struct Page<T> { items: Vec<T>, next: Option<u32> }`.
    struct Page<T>(std::marker::PhantomData<T>);

    impl<T: Shape> Shape for Page<T> {
        fn write_shape(shapes: &mut Shapes, out: &mut String) {
            shapes.named::<Self>(
                out,
                "Page",
                &[TypeArg::Type(T::write_shape)],
                Definition::Struct(Fields::Named(&[
                    ("items", <Vec<T> as Shape>::write_shape),
                    ("next", <Option<u32> as Shape>::write_shape),
                ])),
            );
        }
    }

    /// Two more types called `Page`, as from other modules.
    mod other {
        use super::super::*;

        pub(super) struct Page;

        impl Shape for Page {
            fn write_shape(shapes: &mut Shapes, out: &mut String) {
                shapes.named::<Self>(out, "Page", &[], Definition::Struct(Fields::Unit));
            }
        }

        pub(super) mod again {
            use super::super::super::*;

            pub(in super::super) struct Page;

            impl Shape for Page {
                fn write_shape(shapes: &mut Shapes, out: &mut String) {
                    let unnamed = Fields::Unnamed(&[<u8 as Shape>::write_shape]);
                    shapes.named::<Self>(out, "Page", &[], Definition::Struct(unnamed));
                }
            }
        }
    }

    #[test]
    fn built_in_types_are_written_by_name() {
        let mut shapes = Shapes::new();
        assert_eq!(
            shapes.reference::<(u8, Vec<String>, Option<Box<i64>>, [u16; 3])>(),
            "(u8,Vec<String>,Option<Box<i64>>,[u16;3])"
        );
        assert_eq!(
            shapes.reference::<Result<HashMap<String, u32>, BTreeSet<char>>>(),
            "Result<HashMap<String,u32>,BTreeSet<char>>"
        );
        assert_eq!(shapes.definitions(), "");
    }

    #[test]
    fn a_recursive_type_is_defined_once_and_terminates() {
        let mut shapes = Shapes::new();
        assert_eq!(shapes.reference::<Vec<Tree>>(), "Vec<Tree>");
        assert_eq!(
            shapes.definitions(),
            "type Tree = enum { Leaf(u32), Node(Vec<Tree>) }\n"
        );
    }

    #[test]
    fn generic_types_are_named_with_their_arguments_and_same_names_are_told_apart() {
        let mut shapes = Shapes::new();
        assert_eq!(shapes.reference::<Page<Tree>>(), "Page<Tree>");
        assert_eq!(shapes.reference::<Page<u8>>(), "Page<u8>");
        assert_eq!(shapes.reference::<Page<Tree>>(), "Page<Tree>");
        assert_eq!(shapes.reference::<other::Page>(), "Page");
        assert_eq!(shapes.reference::<other::again::Page>(), "Page#2");
        assert_eq!(shapes.reference::<other::Page>(), "Page");
        assert_eq!(
            shapes.definitions(),
            // A type's arguments are met before the type itself.
            "type Tree = enum { Leaf(u32), Node(Vec<Tree>) }\n\
             type Page<Tree> = struct { items: Vec<Tree>, next: Option<u32> }\n\
             type Page<u8> = struct { items: Vec<u8>, next: Option<u32> }\n\
             type Page = struct\n\
             type Page#2 = struct(u8)\n"
        );
    }
}
