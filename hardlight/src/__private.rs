//! What generated code uses. Not a public API: names here change without notice.
//!
//! The macros reach the runtime only through this module (`::hardlight::__private::...`, or
//! `<crate>::__private::...` with `crate = "..."`), so that the paths they write stay valid whatever
//! the public modules become, and the user's crate needs no dependency other than `hardlight`.

pub use rkyv;

pub use crate::client::{
    Client, ClientConfig, ConnectionEvents, OfferedService, StateWatcher, Subscription,
};
pub use crate::contract::{
    Args, Dispatch, DispatchError, EmittedBy, MethodReturn, OnewayFuture, RawUpload, Schema,
    SchemaWriter, ServiceSchema, Started, StreamArg, call, decode_args, oneway, take_upload,
};
pub use crate::error::{CallError, ClosedError, ConnectError, RpcError};
pub use crate::events::EventPayload;
// What `#[rpc_handler]` generates against: handlers are the server's.
#[cfg(hardlight_native)]
pub use crate::events::{EventEmitter, Subscriptions};
#[cfg(hardlight_native)]
pub use crate::server::{
    disconnect::{Disconnect, DisconnectArg},
    handler::{ConnectionParts, Handler},
    identity::Identity,
};
pub use crate::state::{ConnectionState, StateHandle, unknown_field};
pub use crate::wire::shape::{Definition, Fields, Shape, ShapeFn, Shapes, TypeArg, Variant};

/// The shape of `T` in generated code, where `T` was written by the user: `ShapeOf::<T>::NEW.get()`.
/// When `T` is not codable, method resolution falls back to [`NoShape::get`] (imported as `_` by the
/// generated code), so that the description adds no error of its own: the generated `where`
/// clauses already report such a type, once, at its span, and the program does not compile.
pub struct ShapeOf<T: ?Sized>(core::marker::PhantomData<fn() -> *const T>);

impl<T: ?Sized> ShapeOf<T> {
    /// The one value.
    pub const NEW: Self = Self(core::marker::PhantomData);
}

impl<T: WireValue> ShapeOf<T> {
    /// `T`'s shape (a view's is its owned type's).
    pub fn get(&self) -> ShapeFn {
        <T as WireValue>::SHAPE
    }
}

/// The shape of a method's return type `R` in generated code: `ReturnShapeOf::<R>::NEW.get()`,
/// written with its wire types (a view as its owned type); [`NoShape::get`] when `R` is not a
/// `MethodReturn`.
pub struct ReturnShapeOf<T: ?Sized>(core::marker::PhantomData<fn() -> *const T>);

impl<T: ?Sized> ReturnShapeOf<T> {
    /// The one value.
    pub const NEW: Self = Self(core::marker::PhantomData);
}

impl<R: MethodReturn> ReturnShapeOf<R> {
    /// `R`'s shape.
    pub fn get(&self) -> ShapeFn {
        R::SHAPE
    }
}

impl<T: ?Sized> NoShape for ReturnShapeOf<T> {}

/// The fallback of [`ShapeOf::get`] for a type without a shape (only in programs that do not
/// compile).
pub trait NoShape {
    /// Writes `?`.
    fn get(&self) -> ShapeFn {
        |_, out| out.push('?')
    }
}

impl<T: ?Sized> NoShape for ShapeOf<T> {}

/// The shape of a streamed argument's type `U` in generated code: `StreamArgShapeOf::<U>::NEW.get()`;
/// [`NoShape::get`] when `U` is not a [`StreamArg`].
pub struct StreamArgShapeOf<T: ?Sized>(core::marker::PhantomData<fn() -> *const T>);

impl<T: ?Sized> StreamArgShapeOf<T> {
    /// The one value.
    pub const NEW: Self = Self(core::marker::PhantomData);
}

impl<U: StreamArg> StreamArgShapeOf<U> {
    /// `U`'s shape.
    pub fn get(&self) -> ShapeFn {
        U::SHAPE
    }
}

impl<T: ?Sized> NoShape for StreamArgShapeOf<T> {}
pub use crate::wire::view::{WireArgs, WireValue};
pub use crate::wire::{
    Archived, Codable, Compression, DecodeError, EncodeError, Metadata, TraceParent,
};
pub use std::sync::{Arc, OnceLock};

/// The wire format's internals, for the crate's own tests, fuzz targets and benchmarks: frame
/// encoding and decoding, handshake negotiation, compression, token carriers. Not a stable API.
pub mod wire {
    /// Frame layouts: see `hardlight/src/wire/frame.rs`.
    pub mod frame {
        pub use crate::wire::frame::*;
    }
    /// Handshake tokens and negotiation: see `hardlight/src/wire/handshake.rs`.
    pub mod handshake {
        pub use crate::wire::handshake::*;
    }
    /// Per-frame deflate: see `hardlight/src/wire/compression.rs`.
    pub mod compression {
        pub use crate::wire::compression::*;
    }
    /// Where authentication tokens travel: see `hardlight/src/wire/auth.rs`.
    pub mod auth {
        pub use crate::wire::auth::*;
    }
    pub use crate::wire::{close, codec};
}

/// What rkyv's derives name without a path: `#[codable]` glob-imports this next to the type, so that
/// it also derives in a module under `#![no_implicit_prelude]`. A glob import, so that it yields to
/// any `Sized` the module has, and two of them in one module do not clash.
pub mod derive_scope {
    pub use core::marker::Sized;
}
