use hardlight::{HandlerResult, rpc};

#[rpc]
pub trait Counter {
    async fn add<T>(&self, amount: T) -> HandlerResult<()>;
    async fn get(&self) -> HandlerResult<u32>
    where
        Self: Sync;
}

#[rpc]
pub trait Store<'a, K> {
    async fn get(&self, key: String) -> HandlerResult<u32>;
}

fn main() {}
