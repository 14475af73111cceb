//! A peer in another language, written from `docs/PROTOCOL.md` alone, against a real server of the
//! counter service (the document's reference service): honest calls and hostile input.
mod common;

use common::within;
use hardlight::*;

#[codable]
#[derive(Debug, Clone)]
enum CounterEvent {
    Incremented { to: u32, from: u32 },
    Decremented { to: u32, from: u32 },
    ServerSentTest,
}

#[rpc(state = State, events = CounterEvent)]
trait Counter {
    async fn new_counter(&self) -> HandlerResult<()>;
    async fn increment(&self, amount: u32) -> HandlerResult<()>;
    async fn decrement(&self, amount: u32) -> HandlerResult<()>;
    async fn get(&self) -> HandlerResult<u32>;
}

#[connection_state]
struct State {
    counter: u32,
    topic: Topic,
}

#[rpc_handler]
impl Counter for Handler {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_peer_written_from_the_spec_gets_the_documented_behaviour() {
    assert_eq!(
        format!(
            "{:016x}",
            <dyn Counter as hardlight::__private::ServiceSchema>::FINGERPRINT
        ),
        "6eb0b5d4436741b3",
        "the reference service's fingerprint is the one docs/PROTOCOL.md gives"
    );
    let bound = Server::new(
        ServerConfig::new_self_signed("127.0.0.1:0"),
        factory!(Handler),
    )
    .bind()
    .await
    .unwrap();
    let port = bound.local_addr().unwrap().port();
    tokio::spawn(bound.run());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/counter_peer.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .kill_on_drop(true)
        .output();
    let output = within("the python peer", run)
        .await
        .expect("python3 must be installed to run this test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python peer failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
