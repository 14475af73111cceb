//! The counter service of docs/PROTOCOL.md §3.4, written exactly as there (its fingerprint is the
//! one in the document's examples), with the behaviour the document gives it. (`protocol_vectors.rs`
//! writes its event type out by hand instead, so as not to depend on the macro crate.)

use hardlight::*;

/// The fingerprint docs/PROTOCOL.md gives the counter service.
pub const DOCUMENTED_FINGERPRINT: u64 = 0x2eb9_2116_5746_77d2;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum CounterEvent {
    Incremented { to: u32, from: u32 },
    Decremented { to: u32, from: u32 },
    ServerSentTest,
}

#[rpc(state = State, events = CounterEvent)]
pub trait Counter {
    async fn new_counter(&self) -> HandlerResult<()>;
    async fn increment(&self, amount: u32) -> HandlerResult<()>;
    async fn decrement(&self, amount: u32) -> HandlerResult<()>;
    async fn get(&self) -> HandlerResult<u32>;
}

#[connection_state]
pub struct State {
    counter: u32,
    topic: Topic,
}

#[rpc_handler(vis = pub)]
impl Counter for CounterHandler {
    async fn new_counter(&self) -> HandlerResult<()> {
        let mut state = self.state.write().await;
        state.topic = Topic::from("counter");
        state.counter = 0;
        self.subscriptions.add(&state.topic);
        Ok(())
    }

    async fn increment(&self, amount: u32) -> HandlerResult<()> {
        let mut state = self.state.write().await;
        let from = state.counter;
        state.counter = from.checked_add(amount).ok_or("overflow")?;
        let to = state.counter;
        self.events
            .emit(&state.topic, CounterEvent::Incremented { to, from })
            .await?;
        Ok(())
    }

    async fn decrement(&self, amount: u32) -> HandlerResult<()> {
        let mut state = self.state.write().await;
        let from = state.counter;
        state.counter = from.checked_sub(amount).ok_or("below zero")?;
        let to = state.counter;
        self.events
            .emit(&state.topic, CounterEvent::Decremented { to, from })
            .await?;
        Ok(())
    }

    async fn get(&self) -> HandlerResult<u32> {
        Ok(self.state.read().await.counter)
    }
}
