//! What a service is, as both ends see it: its description and fingerprint ([`ServiceSchema`],
//! [`Schema`]).
//!
//! The schema text is built from the structure of every type the service uses ([`Shape`]), so
//! that peers whose types differ refuse each other at the handshake; `docs/PROTOCOL.md` §3
//! specifies it.

use std::fmt::Write;

use crate::error::HandlerError;
use crate::events::EventDecode;
use crate::state::ConnectionState;
use crate::wire::handshake::fnv1a64;
use crate::wire::shape::{Definition, Fields, Shape, ShapeFn, Shapes};

/// Describes one `#[rpc]` trait. Implemented by `#[rpc]` for `dyn Trait`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[rpc] trait",
    note = "add `#[hardlight::rpc]` to the trait's definition"
)]
pub trait ServiceSchema {
    /// The connection state clients of this service mirror (`()` for none).
    type State: ConnectionState;
    /// The event type clients of this service decode (`EventPayload` when the trait names none).
    type Event: EventDecode;
    /// The trait's name.
    const NAME: &'static str;
    /// Method names, in declaration order; a method's index on the wire is its position here.
    const METHODS: &'static [&'static str];
    /// For each method, in the same order: true if it is one-way (`#[oneway]`: sent in a `NOTIFY`
    /// frame, never answered), false if it is a call.
    const ONEWAY: &'static [bool];
    /// For each method, in the same order: true if its last argument streams (a [`Streaming`]
    /// the client sends while the call runs).
    ///
    /// [`Streaming`]: super::Streaming
    const UPLOADS: &'static [bool];

    /// Writes one line per method, in declaration order, with [`SchemaWriter::call`] and
    /// [`SchemaWriter::oneway`].
    fn describe_methods(schema: &mut SchemaWriter);

    /// The service's schema text and fingerprint, computed once (generated as
    /// `Schema::of::<Self>()` kept in a static).
    fn schema() -> &'static Schema;
}

/// A service's canonical schema text (`docs/PROTOCOL.md` §3) and its fingerprint, which client and
/// server compare at the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    text: String,
    fingerprint: u64,
}

impl Schema {
    /// Describes service `S`: its name, event type, methods, connection state, then the definition
    /// of every named type they use.
    pub fn of<S: ServiceSchema + ?Sized>() -> Self {
        let mut writer = SchemaWriter {
            text: format!("service {}\n", S::NAME),
            shapes: Shapes::new(),
        };
        writer.text.push_str("events ");
        (<S::Event as EventDecode>::SHAPE)(&mut writer.shapes, &mut writer.text);
        writer.text.push('\n');
        S::describe_methods(&mut writer);
        if let Some(state) = <S::State as ConnectionState>::NAME {
            let _ = writeln!(writer.text, "state {state}");
            for (index, field) in (0u16..).zip(<S::State as ConnectionState>::FIELDS) {
                let _ = write!(writer.text, "field {field}: ");
                <S::State as ConnectionState>::write_field_shape(
                    index,
                    &mut writer.shapes,
                    &mut writer.text,
                );
                writer.text.push('\n');
            }
        }
        let mut text = writer.text;
        text.push_str(&writer.shapes.definitions());
        let fingerprint = fnv1a64(text.as_bytes());
        Self { text, fingerprint }
    }

    /// The canonical text: one line per item, each ending in `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// FNV-1a-64 of the text: what a client offers as `hardlight.schema.<fingerprint>`.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// Writes a service's method lines; see [`ServiceSchema::describe_methods`].
pub struct SchemaWriter {
    text: String,
    shapes: Shapes,
}

impl SchemaWriter {
    /// `fn <name>(<args>) -> <returns>`.
    pub fn call(&mut self, name: &str, args: &[ShapeFn], returns: ShapeFn) {
        let _ = write!(self.text, "fn {name}");
        self.arguments(args);
        self.text.push_str(" -> ");
        returns(&mut self.shapes, &mut self.text);
        self.text.push('\n');
    }

    /// `oneway fn <name>(<args>)`.
    pub fn oneway(&mut self, name: &str, args: &[ShapeFn]) {
        let _ = write!(self.text, "oneway fn {name}");
        self.arguments(args);
        self.text.push('\n');
    }

    fn arguments(&mut self, args: &[ShapeFn]) {
        self.text.push('(');
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            arg(&mut self.shapes, &mut self.text);
        }
        self.text.push(')');
    }
}

impl std::fmt::Debug for SchemaWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaWriter").finish_non_exhaustive()
    }
}

/// The canonical schema text of service `S` (`dyn Trait` for an `#[rpc]` trait), as both ends
/// compare it: two builds can be diffed offline with it.
///
/// ```
/// # use hardlight::prelude::*;
/// #[rpc]
/// trait Greeter {
///     async fn greet(&self, name: String) -> HandlerResult<String>;
/// }
///
/// assert_eq!(
///     hardlight::schema::<dyn Greeter>(),
///     "service Greeter\n\
///      events EventPayload\n\
///      fn greet(String) -> Result<String,HandlerError>\n\
///      type HandlerError = struct { message: String }\n"
/// );
/// ```
pub fn schema<S: ServiceSchema + ?Sized>() -> &'static str {
    S::schema().text()
}

/// The schema fingerprint of service `S`: FNV-1a-64 of [`schema`]`::<S>()`.
pub fn fingerprint<S: ServiceSchema + ?Sized>() -> u64 {
    S::schema().fingerprint()
}

/// The general-purpose handler error is a struct with one `String` field.
impl Shape for HandlerError {
    fn write_shape(shapes: &mut Shapes, out: &mut String) {
        let fields = Fields::Named(&[("message", <String as Shape>::write_shape)]);
        shapes.named::<Self>(out, "HandlerError", &[], Definition::Struct(fields));
    }
}

/// What the server's emitters publish for clients of service `S`: its event type, or
/// [`AnyEvent`](crate::events::AnyEvent) (any codable type) when it declares none.
pub type EmittedBy<S> = <<S as ServiceSchema>::Event as EventDecode>::Emitted;
