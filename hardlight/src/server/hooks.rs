//! Running a handler's connection hooks (`#[on_connect]`, `#[on_disconnect]`) with their panics
//! contained and their time bounded. What `on_disconnect` is told is [`super::disconnect`].

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::timeout;

use super::disconnect::Disconnect;
use super::handler::Handler;

/// Runs `handler`'s `on_connect` for at most `limit`; the error is the reason to close with 1011.
pub(crate) async fn on_connect<H: Handler>(handler: &H, limit: Duration) -> Result<(), String> {
    match timeout(limit, AssertUnwindSafe(handler.on_connect()).catch_unwind()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(panic)) => {
            let message = panic_message(&*panic);
            tracing::error!(%message, "on_connect panicked; closing the connection");
            Err(format!("on_connect failed: {message}"))
        }
        Err(_) => {
            tracing::error!(
                ?limit,
                "on_connect did not finish in time; closing the connection"
            );
            Err(format!("on_connect did not finish within {limit:?}"))
        }
    }
}

/// Runs `handler`'s `on_disconnect` for at most `limit`; a panic or a timeout is logged.
pub(crate) async fn on_disconnect<H: Handler>(handler: &H, why: Disconnect, limit: Duration) {
    match timeout(
        limit,
        AssertUnwindSafe(handler.on_disconnect(why)).catch_unwind(),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => {
            let message = panic_message(&*panic);
            tracing::error!(%message, "on_disconnect panicked");
        }
        Err(_) => tracing::error!(?limit, "on_disconnect did not finish in time; stopped"),
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "handler panicked".to_owned()
    }
}
