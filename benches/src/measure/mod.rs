//! The figures: unary latency, throughput, one server stream, event fan-out, server memory per
//! idle connection, and the shapes real servers see (many connections, scaling with cores, fan-out
//! to many).

pub mod allocations;
pub mod child;
pub mod connections;
pub mod fanout;
pub mod latency;
pub mod memory;
pub mod nats;
pub mod streaming;
pub mod throughput;

use std::future::Future;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use crate::systems::Client;
use crate::{BoxError, error};

/// `len` bytes of pseudo-random letters from a 16-letter alphabet: the same for every system, and
/// compressible (deflate about halves it) like the text or records real payloads carry.
pub fn payload(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            // xorshift32: deterministic, no dependency.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            b'a' + (state >> 28) as u8
        })
        .collect()
}

/// Awaits `future`, failing with a message naming `what` if it takes longer than `limit`: no
/// measurement can hang the run.
///
/// The limit is kept by a thread of its own, not by a tokio timer: while any timer is armed on the
/// client runtime, each park of its worker thread waits with a timeout, which on a virtual machine
/// adds about half a microsecond to every call at one call at a time, the same constant for every
/// system.
///
/// # Errors
/// The future's error, or the timeout.
pub async fn within<T>(
    what: &str,
    limit: Duration,
    future: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, BoxError> {
    let (expired_tx, expired) = tokio::sync::oneshot::channel::<()>();
    let (done, done_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Ends early once `done` is dropped: the measurement finished.
        if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            let _ = expired_tx.send(());
        }
    });
    let result = tokio::select! {
        biased;
        result = future => result,
        _ = expired => Err(error(format!("{what}: no result within {limit:?}"))),
    };
    drop(done);
    result
}

/// One echo call, checking that the reply is as long as the payload.
///
/// # Errors
/// If the call fails or the reply has the wrong length.
pub async fn echo_checked(client: &Client, payload: &[u8]) -> Result<(), BoxError> {
    let reply = client.echo(payload).await?;
    if reply != payload.len() {
        return Err(error(format!(
            "echo of {} bytes came back as {reply} bytes",
            payload.len(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_deterministic_letters() {
        let a = payload(1024);
        assert_eq!(a.len(), 1024);
        assert_eq!(a, payload(1024));
        assert!(a.iter().all(|b| (b'a'..b'a' + 16).contains(b)));
        assert!(a.iter().any(|&b| b != a[0]));
    }
}
