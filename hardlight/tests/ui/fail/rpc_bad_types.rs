//! Types the wire cannot carry are reported at the user's type.

use hardlight::{HandlerResult, rpc};

/// Not #[codable].
pub struct Secret(u32);

/// Not #[connection_state].
#[derive(Default, Clone)]
pub struct NotState;

#[rpc(state = NotState, events = Secret)]
pub trait Vault {
    async fn store(&self, secret: Secret) -> HandlerResult<()>;
    async fn count(&self) -> u32;
    async fn reveal(&self) -> HandlerResult<Secret>;
}

fn main() {}
