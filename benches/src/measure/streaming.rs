//! One server stream: items per second for many small items on one stream, and bytes per second
//! on one byte stream.

use tokio::time::Instant;

use crate::options::Plan;
use crate::systems::Client;
use crate::{BoxError, error};

/// Bytes per streamed item.
pub const ITEM_SIZE: u32 = 64;

/// Items per second received on one stream of `plan.stream_items` items of [`ITEM_SIZE`] bytes,
/// from the call to the last item: the median of `plan.stream_runs` streams, one after another,
/// after a warm-up stream of a tenth as many items.
///
/// # Errors
/// If a stream fails or ends early.
pub async fn items_per_second(client: &Client, plan: &Plan) -> Result<f64, BoxError> {
    let warmup = (plan.stream_items / 10).max(1);
    client.items(warmup, ITEM_SIZE).await?;
    let mut rates = Vec::with_capacity(plan.stream_runs);
    for _ in 0..plan.stream_runs.max(1) {
        let started = Instant::now();
        let received = client.items(plan.stream_items, ITEM_SIZE).await?;
        let elapsed = started.elapsed();
        if received != plan.stream_items {
            return Err(error(format!(
                "the stream ended after {received} of {} items",
                plan.stream_items
            )));
        }
        rates.push(received as f64 / elapsed.as_secs_f64());
    }
    Ok(median(rates))
}

/// The chunk of a byte stream: hardlight's (64 KiB, docs/PROTOCOL.md §5.13), and the item size of
/// the tonic and raw WebSocket streams that stand for a byte stream.
pub const BYTES_CHUNK: u32 = 64 * 1024;

/// Megabytes (10^6 bytes) per second received on one byte stream of `plan.stream_bytes` bytes,
/// from the call to its end: the median of `plan.stream_runs` streams, one after another, after a
/// warm-up stream of a tenth as many bytes.
///
/// # Errors
/// If a stream fails or ends early.
pub async fn megabytes_per_second(client: &Client, plan: &Plan) -> Result<f64, BoxError> {
    let warmup = (plan.stream_bytes / 10).max(u64::from(BYTES_CHUNK));
    client.bytes(warmup).await?;
    let mut rates = Vec::with_capacity(plan.stream_runs);
    for _ in 0..plan.stream_runs.max(1) {
        let started = Instant::now();
        let received = client.bytes(plan.stream_bytes).await?;
        let elapsed = started.elapsed();
        if received != plan.stream_bytes {
            return Err(error(format!(
                "the byte stream ended after {received} of {} bytes",
                plan.stream_bytes
            )));
        }
        rates.push(received as f64 / 1e6 / elapsed.as_secs_f64());
    }
    Ok(median(rates))
}

/// The median of `rates` (the upper one of an even count); 0 when there are none.
fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or_default()
}
