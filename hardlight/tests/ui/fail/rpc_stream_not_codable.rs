use hardlight::*;

pub struct Plain {
    pub value: u32,
}

#[rpc]
pub trait Feed {
    /// The items of a stream must be codable, as a reply must.
    async fn plain(&self) -> HandlerResult<Streaming<Plain>>;
}

fn main() {}
