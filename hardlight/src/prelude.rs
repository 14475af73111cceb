//! What a service and its clients need, for a glob import: `use hardlight::prelude::*;`.
//!
//! Unlike `use hardlight::*`, this brings in no modules (`state`, `events`, `client`, ...) and no
//! generic names (`Error`, `Event`, `Subscription`) that could collide with an application's own;
//! reach those by path (`hardlight::Error`) when needed.
//!
//! ```
//! use hardlight::prelude::*;
//!
//! // The application's own generic names do not collide with the prelude's.
//! #[derive(Debug)]
//! enum Error {}
//! struct Event;
//!
//! #[rpc]
//! trait Greeter {
//!     async fn greet(&self, name: String) -> HandlerResult<String>;
//! }
//!
//! #[rpc_handler]
//! impl Greeter for GreeterHandler {
//!     async fn greet(&self, name: String) -> HandlerResult<String> {
//!         Ok(format!("hello, {name}"))
//!     }
//! }
//!
//! let server = Server::new(ServerConfig::new_self_signed("localhost:0"), factory!(GreeterHandler));
//! ```

#[cfg(hardlight_native)]
pub use crate::factory;
pub use crate::{
    Archived, BytePipe, ByteStream, CallError, ClientConfig, Compression, ConnectError,
    HandlerError, HandlerResult, RpcError, Streaming, Topic, codable, connection_state, oneway,
    rpc, rpc_handler,
};
#[cfg(hardlight_native)]
pub use crate::{
    CertFingerprint, Disconnect, EventEmitter, Server, ServerConfig, ServerTls, TopicNotification,
};
