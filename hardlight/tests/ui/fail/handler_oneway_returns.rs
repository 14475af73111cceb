//! The handler implements a one-way method without a return type, as the trait declares it.

use hardlight::{HandlerResult, rpc, rpc_handler};

#[rpc]
pub trait Logger {
    #[oneway]
    async fn log(&self, line: String);
}

#[rpc_handler]
impl Logger for Handler {
    async fn log(&self, line: String) -> HandlerResult<()> {
        let _ = line;
        Ok(())
    }
}

fn main() {}
