//! What a handler returns: [`HandlerResult`], with the general-purpose [`HandlerError`].

/// The general-purpose error a handler returns through [`HandlerResult`]: a message for the caller.
///
/// Declare your own `#[codable]` error type and return `Result<T, MyError>` when callers should match
/// on error cases.
///
/// ```
/// use hardlight::{HandlerError, HandlerResult};
/// fn check(n: u32) -> HandlerResult<u32> {
///     if n == 0 { return Err("n must not be zero".into()) }
///     Ok(n)
/// }
/// assert_eq!(check(0).unwrap_err().message(), "n must not be zero");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HandlerError").field(&self.message).finish()
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {}

impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

/// What an rpc method returns: `Ok(value)` or the general [`HandlerError`], or your own error type `E`.
pub type HandlerResult<T, E = HandlerError> = Result<T, E>;
