//! Streamed arguments: the items a client sends for a call while it runs (`ITEM`, then `END`),
//! routed to the call's handler within the credit the server grants.
//!
//! A call whose method takes a streamed argument is given one when it starts ([`Uploads::open`]),
//! with [`STREAM_WINDOW`] bytes of credit granted by the `CALL` itself. The handler's reader grants
//! back what it read ([`Grants`], turned into `CREDIT` frames by the connection's round), so that
//! at most the window, plus one item, waits in the server's memory for one argument. A client that
//! sends beyond the credit, or items for a call that takes none, is closed with 1002; items for a
//! call that has ended are dropped (they crossed its reply).

use std::collections::VecDeque;

use crate::call_ids::{CallIdHash, CallIdMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::task::Context;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use metrics::Counter;
use tokio::sync::mpsc;

use crate::contract::{RawUpload, UploadControl, UploadMsg};
use crate::events::outbound::CloseReason;
use crate::locks::lock;
use crate::server::closing::reason;
use crate::wire::close;
use crate::wire::frame::{STREAM_WINDOW, encode_credit};

/// The streamed arguments of a connection's calls in flight.
pub(super) struct Uploads {
    inlets: CallIdMap<Inlet>,
    grants: Arc<Grants>,
}

/// One call's streamed argument, as the connection routes to it.
struct Inlet {
    items: mpsc::UnboundedSender<UploadMsg>,
    /// Bytes of `ITEM` frames the client may still send (below zero by less than one item after
    /// the item that overdrew it).
    credit: i64,
    /// The client sent `END`.
    ended: bool,
    /// Counts the items received (the method's `stream_items_total{direction="received"}`).
    counted: Counter,
}

/// Credit the handlers' readers give back, waiting for the connection to send it.
#[derive(Default)]
pub(super) struct Grants {
    queue: Mutex<VecDeque<(u32, u32)>>,
    /// The connection's task.
    waker: AtomicWaker,
}

impl UploadControl for Grants {
    fn grant(&self, call_id: u32, bytes: u32) {
        lock(&self.queue).push_back((call_id, bytes));
        self.waker.wake();
    }
}

impl Uploads {
    pub(super) fn new() -> Self {
        Self {
            inlets: CallIdMap::with_hasher(CallIdHash::random()),
            grants: Arc::new(Grants::default()),
        }
    }

    /// Opens call `call_id`'s streamed argument, with the credit its `CALL` granted: what its
    /// dispatch hands the handler.
    pub(super) fn open(&mut self, call_id: u32, max_depth: usize, counted: Counter) -> RawUpload {
        let (items, receiver) = mpsc::unbounded_channel();
        self.inlets.insert(
            call_id,
            Inlet {
                items,
                counted,
                credit: i64::from(STREAM_WINDOW),
                ended: false,
            },
        );
        RawUpload::new(call_id, receiver, self.grants.clone(), max_depth)
    }

    /// Call `call_id` has ended: its argument takes nothing more (a reader still holding it sees
    /// it end without `END`, as an error).
    pub(super) fn close(&mut self, call_id: u32) {
        self.inlets.remove(&call_id);
    }

    /// Closes every argument: the connection is ending.
    pub(super) fn clear(&mut self) {
        self.inlets.clear();
    }

    /// Routes a client's `ITEM` (`frame[range]` is the item's archive). `in_flight`: whether call
    /// `call_id` is running.
    pub(super) fn on_item(
        &mut self,
        call_id: u32,
        frame: &Bytes,
        range: Range<usize>,
        in_flight: bool,
    ) -> Result<(), CloseReason> {
        let Some(inlet) = self.inlet(call_id, in_flight, "ITEM")? else {
            return Ok(());
        };
        if inlet.ended {
            return Err(violation(format!("ITEM after END for call id {call_id}")));
        }
        if inlet.credit <= 0 {
            return Err(violation(format!(
                "ITEM for call id {call_id} beyond the credit the server granted"
            )));
        }
        inlet.credit = inlet
            .credit
            .saturating_sub(i64::try_from(frame.len()).unwrap_or(i64::MAX));
        inlet.counted.increment(1);
        // A handler that dropped its argument reads no more: the item is dropped.
        let _ = inlet.items.send(UploadMsg::Item {
            message: frame.clone(),
            range,
        });
        Ok(())
    }

    /// Routes a client's `END`.
    pub(super) fn on_end(&mut self, call_id: u32, in_flight: bool) -> Result<(), CloseReason> {
        let Some(inlet) = self.inlet(call_id, in_flight, "END")? else {
            return Ok(());
        };
        if inlet.ended {
            return Err(violation(format!("second END for call id {call_id}")));
        }
        inlet.ended = true;
        let _ = inlet.items.send(UploadMsg::End);
        Ok(())
    }

    /// The argument of call `call_id`; `None` for a call that has ended (what the client sent
    /// crossed its reply), an error for a running call that takes none.
    fn inlet(
        &mut self,
        call_id: u32,
        in_flight: bool,
        what: &str,
    ) -> Result<Option<&mut Inlet>, CloseReason> {
        match self.inlets.get_mut(&call_id) {
            Some(inlet) => Ok(Some(inlet)),
            None if in_flight => Err(violation(format!(
                "{what} for call id {call_id}, whose method takes no streamed argument"
            ))),
            None => Ok(None),
        }
    }

    /// The next `CREDIT` frame to send for an argument whose reader gave credit back; registers
    /// the connection's task to be woken by the next one otherwise.
    pub(super) fn next_grant(&mut self, cx: &mut Context<'_>) -> Option<Vec<u8>> {
        // Grants come from the readers of open arguments: with none open, there is nothing to ask
        // (a grant left from one that ended would be dropped below anyway).
        if self.inlets.is_empty() {
            return None;
        }
        loop {
            let grant = {
                let mut queue = lock(&self.grants.queue);
                // Registered under the lock: a grant pushed after this wakes the task.
                match queue.pop_front() {
                    Some(grant) => grant,
                    None => {
                        self.grants.waker.register(cx.waker());
                        return None;
                    }
                }
            };
            let (call_id, bytes) = grant;
            // An argument that ended (or whose call did) needs no more credit.
            if let Some(inlet) = self.inlets.get_mut(&call_id)
                && !inlet.ended
            {
                inlet.credit = inlet.credit.saturating_add(i64::from(bytes));
                return Some(encode_credit(call_id, bytes));
            }
        }
    }
}

fn violation(why: String) -> CloseReason {
    tracing::warn!(%why, "protocol violation");
    reason(close::PROTOCOL_ERROR, why)
}
