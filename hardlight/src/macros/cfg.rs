//! The one way code is gated on features: the cfg aliases `hardlight_native`, `hardlight_browser`,
//! `hardlight_nats` and `hardlight_axum`, which `build.rs` sets from the features *and* the target
//! (so that `native` does nothing on wasm32 and `wasm` nothing elsewhere). Code never tests
//! `feature = "..."` itself.
//!
//! A group of items goes in one of these blocks, so that the gate is read once, at the block (as
//! tokio's `cfg_net! { ... }`). Where a block cannot go (a field, a statement, a match arm, a lone
//! item among ungated ones) the item carries the alias itself: `#[cfg(hardlight_native)]`.

/// Items of the native transport: the server, and the client over tokio's TCP and rustls.
macro_rules! cfg_native {
    ($($item:item)*) => {
        $(
            #[cfg(hardlight_native)]
            $item
        )*
    };
}

/// Items of the browser client (feature `wasm` on wasm32).
macro_rules! cfg_browser {
    ($($item:item)*) => {
        $(
            #[cfg(hardlight_browser)]
            $item
        )*
    };
}

/// Items of the NATS bridge (feature `nats`).
macro_rules! cfg_nats {
    ($($item:item)*) => {
        $(
            #[cfg(hardlight_nats)]
            $item
        )*
    };
}

/// Items of the axum mount (feature `axum`). Used by the server alone, which a browser build lacks.
#[cfg_attr(not(hardlight_native), allow(unused_macros))]
macro_rules! cfg_axum {
    ($($item:item)*) => {
        $(
            #[cfg(hardlight_axum)]
            $item
        )*
    };
}
