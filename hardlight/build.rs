//! Turns the feature flags and the target into the cfg aliases the code is gated on, so that the
//! rule for what a build contains is written once, here (lib.rs, "Feature flags", documents it):
//!
//! - `hardlight_native`: the server and the client over tokio's TCP and rustls: the `native`
//!   feature, on any target but wasm32.
//! - `hardlight_browser`: the client over the browser's WebSocket: the `wasm` feature, on wasm32.
//! - `hardlight_nats`, `hardlight_axum`: those features, where `hardlight_native` is.
//!
//! Each transport feature adds nothing on the other's targets, so features stay additive: on wasm32
//! `native` (a default feature) cannot take the place of `wasm`, and on native targets `wasm` adds
//! nothing. The dependencies follow the same rule (target tables in Cargo.toml).

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let wasm32 = env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let native = feature("NATIVE") && !wasm32;
    for (alias, on) in [
        ("hardlight_native", native),
        ("hardlight_browser", feature("WASM") && wasm32),
        ("hardlight_nats", native && feature("NATS")),
        ("hardlight_axum", native && feature("AXUM")),
    ] {
        println!("cargo::rustc-check-cfg=cfg({alias})");
        if on {
            println!("cargo::rustc-cfg={alias}");
        }
    }
}
