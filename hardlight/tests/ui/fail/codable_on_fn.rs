use hardlight::codable;

#[codable]
fn encode() {}

fn main() {}
