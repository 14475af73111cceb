//! The server runs calls on a multi-threaded runtime: a handler's future must be `Send`.

use hardlight::{HandlerResult, rpc, rpc_handler};

#[rpc]
pub trait Counter {
    async fn get(&self) -> HandlerResult<u32>;
}

#[rpc_handler]
impl Counter for Handler {
    async fn get(&self) -> HandlerResult<u32> {
        let not_send = std::rc::Rc::new(1);
        let _ = self.state.read().await;
        Ok(*not_send)
    }
}

fn main() {}
