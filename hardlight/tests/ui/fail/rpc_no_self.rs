use hardlight::{HandlerResult, rpc};

#[rpc]
pub trait Counter {
    async fn without_receiver(amount: u32) -> HandlerResult<()>;
    async fn by_mutable_reference(&mut self, amount: u32) -> HandlerResult<()>;
    async fn by_value(self) -> HandlerResult<u32>;
}

fn main() {}
