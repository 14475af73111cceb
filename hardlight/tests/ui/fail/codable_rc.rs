//! `Rc` is not `Send`: a value holding one cannot cross a connection (`Arc` can). Refused where the
//! type is used, as an argument or inside a #[codable] type.

use std::rc::Rc;

use hardlight::{HandlerResult, codable, rpc};

#[codable]
pub struct Shared {
    value: Rc<String>,
}

#[rpc]
pub trait Sharing {
    async fn direct(&self, value: Rc<u32>) -> HandlerResult<()>;
    async fn inside(&self, shared: Shared) -> HandlerResult<()>;
}

fn main() {}
