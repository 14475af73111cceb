//! The byte stream under a connection's WebSocket ([`Stream`]): plain TCP, TLS, or an upgraded HTTP
//! connection, boxed so that the layers above need not be generic over it; and the WebSocket on it
//! ([`Socket`]).

use tokio::io::{AsyncRead, AsyncWrite};

use crate::ws::server::ServerSocket;

/// A byte stream: TCP, TLS, an upgraded HTTP connection.
pub(crate) type Stream = Box<dyn IoStream>;

/// What a connection's byte stream must be.
pub(crate) trait IoStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> IoStream for T {}

/// A connection's WebSocket, past the upgrade.
pub(crate) type Socket = ServerSocket<Stream>;
