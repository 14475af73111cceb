use hardlight::*;

pub struct Plain {
    pub value: u32,
}

#[rpc]
pub trait Sink {
    /// The items of a streamed argument must be codable, as arguments must.
    async fn pour(&self, items: Streaming<Plain>) -> HandlerResult<u32>;
}

fn main() {}
