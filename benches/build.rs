//! Generates the tonic service and the prost messages from `proto/`, with the protoc binary that
//! `protoc-bin-vendored` ships, so that building needs nothing installed by hand.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Naming protoc through the config is what setting PROTOC would do, without touching the
    // process environment (`set_var` is `unsafe` in edition 2024).
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(
        config,
        &["proto/bench.proto"],
        &["proto"],
    )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
