//! The web example: an axum app that serves a page and, on the same port, a hardlight server
//! mounted at `/rpc`. The page's client is this crate built for WebAssembly
//! (`examples/web/src/browser.rs`); the example builds it on start.
//!
//! ```text
//! cargo run --example web                     # serves http://127.0.0.1:8080/ (another port if taken)
//! cargo run --example web -- 0.0.0.0:3000     # serves on this address
//! ```
//!
//! Open the URL it prints in a browser or two: each page joins the board, shows the shared total and
//! everyone's bumps as they happen. Ctrl-C stops it gracefully.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hardlight_web::app::RunningApp;
use hardlight_web::bundle::Bundle;

/// Where the app listens unless told otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:8080";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, explicit) = match args.as_slice() {
        [] => (DEFAULT_ADDR.to_owned(), false),
        [addr] => (addr.clone(), true),
        _ => return Err("usage: web [ADDRESS]".into()),
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr} is not an address (e.g. 127.0.0.1:8080): {e}"))?;

    eprintln!("building the page's WebAssembly client (a minute the first time)…");
    let bundle = tokio::task::spawn_blocking(Bundle::build)
        .await
        .map_err(|e| e.to_string())??;

    let bundle = Arc::new(bundle);
    let app = match RunningApp::start(addr, bundle.clone()).await {
        Ok(app) => app,
        // The default port is busy: any free one will do.
        Err(e) if !explicit => {
            eprintln!("{e}; using a free port instead");
            RunningApp::start(SocketAddr::new(addr.ip(), 0), bundle)
                .await
                .map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    println!("open {} (RPC route: {})", app.url(), app.rpc_url());
    println!("Ctrl-C to stop");

    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
    println!("interrupted; shutting down");
    app.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
