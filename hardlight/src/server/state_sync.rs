//! Server half of connection-state sync: the full snapshot for `HELLO`, then changed fields only.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Mutex;

use crate::state::{ConnectionState, StateHandle};
use crate::wire::frame::{FLAG_METADATA, FLAG_TRACE, FieldListWriter};

/// Remembers the encoding of each field as last sent, to send only what changed.
pub(crate) struct StateSync<S> {
    handle: StateHandle<S>,
    // A tokio mutex because it is held across the wait for the state's read lock.
    last_sent: Mutex<Vec<Vec<u8>>>,
    /// Syncs under way (waiting for `last_sent`, or holding it): what [`StateSync::unchanged`]
    /// asks without taking the lock, once per stream item.
    syncing: AtomicUsize,
}

/// Counts a sync as under way until dropped (also when its future is dropped midway).
struct Syncing<'a>(&'a AtomicUsize);

impl<'a> Syncing<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S: ConnectionState> StateSync<S> {
    pub(crate) fn new(handle: StateHandle<S>) -> Self {
        Self {
            handle,
            last_sent: Mutex::new(Vec::new()),
            syncing: AtomicUsize::new(0),
        }
    }

    /// The `HELLO` frame with every field of the current state.
    pub(crate) async fn hello(
        &self,
        max_calls: u16,
        max_message_size: u32,
        compression: u8,
        trace: bool,
        metadata: bool,
    ) -> Vec<u8> {
        let _syncing = Syncing::start(&self.syncing);
        let mut last = self.last_sent.lock().await;
        self.handle.take_dirty();
        let state = self.handle.read().await;
        let flags = if trace { FLAG_TRACE } else { 0 } | if metadata { FLAG_METADATA } else { 0 };
        let mut writer =
            FieldListWriter::hello_with(flags, max_calls, max_message_size, compression);
        last.clear();
        for index in 0..S::FIELDS.len() as u16 {
            let bytes = encode(&*state, index);
            if let Some(bytes) = &bytes {
                writer.push_encoded(index, bytes);
            }
            last.push(bytes.unwrap_or_default());
        }
        writer.finish()
    }

    /// True if no handler changed the state and no other sync is under way: then there is nothing
    /// to send before the next frame, decided without waiting (a stream's items, in the common
    /// case). False means: ask [`delta`](Self::delta).
    pub(crate) fn unchanged(&self) -> bool {
        self.syncing.load(Ordering::Acquire) == 0 && !self.handle.is_dirty()
    }

    /// If a handler changed the state, the `STATE` frame with the fields whose encoding changed.
    ///
    /// The connection writes the frame as soon as the call that asked for it completes, and nothing
    /// awaits between computing it and completing: so `STATE` frames leave in the order they were
    /// computed, each before the reply of its call.
    pub(crate) async fn delta(&self) -> Option<Vec<u8>> {
        // Nothing changed and no sync holds a change: nothing to send, decided without the lock
        // (most calls change nothing).
        if self.unchanged() {
            return None;
        }
        // Lock before looking at the mark: if another call's sync took the mark (and with it this
        // call's changes), waiting for its lock means its frame is written before our reply.
        let _syncing = Syncing::start(&self.syncing);
        let mut last = self.last_sent.lock().await;
        if !self.handle.take_dirty() {
            return None;
        }
        let mut writer = FieldListWriter::state();
        let state = self.handle.read().await;
        for (index, previous) in last.iter_mut().enumerate() {
            let Some(bytes) = encode(&*state, index as u16) else {
                continue;
            };
            if bytes != *previous {
                writer.push_encoded(index as u16, &bytes);
                *previous = bytes;
            }
        }
        (writer.count() > 0).then(|| writer.finish())
    }
}

fn encode<S: ConnectionState>(state: &S, index: u16) -> Option<Vec<u8>> {
    match state.encode_field(index, Vec::new()) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            let field = S::FIELDS.get(usize::from(index)).copied().unwrap_or("?");
            let error = crate::error::Chain(&e);
            tracing::error!(field, %error, "could not encode a state field");
            None
        }
    }
}
