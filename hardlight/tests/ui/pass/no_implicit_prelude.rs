//! The counter service (and services without methods or with one-way methods only) and its #[codable]
//! event type under `#![no_implicit_prelude]`: every path the macros generate is absolute.
//! `renamed_crate.rs` does the same with the runtime renamed.

#![no_implicit_prelude]

use ::hardlight::{HandlerResult, Topic, connection_state, rpc, rpc_handler};

#[connection_state]
pub struct State {
    counter: u32,
    topic: Topic,
}

#[::hardlight::codable]
#[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
pub enum CounterEvent {
    Changed(u32),
}

#[rpc(state = State, events = CounterEvent)]
pub trait Counter {
    /// Creates a new counter.
    async fn new_counter(&self) -> HandlerResult<()>;
    async fn increment(&self, amount: u32) -> HandlerResult<()>;
    async fn get(&self) -> HandlerResult<u32>;
}

#[rpc_handler]
impl Counter for Handler {
    async fn new_counter(&self) -> HandlerResult<()> {
        let topic = Topic::new("counter");
        self.subscriptions.add(&topic);
        self.state.write().await.topic = topic;
        ::core::result::Result::Ok(())
    }

    async fn increment(&self, amount: u32) -> HandlerResult<()> {
        let (topic, counter) = {
            let mut state = self.state.write().await;
            state.counter += amount;
            (::core::clone::Clone::clone(&state.topic), state.counter)
        };
        let _ = self
            .events
            .emit(&topic, CounterEvent::Changed(counter))
            .await;
        ::core::result::Result::Ok(())
    }

    async fn get(&self) -> HandlerResult<u32> {
        ::core::result::Result::Ok(self.state.read().await.counter)
    }

    /// Every connection starts subscribed to the counter's topic.
    #[on_connect]
    async fn joined(&self) {
        let topic = Topic::new("counter");
        self.subscriptions.add(&topic);
        self.state.write().await.topic = topic;
    }

    #[on_disconnect]
    async fn left(&self, why: ::hardlight::Disconnect) {
        let _ = (why.code(), self.identity.name());
    }
}

/// A service without state, events or methods.
#[rpc]
pub trait Empty {}

/// A service of one-way methods only.
#[rpc]
pub trait Log {
    #[oneway]
    async fn log(&self, line: ::std::string::String);
    #[oneway]
    async fn flush(&self);
}

#[rpc_handler]
impl Log for LogHandler {
    async fn log(&self, line: ::std::string::String) {
        let _ = line;
    }

    async fn flush(&self) {}
}

#[allow(dead_code)]
async fn log(client: LogClient) -> ::core::result::Result<(), ::hardlight::Error> {
    client.log(::std::string::String::new()).await?;
    let flushed: ::core::result::Result<(), ::hardlight::RpcError> = client.flush().await;
    ::core::result::Result::Ok(flushed?)
}

#[rpc_handler]
impl Empty for EmptyHandler {
    #[on_disconnect]
    async fn left(&self) {}
}

#[allow(dead_code)]
async fn client(client: CounterClient) -> ::core::result::Result<u32, ::hardlight::CallError> {
    client.increment(2).await?;
    client.get().await
}

fn main() {
    let _ = CounterClient::new_self_signed("localhost:8080", ::hardlight::Compression::none());
    let _ = EmptyClient::new_self_signed("localhost:8080", ::hardlight::Compression::none());
    let _ = ::hardlight::factory!(Handler);
    let _ = ::hardlight::factory!(EmptyHandler);
    let _ = ::hardlight::factory!(LogHandler);
}
