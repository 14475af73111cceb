//! Connection state: a value that lives on the server for each connection, changes in handlers, and is
//! mirrored on the client.
//!
//! The server sends the whole state in the `HELLO` frame, then, after any call that changed it, only the
//! fields whose encoding changed, ahead of that call's reply. So when a call's future resolves on the
//! client, the state it changed is already visible there.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::wire::shape::Shapes;
use crate::wire::{DecodeError, EncodeError};

/// A struct whose fields are synced from server to client field by field.
///
/// Implemented by `#[connection_state]`; not meant to be implemented by hand. Each field must be
/// [`Codable`](crate::Codable).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connection state",
    note = "add `#[hardlight::connection_state]` to the struct, or leave `state` out of `#[rpc(...)]` for a service without state"
)]
pub trait ConnectionState: Default + Clone + Send + Sync + 'static {
    /// Field names, in declaration order; a field's index on the wire is its position here.
    const FIELDS: &'static [&'static str];
    /// The struct's name in the service's schema text; `None` for `()`, a service without state.
    const NAME: Option<&'static str>;

    /// Writes the type of field `index` by reference (part of the service's schema text; see
    /// [`Shape`](crate::wire::Shape)). An unknown index writes nothing.
    fn write_field_shape(index: u16, shapes: &mut Shapes, out: &mut String);

    /// Appends the archive of field `index` to `out`. An unknown index appends nothing.
    fn encode_field(&self, index: u16, out: Vec<u8>) -> Result<Vec<u8>, EncodeError>;

    /// Validates `bytes` as an archive of field `index`, nested at most `max_depth` levels deep
    /// (see [`Codable::decode_within`](crate::Codable::decode_within)), and stores the value in that
    /// field.
    fn apply_field(
        &mut self,
        index: u16,
        bytes: &[u8],
        max_depth: usize,
    ) -> Result<(), DecodeError>;
}

/// A service without connection state.
impl ConnectionState for () {
    const FIELDS: &'static [&'static str] = &[];
    const NAME: Option<&'static str> = None;

    fn write_field_shape(_index: u16, _shapes: &mut Shapes, _out: &mut String) {}

    fn encode_field(&self, _index: u16, out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
        Ok(out)
    }

    fn apply_field(&mut self, index: u16, _bytes: &[u8], _: usize) -> Result<(), DecodeError> {
        Err(unknown_field(index))
    }
}

/// The error for a field index the state does not have (used by generated code, through
/// `__private`; not part of the API).
#[doc(hidden)]
pub fn unknown_field(index: u16) -> DecodeError {
    DecodeError::new(format!("connection state has no field with index {index}"))
}

/// A handler's access to its connection's state (the `state` field of a handler).
///
/// Cloning gives another handle to the same state.
pub struct StateHandle<S> {
    cell: Arc<StateCell<S>>,
}

struct StateCell<S> {
    value: RwLock<S>,
    dirty: AtomicBool,
}

impl<S> Clone for StateHandle<S> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
        }
    }
}

impl<S: ConnectionState> Default for StateHandle<S> {
    fn default() -> Self {
        Self::new(S::default())
    }
}

impl<S> StateHandle<S> {
    /// A handle to a new state holding `value`.
    pub fn new(value: S) -> Self {
        Self {
            cell: Arc::new(StateCell {
                value: RwLock::new(value),
                dirty: AtomicBool::new(false),
            }),
        }
    }

    /// Shared access to the state.
    pub async fn read(&self) -> RwLockReadGuard<'_, S> {
        self.cell.value.read().await
    }

    /// Exclusive access to the state. Changes made through the guard are sent to the client when the
    /// current call completes (before its reply).
    pub async fn write(&self) -> StateWriteGuard<'_, S> {
        StateWriteGuard {
            guard: self.cell.value.write().await,
            dirty: &self.cell.dirty,
        }
    }

    /// Whether a handler changed the state since the mark was last cleared.
    #[cfg(hardlight_native)]
    pub(crate) fn is_dirty(&self) -> bool {
        self.cell.dirty.load(Ordering::Acquire)
    }

    /// Clears the "changed" mark and says whether it was set.
    #[cfg(hardlight_native)]
    pub(crate) fn take_dirty(&self) -> bool {
        self.cell.dirty.swap(false, Ordering::AcqRel)
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for StateHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell.value.try_read() {
            Ok(value) => f.debug_tuple("StateHandle").field(&*value).finish(),
            Err(_) => f.write_str("StateHandle(<locked>)"),
        }
    }
}

/// Exclusive access to a connection's state; see [`StateHandle::write`].
pub struct StateWriteGuard<'a, S> {
    guard: RwLockWriteGuard<'a, S>,
    dirty: &'a AtomicBool,
}

impl<S> Deref for StateWriteGuard<'_, S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.guard
    }
}

impl<S> DerefMut for StateWriteGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        // Marked on mutable access rather than on locking, so a write lock used only to read sends nothing.
        self.dirty.store(true, Ordering::Release);
        &mut self.guard
    }
}
