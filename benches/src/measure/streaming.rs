//! One server stream: items per second for many small items on one stream.

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
