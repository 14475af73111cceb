//! The client's way out: frames on their way to the server, shared by the callers and the driver.
//!
//! A call made while no other is in flight writes its frame to the socket itself and flushes it, so
//! a lone call costs no hand-off to another task (at one call at a time that hand-off is a tenth of
//! a round trip on loopback). Everything else (calls made while others are in flight, cancels,
//! pings) is queued for the driver, which writes what has gathered and flushes once: under load,
//! many frames leave in one system call. Small call frames are queued packed, in runs (see
//! [`Packed`]): a run takes a frame where it lies in the caller's buffer, and the driver hands a
//! whole run to the transport at once.
//!
//! A caller's direct write borrows the driver's waker: if the socket cannot take the frame at once,
//! the driver is the one woken to finish the job.
//!
//! A one-way message's sender waits for its frame to leave: its frame travels with a [`Written`]
//! signal, completed after the flush that carried the frame (by the caller itself when it wrote the
//! frame directly and the flush completed at once, by the driver otherwise), and dropped unsent if
//! the connection ends first. Calls carry none and pay nothing for it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::sink::{BoxSink, Outgoing, PACKED_MAX, Packed, TransportSink};
use crate::error::TransportError;
use crate::keepalive::Instant;
use crate::locks::lock;

/// Frames written before one flush (a run of packed frames counts as the frames it holds, and is
/// written whole).
const WRITE_BATCH: usize = 256;

/// Emptied runs kept for packing again: a run is made while another is with the driver, so two
/// keep a busy connection from allocating; more are dropped.
pub(crate) const SPARE_RUNS: usize = 2;

/// The connection's outgoing side. Lock order: `writer`, then `queue`.
pub(crate) struct Outbox {
    writer: Mutex<Writer>,
    queue: Mutex<Queue>,
}

struct Writer {
    /// Attached by the driver when it starts; taken back when the connection ends.
    sink: Option<BoxSink>,
    /// Frames were handed to the sink since its last completed flush.
    needs_flush: bool,
    /// Signals of the one-way frames handed to the sink since its last completed flush.
    unflushed: Vec<Written>,
    /// A caller's direct write failed: the driver ends the connection with this.
    failed: Option<TransportError>,
    /// Frames taken from the queue in one go (the queue's lock is taken once per batch, not once
    /// per frame), still to hand to the sink, in order.
    staged: VecDeque<Queued>,
    /// Runs the sink has emptied, to give back to the queue the next time the driver takes from it.
    emptied: Vec<Packed>,
}

struct Queue {
    /// Frames for the driver to write, in order. Bounded: at most one `CALL` and one `CANCEL` per
    /// call slot, one ping, and one `NOTIFY` per place of the session's one-way room (see
    /// [`Written`]).
    frames: VecDeque<Queued>,
    /// Emptied runs, to pack frames in again (at most [`SPARE_RUNS`]).
    spare: Vec<Packed>,
    /// The pong owed for the server's latest ping, written before the frames: only the latest ping
    /// needs one (RFC 6455 §5.5.3), so a server pinging in a loop cannot grow the queue.
    #[cfg(hardlight_native)]
    pong: Option<Bytes>,
    /// The driver's waker, from its last poll.
    driver: Option<Waker>,
    /// Set once the connection has ended: nothing more is accepted.
    closed: bool,
    /// Set by [`Outbox::stop`]: the driver ends the connection at its next poll.
    stop: bool,
}

/// Why the driver's writer ends the connection.
#[derive(Debug)]
pub(crate) enum WriterEnd {
    /// Writing failed: the connection is broken.
    Failed(TransportError),
    /// [`Outbox::stop`] was called.
    Stopped,
}

/// Where the driver is in writing one batch.
#[derive(Default)]
pub(crate) struct Batch {
    written: usize,
    /// The driver already let the callers run once before flushing this batch.
    yielded: bool,
    /// The frames of the last batch flushed and the time its flush took, for the driver's
    /// [`Pacing`](super::pacing::Pacing).
    flushed: Option<(usize, Duration)>,
}

impl Batch {
    /// The frames and the time of the last flush, once.
    pub(crate) fn take_flushed(&mut self) -> Option<(usize, Duration)> {
        self.flushed.take()
    }
}

/// The connection has ended; the frame was not accepted.
#[derive(Debug)]
pub(crate) struct Closed;

/// What waits for the driver.
enum Queued {
    /// A message, with the signal to complete once it has left.
    Message {
        message: Outgoing,
        written: Option<Written>,
    },
    /// Small call frames, packed (never empty).
    Packed(Packed),
}

/// A frame a caller may write to the transport itself.
trait Direct {
    fn start_send(self, sink: Pin<&mut dyn TransportSink>) -> Result<(), TransportError>;
}

impl Direct for Outgoing {
    fn start_send(self, sink: Pin<&mut dyn TransportSink>) -> Result<(), TransportError> {
        sink.start_send(self)
    }
}

impl Direct for &[u8] {
    fn start_send(self, sink: Pin<&mut dyn TransportSink>) -> Result<(), TransportError> {
        sink.start_send_slice(self)
    }
}

/// Tells a one-way sender that its frame has been written to the socket and flushed: completed after
/// the flush that carried the frame, dropped (the receiver sees an error) if the connection ends
/// first. Until then it holds the frame's place among those not yet written, which keeps the frames
/// the outbox holds bounded even when senders give up waiting.
pub(crate) struct Written {
    done: oneshot::Sender<()>,
    _place: OwnedSemaphorePermit,
}

impl Written {
    /// A signal holding `place`, and the receiver that learns when the frame has left.
    pub(crate) fn new(place: OwnedSemaphorePermit) -> (Self, oneshot::Receiver<()>) {
        let (done, receiver) = oneshot::channel();
        (
            Self {
                done,
                _place: place,
            },
            receiver,
        )
    }

    fn complete(self) {
        // The sender may have given up waiting: nothing to tell then.
        let _ = self.done.send(());
    }
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Self {
            writer: Mutex::new(Writer {
                sink: None,
                needs_flush: false,
                unflushed: Vec::new(),
                failed: None,
                staged: VecDeque::new(),
                emptied: Vec::new(),
            }),
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                spare: Vec::new(),
                #[cfg(hardlight_native)]
                pong: None,
                driver: None,
                closed: false,
                stop: false,
            }),
        }
    }

    /// Hands the transport's write half to the outbox (the driver does, when it starts).
    pub(crate) fn attach(&self, sink: BoxSink) {
        lock(&self.writer).sink = Some(sink);
    }

    /// Sends a call's frame: written and flushed right here when `lone` (no other call in flight),
    /// nothing is queued and the socket takes it at once; queued for the driver otherwise.
    pub(crate) fn send_call(&self, frame: Outgoing, lone: bool) -> Result<(), Closed> {
        self.send(frame, lone, None)
    }

    /// Sends a small call frame as [`Outbox::send_call`] does, from where it lies (the thread's
    /// scratch buffer): written to the transport from there when `lone`, else packed into the run
    /// at the back of the queue (see [`Packed`]), so that the frame is not moved as a value through
    /// the layers in between (measured: benches/PROFILE.md). `frame` is at most [`PACKED_MAX`]
    /// bytes.
    pub(crate) fn send_call_small(&self, frame: &[u8], lone: bool) -> Result<(), Closed> {
        debug_assert!(frame.len() <= PACKED_MAX);
        if lone && self.write_directly(frame, None).is_none() {
            return Ok(());
        }
        let mut queue = lock(&self.queue);
        if queue.closed {
            return Err(Closed);
        }
        let first = queue.frames.is_empty();
        queue.pack(frame);
        if first && let Some(driver) = &queue.driver {
            driver.wake_by_ref();
        }
        Ok(())
    }

    /// Sends a one-way message's frame as [`Outbox::send_call`] sends a call's; `written` is
    /// completed once the frame has been flushed.
    pub(crate) fn send_oneway(
        &self,
        frame: Bytes,
        lone: bool,
        written: Written,
    ) -> Result<(), Closed> {
        self.send(Outgoing::Binary(frame), lone, Some(written))
    }

    fn send(&self, frame: Outgoing, lone: bool, written: Option<Written>) -> Result<(), Closed> {
        let (message, written) = if lone {
            match self.write_directly(frame, written) {
                None => return Ok(()),
                Some(back) => back,
            }
        } else {
            (frame, written)
        };
        self.push(Queued::Message { message, written })
    }

    /// Queues a frame (or a ping) for the driver.
    pub(crate) fn queue(&self, message: Outgoing) -> Result<(), Closed> {
        self.push(Queued::Message {
            message,
            written: None,
        })
    }

    /// Owes the server a pong with `payload`, in place of any pong still owed.
    #[cfg(hardlight_native)]
    pub(crate) fn pong(&self, payload: Bytes) {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return;
        }
        queue.pong = Some(payload);
        if let Some(driver) = &queue.driver {
            driver.wake_by_ref();
        }
    }

    /// Queues a frame for the driver. Only the first frame of an empty queue wakes the driver:
    /// frames already queued mean it has been woken and has not taken them yet (it takes the whole
    /// queue at once, and whenever it stops short of the end it has a wake-up coming: from the
    /// socket, or from itself).
    fn push(&self, queued: Queued) -> Result<(), Closed> {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return Err(Closed);
        }
        let first = queue.frames.is_empty();
        queue.frames.push_back(queued);
        if first && let Some(driver) = &queue.driver {
            driver.wake_by_ref();
        }
        Ok(())
    }

    /// Writes `frame` to the socket and flushes it, with the driver's waker; gives the frame (and
    /// its signal) back when that cannot be done now (the driver is writing, frames are queued, the
    /// socket is full).
    fn write_directly<F: Direct>(
        &self,
        frame: F,
        written: Option<Written>,
    ) -> Option<(F, Option<Written>)> {
        let Ok(mut writer) = self.writer.try_lock() else {
            return Some((frame, written));
        };
        if !writer.staged.is_empty() {
            return Some((frame, written));
        }
        let waker = {
            let queue = lock(&self.queue);
            match &queue.driver {
                Some(driver) if queue.is_idle() => driver.clone(),
                _ => return Some((frame, written)),
            }
        };
        let Writer {
            sink,
            needs_flush,
            unflushed,
            failed,
            ..
        } = &mut *writer;
        let Some(sink) = sink.as_mut() else {
            return Some((frame, written));
        };
        if failed.is_some() {
            return Some((frame, written));
        }
        let mut cx = Context::from_waker(&waker);
        let sent = match sink.as_mut().poll_ready(&mut cx) {
            Poll::Pending => return Some((frame, written)),
            Poll::Ready(Ok(())) => frame.start_send(sink.as_mut()),
            Poll::Ready(Err(e)) => Err(e),
        };
        let flushed = sent.and_then(|()| {
            *needs_flush = true;
            unflushed.extend(written);
            match sink.as_mut().poll_flush(&mut cx) {
                Poll::Ready(Ok(())) => {
                    flush_done(needs_flush, unflushed);
                    Ok(())
                }
                // The driver is woken when the socket can take the rest, and flushes it.
                Poll::Pending => Ok(()),
                Poll::Ready(Err(e)) => Err(e),
            }
        });
        if let Err(e) = flushed {
            // The connection is broken: the driver ends it, which fails this call too.
            *failed = Some(e);
            waker.wake();
        }
        None
    }

    /// The driver's turn: writes what is queued, flushes once per batch. `in_flight` is the number
    /// of calls awaiting replies: while more are in flight than this batch holds, the callers just
    /// woken by replies are let run once before the flush, so that their next calls join it.
    /// `Ready` with the error that broke the connection, or once [`Outbox::stop`] was called;
    /// `Pending` otherwise.
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        batch: &mut Batch,
        in_flight: impl Fn() -> usize,
    ) -> Poll<WriterEnd> {
        let mut writer = lock(&self.writer);
        let Writer {
            sink,
            needs_flush,
            unflushed,
            failed,
            staged,
            emptied,
        } = &mut *writer;
        {
            let mut queue = lock(&self.queue);
            if !queue
                .driver
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                queue.driver = Some(cx.waker().clone());
            }
            // Under the lock that registers the waker: a `stop` after this wakes the driver.
            if queue.stop {
                return Poll::Ready(WriterEnd::Stopped);
            }
        }
        if let Some(e) = failed.take() {
            return Poll::Ready(WriterEnd::Failed(e));
        }
        let Some(sink) = sink.as_mut() else {
            return Poll::Pending;
        };
        while batch.written < WRITE_BATCH {
            match sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(WriterEnd::Failed(e)),
                Poll::Pending => return Poll::Pending,
            }
            let next = match staged.pop_front() {
                Some(queued) => Some(queued),
                None => lock(&self.queue).take_into(staged, emptied),
            };
            let sent = match next {
                None => break,
                Some(Queued::Message { message, written }) => {
                    unflushed.extend(written);
                    batch.written += 1;
                    sink.as_mut().start_send(message)
                }
                Some(Queued::Packed(mut run)) => {
                    batch.written += run.count();
                    let sent = sink.as_mut().start_send_packed(&mut run);
                    emptied.push(run);
                    sent
                }
            };
            if let Err(e) = sent {
                return Poll::Ready(WriterEnd::Failed(e));
            }
            *needs_flush = true;
        }
        if !*needs_flush {
            return Poll::Pending;
        }
        // Not only a matter of batch size: the first caller's push wakes the driver into tokio's
        // LIFO slot, so without this yield the driver runs after every single caller and the
        // frames leave one system call each (measured: 150k instead of 1.1M calls/s at 256 in
        // flight with the ends on two CPUs; benches/PROFILE.md).
        if !batch.yielded
            && batch.written > 0
            && batch.written < WRITE_BATCH
            && in_flight() > batch.written
        {
            batch.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let started = Instant::now();
        match sink.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                flush_done(needs_flush, unflushed);
                *batch = Batch {
                    flushed: Some((batch.written, started.elapsed())),
                    ..Batch::default()
                };
                // A full batch may have left frames behind.
                if !staged.is_empty() || !lock(&self.queue).is_empty() {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(WriterEnd::Failed(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Asks the driver to end the connection (the user disconnected, or a stream's reader found a
    /// violation); it sees this at its next [`Outbox::poll_write`], which this wakes it for.
    pub(crate) fn stop(&self) {
        let driver = {
            let mut queue = lock(&self.queue);
            queue.stop = true;
            queue.driver.clone()
        };
        if let Some(driver) = driver {
            driver.wake();
        }
    }

    /// The emptied runs kept for packing again.
    #[cfg(test)]
    pub(crate) fn spare_runs(&self) -> usize {
        lock(&self.queue).spare.len()
    }

    /// Ends the outbox: nothing more is accepted, and the one-way senders still waiting learn that
    /// their frames did not leave. Returns the sink, to send the close frame on.
    pub(crate) fn close(&self) -> Option<BoxSink> {
        let mut writer = lock(&self.writer);
        {
            let mut queue = lock(&self.queue);
            queue.closed = true;
            queue.frames.clear();
            queue.spare.clear();
            #[cfg(hardlight_native)]
            {
                queue.pong = None;
            }
            queue.driver = None;
        }
        writer.unflushed.clear();
        writer.staged.clear();
        writer.emptied.clear();
        writer.sink.take()
    }
}

impl Queue {
    /// The next message for the driver: the pong owed, if any, else the first frame, the frames
    /// after it moved to `staged` (empty: the driver has written every frame it took before). Takes
    /// back the runs the driver has `emptied`, to pack in again.
    fn take_into(
        &mut self,
        staged: &mut VecDeque<Queued>,
        emptied: &mut Vec<Packed>,
    ) -> Option<Queued> {
        for run in emptied.drain(..) {
            if self.spare.len() < SPARE_RUNS {
                debug_assert!(run.is_empty());
                self.spare.push(run);
            }
        }
        #[cfg(hardlight_native)]
        if let Some(payload) = self.pong.take() {
            return Some(Queued::Message {
                message: Outgoing::Pong(payload),
                written: None,
            });
        }
        debug_assert!(staged.is_empty());
        std::mem::swap(&mut self.frames, staged);
        staged.pop_front()
    }

    /// Packs `frame` into the run at the back of the queue, or into a new run there.
    fn pack(&mut self, frame: &[u8]) {
        if let Some(Queued::Packed(run)) = self.frames.back_mut() {
            run.push(frame);
            return;
        }
        let mut run = self.spare.pop().unwrap_or_default();
        run.push(frame);
        self.frames.push_back(Queued::Packed(run));
    }

    /// Nothing waits for the driver.
    fn is_empty(&self) -> bool {
        #[cfg(hardlight_native)]
        if self.pong.is_some() {
            return false;
        }
        self.frames.is_empty()
    }

    /// A caller may write its frame itself: nothing waits to go before it and the connection is on.
    fn is_idle(&self) -> bool {
        self.is_empty() && !self.closed
    }
}

/// A flush completed: everything handed to the sink has left, one-way frames included.
fn flush_done(needs_flush: &mut bool, unflushed: &mut Vec<Written>) {
    *needs_flush = false;
    for written in unflushed.drain(..) {
        written.complete();
    }
}

#[cfg(all(test, hardlight_native))]
mod tests {
    use super::*;

    /// The message of a queued frame that is not a packed run.
    fn message(queued: Queued) -> Outgoing {
        match queued {
            Queued::Message { message, .. } => message,
            Queued::Packed(run) => panic!("expected a message, got a run of {}", run.count()),
        }
    }

    #[test]
    fn only_the_latest_ping_is_owed_a_pong_and_it_goes_first() {
        let outbox = Outbox::new();
        outbox.queue(Outgoing::Ping).unwrap();
        // A server pinging in a loop: the queue holds one pong, not one per ping.
        for i in 0..1000u32 {
            outbox.pong(Bytes::from(i.to_le_bytes().to_vec()));
        }
        let mut queue = lock(&outbox.queue);
        let (mut staged, mut emptied) = (VecDeque::new(), Vec::new());
        match queue.take_into(&mut staged, &mut emptied).map(message) {
            Some(Outgoing::Pong(payload)) => assert_eq!(payload[..], 999u32.to_le_bytes()),
            other => panic!("expected the latest pong first, got {other:?}"),
        }
        assert!(matches!(
            queue.take_into(&mut staged, &mut emptied).map(message),
            Some(Outgoing::Ping)
        ));
        assert!(staged.is_empty());
        assert!(queue.take_into(&mut staged, &mut emptied).is_none());
        assert!(queue.is_empty());
    }

    #[test]
    fn the_driver_takes_the_queue_in_one_go_in_order() {
        let outbox = Outbox::new();
        for i in 0..5u8 {
            outbox
                .queue(Outgoing::Binary(Bytes::from(vec![i])))
                .unwrap();
        }
        let (mut staged, mut emptied) = (VecDeque::new(), Vec::new());
        let first = lock(&outbox.queue).take_into(&mut staged, &mut emptied);
        assert!(matches!(first.map(message), Some(Outgoing::Binary(b)) if b[..] == [0]));
        // The rest moved out of the queue at once, in order; the queue is empty for the callers.
        assert!(lock(&outbox.queue).is_empty());
        let rest: Vec<u8> = staged
            .drain(..)
            .map(|q| match message(q) {
                Outgoing::Binary(b) => b[0],
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(rest, [1, 2, 3, 4]);
    }

    #[test]
    fn small_frames_queued_together_share_a_run_between_other_messages() {
        let outbox = Outbox::new();
        outbox.send_call_small(b"a", false).unwrap();
        outbox.send_call_small(b"b", false).unwrap();
        outbox.queue(Outgoing::Ping).unwrap();
        outbox.send_call_small(b"c", false).unwrap();
        let queue = lock(&outbox.queue);
        let shape: Vec<String> = queue
            .frames
            .iter()
            .map(|queued| match queued {
                Queued::Packed(run) => format!("run of {}", run.count()),
                Queued::Message { message, .. } => format!("{message:?}"),
            })
            .collect();
        assert_eq!(shape, ["run of 2", "Ping", "run of 1"]);
    }
}
