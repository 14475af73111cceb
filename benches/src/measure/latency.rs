//! Unary latency: one call at a time, p50 and p99.

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::{echo_checked, payload};
use crate::options::Plan;
use crate::systems::Client;
use crate::{BoxError, error};

/// Percentiles of one latency cell, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Calls measured.
    pub samples: u64,
}

/// Measures echo calls of `payload_len` bytes, one at a time, on `client`: `plan.latency_warmup`
/// unmeasured calls (at most a quarter of the cell's time), then up to `plan.latency_samples`
/// measured ones within the rest of `plan.latency_time`.
///
/// # Errors
/// If a call fails.
pub async fn unary(client: &Client, payload_len: usize, plan: &Plan) -> Result<Latency, BoxError> {
    let payload = payload(payload_len);
    let started = Instant::now();
    let warmup_until = started + plan.latency_time / 4;
    for _ in 0..plan.latency_warmup {
        if Instant::now() >= warmup_until {
            break;
        }
        echo_checked(client, &payload).await?;
    }
    let deadline = started + plan.latency_time;
    // Nanoseconds, three significant figures, up to a minute.
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| error(format!("histogram: {e}")))?;
    while histogram.len() < plan.latency_samples
        && (histogram.is_empty() || Instant::now() < deadline)
    {
        let call = Instant::now();
        echo_checked(client, &payload).await?;
        histogram.saturating_record(nanos(call.elapsed()));
    }
    Ok(Latency {
        p50_us: histogram.value_at_quantile(0.50) as f64 / 1_000.0,
        p99_us: histogram.value_at_quantile(0.99) as f64 / 1_000.0,
        samples: histogram.len(),
    })
}

fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}
