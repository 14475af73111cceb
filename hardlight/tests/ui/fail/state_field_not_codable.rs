use hardlight::connection_state;

#[derive(Default, Clone, Debug)]
pub struct Session(u64);

#[connection_state]
pub struct State {
    counter: u32,
    session: Session,
}

fn main() {}
