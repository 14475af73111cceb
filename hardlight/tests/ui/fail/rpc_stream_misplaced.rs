use hardlight::*;

#[rpc]
pub trait Feed {
    /// A stream as an argument.
    async fn upload(&self, items: Streaming<u32>) -> HandlerResult<()>;
    /// A stream nested in a value.
    async fn nested(&self) -> HandlerResult<Vec<Streaming<u32>>>;
    /// A stream of streams.
    async fn streams(&self) -> HandlerResult<Streaming<Streaming<u32>>>;
    /// A one-way method that streams.
    #[oneway]
    async fn push(&self) -> HandlerResult<Streaming<u32>>;
}

fn main() {}
