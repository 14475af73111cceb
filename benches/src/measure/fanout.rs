//! Event fan-out: one event to many subscribed connections, time until the last one has it.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::within;
use crate::options::Plan;
use crate::systems::{Client, ClientTrust, RunningServer, System};
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
    let subscribed: Vec<_> = stream::iter(0..connections)
        .map(|_| async {
            Client::connect(system, server.port, trust)
                .await?
                .subscribe()
                .await
        })
        .buffer_unordered(CONNECT_PARALLELISM)
        .try_collect()
        .await?;
    within("waiting for subscribers", Duration::from_secs(30), async {
        server.wait_for_subscribers(connections).await;
        Ok(())
    })
    .await?;

    let (received_tx, mut received) = mpsc::unbounded_channel();
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

    let mut times = Vec::with_capacity(plan.fanout_emits);
    for seq in 0..=plan.fanout_emits as u64 {
        let started = Instant::now();
        let queued = server.publish(seq).await?;
        if queued != connections {
            return Err(error(format!(
                "emit {seq} was queued for {queued} of {connections} connections"
            )));
        }
        let mut arrived = 0;
        while arrived < connections {
            let next = tokio::time::timeout_at(started + EMIT_LIMIT, received.recv())
                .await
                .map_err(|_| {
                    error(format!(
                        "emit {seq} reached {arrived} of {connections} connections in {EMIT_LIMIT:?}"
                    ))
                })?;
            match next {
                Some(Ok(got)) if got == seq => arrived += 1,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(error("every event reader stopped")),
            }
        }
        // Emit 0 warms up.
        if seq > 0 {
            times.push(started.elapsed());
        }
    }
    readers.abort_all();
    times.sort();
    let median = times
        .get(times.len() / 2)
        .ok_or_else(|| error("no emits were measured"))?;
    Ok(median.as_secs_f64() * 1e6)
}
