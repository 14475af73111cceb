use hardlight::*;

#[rpc]
pub trait Files {
    /// A byte stream carries the client's bytes itself: no streamed argument beside it.
    async fn both(&self, chunks: Streaming<Vec<u8>>) -> HandlerResult<ByteStream>;
}

fn main() {}
