//! The chat example: clients join a room (a topic) with a call, send messages with a call, and receive
//! everyone's messages in the room as events. Each connection's state holds its user's name and room.
//!
//! ```text
//! cargo run --example chat                                    # one server, two scripted clients
//! cargo run --example chat -- --nats nats://127.0.0.1:4222    # two servers bridged by NATS, a client on each
//! cargo run --example chat -- server 127.0.0.1:8080 [--nats URL]    # only a server, until Ctrl-C
//! cargo run --example chat -- client 127.0.0.1:8080 NAME ROOM       # each line typed is a message
//! ```
//!
//! With `--nats`, a message sent to a server reaches the room's members on every server attached to the
//! same NATS (start one with `nats-server -a 127.0.0.1 -p 4222`). The scripted runs exit 0 once each
//! client has seen the other's message, non-zero on any failure or after 10 seconds.

use std::process::ExitCode;
use std::time::Duration;

use hardlight::prelude::*;
use hardlight::{NatsBridge, ServerError, Subscription};

/// How long the scripted clients wait for anything.
const PATIENCE: Duration = Duration::from_secs(10);

/// What members of a room receive.
#[codable]
#[derive(Debug, Clone, PartialEq)]
enum ChatEvent {
    /// Someone joined the room.
    Joined { name: String },
    /// Someone said something.
    Message { from: String, text: String },
    /// Someone left the room for another.
    Left { name: String },
}

#[rpc(state = Member, events = ChatEvent)]
trait Chat {
    /// Joins `room` as `name`, leaving the room joined before; the room's members are told.
    async fn join(&self, name: String, room: String) -> HandlerResult<()>;
    /// Sends `text` to everyone in the room, the sender included.
    async fn send(&self, text: String) -> HandlerResult<()>;
}

/// Who this connection is, mirrored on the client.
#[connection_state]
struct Member {
    name: String,
    room: String,
}

#[rpc_handler]
impl Chat for Handler {
    async fn join(&self, name: String, room: String) -> HandlerResult<()> {
        if name.is_empty() || room.is_empty() {
            return Err("a name and a room are needed".into());
        }
        let mut member = self.state.write().await;
        if !member.room.is_empty() {
            let old = room_topic(&member.room);
            self.subscriptions.remove(&old);
            let left = ChatEvent::Left {
                name: member.name.clone(),
            };
            self.events.emit(&old, left).await?;
        }
        let topic = room_topic(&room);
        self.subscriptions.add(&topic);
        self.events
            .emit(&topic, ChatEvent::Joined { name: name.clone() })
            .await?;
        member.name = name;
        member.room = room;
        Ok(())
    }

    async fn send(&self, text: String) -> HandlerResult<()> {
        let member = self.state.read().await;
        if member.room.is_empty() {
            return Err("join a room first".into());
        }
        let message = ChatEvent::Message {
            from: member.name.clone(),
            text,
        };
        self.events.emit(&room_topic(&member.room), message).await?;
        Ok(())
    }
}

fn room_topic(room: &str) -> Topic {
    Topic::from(format!("room/{room}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => demo(None).await,
        ["--nats", url] => demo(Some(url)).await,
        ["server", address] => serve(address, None).await,
        ["server", address, "--nats", url] => serve(address, Some(url)).await,
        ["client", address, name, room] => chat_client(address, name, room).await,
        _ => Err(
            "usage: chat [--nats URL | server ADDR [--nats URL] | client ADDR NAME ROOM]".into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A started server: its address, its bridge (with `--nats`), and the task serving it.
struct Running {
    address: String,
    bridge: Option<NatsBridge>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(address: &str, nats: Option<&str>) -> Result<Running, String> {
    let mut config = ServerConfig::new_self_signed(address);
    if let Some(url) = nats {
        config = config.nats(url);
    }
    let server = Server::new(config, factory!(Handler));
    let bridge = server.nats_bridge();
    let bound = server.bind().await.map_err(|e| e.to_string())?;
    let port = bound.local_addr().map_err(|e| e.to_string())?.port();
    Ok(Running {
        address: format!("localhost:{port}"),
        bridge,
        task: tokio::spawn(bound.run()),
    })
}

/// Scripted: alice and bob in one room, on one server, or on two servers bridged by NATS.
async fn demo(nats: Option<&str>) -> Result<(), String> {
    let first = start("localhost:0", nats).await?;
    let second = match nats {
        Some(_) => Some(start("localhost:0", nats).await?),
        None => None,
    };
    let bob_server = second.as_ref().unwrap_or(&first);
    println!(
        "alice on {}, bob on {}{}",
        first.address,
        bob_server.address,
        nats.map(|url| format!(", bridged through NATS at {url}"))
            .unwrap_or_default()
    );

    let alice = connect(&first.address).await?;
    let bob = connect(&bob_server.address).await?;
    let alice_events = alice.subscribe().await.map_err(|e| e.to_string())?;
    let bob_events = bob.subscribe().await.map_err(|e| e.to_string())?;
    alice
        .join("alice".into(), "lobby".into())
        .await
        .map_err(|e| format!("alice could not join: {e}"))?;
    bob.join("bob".into(), "lobby".into())
        .await
        .map_err(|e| format!("bob could not join: {e}"))?;
    // A join is immediate on its own server; on the others, once NATS has the server's subscription.
    for bridge in [&first, bob_server]
        .iter()
        .filter_map(|s| s.bridge.as_ref())
    {
        tokio::time::timeout(PATIENCE, bridge.wait_synced())
            .await
            .map_err(|_| {
                format!(
                    "NATS at {} did not answer within {PATIENCE:?} (is nats-server running there?)",
                    bridge.config().url()
                )
            })?;
    }
    println!(
        "alice's state: {:?}",
        alice.state().await.map_err(|e| e.to_string())?
    );
    println!(
        "bob's state: {:?}",
        bob.state().await.map_err(|e| e.to_string())?
    );

    alice
        .send("hello from alice".into())
        .await
        .map_err(|e| format!("alice could not send: {e}"))?;
    bob.send("hi alice, bob here".into())
        .await
        .map_err(|e| format!("bob could not send: {e}"))?;
    let (alice_saw, bob_saw) = tokio::join!(
        message_from("alice", "bob", alice_events),
        message_from("bob", "alice", bob_events),
    );
    alice_saw?;
    bob_saw?;
    println!("each saw the other's message");
    alice.disconnect().await;
    bob.disconnect().await;
    Ok(())
}

async fn connect(address: &str) -> Result<ChatClient, String> {
    let client = ChatClient::new_self_signed(address, Compression::default());
    client
        .connect()
        .await
        .map_err(|e| format!("connect to {address}: {e}"))?;
    Ok(client)
}

/// Prints what `me` receives until a message from `other` arrives.
async fn message_from(
    me: &str,
    other: &str,
    mut events: Subscription<ChatEvent>,
) -> Result<(), String> {
    let wait = async {
        loop {
            let event = events.recv().await.map_err(|e| e.to_string())?;
            println!("{me} received {:?}", event.payload);
            if matches!(&event.payload, ChatEvent::Message { from, .. } if from == other) {
                return Ok(());
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .map_err(|_| format!("{me} never received a message from {other}"))?
}

/// Only a server, until interrupted.
async fn serve(address: &str, nats: Option<&str>) -> Result<(), String> {
    let mut config = ServerConfig::new_self_signed(address);
    println!(
        "certificate fingerprint (SHA-256): {}",
        config
            .tls()
            .map(|tls| tls.fingerprint().to_string())
            .unwrap_or_default()
    );
    if let Some(url) = nats {
        config = config.nats(url);
        println!("bridging rooms through NATS at {url}");
    }
    let bound = Server::new(config, factory!(Handler))
        .bind()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "chat server listening on {}",
        bound.local_addr().map_err(|e| e.to_string())?
    );
    tokio::select! {
        result = bound.run() => result.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// An interactive member: prints what the room says; each line read from stdin is a message.
async fn chat_client(address: &str, name: &str, room: &str) -> Result<(), String> {
    let client = connect(address).await?;
    let mut events = client.subscribe().await.map_err(|e| e.to_string())?;
    let printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            println!("{:?}", event.payload);
        }
    });
    client
        .join(name.into(), room.into())
        .await
        .map_err(|e| format!("join: {e}"))?;
    loop {
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map(|n| (n > 0).then_some(line))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let Some(line) = line else { break };
        let text = line.trim_end();
        if !text.is_empty() {
            client
                .send(text.to_owned())
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
    }
    printer.abort();
    client.disconnect().await;
    Ok(())
}
