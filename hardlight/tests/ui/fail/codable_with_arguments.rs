use hardlight::codable;

#[codable(crate = hardlight)]
pub struct Point {
    x: i32,
    y: i32,
}

fn main() {}
