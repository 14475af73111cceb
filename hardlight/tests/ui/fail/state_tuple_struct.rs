use hardlight::connection_state;

#[connection_state]
pub struct State(u32, String);

fn main() {}
