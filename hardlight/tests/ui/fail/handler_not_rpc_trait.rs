use hardlight::{HandlerResult, rpc_handler};

// Forgot `#[rpc]`.
pub trait Counter {
    async fn get(&self) -> HandlerResult<u32>;
}

#[rpc_handler]
impl Counter for Handler {
    async fn get(&self) -> HandlerResult<u32> {
        Ok(0)
    }
}

fn main() {}
