//! `#[oneway]` means something only on a method declared in an `#[rpc]` trait.

use hardlight::{oneway, rpc, rpc_handler};

#[rpc]
pub trait Logger {
    #[oneway]
    async fn log(&self, line: String);
}

#[rpc_handler]
impl Logger for Handler {
    #[oneway]
    async fn log(&self, line: String) {
        let _ = line;
    }
}

#[oneway]
pub async fn log_free(line: String) {
    let _ = line;
}

fn main() {}
