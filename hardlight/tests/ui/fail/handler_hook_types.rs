//! A hook's reason argument is a `hardlight::Disconnect`, and its future must be `Send`: the
//! compiler's errors point at the user's code.

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
    async fn joined(&self) {
        let not_send = std::rc::Rc::new(1);
        let _ = self.state.read().await;
        drop(not_send);
    }

    #[on_disconnect]
    async fn left(&self, why: String) {
        let _ = why;
    }
}

fn main() {}
