//! # hardlight
//!
//! A secure, real-time, low-latency binary WebSocket RPC subprotocol and framework.
//!
//! - Annotate a trait with [`rpc`], implement it with [`rpc_handler`]; the macros generate a typed
//!   async client (`CounterClient` for `trait Counter`) and the server dispatch. No IDL files.
//! - Values are encoded with rkyv and **validated** before they are read.
//! - One connection multiplexes up to 256 concurrent calls; more wait for a free slot. Methods
//!   marked [`oneway`] are sent without waiting for a reply.
//! - Per-connection state ([`connection_state`]) lives on the server and is mirrored on the client.
//! - Connections can be authenticated at the upgrade ([`ServerConfig::authenticate`], giving each an
//!   [`Identity`]), limited to one per identity, and watched by `#[on_connect]` and `#[on_disconnect]`
//!   hooks in the handler.
//! - Handlers subscribe their connection to [`Topic`]s; [`EventEmitter`]s publish to them; the
//!   [`TopicNotifier`] reports topics being created and removed.
//! - Clients follow their connection ([`client::Client::connection_events`]), give calls deadlines
//!   and cancel them by dropping them, and reconnect with backoff when told to ([`Reconnect`]).
//! - TLS by rustls (a self-signed dev server in one line), optional deflate compression.
//!
//! The wire protocol is specified in `docs/PROTOCOL.md`.
//!
//! ## Feature flags
//! - `native` (default): the server, and the client over tokio's TCP and rustls; with tokio's runtime,
//!   `tokio-tungstenite`, `rustls` (ring), `rcgen`, `httparse` and `rlimit` (the open-files limit).
//!   Targets other than wasm32 only: on wasm32 it adds nothing (none of its dependencies is built).
//! - `wasm`: the client in a browser (`wasm32-unknown-unknown`): the same [`client::Client`] and
//!   generated clients, over the browser's WebSocket; with `web-sys`, `wasm-bindgen`, `gloo-timers`,
//!   `web-time` and `send_wrapper`. On wasm32 there is no server, no [`tls`] module (the browser does
//!   TLS) and no `http` re-export. On other targets `wasm` adds nothing. The README's "Browser" section
//!   covers building, serving and TLS; `examples/web` is a page using it, tested in headless Chromium.
//!
//! Features are additive: each transport feature adds nothing on the other's targets, so
//! `features = ["wasm"]` builds the browser client on wasm32 whether or not the default `native` is
//! left on (`default-features = false` is not needed there), and a crate may enable both to build
//! for both. A build with neither transport for its target is a
//! compile error. (`build.rs` turns features and target into the cfg aliases the code is gated on.)
//! - `nats` (implies `native`): bridges topic events between servers through NATS (`ServerConfig::nats`,
//!   `events::NatsBridge`), with `async-nats`.
//! - `axum` (implies `native`): serves a server as a route of an axum app (`Server::into_axum_service`,
//!   `ServerConfig::mounted`), sharing the app's listener, TLS and middleware; with `axum`, `hyper`,
//!   `hyper-util` and `tower-service`, at the versions axum 0.8 uses.
//!
//! ## Module map
//! From the bottom up (`docs/ARCHITECTURE.md` has the layers and a call's path through them):
//! - [`wire`]: the wire format (frames, handshake tokens, encoding with validation and a depth
//!   bound, zero-copy views ([`Archived`]), compression, close codes, where tokens travel).
//! - [`contract`]: what `#[rpc]` generates against, below both ends: a service's schema and the
//!   dispatch of a call to a handler.
//! - [`events`], [`state`], [`topic`]: what handlers work with: topics and their subscribers, the
//!   connection state.
//! - [`client`], [`server`]: the two ends.
//! - [`tls`]: certificates and trust.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod macros;

mod buffers;
#[cfg(hardlight_native)]
mod call_ids;
pub mod client;
pub mod contract;
pub mod error;
pub mod events;
mod keepalive;
mod locks;
pub mod metrics;
mod otel;
mod redact;
mod rt;
#[cfg(hardlight_native)]
pub mod server;
pub mod state;
#[cfg(test)]
mod test_wakers;
#[cfg(hardlight_native)]
pub mod tls;
pub mod topic;
pub mod wire;
#[cfg(hardlight_native)]
mod ws;

#[cfg(not(any(hardlight_native, hardlight_browser)))]
compile_error!(
    "hardlight needs a transport: the `native` feature (the default) on a native target, or `wasm` \
     on wasm32 (`native` adds nothing on wasm32)"
);

#[doc(hidden)]
pub mod __private;

pub mod prelude;

pub use hardlight_macros::{codable, connection_state, oneway, rpc, rpc_handler};

pub use client::{
    ClientConfig, ConnectionEvent, ConnectionEvents, Reconnect, RecvError, StateWatcher,
    Subscription, WhenDisconnected,
};
pub use contract::schema::{fingerprint, schema};
pub use contract::{BytePipe, ByteStream, Streaming};
pub use error::{
    CallError, ClosedError, ConnectError, Error, HandlerError, HandlerResult, ProtocolError,
    RpcError, TransportError,
};
#[cfg(hardlight_native)]
pub use error::{EmitError, NotifierTaken, ServerError, SubscribeError, TopicTooLong};
pub use events::{Event, EventPayload};
#[cfg(hardlight_native)]
pub use events::{EventEmitter, Subscriptions, TopicNotification, TopicNotifier};
#[cfg(hardlight_nats)]
pub use events::{NatsBridge, NatsConfig, NatsStatus};
#[cfg(hardlight_axum)]
pub use server::AxumService;
#[cfg(hardlight_native)]
pub use server::{
    BoundServer, IdentityPolicy, RateLimit, Rejection, Server, ServerConfig, ServerStats,
    ShutdownHandle, UpgradeRequest,
};
#[cfg(hardlight_native)]
pub use server::{
    Disconnect, Factory, Identity, Initiator, call_deadline, call_metadata, call_trace_parent,
};
pub use state::{StateHandle, StateWriteGuard};
#[cfg(hardlight_native)]
pub use tls::{CertFingerprint, ServerTls, ServerTrust, TlsError};
pub use topic::Topic;
pub use wire::TokenCarrier;
pub use wire::{Archived, Codable, Compression, Metadata, MetadataError, TraceParent};

/// The `http` crate's types that [`UpgradeRequest`] hands out (`HeaderMap`, `HeaderValue`, ...), so
/// that applications need no `http` dependency of their own.
#[cfg(hardlight_native)]
pub use tokio_tungstenite::tungstenite::http;
