//! Helpers for the integration tests, over real loopback sockets: the test service
//! ([`service`]), servers that stop when dropped ([`servers`]), raw peers that speak HTTP and the
//! protocol by hand ([`raw`]), the counter service of docs/PROTOCOL.md ([`counter`]), a relay that
//! can be cut ([`relay`]) and a `nats-server` child process ([`nats`]).
#![allow(dead_code)]

pub mod counter;
#[cfg(feature = "nats")]
pub mod nats;
pub mod raw;
pub mod relay;
pub mod servers;
pub mod service;

use std::time::Duration;

// Each test binary uses some of these: the rest would be reported unused in each.
#[allow(unused_imports)]
pub use raw::*;
#[allow(unused_imports)]
pub use servers::*;
#[allow(unused_imports)]
pub use service::*;

/// How long any awaited event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Awaits a connect that must be refused; returns why. Fails the test if it is accepted or takes
/// longer than [`PATIENCE`].
pub async fn refused<T>(
    connect: impl std::future::Future<Output = Result<T, hardlight::ConnectError>>,
) -> hardlight::ConnectError {
    match within("a refused connect", connect).await {
        Ok(_) => panic!("the connection was accepted"),
        Err(e) => e,
    }
}

/// `error` with its causes, `outer: cause: cause's cause`.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut shown = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        shown.push_str(": ");
        shown.push_str(&cause.to_string());
        next = cause.source();
    }
    shown
}

/// The first error of type `T` in `error`'s source chain (`error` itself included).
pub fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        next = cause.source();
    }
    None
}

/// The wire index of method `name` in `methods` (a service's
/// `<dyn Trait as hardlight::__private::ServiceSchema>::METHODS`, in declaration order), for raw
/// peers; a name the service lacks fails to compile where a constant is built from it.
pub const fn method_index(methods: &[&str], name: &str) -> u16 {
    let mut index = 0;
    while index < methods.len() {
        if const_eq(methods[index], name) {
            return index as u16;
        }
        index += 1;
    }
    panic!("the service has no method of that name")
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
