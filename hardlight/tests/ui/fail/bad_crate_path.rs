//! `crate = "..."` takes the runtime's path as a string.

use hardlight::{codable, connection_state, rpc, rpc_handler};

#[rpc(crate = "not a path")]
pub trait Empty {}

#[rpc_handler(crate = "::hardlight", crate = "::hardlight")]
impl Empty for Handler {}

#[connection_state(crate = "")]
pub struct State {
    counter: u32,
}

#[codable(crate = "hardlight::<u8>")]
pub struct Point(i32, i32);

fn main() {}
