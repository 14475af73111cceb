//! The deadline of the call a handler is running, as the client set it (or the server's call
//! timeout, whichever comes first).

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Option<Instant>;
}

/// When the call being handled must be done by, if it has a deadline: the client's time budget
/// (`ClientConfig::call_timeout`, `Client::with_timeout`) counted from when the server read the call,
/// or the server's `ServerConfig::call_timeout`, whichever is sooner. Past it the call is stopped and
/// answered with a timeout, so a handler can use it to give up early or to bound its own waits.
/// `None` outside a handler or for a call without a deadline.
///
/// ```no_run
/// # use hardlight::*;
/// # #[rpc] trait Search { async fn search(&self, q: String) -> HandlerResult<Vec<String>>; }
/// # #[rpc_handler] impl Search for Handler {
/// async fn search(&self, q: String) -> HandlerResult<Vec<String>> {
///     if let Some(deadline) = hardlight::server::call_deadline() {
///         tracing::debug!(left = ?deadline.saturating_duration_since(tokio::time::Instant::now()));
///     }
///     Ok(vec![q])
/// }
/// # }
/// ```
pub fn call_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok().flatten()
}

/// Runs `future` with `deadline` as its [`call_deadline`].
pub(crate) async fn with_deadline<F: Future>(deadline: Option<Instant>, future: F) -> F::Output {
    DEADLINE.scope(deadline, future).await
}

/// Runs `f` (one poll of a streaming call) with `deadline` as its [`call_deadline`].
pub(crate) fn in_deadline<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    match deadline {
        Some(_) => DEADLINE.sync_scope(deadline, f),
        None => f(),
    }
}
