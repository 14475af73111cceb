//! Allocations per call: what the server's and the client's threads allocate for one 64 B echo,
//! one call at a time.

use super::{echo_checked, payload};
use crate::BoxError;
use crate::alloc_count::{Allocated, Window};
use crate::systems::Client;

/// Bytes of each call's payload.
pub const PAYLOAD: usize = 64;

/// One side's allocations per call, averaged over the window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PerCall {
    /// Allocator calls (`alloc`, `alloc_zeroed`, `realloc`) per call.
    pub allocations: f64,
    /// Bytes those asked for, per call.
    pub bytes: f64,
}

/// Each side's allocations per call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sides {
    /// The server's threads.
    pub server: PerCall,
    /// The client's threads (the benchmark's loop included: it copies the payload into each call).
    pub client: PerCall,
}

/// Counts the allocations of `calls` echo calls of [`PAYLOAD`] bytes made one at a time on
/// `client`, after a warm-up of a tenth as many (buffers a connection keeps are allocated then).
///
/// # Errors
/// If a call fails.
pub async fn per_call(client: &Client, calls: u64) -> Result<Sides, BoxError> {
    let payload = payload(PAYLOAD);
    for _ in 0..(calls / 10).max(1) {
        echo_checked(client, &payload).await?;
    }
    let window = Window::open();
    for _ in 0..calls {
        echo_checked(client, &payload).await?;
    }
    let [server, client] = window.close();
    let per_call = |allocated: Allocated| PerCall {
        allocations: allocated.allocations as f64 / calls.max(1) as f64,
        bytes: allocated.bytes as f64 / calls.max(1) as f64,
    };
    Ok(Sides {
        server: per_call(server),
        client: per_call(client),
    })
}
