//! `#[rpc_handler(context = ...)]`: every connection's handler shares the context.

use std::sync::atomic::{AtomicU64, Ordering};

use hardlight::{HandlerResult, rpc, rpc_handler};

/// Shared by all connections.
#[derive(Default)]
pub struct AppContext {
    calls: AtomicU64,
}

mod api {
    use hardlight::{HandlerResult, rpc};

    #[rpc]
    pub trait Calls {
        async fn count(&self) -> HandlerResult<u64>;
    }
}

#[rpc_handler(context = AppContext, vis = pub)]
impl api::Calls for Handler {
    async fn count(&self) -> HandlerResult<u64> {
        Ok(self.context.calls.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

#[rpc]
trait Local {
    async fn ping(&self) -> HandlerResult<()>;
}

#[rpc_handler(context = std::collections::HashMap<String, u32>)]
impl Local for LocalHandler {
    async fn ping(&self) -> HandlerResult<()> {
        let _ = self.context.get("x");
        Ok(())
    }
}

fn main() {
    let context = std::sync::Arc::new(AppContext::default());
    let _ = hardlight::factory!(Handler, context);
    let _ = hardlight::factory!(Handler);
    let _ = hardlight::factory!(LocalHandler, std::collections::HashMap::new());
    let _: fn(&api::CallsClient) = |client| drop(client.count());
    let _: fn(&LocalClient) = |client| drop(client.ping());
}
