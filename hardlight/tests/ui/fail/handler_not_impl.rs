use hardlight::rpc_handler;

#[rpc_handler]
fn handler() {}

#[rpc_handler]
struct Handler;

fn main() {}
