use hardlight::*;

#[rpc]
pub trait Files {
    /// A byte stream inside a value cannot travel.
    async fn nested(&self) -> HandlerResult<Vec<ByteStream>>;
}

fn main() {}
