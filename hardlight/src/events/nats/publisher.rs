//! The publisher: every event emitted on this server goes to NATS, in emit order.

use std::sync::Arc;

use async_nats::{Client, HeaderMap, PublishErrorKind};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::wire::subject_for;
use super::{Inner, ORIGIN_HEADER};
use crate::wire::frame::{ServerFrame, decode_server};

/// Events taken from the queue at once.
const BATCH: usize = 64;

/// The publisher: one task and one connection, so NATS keeps the emit order of every emitter.
pub(super) async fn run(inner: Arc<Inner>, client: Client, mut queue: mpsc::Receiver<Bytes>) {
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN_HEADER, inner.origin.as_str());
    let prefix = &inner.config.subject_prefix;
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let (mut published, mut dropped) = (0, 0);
        for frame in batch.drain(..) {
            // Frames come from `encode_event`, so they parse; a topic too long for NATS stays local.
            let Ok(ServerFrame::Event { topic, .. }) = decode_server(&frame) else {
                continue;
            };
            let Some(subject) = subject_for(prefix, topic) else {
                continue;
            };
            // Waits only while the client's own buffer is full (NATS away); emits meanwhile fill the
            // queue, never block.
            match client
                .publish_with_headers(subject, headers.clone(), frame)
                .await
            {
                Ok(()) => published += 1,
                Err(e) if e.kind() == PublishErrorKind::Send => return,
                Err(e) => {
                    tracing::warn!(error = %e, "NATS bridge: could not publish an event; dropped");
                    dropped += 1;
                }
            }
        }
        inner.metrics().published.increment(published);
        inner.metrics().dropped.increment(dropped);
        inner.update(|s| {
            s.status.published += published;
            s.status.dropped += dropped;
        });
    }
}
