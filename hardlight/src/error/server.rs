//! What starting a server reports ([`ServerError`]), and [`NotifierTaken`].

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// Why a server could not start or serve: `Server::bind`, `Server::run`, `BoundServer::run`,
/// `BoundServer::local_addr`, `Server::into_axum_service`.
///
/// The I/O error underneath, if any, is the [`source`](StdError::source) (shared, so that the
/// error stays cheap to clone).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening socket could not be bound to the configured address (in use, not an address
    /// of this host, not permitted, or not an address at all).
    Bind {
        /// The configured address.
        address: String,
        /// Why.
        source: Arc<io::Error>,
    },
    /// An operation on the listening socket failed.
    Io(Arc<io::Error>),
    /// The NATS server URL of [`NatsConfig`](crate::NatsConfig) cannot be used (an unreachable NATS
    /// is not an error: the bridge retries).
    #[cfg(hardlight_nats)]
    InvalidNatsUrl {
        /// The URL, with any credentials in it redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
        /// The NATS client's error, if it found the problem.
        source: Option<Arc<dyn StdError + Send + Sync>>,
    },
    /// The subject prefix of [`NatsConfig`](crate::NatsConfig) is not a valid NATS subject prefix.
    #[cfg(hardlight_nats)]
    InvalidNatsPrefix {
        /// The prefix.
        prefix: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ServerError {
    /// The error for a listening socket that could not be bound to `address`.
    pub(crate) fn bind(address: impl Into<String>, source: io::Error) -> Self {
        ServerError::Bind {
            address: address.into(),
            source: Arc::new(source),
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> Self {
        ServerError::Io(Arc::new(e))
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { address, .. } => write!(f, "could not listen on {address:?}"),
            ServerError::Io(_) => f.write_str("the listening socket failed"),
            #[cfg(hardlight_nats)]
            ServerError::InvalidNatsUrl { url, reason, .. } => {
                write!(f, "invalid NATS URL {url:?}: {reason}")
            }
            #[cfg(hardlight_nats)]
            ServerError::InvalidNatsPrefix { prefix, reason } => {
                write!(f, "invalid NATS subject prefix {prefix:?}: {reason}")
            }
        }
    }
}

impl StdError for ServerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // The errors themselves, not their `Arc`s: `downcast_ref::<io::Error>()` finds them.
        match self {
            ServerError::Bind { source, .. } | ServerError::Io(source) => {
                Some(&**source as &(dyn StdError + 'static))
            }
            #[cfg(hardlight_nats)]
            ServerError::InvalidNatsUrl { source, .. } => source
                .as_deref()
                .map(|source| source as &(dyn StdError + 'static)),
            #[cfg(hardlight_nats)]
            ServerError::InvalidNatsPrefix { .. } => None,
        }
    }
}

/// The server's topic notifier was already taken: a server has only one
/// (`Server::get_topic_notifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the topic notifier was already taken (a server has only one)")]
pub struct NotifierTaken;
