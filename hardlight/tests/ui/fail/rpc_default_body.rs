use hardlight::{HandlerResult, rpc};

#[rpc]
pub trait Counter {
    async fn get(&self) -> HandlerResult<u32> {
        Ok(0)
    }
}

fn main() {}
