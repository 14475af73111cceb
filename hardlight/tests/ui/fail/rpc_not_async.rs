use hardlight::{HandlerResult, rpc};

#[rpc]
pub trait Counter {
    fn get(&self) -> HandlerResult<u32>;
}

fn main() {}
