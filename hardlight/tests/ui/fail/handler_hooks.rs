//! Every mistake in connection hooks is reported at once, each at the offending token.

use hardlight::{HandlerResult, rpc, rpc_handler};

#[rpc]
pub trait Chat {
    async fn say(&self, text: String) -> HandlerResult<()>;
}

#[rpc_handler]
impl Chat for Handler {
    async fn say(&self, _text: String) -> HandlerResult<()> {
        Ok(())
    }

    #[on_connect]
    fn not_async(&self) {}

    #[on_connect]
    async fn second(&self) {}

    #[on_disconnect]
    async fn wrong_receiver(&mut self, why: hardlight::Disconnect, extra: u32) -> bool {
        let _ = (why, extra);
        true
    }

    #[on_connect(early)]
    #[on_disconnect]
    async fn both<T>(self) {}

    #[on_conect]
    async fn typo(&self) {}
}

fn main() {}
