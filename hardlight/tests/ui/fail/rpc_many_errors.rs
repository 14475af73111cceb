//! Every mistake in the trait is reported in one compilation.

use hardlight::{HandlerResult, rpc};

#[rpc(state = State, colour = Red, state = Other)]
pub trait Counter {
    type Value;

    fn not_async(&self) -> HandlerResult<()>;
    async fn no_return(&self);
    async fn borrowed(&self, name: &str) -> HandlerResult<()>;
    async fn pattern(&self, (a, b): (u32, u32)) -> HandlerResult<()>;
    async fn new(&self) -> HandlerResult<()>;
    async fn too_many(
        &self,
        a: u8,
        b: u8,
        c: u8,
        d: u8,
        e: u8,
        f: u8,
        g: u8,
        h: u8,
        i: u8,
        j: u8,
        k: u8,
        l: u8,
        m: u8,
        n: u8,
    ) -> HandlerResult<()>;
}

fn main() {}
