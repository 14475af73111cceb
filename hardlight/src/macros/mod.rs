//! Macros used inside the crate.

#[macro_use]
mod cfg;
