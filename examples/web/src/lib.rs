//! The web example's crate: one service, a browser client for it and an app that serves both.
//!
//! - [`service`]: the `#[rpc]` trait, its connection state and events, shared by both ends.
//! - Built for `wasm32-unknown-unknown` (feature `wasm` of hardlight): `browser`, the page's client,
//!   and `checks`, what the browser test runs in a real Chromium.
//! - Built natively: [`app`], the axum app serving the page and the RPC route on one port, the
//!   board's handler, and [`bundle`], which builds the browser half and its JavaScript glue.

pub mod service;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod checks;

#[cfg(not(target_arch = "wasm32"))]
pub mod app;
#[cfg(not(target_arch = "wasm32"))]
pub mod bundle;
