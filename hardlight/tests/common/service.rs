//! The test service: a method for every feature (calls, errors, panics, state, topics, events,
//! calls that wait at a gate), and the wire indices of its methods for raw peers.

use std::sync::atomic::{AtomicUsize, Ordering};

use hardlight::*;
use tokio::sync::{Semaphore, watch};

use super::within;

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum TestEvent {
    Value(u32),
    Text(String),
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum TestError {
    NotFound(String),
    Invalid { code: u32 },
}

#[rpc(state = TestState, events = TestEvent)]
pub trait Test {
    async fn echo(&self, payload: Vec<u8>) -> HandlerResult<Vec<u8>>;
    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32>;
    /// Waits until the test opens the gate; returns how many calls were inside at once at entry.
    async fn gate(&self) -> HandlerResult<u32>;
    async fn fail(&self, code: u32) -> Result<(), TestError>;
    async fn explode(&self) -> HandlerResult<()>;
    async fn set_name(&self, name: String) -> HandlerResult<()>;
    async fn bump(&self) -> HandlerResult<u32>;
    async fn join(&self, topic: String) -> HandlerResult<()>;
    async fn leave(&self, topic: String) -> HandlerResult<()>;
    async fn shout(&self, topic: String, value: u32) -> HandlerResult<usize>;
    async fn context_name(&self) -> HandlerResult<String>;
    /// A reply of `len` bytes: larger than its call.
    async fn blob(&self, len: u32) -> HandlerResult<Vec<u8>>;
}

#[connection_state]
pub struct TestState {
    pub counter: u32,
    pub name: String,
    pub topics: Vec<String>,
}

/// Application context shared by every connection's handler.
pub struct Ctx {
    pub name: String,
    pub gate: Semaphore,
    inside: AtomicUsize,
    pub entered: watch::Sender<usize>,
}

impl Ctx {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            gate: Semaphore::new(0),
            inside: AtomicUsize::new(0),
            entered: watch::channel(0).0,
        }
    }

    /// Resolves once `n` gate calls have entered their handler.
    pub async fn wait_entered(&self, n: usize) {
        let mut rx = self.entered.subscribe();
        within("calls to enter the gate", rx.wait_for(|e| *e >= n))
            .await
            .expect("sender lives in ctx");
    }
}

#[rpc_handler(context = Ctx, vis = pub)]
impl Test for TestHandler {
    async fn echo(&self, payload: Vec<u8>) -> HandlerResult<Vec<u8>> {
        Ok(payload)
    }

    async fn add(&self, a: u32, b: u32) -> HandlerResult<u32> {
        a.checked_add(b).ok_or_else(|| "overflow".into())
    }

    async fn gate(&self) -> HandlerResult<u32> {
        let inside = self.context.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.context.entered.send_modify(|n| *n += 1);
        let permit = self
            .context
            .gate
            .acquire()
            .await
            .map_err(|_| "gate closed")?;
        permit.forget();
        self.context.inside.fetch_sub(1, Ordering::SeqCst);
        Ok(inside as u32)
    }

    async fn fail(&self, code: u32) -> Result<(), TestError> {
        match code {
            0 => Ok(()),
            404 => Err(TestError::NotFound("thing".into())),
            code => Err(TestError::Invalid { code }),
        }
    }

    async fn explode(&self) -> HandlerResult<()> {
        panic!("this handler always panics")
    }

    async fn set_name(&self, name: String) -> HandlerResult<()> {
        self.state.write().await.name = name;
        Ok(())
    }

    async fn bump(&self) -> HandlerResult<u32> {
        let mut state = self.state.write().await;
        state.counter += 1;
        Ok(state.counter)
    }

    async fn join(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.add(&Topic::from(topic.as_str()));
        self.state.write().await.topics.push(topic);
        Ok(())
    }

    async fn leave(&self, topic: String) -> HandlerResult<()> {
        self.subscriptions.remove(&Topic::from(topic.as_str()));
        self.state.write().await.topics.retain(|t| *t != topic);
        Ok(())
    }

    async fn shout(&self, topic: String, value: u32) -> HandlerResult<usize> {
        Ok(self
            .events
            .emit(&Topic::from(topic), TestEvent::Value(value))
            .await?)
    }

    async fn context_name(&self) -> HandlerResult<String> {
        Ok(self.context.name.clone())
    }

    async fn blob(&self, len: u32) -> HandlerResult<Vec<u8>> {
        Ok(vec![7; len as usize])
    }
}

/// The test service's methods' wire indices, for raw peers.
pub mod method {
    use super::Test;
    use crate::common::method_index;

    const METHODS: &[&str] = <dyn Test as hardlight::__private::ServiceSchema>::METHODS;
    pub const ECHO: u16 = method_index(METHODS, "echo");
    pub const ADD: u16 = method_index(METHODS, "add");
    pub const GATE: u16 = method_index(METHODS, "gate");
    pub const FAIL: u16 = method_index(METHODS, "fail");
    pub const EXPLODE: u16 = method_index(METHODS, "explode");
    pub const SET_NAME: u16 = method_index(METHODS, "set_name");
    pub const BUMP: u16 = method_index(METHODS, "bump");
    pub const JOIN: u16 = method_index(METHODS, "join");
    pub const LEAVE: u16 = method_index(METHODS, "leave");
    pub const SHOUT: u16 = method_index(METHODS, "shout");
    pub const CONTEXT_NAME: u16 = method_index(METHODS, "context_name");
    pub const BLOB: u16 = method_index(METHODS, "blob");
}
