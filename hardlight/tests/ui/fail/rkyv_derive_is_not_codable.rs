//! A type that derives rkyv's traits directly, without `#[codable]`, has no shape: it cannot
//! describe its structure for the schema fingerprint. It is refused where a service uses it and
//! where a `#[codable]` type contains it, each time at the type, saying to add `#[codable]`.

use hardlight::__private::rkyv;
use hardlight::{HandlerResult, codable, rpc};

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(crate = hardlight::__private::rkyv)]
pub struct Raw(u32);

#[codable]
pub struct Wrapper {
    pub raw: Raw,
}

#[rpc]
pub trait Store {
    async fn put(&self, raw: Raw) -> HandlerResult<()>;
}

fn main() {}
