//! Where replies wait for their callers: a table of slots, one per call waiting for its `REPLY`,
//! reused call after call. A channel per call would cost an allocation each; a slot costs nothing
//! once the table has grown to the number of calls in flight (at most the connection's slots).
//!
//! The table lives under the session's `pending` lock, with the calls it serves: a slot is taken
//! when a call is registered, filled when its reply arrives, and freed by whoever is last to need
//! it (the caller once it has the reply, or the caller giving up).

use std::task::{Context, Waker};

use crate::contract::RawReply;

/// One call's place.
enum Slot {
    /// Not in use.
    Free,
    /// The caller waits for the reply (with its waker, once it has polled).
    Waiting(Option<Waker>),
    /// The reply arrived; the caller has not taken it yet.
    Arrived(RawReply),
}

/// The slots of one session.
#[derive(Default)]
pub(crate) struct ReplySlots {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Slots whose reply arrived and was not taken yet: callers woken that have not run.
    arrived: usize,
}

/// What the caller learns when it polls its slot.
pub(crate) enum Polled {
    /// The reply (the slot is free again).
    Reply(RawReply),
    /// Still waiting; the waker is kept.
    Waiting,
    /// The slot holds nothing for this caller (the connection ended and failed every call): the
    /// slot is free again.
    Gone,
}

impl ReplySlots {
    /// Takes a free slot for a call about to be sent, whose caller is woken through `waker` once
    /// the reply is there (it need not poll the slot before then).
    pub(crate) fn take(&mut self, waker: &Waker) -> usize {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::Free);
            self.slots.len() - 1
        });
        self.slots[index] = Slot::Waiting(Some(waker.clone()));
        index
    }

    /// Puts the reply in slot `index`; the waker to wake (outside the lock). A slot that is not
    /// waiting (freed by a caller that gave up) keeps nothing: the reply is handed back to drop.
    pub(crate) fn deliver(
        &mut self,
        index: usize,
        reply: RawReply,
    ) -> Result<Option<Waker>, RawReply> {
        let Some(slot) = self.slots.get_mut(index) else {
            return Err(reply);
        };
        let Slot::Waiting(waker) = slot else {
            return Err(reply);
        };
        let waker = waker.take();
        *slot = Slot::Arrived(reply);
        self.arrived += 1;
        Ok(waker)
    }

    /// Replies that arrived and wait for their callers, who were woken and have not run yet: a
    /// caller about to run is usually about to call again.
    pub(crate) fn arrived(&self) -> usize {
        self.arrived
    }

    /// The caller of slot `index` asks for its reply. `ended`: the connection has ended, so a
    /// reply that has not arrived never will.
    pub(crate) fn poll(&mut self, index: usize, cx: &Context<'_>, ended: bool) -> Polled {
        let Some(slot) = self.slots.get_mut(index) else {
            return Polled::Gone;
        };
        match slot {
            Slot::Waiting(_) if ended => {
                self.release(index);
                Polled::Gone
            }
            Slot::Waiting(waker) => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Polled::Waiting
            }
            Slot::Arrived(_) => match self.release(index) {
                Some(reply) => Polled::Reply(reply),
                None => Polled::Gone,
            },
            Slot::Free => Polled::Gone,
        }
    }

    /// Frees slot `index` (its caller is done with it, or gave up); a reply that had arrived is
    /// handed back, to be dropped outside the lock.
    pub(crate) fn release(&mut self, index: usize) -> Option<RawReply> {
        let slot = self.slots.get_mut(index)?;
        match std::mem::replace(slot, Slot::Free) {
            Slot::Free => None,
            Slot::Waiting(_) => {
                self.free.push(index);
                None
            }
            Slot::Arrived(reply) => {
                self.free.push(index);
                self.arrived -= 1;
                Some(reply)
            }
        }
    }

    /// The wakers of every waiting caller, taken: the connection has ended, and each of them is
    /// to learn it at its next poll.
    pub(crate) fn wake_all(&mut self) -> Vec<Waker> {
        self.slots
            .iter_mut()
            .filter_map(|slot| match slot {
                Slot::Waiting(waker) => waker.take(),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::counting_waker;
    use bytes::Bytes;

    fn reply(tag: u8) -> RawReply {
        RawReply {
            status: crate::wire::frame::ReplyStatus::Ok,
            body_at: 0,
            message: Bytes::from(vec![tag]),
        }
    }

    #[test]
    fn a_slot_carries_one_reply_to_its_caller_and_is_reused() {
        let (count, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        let mut slots = ReplySlots::default();
        let a = slots.take(Waker::noop());
        let b = slots.take(Waker::noop());
        assert_ne!(a, b);
        assert!(matches!(slots.poll(a, &cx, false), Polled::Waiting));
        let woken = slots.deliver(a, reply(1)).ok().flatten();
        woken.expect("the waiting caller's waker").wake();
        assert_eq!(count.get(), 1);
        match slots.poll(a, &cx, false) {
            Polled::Reply(got) => assert_eq!(&got.message[..], [1]),
            _ => panic!("expected the reply"),
        }
        // Freed: the next call takes it again; the table does not grow.
        assert_eq!(slots.take(Waker::noop()), a);
        assert_eq!(slots.slots.len(), 2);
    }

    #[test]
    fn a_reply_for_a_slot_given_up_is_handed_back() {
        let mut slots = ReplySlots::default();
        let a = slots.take(Waker::noop());
        assert!(slots.release(a).is_none());
        assert!(slots.deliver(a, reply(2)).is_err());
        // Arrived, then given up: the reply comes back to be dropped, the slot is free.
        let b = slots.take(Waker::noop());
        assert!(slots.deliver(b, reply(3)).is_ok());
        assert!(slots.release(b).is_some());
        assert_eq!(slots.free.len(), 1);
    }

    #[test]
    fn replies_not_yet_taken_are_counted_until_their_callers_take_them_or_give_up() {
        let (_, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        let mut slots = ReplySlots::default();
        let (a, b, c) = (
            slots.take(Waker::noop()),
            slots.take(Waker::noop()),
            slots.take(Waker::noop()),
        );
        assert_eq!(slots.arrived(), 0);
        assert!(slots.deliver(a, reply(1)).is_ok());
        assert!(slots.deliver(b, reply(2)).is_ok());
        assert_eq!(slots.arrived(), 2, "two callers woken, neither has run");
        assert!(matches!(slots.poll(a, &cx, false), Polled::Reply(_)));
        assert_eq!(slots.arrived(), 1);
        // Given up after it arrived, and waiting then given up: neither is left counted.
        assert!(slots.release(b).is_some());
        assert!(slots.release(c).is_none());
        assert_eq!(slots.arrived(), 0);
        // A reply for a slot nobody waits on is not counted.
        assert!(slots.deliver(c, reply(3)).is_err());
        assert_eq!(slots.arrived(), 0);
    }

    #[test]
    fn an_ended_connection_wakes_every_waiting_caller_who_then_finds_nothing() {
        let (count, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        let mut slots = ReplySlots::default();
        let a = slots.take(Waker::noop());
        let b = slots.take(Waker::noop());
        assert!(matches!(slots.poll(a, &cx, false), Polled::Waiting));
        assert!(matches!(slots.poll(b, &cx, false), Polled::Waiting));
        for waker in slots.wake_all() {
            waker.wake();
        }
        assert_eq!(count.get(), 2);
        assert!(matches!(slots.poll(a, &cx, true), Polled::Gone));
        assert!(matches!(slots.poll(b, &cx, true), Polled::Gone));
        assert_eq!(slots.free.len(), 2);
    }
}
