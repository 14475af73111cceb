//! One server stream: items per second for many small items on one stream, and bytes per second
//! on one byte stream.

use tokio::time::Instant;

use crate::options::Plan;
use crate::systems::Client;
use crate::{BoxError, error};

/// Bytes per streamed item.
pub const ITEM_SIZE: u32 = 64;

/// Items per second received on one stream of `plan.stream_items` items of [`ITEM_SIZE`] bytes,
/// from the call to the last item, after a warm-up stream of a tenth as many.
///
/// # Errors
/// If the stream fails or ends early.
pub async fn items_per_second(client: &Client, plan: &Plan) -> Result<f64, BoxError> {
    let warmup = (plan.stream_items / 10).max(1);
    client.items(warmup, ITEM_SIZE).await?;
    let started = Instant::now();
    let received = client.items(plan.stream_items, ITEM_SIZE).await?;
    let elapsed = started.elapsed();
    if received != plan.stream_items {
        return Err(error(format!(
            "the stream ended after {received} of {} items",
            plan.stream_items
        )));
    }
    Ok(received as f64 / elapsed.as_secs_f64())
}

/// The chunk of a byte stream: hardlight's (`hardlight::contract::CHUNK`), and the item size of
/// the tonic and raw WebSocket streams that stand for a byte stream.
pub const BYTES_CHUNK: u32 = 64 * 1024;

/// Megabytes (10^6 bytes) per second received on one byte stream of `plan.stream_bytes` bytes,
/// from the call to its end, after a warm-up stream of a tenth as many.
///
/// # Errors
/// If the stream fails or ends early.
pub async fn megabytes_per_second(client: &Client, plan: &Plan) -> Result<f64, BoxError> {
    let warmup = (plan.stream_bytes / 10).max(u64::from(BYTES_CHUNK));
    client.bytes(warmup).await?;
    let started = Instant::now();
    let received = client.bytes(plan.stream_bytes).await?;
    let elapsed = started.elapsed();
    if received != plan.stream_bytes {
        return Err(error(format!(
            "the byte stream ended after {received} of {} bytes",
            plan.stream_bytes
        )));
    }
    Ok(received as f64 / 1e6 / elapsed.as_secs_f64())
}
