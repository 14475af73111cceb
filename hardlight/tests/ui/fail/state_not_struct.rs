use hardlight::connection_state;

#[connection_state]
pub enum State {
    Idle,
    Counting(u32),
}

fn main() {}
