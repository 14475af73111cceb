//! A one-way method has no reply, so it cannot declare a return type.

use hardlight::{HandlerResult, rpc};

#[rpc]
pub trait Logger {
    #[oneway]
    async fn log(&self, line: String) -> HandlerResult<()>;
    #[oneway]
    async fn count(&self) -> u64;
}

fn main() {}
