//! Connecting through the browser's WebSocket (feature `wasm` on wasm32).

use std::sync::Arc;

use super::Mirror;
use super::config::ClientConfig;
use super::session::Session;
use crate::error::Error;
use crate::server::handler::ServiceSchema;

/// Opens a connection and starts its driver task.
pub(crate) async fn connect<S: ?Sized + ServiceSchema + 'static>(
    _config: &ClientConfig,
    _mirror: &Mirror<S>,
) -> Result<Arc<Session<S>>, Error> {
    Err(Error::Transport(
        "the browser transport is not implemented yet".into(),
    ))
}
