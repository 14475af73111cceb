//! A handler's connection hooks (`#[on_connect]`, `#[on_disconnect]`): what `on_disconnect` is told
//! ([`Disconnect`]), and running either hook with its panic contained and its time bounded.

use std::fmt;
cfg_native! {
    use std::panic::AssertUnwindSafe;
    use std::time::Duration;

    use futures_util::FutureExt;
    use tokio::time::timeout;

    use super::handler::Handler;
}

/// How a connection ended, as its handler's `#[on_disconnect]` hook is told.
///
/// ```
/// # use hardlight::*;
/// # #[rpc] trait Chat { async fn say(&self, text: String) -> HandlerResult<()>; }
/// #[rpc_handler]
/// impl Chat for ChatHandler {
///     async fn say(&self, text: String) -> HandlerResult<()> { Ok(()) }
///
///     #[on_disconnect]
///     async fn left(&self, why: Disconnect) {
///         if !why.is_clean() {
///             tracing::info!(%why, "connection lost");
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    code: Option<u16>,
    reason: String,
    clean: bool,
    initiator: Initiator,
}

/// Which end decided that a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The client closed the connection, or it was lost (the client went away without closing, the
    /// network failed).
    Client,
    /// The server closed it: shutdown, keepalive timeout, a slow consumer, a protocol violation, a
    /// newer connection of the same identity.
    Server,
}

impl Disconnect {
    /// The client closed with this close frame (a close frame without code gives `None`).
    pub(crate) fn by_client(code: Option<u16>, reason: String) -> Self {
        Self {
            code,
            reason,
            clean: true,
            initiator: Initiator::Client,
        }
    }

    /// The connection was lost without a close frame.
    pub(crate) fn lost(reason: impl Into<String>) -> Self {
        Self {
            code: None,
            reason: reason.into(),
            clean: false,
            initiator: Initiator::Client,
        }
    }

    /// The server closed with this code and reason; `acknowledged`: the client answered the close.
    pub(crate) fn by_server(code: u16, reason: String, acknowledged: bool) -> Self {
        Self {
            code: Some(code),
            reason,
            clean: acknowledged,
            initiator: Initiator::Server,
        }
    }

    /// The close code of the close frame that ended the connection, the client's or the server's
    /// ([`crate::wire::close`]: 1000 for a client that disconnected, 1001 at server shutdown, 4009 at
    /// the keepalive's idle timeout, 4010 for a replaced connection, ...). `None` when the
    /// connection was lost without one, or the client's close frame had no code.
    pub fn code(&self) -> Option<u16> {
        self.code
    }

    /// The reason of that close frame, or how the connection was lost.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// True if the connection ended with a close handshake: the client sent a close frame, or it
    /// answered the server's (with its own close frame or by closing the TCP connection) within 2
    /// seconds and without sending more than 64 other messages first. False when the connection was
    /// lost, or the client never answered the server's close (a dead peer at the keepalive timeout,
    /// a client that stopped reading).
    pub fn is_clean(&self) -> bool {
        self.clean
    }

    /// Which end decided that the connection ends.
    pub fn initiator(&self) -> Initiator {
        self.initiator
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.initiator, self.clean) {
            (Initiator::Client, true) => "the client closed",
            (Initiator::Client, false) => "the connection was lost",
            (Initiator::Server, _) => "the server closed",
        })?;
        if let Some(code) = self.code {
            write!(f, " (code {code})")?;
        }
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        if self.initiator == Initiator::Server && !self.clean {
            f.write_str(" (the client did not answer)")?;
        }
        Ok(())
    }
}

/// The type of an `#[on_disconnect]` hook's argument: [`Disconnect`] only. Generated code converts
/// through it so that another type is reported at the user's argument, with how to fix it.
#[diagnostic::on_unimplemented(
    message = "an #[on_disconnect] hook's argument is a `hardlight::Disconnect`, not `{Self}`",
    label = "expected `hardlight::Disconnect`",
    note = "write `why: hardlight::Disconnect`, or leave the argument out"
)]
pub trait DisconnectArg {
    /// The argument.
    fn from_disconnect(why: Disconnect) -> Self;
}

impl DisconnectArg for Disconnect {
    fn from_disconnect(why: Disconnect) -> Self {
        why
    }
}

cfg_native! {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_who_and_how() {
        assert_eq!(
            Disconnect::by_client(Some(1000), String::new()).to_string(),
            "the client closed (code 1000)"
        );
        assert_eq!(
            Disconnect::by_server(4009, "silent".into(), false).to_string(),
            "the server closed (code 4009): silent (the client did not answer)"
        );
        assert_eq!(
            Disconnect::lost("reset").to_string(),
            "the connection was lost: reset"
        );
    }
}
