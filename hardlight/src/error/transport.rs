//! [`TransportError`]: a failure of the network or of the WebSocket under a connection.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// A network or WebSocket operation failed: what failed, with the error that made it fail (a
/// [`std::io::Error`], tungstenite's WebSocket error, an unparsable HTTP answer, ...) as its
/// [`source`](StdError::source) when there is one.
///
/// Cheap to clone: the cause is shared, so that one failure can fail many calls.
///
/// Its cause is reached through the source chain:
///
/// ```
/// use std::error::Error as _;
///
/// /// Whether connecting failed because nothing listens at the address.
/// fn refused(error: &hardlight::ConnectError) -> bool {
///     let mut next = error.source();
///     while let Some(cause) = next {
///         if let Some(io) = cause.downcast_ref::<std::io::Error>() {
///             return io.kind() == std::io::ErrorKind::ConnectionRefused;
///         }
///         next = cause.source();
///     }
///     false
/// }
/// ```
#[derive(Clone)]
pub struct TransportError {
    what: Cow<'static, str>,
    cause: Option<Arc<dyn StdError + Send + Sync>>,
}

impl TransportError {
    /// `what` failed because of `cause`.
    #[cfg(hardlight_native)]
    pub(crate) fn new(
        what: impl Into<Cow<'static, str>>,
        cause: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self {
            what: what.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// `what` failed, and nothing more is known (a browser does not say why its WebSocket failed;
    /// an answer that is not a valid upgrade has no error of its own).
    pub(crate) fn message(what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            what: what.into(),
            cause: None,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("what", &self.what)
            .field("cause", &self.cause)
            .finish()
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // The cause itself, not a wrapper of it: `downcast_ref::<io::Error>()` finds it.
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn StdError + 'static))
    }
}
