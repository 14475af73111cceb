//! Builds the browser half of this crate: `cargo build --target wasm32-unknown-unknown`, then
//! wasm-bindgen's JavaScript glue, as the page loads them.
//!
//! It runs cargo itself, with a target directory of its own (`target/web-wasm`) so that it never
//! waits on the cargo that started it, and adds the `wasm32-unknown-unknown` target with rustup
//! when it is missing. The glue comes from `wasm-bindgen-cli-support`, the library behind the
//! `wasm-bindgen` command, at exactly the version of `wasm-bindgen` the client is built with.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::body::Bytes;

/// The target the browser half is built for.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The crate, as cargo names its package and its library.
const PACKAGE: &str = "hardlight-web";
const LIBRARY: &str = "hardlight_web";

/// The client's files, as the page asks for them.
pub struct Bundle {
    /// The glue module (`hardlight_web.js`), which loads the module below.
    pub js: Bytes,
    /// The compiled client (`hardlight_web_bg.wasm`).
    pub wasm: Bytes,
}

impl Bundle {
    /// The glue module's file name.
    pub const JS: &str = "hardlight_web.js";
    /// The WebAssembly module's file name.
    pub const WASM: &str = "hardlight_web_bg.wasm";

    /// Builds the client (blocking: it runs cargo, which takes a minute the first time and a
    /// moment after that) and generates its glue. The error says which step failed and why.
    pub fn build() -> Result<Self, String> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .ok_or("the example is not in its workspace")?
            .to_path_buf();
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"))
            .join("web-wasm");
        ensure_wasm_target()?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&workspace)
            .args([
                "build",
                "--package",
                PACKAGE,
                "--lib",
                "--target",
                WASM_TARGET,
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            // A coverage or sanitizer build of the app says nothing about the browser's.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .map_err(|e| format!("could not run cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "building the browser client failed ({status}); the errors are above"
            ));
        }
        let module = target_dir
            .join(WASM_TARGET)
            .join("debug")
            .join(format!("{LIBRARY}.wasm"));
        let out = target_dir.join("page");
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&module)
            .web(true)
            .map_err(|e| e.to_string())?
            .typescript(false)
            // `init()` with no argument loads the module next to the glue.
            .omit_default_module_path(false)
            .generate(&out)
            .map_err(|e| format!("generating the JavaScript glue failed: {e}"))?;
        let read = |name: &str| {
            std::fs::read(out.join(name))
                .map(Bytes::from)
                .map_err(|e| format!("reading {}: {e}", out.join(name).display()))
        };
        Ok(Self {
            js: read(Self::JS)?,
            wasm: read(Self::WASM)?,
        })
    }
}

/// Adds the wasm32 target with rustup when the toolchain lacks it. Without rustup, the build says
/// what is missing.
fn ensure_wasm_target() -> Result<(), String> {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(());
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|target| target.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("adding the {WASM_TARGET} target (rustup target add {WASM_TARGET})");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .map_err(|e| format!("could not run rustup: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustup target add {WASM_TARGET} failed ({status})"))
    }
}
