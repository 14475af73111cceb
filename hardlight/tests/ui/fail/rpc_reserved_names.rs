//! An rpc method cannot take the name of one of the generated client's own methods: it would clash
//! with `client.connect()`, `client.state()`, ...

use hardlight::{HandlerResult, rpc};

#[rpc]
pub trait Door {
    async fn connect(&self, to: String) -> HandlerResult<()>;
    async fn state(&self) -> HandlerResult<u8>;
    #[oneway]
    async fn r#subscribe(&self);
    async fn open(&self) -> HandlerResult<()>;
}

fn main() {}
