//! A type that is not #[codable] is reported at that type, once, in the user's terms: among several
//! arguments, inside a return type, as a call's error type and as a one-way method's argument.

use hardlight::{HandlerResult, rpc};

/// Not #[codable].
pub struct Secret(u32);

/// Not #[codable] either.
#[derive(Debug)]
pub struct VaultError;

#[rpc]
pub trait Vault {
    async fn store(&self, key: String, secret: Secret, ttl: u32) -> HandlerResult<()>;
    async fn reveal(&self, key: String) -> HandlerResult<Secret>;
    async fn remove(&self, key: String) -> Result<u32, VaultError>;
    #[oneway]
    async fn audit(&self, who: String, what: Secret);
}

fn main() {}
