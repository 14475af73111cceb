//! Graceful shutdown: stop accepting, let calls in flight finish within a grace period, then close
//! every connection with 1001 ("going away").

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Stops a running server gracefully; get one from
/// [`Server::shutdown_handle`](crate::Server::shutdown_handle) (clones are cheap).
///
/// After [`ShutdownHandle::shutdown`], the server accepts no new connection and reads no new call;
/// the calls in flight run to completion (their replies, events and state changes are delivered)
/// for at most the grace period; then every connection is closed with code 1001 and reason
/// `server shutting down`, and [`BoundServer::run`](crate::BoundServer::run) returns `Ok(())`.
/// Calls still running when the grace period ends are stopped; their clients see the connection
/// close with 1001. Each connection's `#[on_disconnect]` hook runs as it closes; `run` waits for the
/// hooks (each bounded by [`ServerConfig::disconnect_hook_timeout`](crate::ServerConfig::disconnect_hook_timeout))
/// before it returns.
///
/// A server mounted in an axum app (`AxumService`, feature `axum`) answers new upgrade requests
/// `503 Service Unavailable` instead (the app's other routes go on), and `AxumService::drained`
/// resolves where `run` would return.
///
/// ```no_run
/// # use hardlight::*;
/// # #[rpc] trait Ping { async fn ping(&self) -> HandlerResult<()>; }
/// # #[rpc_handler] impl Ping for Handler { async fn ping(&self) -> HandlerResult<()> { Ok(()) } }
/// # async fn run() -> Result<(), hardlight::ServerError> {
/// use std::time::Duration;
/// let server = Server::new(ServerConfig::new_self_signed("localhost:8080"), factory!(Handler));
/// let shutdown = server.shutdown_handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     shutdown.shutdown(Duration::from_secs(10));
/// });
/// server.run().await // returns once every connection is closed
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    /// The deadline of the grace period, once shutdown is requested.
    deadline: Arc<watch::Sender<Option<Instant>>>,
}

impl ShutdownHandle {
    pub(crate) fn new() -> Self {
        Self {
            deadline: Arc::new(watch::channel(None).0),
        }
    }

    /// Starts the shutdown, letting calls in flight run for at most `grace`. Only the first request
    /// counts.
    pub fn shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + crate::rt::bounded(grace);
        self.deadline.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(deadline);
            true
        });
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.deadline.borrow().is_some()
    }

    /// A receiver whose `has_changed` tells, without a lock, that shutdown was requested since.
    pub(crate) fn changes(&self) -> watch::Receiver<Option<Instant>> {
        self.deadline.subscribe()
    }

    /// Resolves with the grace period's deadline once shutdown is requested.
    pub(crate) async fn requested(&self) -> Instant {
        let mut rx = self.deadline.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(deadline) => deadline.unwrap_or_else(Instant::now),
            // The sender lives in `self`: it cannot be dropped while this waits.
            Err(_) => Instant::now(),
        }
    }
}
