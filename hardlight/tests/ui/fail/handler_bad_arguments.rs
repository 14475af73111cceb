use hardlight::{HandlerResult, rpc, rpc_handler};

#[rpc]
pub trait Counter {
    async fn get(&self) -> HandlerResult<u32>;
}

#[rpc_handler(state = State, context = A, context = B, vis = pub)]
impl Counter for handlers::Handler {
    async fn get(&self) -> HandlerResult<u32> {
        Ok(0)
    }
}

#[rpc_handler]
impl<T> Counter for Generic<T> {
    async fn get(&self) -> HandlerResult<u32> {
        Ok(0)
    }
}

fn main() {}
