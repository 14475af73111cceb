use hardlight::codable;

#[codable(crate = rkyv)]
pub struct Point {
    x: i32,
    y: i32,
}

fn main() {}
