use hardlight::*;

#[rpc]
pub trait Feed {
    /// A streamed argument before another argument.
    async fn upload(&self, items: Streaming<u32>, label: String) -> HandlerResult<()>;
    /// Two streamed arguments.
    async fn two(&self, a: Streaming<u32>, b: Streaming<u32>) -> HandlerResult<()>;
    /// A stream nested in an argument.
    async fn nested_arg(&self, items: Vec<Streaming<u32>>) -> HandlerResult<()>;
    /// A one-way method with a streamed argument.
    #[oneway]
    async fn pour(&self, items: Streaming<u32>);
    /// A stream nested in a value.
    async fn nested(&self) -> HandlerResult<Vec<Streaming<u32>>>;
    /// A stream of streams.
    async fn streams(&self) -> HandlerResult<Streaming<Streaming<u32>>>;
    /// A one-way method that streams.
    #[oneway]
    async fn push(&self) -> HandlerResult<Streaming<u32>>;
}

fn main() {}
