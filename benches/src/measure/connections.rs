//! Many connections: calls per second over many connections at once, what idle connections cost
//! the active ones, and how that rate scales with worker threads.
//!
//! A "connection" is one client: a hardlight client, a tonic `Channel` (one HTTP/2 connection), or
//! a raw WebSocket. Each busy connection keeps [`Plan::calls_per_connection`] 64 B echo calls in
//! flight: hardlight and tonic with that many tasks calling on the connection, the raw WebSocket by
//! pipelining that many messages on its socket (as in the throughput figure).

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::child::ServerProcess;
use super::fanout::CONNECT_PARALLELISM;
use super::throughput::{self, PAYLOAD};
use super::{echo_checked, payload, within};
use crate::options::Plan;
use crate::run::Unpinned;
use crate::systems::{Client, ClientTrust, RunningServer, System};
use crate::{BoxError, error};

/// Longest connecting the connections of one figure may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(180);

/// The active connections' calls per second alone, and again beside the idle connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveBesideIdle {
    /// Calls per second of the active connections, no other connection open.
    pub alone: f64,
    /// Calls per second of the same connections with the idle ones open too.
    pub with_idle: f64,
}

/// Opens `n` connections to the server on `port`, [`CONNECT_PARALLELISM`] at a time, each making
/// one 64 B echo call, so that both ends have set the connection up.
///
/// # Errors
/// If a connection or its call fails, or connecting takes longer than three minutes.
pub async fn connect_all(
    system: System,
    port: u16,
    trust: &ClientTrust,
    n: usize,
) -> Result<Vec<Client>, BoxError> {
    let small = payload(PAYLOAD);
    let connect = || async {
        let client = Client::connect(system, port, trust).await?;
        echo_checked(&client, &small).await?;
        Ok::<_, BoxError>(client)
    };
    within(
        "connecting",
        CONNECT_LIMIT,
        stream::iter(0..n)
            .map(|_| connect())
            .buffer_unordered(CONNECT_PARALLELISM)
            .try_collect(),
    )
    .await
}

/// Calls per second over every one of `clients` at once, each with `in_flight` 64 B echo calls
/// outstanding, over `plan.throughput_window` after `plan.throughput_warmup` (one task per
/// connection, on the current runtime).
///
/// # Errors
/// If a call fails.
pub async fn calls_per_second(
    clients: &[Client],
    in_flight: usize,
    plan: &Plan,
) -> Result<f64, BoxError> {
    let max_calls = plan.throughput_max_calls / clients.len().max(1) as u64;
    window(clients, in_flight, plan.throughput_warmup, max_calls).await?;
    let (calls, elapsed) = window(clients, in_flight, plan.throughput_window, max_calls).await?;
    Ok(calls as f64 / elapsed.as_secs_f64().max(1e-9))
}

async fn window(
    clients: &[Client],
    in_flight: usize,
    length: Duration,
    max_calls: u64,
) -> Result<(u64, Duration), BoxError> {
    let started = Instant::now();
    let mut connections = JoinSet::new();
    for client in clients {
        let client = client.clone();
        connections
            .spawn(async move { throughput::run(&client, in_flight, length, max_calls).await });
    }
    let mut calls = 0;
    while let Some(joined) = connections.join_next().await {
        calls += joined
            .map_err(|e| error(format!("a connection's callers panicked: {e}")))??
            .0;
    }
    Ok((calls, started.elapsed()))
}

/// Calls per second over `plan.many_connections` connections to `server` (in this process, on the
/// server runtime), each with `plan.calls_per_connection` calls in flight.
///
/// # Errors
/// If a connection or a call fails.
pub async fn busy(
    system: System,
    server: &RunningServer,
    trust: &ClientTrust,
    plan: &Plan,
) -> Result<f64, BoxError> {
    let clients = connect_all(system, server.port, trust, plan.many_connections).await?;
    calls_per_second(&clients, plan.calls_per_connection, plan).await
}

/// The calls per second of `plan.active_connections` connections (each with
/// `plan.calls_per_connection` in flight) to a server in a child process of `workers` threads:
/// first alone, then with `plan.idle_beside_active` more connections open and idle (each made one
/// call). The server runs in a child process so that the idle connections' two ends are in two
/// processes, each within the open-files limit.
///
/// # Errors
/// If the child, a connection or a call fails.
pub async fn active_beside_idle(
    system: System,
    plan: &Plan,
    workers: usize,
) -> Result<ActiveBesideIdle, BoxError> {
    let server = ServerProcess::start(system, workers).await?;
    let active = connect_all(system, server.port, &server.trust, plan.active_connections).await?;
    let alone = calls_per_second(&active, plan.calls_per_connection, plan).await?;
    let idle = connect_all(system, server.port, &server.trust, plan.idle_beside_active).await?;
    let with_idle = calls_per_second(&active, plan.calls_per_connection, plan).await?;
    drop(idle);
    drop(active);
    Ok(ActiveBesideIdle { alone, with_idle })
}

/// Calls per second over `plan.many_connections` connections (each with
/// `plan.calls_per_connection` in flight) with `workers` worker threads on each side: the server in
/// a child process with a runtime of `workers` threads, the clients on a runtime of their own with
/// `workers` threads. Both are started from `unpinned`, a thread that may run on every CPU, so that
/// their threads are spread over every CPU even when the rest of the run is pinned to one.
///
/// # Errors
/// If the child, the runtime, a connection or a call fails.
pub async fn with_workers(
    system: System,
    plan: &Plan,
    workers: usize,
    unpinned: &Unpinned,
) -> Result<f64, BoxError> {
    let (spawned, runtime) = unpinned
        .run(move || {
            let spawned = ServerProcess::spawn(system, workers)?;
            let runtime = crate::run::runtime("client", workers)?;
            Ok::<_, BoxError>((spawned, runtime))
        })
        .await??;
    let server = spawned.serving().await;
    let measured = match server {
        Ok(server) => {
            let (port, trust, plan) = (server.port, server.trust.clone(), plan.clone());
            let measuring = runtime.spawn(async move {
                let clients = connect_all(system, port, &trust, plan.many_connections).await?;
                calls_per_second(&clients, plan.calls_per_connection, &plan).await
            });
            let measured = measuring
                .await
                .map_err(|e| error(format!("the measurement panicked: {e}")));
            drop(server);
            measured.and_then(|m| m)
        }
        Err(e) => Err(e),
    };
    // Not `drop`: a runtime may not be dropped where it blocks a runtime's thread.
    runtime.shutdown_background();
    measured
}
