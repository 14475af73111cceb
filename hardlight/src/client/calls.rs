//! The calls of one session, in one table: a call has a place there from its registration until its
//! caller has taken its reply (or, for a call whose caller gave up, until the server's reply).
//!
//! A call's id names its place: its low [`INDEX_BITS`] bits are the place's index, and its high bits
//! count the place's uses. A reply finds its call by one index and one comparison of ids, with no
//! hashing, and the reply then waits in that same place for its caller: one table to look in, not a
//! map of calls and a second table of replies. An id is never that of another call in flight, since a
//! place holds one call at a time.
//!
//! The table lives under the session's `pending` lock; it only grows (to the most calls that were in
//! flight or waiting for their callers at once), and reuses places freed last first.

use std::sync::Arc;
use std::task::{Context, Waker};

use tokio::sync::mpsc;

use super::upload::UploadCredit;
use crate::contract::{RawReply, RawStreamMsg};

/// Bits of a call id that are its place's index.
const INDEX_BITS: u32 = 20;

/// The most places the table has: calls in flight, plus replies their callers have not taken yet.
pub(crate) const MAX_PLACES: usize = 1 << INDEX_BITS;

/// Who waits for what a call receives.
pub(crate) enum Waiter {
    /// A call: its `REPLY`, with the caller's waker (from its last poll).
    Reply(Option<Waker>),
    /// A streaming call: its items, then its `REPLY` (at most
    /// [`STREAM_WINDOW`](super::stream::STREAM_WINDOW) bytes of items, plus one item, wait here).
    Stream(mpsc::UnboundedSender<RawStreamMsg>),
    /// The caller gave up: the call keeps its place until the server's reply, since the server
    /// counts it in flight until then.
    Gone,
}

/// A call whose reply has not arrived.
pub(crate) struct PendingCall {
    pub(crate) waiter: Waiter,
    /// Bytes of `ITEM` frames the server may still send (granted, less received; below zero by
    /// less than one item after an item that overdrew it); 0 for a call that does not stream, so
    /// that an `ITEM` for one breaks the protocol.
    pub(crate) credit: i64,
    /// The credit of the call's streamed argument, if it has one: closed when the call ends.
    pub(crate) upload: Option<Arc<UploadCredit>>,
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        // The call has ended (replied, or its connection ended): its argument stops streaming.
        if let Some(upload) = &self.upload {
            upload.close();
        }
    }
}

enum State {
    Free,
    /// Sent (or about to be), not answered.
    InFlight(PendingCall),
    /// Answered; its caller has not taken the reply yet.
    Arrived(RawReply),
}

struct Place {
    /// The id of the call that holds the place, or held it last.
    id: u32,
    state: State,
}

/// The calls of one session.
#[derive(Default)]
pub(crate) struct CallTable {
    places: Vec<Place>,
    /// Indexes of the free places; the last freed is taken first.
    free: Vec<u32>,
    in_flight: usize,
    arrived: usize,
}

/// What a `REPLY` did to its call.
pub(crate) enum Answered {
    /// The reply waits in the call's place; its caller is to be woken with this waker (outside
    /// the lock).
    Delivered(Option<Waker>),
    /// The call streams: the reply is its end, for the items' receiver.
    Stream(mpsc::UnboundedSender<RawStreamMsg>, RawReply),
    /// The caller gave up: nobody takes the reply.
    Unclaimed(RawReply),
}

/// What the caller learns when it polls its call.
pub(crate) enum Polled {
    /// The reply (the place is free again).
    Reply(RawReply),
    /// Still waiting; the waker is kept.
    Waiting,
    /// The call has nothing for this caller: the connection ended and failed every call.
    Gone,
}

impl CallTable {
    /// Calls registered and not answered: the server's count of this connection's calls.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Replies that arrived and wait for their callers, who were woken and have not run yet: a
    /// caller about to run is usually about to call again.
    pub(crate) fn arrived(&self) -> usize {
        self.arrived
    }

    /// Gives `call` a place; its id. `Err` with the call when every place is taken.
    pub(crate) fn register(&mut self, call: PendingCall) -> Result<u32, PendingCall> {
        let index = match self.free.pop() {
            Some(index) => index as usize,
            None if self.places.len() < MAX_PLACES => {
                self.places.push(Place {
                    // The first id of a place is its index; `next_id` counts from there.
                    id: (self.places.len() as u32).wrapping_sub(1 << INDEX_BITS),
                    state: State::Free,
                });
                self.places.len() - 1
            }
            None => return Err(call),
        };
        let place = &mut self.places[index];
        place.id = place.id.wrapping_add(1 << INDEX_BITS);
        place.state = State::InFlight(call);
        self.in_flight += 1;
        Ok(place.id)
    }

    /// The call `id`, while it is in flight.
    pub(crate) fn get(&self, id: u32) -> Option<&PendingCall> {
        match self.places.get(index_of(id)) {
            Some(Place {
                id: held,
                state: State::InFlight(call),
            }) if *held == id => Some(call),
            _ => None,
        }
    }

    /// The call `id`, while it is in flight.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut PendingCall> {
        match self.places.get_mut(index_of(id)) {
            Some(Place {
                id: held,
                state: State::InFlight(call),
            }) if *held == id => Some(call),
            _ => None,
        }
    }

    /// The server's reply to call `id`: the call is no longer in flight. Returns what to do with
    /// the reply, and the call if it has a streamed argument (to drop outside the lock, which
    /// closes the argument); `Err` with the reply when no call `id` is in flight (a violation).
    pub(crate) fn answer(
        &mut self,
        id: u32,
        reply: RawReply,
    ) -> Result<(Answered, Option<PendingCall>), RawReply> {
        let index = index_of(id);
        let Some(place) = self.places.get_mut(index).filter(|place| place.id == id) else {
            return Err(reply);
        };
        let State::InFlight(call) = &mut place.state else {
            return Err(reply);
        };
        self.in_flight -= 1;
        // The common case first: the reply stays in the place, for its caller.
        if let Waiter::Reply(waker) = &mut call.waiter {
            let woken = waker.take();
            let State::InFlight(call) = std::mem::replace(&mut place.state, State::Arrived(reply))
            else {
                unreachable!("matched above")
            };
            self.arrived += 1;
            return Ok((
                Answered::Delivered(woken),
                call.upload.is_some().then_some(call),
            ));
        }
        let State::InFlight(mut call) = std::mem::replace(&mut place.state, State::Free) else {
            unreachable!("matched above")
        };
        self.free.push(index as u32);
        let answered = match std::mem::replace(&mut call.waiter, Waiter::Gone) {
            Waiter::Stream(items) => Answered::Stream(items, reply),
            Waiter::Reply(_) | Waiter::Gone => Answered::Unclaimed(reply),
        };
        Ok((answered, call.upload.is_some().then_some(call)))
    }

    /// The caller of call `id` (which waits for a `REPLY`) asks for it.
    pub(crate) fn poll(&mut self, id: u32, cx: &Context<'_>) -> Polled {
        let index = index_of(id);
        let Some(place) = self.places.get_mut(index) else {
            return Polled::Gone;
        };
        if place.id != id {
            return Polled::Gone;
        }
        match &mut place.state {
            State::InFlight(PendingCall {
                waiter: Waiter::Reply(waker),
                ..
            }) => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Polled::Waiting
            }
            State::Arrived(_) => {
                let State::Arrived(reply) = std::mem::replace(&mut place.state, State::Free) else {
                    unreachable!("matched above")
                };
                self.free.push(index as u32);
                self.arrived -= 1;
                Polled::Reply(reply)
            }
            State::InFlight(_) | State::Free => Polled::Gone,
        }
    }

    /// The caller of call `id` gave up. A reply that had arrived is handed back, to drop outside
    /// the lock, and its place freed; a call still in flight keeps its place until the server's
    /// reply, with no waiter (its waiter is handed back, to drop outside the lock) and its
    /// streamed argument closed. `true` if the call is in flight: the server is to be asked to
    /// stop it.
    pub(crate) fn abandon(&mut self, id: u32) -> (bool, Option<RawReply>, Option<Waiter>) {
        let index = index_of(id);
        let Some(place) = self.places.get_mut(index) else {
            return (false, None, None);
        };
        if place.id != id {
            return (false, None, None);
        }
        match &mut place.state {
            State::InFlight(call) => {
                if let Some(upload) = &call.upload {
                    upload.close();
                }
                let waiter = std::mem::replace(&mut call.waiter, Waiter::Gone);
                (true, None, Some(waiter))
            }
            State::Arrived(_) => {
                let State::Arrived(reply) = std::mem::replace(&mut place.state, State::Free) else {
                    unreachable!("matched above")
                };
                self.free.push(index as u32);
                self.arrived -= 1;
                (false, Some(reply), None)
            }
            State::Free => (false, None, None),
        }
    }

    /// Undoes the registration of call `id`, which was not sent; the call, to drop outside the
    /// lock.
    pub(crate) fn unregister(&mut self, id: u32) -> Option<PendingCall> {
        let index = index_of(id);
        let place = self.places.get_mut(index)?;
        if place.id != id || !matches!(place.state, State::InFlight(_)) {
            return None;
        }
        let State::InFlight(call) = std::mem::replace(&mut place.state, State::Free) else {
            unreachable!("checked above")
        };
        self.free.push(index as u32);
        self.in_flight -= 1;
        Some(call)
    }

    /// The connection has ended: every call in flight is taken out (to drop outside the lock,
    /// which ends streams and streamed arguments), with the wakers of the callers waiting for a
    /// reply, who find nothing when they look. Replies that arrived before stay for their callers.
    pub(crate) fn end_all(&mut self) -> (Vec<PendingCall>, Vec<Waker>) {
        let (mut calls, mut callers) = (Vec::new(), Vec::new());
        for (index, place) in self.places.iter_mut().enumerate() {
            if !matches!(place.state, State::InFlight(_)) {
                continue;
            }
            let State::InFlight(mut call) = std::mem::replace(&mut place.state, State::Free) else {
                unreachable!("checked above")
            };
            if let Waiter::Reply(Some(waker)) = std::mem::replace(&mut call.waiter, Waiter::Gone) {
                callers.push(waker);
            }
            calls.push(call);
            self.free.push(index as u32);
        }
        self.in_flight = 0;
        (calls, callers)
    }
}

fn index_of(id: u32) -> usize {
    (id & ((1 << INDEX_BITS) - 1)) as usize
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

    fn call() -> PendingCall {
        PendingCall {
            waiter: Waiter::Reply(None),
            credit: 0,
            upload: None,
        }
    }

    #[test]
    fn a_reply_waits_in_its_calls_place_for_the_caller_who_then_frees_it() {
        let (count, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        let mut table = CallTable::default();
        let a = table.register(call()).ok().unwrap();
        let b = table.register(call()).ok().unwrap();
        // The first calls of a connection are numbered from 0 (docs/PROTOCOL.md, §6).
        assert_eq!((a, b), (0, 1));
        assert_eq!(table.in_flight(), 2);
        assert!(matches!(table.poll(a, &cx), Polled::Waiting));
        let Ok((Answered::Delivered(Some(woken)), _call)) = table.answer(a, reply(1)) else {
            panic!("expected the reply delivered to a waiting caller");
        };
        woken.wake();
        assert_eq!(count.get(), 1);
        assert_eq!((table.in_flight(), table.arrived()), (1, 1));
        match table.poll(a, &cx) {
            Polled::Reply(got) => assert_eq!(&got.message[..], [1]),
            _ => panic!("expected the reply"),
        }
        assert_eq!((table.in_flight(), table.arrived()), (1, 0));
        // The place is reused, under a new id; the table does not grow.
        let c = table.register(call()).ok().unwrap();
        assert_eq!(c, 1 << INDEX_BITS, "place 0's second call");
        assert_eq!(index_of(c), index_of(a));
        assert_eq!(table.places.len(), 2);
    }

    #[test]
    fn a_reply_to_an_id_not_in_flight_is_refused() {
        let mut table = CallTable::default();
        let a = table.register(call()).ok().unwrap();
        // Never issued, past the table, or answered already.
        assert!(
            table
                .answer(a.wrapping_add(1 << INDEX_BITS), reply(1))
                .is_err()
        );
        assert!(table.answer(7, reply(1)).is_err());
        assert!(table.answer(a, reply(2)).is_ok());
        assert!(table.answer(a, reply(3)).is_err(), "a second reply");
        // Its caller took it: the place is free, and a reply to the old id is still refused
        // once the place holds another call.
        let cx = Context::from_waker(Waker::noop());
        assert!(matches!(table.poll(a, &cx), Polled::Reply(_)));
        let b = table.register(call()).ok().unwrap();
        assert!(table.answer(a, reply(4)).is_err());
        assert!(table.get(a).is_none());
        assert!(table.get(b).is_some());
    }

    #[test]
    fn a_caller_that_gives_up_leaves_its_call_in_flight_until_the_reply() {
        let mut table = CallTable::default();
        let a = table.register(call()).ok().unwrap();
        let (cancel, unclaimed, waiter) = table.abandon(a);
        assert!(cancel && unclaimed.is_none());
        assert!(matches!(waiter, Some(Waiter::Reply(_))));
        assert_eq!(table.in_flight(), 1, "the server still counts it");
        assert!(matches!(
            table.answer(a, reply(1)),
            Ok((Answered::Unclaimed(_), _))
        ));
        assert_eq!((table.in_flight(), table.arrived()), (0, 0));
        // Arrived, then given up: the reply comes back to be dropped; nothing to cancel.
        let b = table.register(call()).ok().unwrap();
        assert!(table.answer(b, reply(2)).is_ok());
        let (cancel, unclaimed, _) = table.abandon(b);
        assert!(!cancel && unclaimed.is_some());
        assert_eq!((table.in_flight(), table.arrived()), (0, 0));
        assert_eq!(table.free.len(), 1);
    }

    #[test]
    fn an_ended_connection_wakes_every_waiting_caller_who_then_finds_nothing() {
        let (count, waker) = counting_waker();
        let cx = Context::from_waker(&waker);
        let mut table = CallTable::default();
        let a = table.register(call()).ok().unwrap();
        let b = table.register(call()).ok().unwrap();
        let answered = table.register(call()).ok().unwrap();
        assert!(matches!(table.poll(a, &cx), Polled::Waiting));
        assert!(matches!(table.poll(b, &cx), Polled::Waiting));
        assert!(table.answer(answered, reply(9)).is_ok());
        let (calls, callers) = table.end_all();
        assert_eq!((calls.len(), callers.len()), (2, 2));
        for caller in callers {
            caller.wake();
        }
        assert_eq!(count.get(), 2);
        assert!(matches!(table.poll(a, &cx), Polled::Gone));
        assert!(matches!(table.poll(b, &cx), Polled::Gone));
        // A reply that arrived before the end is still its caller's.
        assert!(matches!(table.poll(answered, &cx), Polled::Reply(_)));
        assert_eq!(table.in_flight(), 0);
    }

    #[test]
    fn ids_of_calls_in_flight_are_distinct_while_places_are_reused() {
        let cx = Context::from_waker(Waker::noop());
        let mut table = CallTable::default();
        let long = table.register(call()).ok().unwrap();
        let mut seen = std::collections::HashSet::new();
        for round in 0..10_000u32 {
            let id = table.register(call()).ok().unwrap();
            assert_ne!(id, long, "round {round}");
            assert!(
                seen.insert(id) || round >= 4096,
                "an id repeated within 4096 uses"
            );
            assert!(table.answer(id, reply(0)).is_ok());
            assert!(matches!(table.poll(id, &cx), Polled::Reply(_)));
        }
        assert_eq!(table.places.len(), 2);
        assert!(table.get(long).is_some());
    }
}
