//! The counter example: a self-signed dev server, and a client that creates a counter, changes it and
//! receives the events those changes publish.
//!
//! ```text
//! cargo run --example counter                        # server and client in one process
//! cargo run --example counter -- server 127.0.0.1:8080  # only the server, until Ctrl-C
//! cargo run --example counter -- client 127.0.0.1:8080 --pin <fingerprint>  # exit 0 on success
//! ```
//!
//! The client trusts exactly the server's certificate: in one process it takes the fingerprint from
//! the server's configuration, as two processes it takes the one the server prints (`--pin`).
//! Without `--pin` it accepts any certificate, and hardlight says so loudly on stderr.
//!
//! This crate depends on `hardlight` and `tokio` only: everything the macros generate is reached
//! through `hardlight`.

use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::time::Duration;

use hardlight::prelude::*;

/// Events published to a counter's topic.
#[codable]
#[derive(Debug, Clone, PartialEq)]
enum CounterEvent {
    /// Emitted when the counter is incremented.
    Incremented { to: u32, from: u32 },
    /// Emitted when the counter is decremented.
    Decremented { to: u32, from: u32 },
    /// Emitted by the server when a counter's topic is created.
    ServerSentTest,
}

/// These RPC methods are executed on the server and can be called by clients.
#[rpc(state = State, events = CounterEvent)]
trait Counter {
    /// Creates a new counter and subscribes the client to its topic.
    async fn new_counter(&self) -> HandlerResult<()>;
    /// Increments the counter by the given amount.
    async fn increment(&self, amount: u32) -> HandlerResult<()>;
    /// Decrements the counter by the given amount.
    async fn decrement(&self, amount: u32) -> HandlerResult<()>;
    /// Gets the current value of the counter.
    async fn get(&self) -> HandlerResult<u32>;
}

/// Per-connection state, mirrored on the client.
#[connection_state]
struct State {
    counter: u32,
    topic: Topic,
}

#[rpc_handler]
impl Counter for Handler {
    async fn new_counter(&self) -> HandlerResult<()> {
        let mut state = self.state.write().await;
        self.subscriptions.remove(&state.topic);
        state.topic = Topic::from(format!("counter-{:016x}", random_u64()));
        state.counter = 0;
        self.subscriptions.add(&state.topic);
        Ok(())
    }

    async fn increment(&self, amount: u32) -> HandlerResult<()> {
        let mut state = self.state.write().await;
        let new = state
            .counter
            .checked_add(amount)
            .ok_or("the counter would overflow")?;
        let event = CounterEvent::Incremented {
            to: new,
            from: state.counter,
        };
        state.counter = new;
        self.events.emit(&state.topic, event).await?;
        Ok(())
    }

    async fn decrement(&self, amount: u32) -> HandlerResult<()> {
        let mut state = self.state.write().await;
        let new = state
            .counter
            .checked_sub(amount)
            .ok_or("the counter would go below zero")?;
        let event = CounterEvent::Decremented {
            to: new,
            from: state.counter,
        };
        state.counter = new;
        self.events.emit(&state.topic, event).await?;
        Ok(())
    }

    async fn get(&self) -> HandlerResult<u32> {
        Ok(self.state.read().await.counter)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => demo().await,
        ["server", address] => serve(address).await,
        ["client", address] => {
            run_client(CounterClient::new_self_signed(
                address,
                Compression::default(),
            ))
            .await
        }
        ["client", address, "--pin", fingerprint] => match fingerprint.parse::<CertFingerprint>() {
            Ok(fingerprint) => run_client(pinned(address, fingerprint)).await,
            Err(e) => Err(format!("--pin: {e}")),
        },
        _ => Err("usage: counter [server ADDR | client ADDR [--pin FINGERPRINT]]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Server and client in one process.
async fn demo() -> Result<(), String> {
    let server = make_server("localhost:0");
    let fingerprint = server
        .config()
        .tls()
        .map(ServerTls::fingerprint)
        .ok_or("the dev server has TLS")?;
    let bound = server.bind().await.map_err(|e| e.to_string())?;
    let port = bound.local_addr().map_err(|e| e.to_string())?.port();
    let server = tokio::spawn(bound.run());
    // The client trusts exactly this server's certificate, taken from its configuration.
    let result = run_client(pinned(&format!("localhost:{port}"), fingerprint)).await;
    server.abort();
    result
}

/// Only the server, until interrupted.
async fn serve(address: &str) -> Result<(), String> {
    let server = make_server(address);
    let fingerprint = server.config().tls().map(ServerTls::fingerprint);
    let bound = server.bind().await.map_err(|e| e.to_string())?;
    let local = bound.local_addr().map_err(|e| e.to_string())?;
    println!("counter server listening on {local}");
    if let Some(fingerprint) = fingerprint {
        println!("certificate fingerprint (SHA-256): {fingerprint}");
        println!("connect with: cargo run --example counter -- client {local} --pin {fingerprint}");
    }
    // On Ctrl-C: stop accepting, give calls in flight up to 5 s, then close every connection
    // with 1001; `run` returns once they are all closed.
    let shutdown = bound.shutdown_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("interrupted; shutting down");
            shutdown.shutdown(std::time::Duration::from_secs(5));
        }
    });
    bound.run().await.map_err(|e| e.to_string())
}

fn make_server(address: &str) -> Server<CounterEvent> {
    let server = Server::new(ServerConfig::new_self_signed(address), factory!(Handler));
    // Any number of emitters can be made; this one greets each new topic.
    let event_emitter = server.get_event_emitter();
    // Only one topic notifier exists per server.
    let mut topic_notifier = server
        .get_topic_notifier()
        .expect("a new server still has its notifier");
    tokio::spawn(async move {
        while let Some(notification) = topic_notifier.recv().await {
            match notification {
                TopicNotification::Created(topic) => {
                    println!("server: topic created: {topic:?}");
                    if let Err(e) = event_emitter
                        .emit(&topic, CounterEvent::ServerSentTest)
                        .await
                    {
                        eprintln!("server: could not emit: {e}");
                    }
                }
                TopicNotification::Removed(topic) => println!("server: topic removed: {topic:?}"),
                // The enum may grow (it is `#[non_exhaustive]`).
                _ => {}
            }
        }
    });
    server
}

/// A client trusting exactly the certificate with this fingerprint.
fn pinned(address: &str, fingerprint: CertFingerprint) -> CounterClient {
    CounterClient::new(
        ClientConfig::pinned(address, fingerprint).compression(Compression::default()),
    )
}

/// The client side of the demo. Fails if any step fails or an expected event does not arrive.
async fn run_client(client: CounterClient) -> Result<(), String> {
    client
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;

    // Receives the events of the topics the server subscribes this client to.
    let mut subscription = client.subscribe().await.map_err(|e| e.to_string())?;
    let events = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(event) = subscription.recv().await {
            let (topic, event): (Topic, CounterEvent) = (event.topic, event.payload);
            println!("client: received event on topic {topic:?}: {event:?}");
            seen.push(event);
            if seen.len() == 3 {
                break;
            }
        }
        seen
    });

    client
        .new_counter()
        .await
        .map_err(|e| format!("new_counter: {e}"))?;
    // The state change made by the call is already applied when the call returns.
    let topic = client.state().await.map_err(|e| e.to_string())?.topic;
    println!("client: subscribed to topic {topic:?}");

    client
        .increment(1)
        .await
        .map_err(|e| format!("increment: {e}"))?;
    client
        .decrement(1)
        .await
        .map_err(|e| format!("decrement: {e}"))?;
    let counter = client.get().await.map_err(|e| format!("get: {e}"))?;

    let seen = tokio::time::timeout(Duration::from_secs(10), events)
        .await
        .map_err(|_| "timed out waiting for events".to_owned())?
        .map_err(|e| e.to_string())?;
    for expected in [
        CounterEvent::ServerSentTest,
        CounterEvent::Incremented { to: 1, from: 0 },
        CounterEvent::Decremented { to: 0, from: 1 },
    ] {
        if !seen.contains(&expected) {
            return Err(format!("event {expected:?} never arrived (got {seen:?})"));
        }
    }
    println!(
        "client: state {:?}",
        client.state().await.map_err(|e| e.to_string())?
    );
    println!("Counter: {counter}");
    client.disconnect().await;
    Ok(())
}

/// A random number from the standard library's per-process hash seed; enough for demo topic names.
fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
