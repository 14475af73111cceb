//! Throughput: calls per second with N calls in flight on one connection (one tonic channel).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{echo_checked, payload};
use crate::options::Plan;
use crate::systems::Client;
use crate::{BoxError, error};

/// Bytes of each call's payload.
pub const PAYLOAD: usize = 64;

/// Calls per second with `in_flight` calls of [`PAYLOAD`] bytes outstanding on `client`, over
/// `plan.throughput_window` after `plan.throughput_warmup`.
///
/// hardlight and tonic run `in_flight` tasks calling in a loop on clones of one client; raw ws
/// pipelines `in_flight` messages on its one socket, which is what "calls in flight" means without
/// a protocol.
///
/// # Errors
/// If a call fails.
pub async fn calls_per_second(
    client: &Client,
    in_flight: usize,
    plan: &Plan,
) -> Result<f64, BoxError> {
    run(
        client,
        in_flight,
        plan.throughput_warmup,
        plan.throughput_max_calls,
    )
    .await?;
    let (calls, elapsed) = run(
        client,
        in_flight,
        plan.throughput_window,
        plan.throughput_max_calls,
    )
    .await?;
    Ok(calls as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// One window of [`calls_per_second`] on `client`: the calls answered and the time taken (until the
/// last call started in the window was answered).
pub(crate) async fn run(
    client: &Client,
    in_flight: usize,
    window: Duration,
    max_calls: u64,
) -> Result<(u64, Duration), BoxError> {
    match client {
        Client::RawWs(raw) => {
            raw.pipeline(payload(PAYLOAD), in_flight, window, max_calls)
                .await
        }
        _ => concurrent(client, in_flight, window, max_calls).await,
    }
}

/// `in_flight` tasks, each calling until the window ends or `max_calls` were started in all.
async fn concurrent(
    client: &Client,
    in_flight: usize,
    window: Duration,
    max_calls: u64,
) -> Result<(u64, Duration), BoxError> {
    let payload: Arc<[u8]> = payload(PAYLOAD).into();
    let started = Instant::now();
    let deadline = started + window;
    let issued = Arc::new(AtomicU64::new(0));
    let mut callers = JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (client, payload, issued) = (client.clone(), payload.clone(), issued.clone());
        callers.spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_calls {
                echo_checked(&client, &payload).await?;
                done += 1;
            }
            Ok::<_, BoxError>(done)
        });
    }
    let mut calls = 0;
    while let Some(joined) = callers.join_next().await {
        calls += joined.map_err(|e| error(format!("a caller panicked: {e}")))??;
    }
    Ok((calls, started.elapsed()))
}
