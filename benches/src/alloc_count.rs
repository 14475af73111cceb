//! Allocations per call, by side: a global allocator that counts, while counting is on, the
//! allocations made on the server's threads and on the client's, apart.
//!
//! The `compare` binary installs [`Counting`] as its global allocator; [`crate::run::runtime`]
//! marks each worker thread of the server and client runtimes with its [`Side`]. Counting is off
//! unless a measurement turns it on ([`Window::open`]), so the other figures pay one relaxed load
//! per allocation.
//!
//! A `realloc` counts as an allocation of its new size: growing a buffer is the allocator's work
//! again, and what a call costs in allocator calls is the figure wanted.

// A global allocator cannot be written without `unsafe`: `GlobalAlloc` is an unsafe trait. Each
// method forwards to `System` with the caller's arguments unchanged, so the caller's guarantees are
// `System`'s; the counting around it touches only atomics and a thread-local `Cell`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The side of the benchmark a thread works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A worker of the server runtime.
    Server,
    /// A worker of the client runtime.
    Client,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Server => 0,
            Side::Client => 1,
        }
    }
}

thread_local! {
    /// This thread's side, if it is a worker of either runtime.
    static SIDE: Cell<Option<Side>> = const { Cell::new(None) };
}

/// Whether allocations are being counted.
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Allocations counted, by [`Side::index`].
static ALLOCATIONS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Bytes allocated, by [`Side::index`].
static BYTES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Marks the current thread as working for `side`: what it allocates counts for that side.
pub fn mark_thread(side: Side) {
    SIDE.with(|s| s.set(Some(side)));
}

fn count(bytes: usize) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    // `try_with`: an allocation made while the thread's locals are torn down is not counted.
    if let Ok(Some(side)) = SIDE.try_with(Cell::get) {
        ALLOCATIONS[side.index()].fetch_add(1, Ordering::Relaxed);
        BYTES[side.index()].fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// The global allocator of the `compare` binary: [`System`], counted.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every method forwards to `System` with its own arguments, so each upholds exactly what
// `System` requires and returns what `System` returns; `count` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's `layout` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through this type).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What one side allocated over a window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Allocated {
    /// Allocations (`alloc`, `alloc_zeroed` and `realloc` calls).
    pub allocations: u64,
    /// Bytes those calls asked for.
    pub bytes: u64,
}

/// A counting window: allocations are counted from [`Window::open`] to [`Window::close`]. One at a
/// time (the counters are global).
#[derive(Debug)]
pub struct Window(());

impl Window {
    /// Resets the counters and starts counting.
    pub fn open() -> Self {
        for counter in ALLOCATIONS.iter().chain(&BYTES) {
            counter.store(0, Ordering::Relaxed);
        }
        COUNTING.store(true, Ordering::SeqCst);
        Window(())
    }

    /// Stops counting; what the server's and the client's threads allocated meanwhile.
    pub fn close(self) -> [Allocated; 2] {
        COUNTING.store(false, Ordering::SeqCst);
        [Side::Server, Side::Client].map(|side| Allocated {
            allocations: ALLOCATIONS[side.index()].load(Ordering::Relaxed),
            bytes: BYTES[side.index()].load(Ordering::Relaxed),
        })
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        COUNTING.store(false, Ordering::SeqCst);
    }
}
