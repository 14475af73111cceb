use hardlight::rpc_handler;

#[rpc_handler]
impl Handler {
    async fn get(&self) -> u32 {
        0
    }
}

fn main() {}
