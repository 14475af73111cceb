//! Pins what the macros accept and every error message they give (trybuild).
//!
//! `ui/pass/*.rs` must compile and run; `ui/fail/*.rs` must fail with exactly the neighbouring
//! `.stderr`. Regenerate those with `TRYBUILD=overwrite cargo test -p hardlight --test ui` after a
//! deliberate change, and read the diff: each error must point at the user's token and say how to fix
//! it. The toolchain is pinned in `rust-toolchain.toml`, so the compiler's own wording is stable.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
