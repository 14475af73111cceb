//! Event fan-out: one event to many subscribed connections, time until the last one has it; and to
//! very many, with the server in a child process, also the events per second delivered.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::child::ServerProcess;
use super::within;
use crate::options::Plan;
use crate::systems::{Client, ClientTrust, Events, RunningServer, System};
use crate::{BoxError, error};

/// Connections opened at once while setting up.
pub const CONNECT_PARALLELISM: usize = 16;
/// Longest one emit may take to reach every connection.
const EMIT_LIMIT: Duration = Duration::from_secs(10);

/// Median time, in microseconds, from publishing one event on `server` until each of
/// `plan.fanout_connections` subscribed connections has received it, over `plan.fanout_emits` emits
/// after one warm-up emit. Each connection's events are read by a task of its own on the client
/// runtime.
///
/// # Errors
/// If a connection fails, or an event does not reach every connection in time.
pub async fn median_us(
    system: System,
    server: &RunningServer,
    trust: &ClientTrust,
    plan: &Plan,
) -> Result<f64, BoxError> {
    let connections = plan.fanout_connections;
    let subscribed = subscribe_all(system, server.port, trust, connections).await?;
    within("waiting for subscribers", Duration::from_secs(30), async {
        server.wait_for_subscribers(connections).await;
        Ok(())
    })
    .await?;
    let (mut readers, mut received) = read_all(subscribed);
    let mut times = Vec::with_capacity(plan.fanout_emits);
    for seq in 0..=plan.fanout_emits as u64 {
        let started = Instant::now();
        let queued = server.publish(seq).await?;
        if queued != connections {
            return Err(error(format!(
                "emit {seq} was queued for {queued} of {connections} connections"
            )));
        }
        let took = delivered(&mut received, seq, 1, connections, started).await?;
        // Emit 0 warms up.
        if seq > 0 {
            times.push(took);
        }
    }
    readers.abort_all();
    median(times).map(|t| t.as_secs_f64() * 1e6)
}

/// The figures of the fan-out to many subscribers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Broadcast {
    /// Median microseconds from asking the server process to publish one event until every
    /// subscriber has it.
    pub last_us: f64,
    /// Events delivered per second in a burst: subscribers × events of the burst, over the time
    /// from asking for the burst until every subscriber has every one of its events (median of
    /// [`BURSTS`] bursts).
    pub events_per_second: f64,
}

/// Bursts measured for [`Broadcast::events_per_second`], after one warm-up burst.
pub const BURSTS: usize = 3;

/// The fan-out to `plan.fanout_many_connections` subscribers of a server in a child process with
/// `workers` threads (its end of every connection in that process, so that each process stays
/// within the open-files limit): the median time until the last subscriber has one event, over
/// `plan.fanout_emits` emits after a warm-up emit; then the events per second delivered while
/// `plan.fanout_burst` events are published back to back. The clock starts when the parent sends
/// the command (a line on the child's standard input), so it includes that hop, the same for every
/// system.
///
/// # Errors
/// If the child or a connection fails, or an event does not reach every subscriber in time.
pub async fn to_many(system: System, plan: &Plan, workers: usize) -> Result<Broadcast, BoxError> {
    let connections = plan.fanout_many_connections;
    let server = ServerProcess::start(system, workers).await?;
    let subscribed = subscribe_all(system, server.port, &server.trust, connections).await?;
    within(
        "waiting for subscribers",
        Duration::from_secs(60),
        server.wait_for_subscribers(connections),
    )
    .await?;
    let (mut readers, mut received) = read_all(subscribed);
    let mut seq = 0u64;
    let mut publish = async |count: usize| {
        let first = seq;
        seq += count as u64;
        let started = Instant::now();
        let queued = server.publish(first, count as u64).await?;
        if queued != connections * count {
            return Err(error(format!(
                "{count} emits from {first} were queued {queued} times for {connections} connections"
            )));
        }
        delivered(&mut received, first, count as u64, connections, started).await
    };
    let mut times = Vec::with_capacity(plan.fanout_emits);
    for emit in 0..=plan.fanout_emits {
        let took = publish(1).await?;
        if emit > 0 {
            times.push(took);
        }
    }
    let mut bursts = Vec::with_capacity(BURSTS);
    for burst in 0..=BURSTS {
        let took = publish(plan.fanout_burst).await?;
        if burst > 0 {
            bursts.push(took);
        }
    }
    readers.abort_all();
    let last_us = median(times)?.as_secs_f64() * 1e6;
    let burst = median(bursts)?.as_secs_f64().max(1e-9);
    Ok(Broadcast {
        last_us,
        events_per_second: (connections * plan.fanout_burst) as f64 / burst,
    })
}

/// Opens `n` connections to the server on `port` and subscribes each to the fan-out events.
async fn subscribe_all(
    system: System,
    port: u16,
    trust: &ClientTrust,
    n: usize,
) -> Result<Vec<Events>, BoxError> {
    within(
        "subscribing",
        Duration::from_secs(180),
        stream::iter(0..n)
            .map(|_| async {
                Client::connect(system, port, trust)
                    .await?
                    .subscribe()
                    .await
            })
            .buffer_unordered(CONNECT_PARALLELISM)
            .try_collect(),
    )
    .await
}

/// A task per connection on the current runtime, forwarding each event's sequence number (or the
/// connection's error) to one channel.
fn read_all(
    subscribed: Vec<Events>,
) -> (JoinSet<()>, mpsc::UnboundedReceiver<Result<u64, BoxError>>) {
    let (received_tx, received) = mpsc::unbounded_channel();
    let mut readers = JoinSet::new();
    for mut events in subscribed {
        let received_tx = received_tx.clone();
        readers.spawn(async move {
            loop {
                let next = events.next().await;
                let failed = next.is_err();
                if received_tx.send(next).is_err() || failed {
                    break;
                }
            }
        });
    }
    (readers, received)
}

/// Waits until each of `connections` has received events `first` .. `first + count` (counting
/// arrivals), and returns the time since `started`.
async fn delivered(
    received: &mut mpsc::UnboundedReceiver<Result<u64, BoxError>>,
    first: u64,
    count: u64,
    connections: usize,
    started: Instant,
) -> Result<Duration, BoxError> {
    let expected = connections as u64 * count;
    let mut arrived = 0;
    while arrived < expected {
        let next = tokio::time::timeout_at(started + EMIT_LIMIT, received.recv())
            .await
            .map_err(|_| {
                error(format!(
                    "{count} emits from {first}: {arrived} of {expected} deliveries to \
                     {connections} connections in {EMIT_LIMIT:?}"
                ))
            })?;
        match next {
            Some(Ok(got)) if (first..first + count).contains(&got) => arrived += 1,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Err(error("every event reader stopped")),
        }
    }
    Ok(started.elapsed())
}

/// The median of `times`.
fn median(mut times: Vec<Duration>) -> Result<Duration, BoxError> {
    times.sort();
    times
        .get(times.len() / 2)
        .copied()
        .ok_or_else(|| error("no emits were measured"))
}
