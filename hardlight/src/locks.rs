//! Locking that survives a panic elsewhere.
//!
//! hardlight's std locks guard small maps and options whose critical sections do not panic; if a
//! panic ever poisons one, the data is still consistent, so the guard is recovered rather than
//! letting one failed task take events or calls down for every connection.

use std::sync::{Mutex, MutexGuard};
#[cfg(hardlight_native)]
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, recovering the guard if the lock was poisoned.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// Only the server's topic registry takes read-write locks.
cfg_native! {
    /// Read-locks `m`, recovering the guard if the lock was poisoned.
    pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
        m.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write-locks `m`, recovering the guard if the lock was poisoned.
    pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
        m.write().unwrap_or_else(|p| p.into_inner())
    }
}
