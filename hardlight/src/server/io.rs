//! The byte stream under a connection's WebSocket ([`Io`]): plain TCP or TLS, boxed so that the
//! layers above need not be generic over it.

use tokio::io::{AsyncRead, AsyncWrite};

/// The byte stream under a connection's WebSocket.
pub(crate) type Io = Box<dyn IoStream>;

/// What a connection's byte stream must be.
pub(crate) trait IoStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> IoStream for T {}
