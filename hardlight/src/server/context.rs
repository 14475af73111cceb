//! What a call carried besides its arguments, for its handler: its metadata and its trace
//! context, read with [`call_metadata`] and [`call_trace_parent`]. Set only for a call that carried
//! either: a call without them pays nothing.

use std::future::Future;
use std::pin::Pin;

use crate::wire::{Metadata, TraceParent};

/// What a call carried besides its arguments.
#[derive(Clone)]
struct CallContext {
    metadata: Option<Metadata>,
    trace: Option<TraceParent>,
}

tokio::task_local! {
    static CONTEXT: CallContext;
}

/// The metadata the client attached to the call being handled (see
/// [`Client::with_metadata`](crate::client::Client::with_metadata)); `None` outside a handler or
/// for a call without metadata.
///
/// ```no_run
/// # use hardlight::*;
/// # #[rpc] trait Orders { async fn list(&self) -> HandlerResult<Vec<String>>; }
/// # #[rpc_handler] impl Orders for Handler {
/// async fn list(&self) -> HandlerResult<Vec<String>> {
///     let tenant = hardlight::server::call_metadata()
///         .and_then(|m| m.get("tenant").map(str::to_owned))
///         .unwrap_or_default();
///     Ok(vec![format!("orders of {tenant}")])
/// }
/// # }
/// ```
pub fn call_metadata() -> Option<Metadata> {
    CONTEXT.try_with(|c| c.metadata.clone()).ok().flatten()
}

/// The trace context the call being handled carried (the caller's W3C `traceparent`, see
/// [`TraceParent`]); `None` outside a handler or for a call without one. With the
/// `opentelemetry` feature the call's span is already its child; without it, this is how a
/// handler passes the trace on (to an HTTP request it makes, say).
pub fn call_trace_parent() -> Option<TraceParent> {
    CONTEXT.try_with(|c| c.trace).ok().flatten()
}

/// `future` with `metadata` and `trace` as its [`call_metadata`] and [`call_trace_parent`];
/// itself when there is neither.
pub(crate) fn with_call_context<T: 'static>(
    metadata: Option<Metadata>,
    trace: Option<TraceParent>,
    future: Pin<Box<dyn Future<Output = T> + Send>>,
) -> Pin<Box<dyn Future<Output = T> + Send>> {
    if metadata.is_none() && trace.is_none() {
        return future;
    }
    Box::pin(CONTEXT.scope(CallContext { metadata, trace }, future))
}
