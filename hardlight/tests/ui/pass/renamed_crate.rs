//! Hygiene: a service, its handler, a connection state and #[codable] types (one recursive) under
//! `#![no_implicit_prelude]`, with the runtime reached under another name through `crate = "..."`.
//! The generated client's own methods (connect, state, subscribe, ...) are used too.

#![no_implicit_prelude]

extern crate hardlight as hl;

use ::hl::{HandlerResult, Topic, codable, connection_state, rpc, rpc_handler};

#[codable(crate = "::hl")]
#[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
pub enum CounterEvent {
    Changed(u32),
}

#[codable(crate = "::hl")]
pub enum Tree {
    Leaf(u32),
    Node(::std::vec::Vec<Tree>),
}

#[connection_state(crate = "::hl")]
pub struct State {
    counter: u32,
    topic: Topic,
}

#[rpc(crate = "::hl", state = State, events = CounterEvent)]
pub trait Counter {
    async fn increment(&self, amount: u32, tree: Tree) -> HandlerResult<u32>;
    async fn get(&self) -> ::core::result::Result<u32, ::std::string::String>;
    #[hl::oneway]
    async fn reset(&self);
}

#[rpc_handler(crate = "::hl")]
impl Counter for Handler {
    async fn increment(&self, amount: u32, tree: Tree) -> HandlerResult<u32> {
        let _ = tree;
        let mut state = self.state.write().await;
        state.counter += amount;
        let _ = self
            .events
            .emit(&state.topic, CounterEvent::Changed(state.counter))
            .await;
        ::core::result::Result::Ok(state.counter)
    }

    async fn get(&self) -> ::core::result::Result<u32, ::std::string::String> {
        ::core::result::Result::Ok(self.state.read().await.counter)
    }

    async fn reset(&self) {
        self.state.write().await.counter = 0;
    }

    #[on_connect]
    async fn joined(&self) {
        self.subscriptions.add(&Topic::new("counter"));
    }

    #[on_disconnect]
    async fn left(&self, why: hl::Disconnect) {
        let _ = (why.code(), self.identity.name());
    }
}

#[allow(dead_code)]
async fn client(client: CounterClient) -> ::core::result::Result<(), ::hl::Error> {
    client.connect().await?;
    let _: State = client.state().await?;
    let _: ::hl::Subscription<CounterEvent> = client.subscribe().await?;
    let _: ::hl::StateWatcher<State> = client.watch_state();
    let _: ::hl::ConnectionEvents = client.connection_events();
    let _: bool = client.is_connected();
    let _: &::hl::ClientConfig = client.config();
    let quick = client.with_timeout(::core::time::Duration::from_millis(10));
    let _: ::core::result::Result<u32, ::hl::CallError> =
        quick.increment(1, Tree::Node(::std::vec::Vec::new())).await;
    let _: ::core::result::Result<u32, ::hl::CallError<::std::string::String>> = quick.get().await;
    quick.reset().await?;
    client.disconnect().await;
    let _: ::hl::ClosedError = client.closed().await;
    let _: ::core::result::Result<(), ::hl::ConnectError> = client.connect().await;
    let _: ::core::result::Result<State, ::hl::RpcError> = client.state().await;
    ::core::result::Result::Ok(())
}

fn main() {
    let client = CounterClient::new(::hl::ClientConfig::plaintext("ws://127.0.0.1:1"));
    let _ = ::std::format!("{client:?}");
    let _ = CounterClient::new_self_signed("localhost:8080", ::hl::Compression::none());
    let _ = ::hl::factory!(Handler);
}
