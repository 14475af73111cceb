//! Who may send a call: at most as many calls in flight as the server has slots (its `HELLO`
//! says how many); a caller past that waits, first come first served, instead of failing.
//!
//! The count lives under the session's `pending` lock with the calls it counts (a call holds its
//! slot from its registration until the server's reply, even when its caller gave up), so taking
//! a slot costs nothing beyond the lock a call takes anyway. Callers that find no room queue
//! here with their wakers; each slot freed wakes the oldest, which takes it when it runs. While
//! any caller waits, a newcomer queues behind it even if a slot is free for a moment: the slot is
//! the oldest waiter's.

use std::collections::VecDeque;
use std::task::Waker;

/// The slots of one session and the callers waiting for one.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Calls the server accepts in flight.
    max: usize,
    /// Callers waiting for a slot, oldest first, with the waker of their last poll.
    queue: VecDeque<(u64, Waker)>,
    /// The ticket of the next caller to queue.
    next_ticket: u64,
}

/// A caller's place in the queue, once it has had to wait.
pub(crate) type Ticket = Option<u64>;

impl Admission {
    /// Room for `max` calls in flight (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            queue: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// Whether the caller holding `ticket` may register a call now, with `in_flight` calls
    /// registered. `Ok` with the waker of the next waiter to wake (outside the lock) when it may;
    /// `Err(())` when it must wait: it is queued (or stays queued), and `waker` is woken when its
    /// turn may have come.
    pub(crate) fn admit(
        &mut self,
        ticket: &mut Ticket,
        in_flight: usize,
        waker: &Waker,
    ) -> Result<Option<Waker>, ()> {
        let room = in_flight < self.max;
        match *ticket {
            None if room && self.queue.is_empty() => Ok(None),
            None => {
                let number = self.next_ticket;
                self.next_ticket += 1;
                self.queue.push_back((number, waker.clone()));
                *ticket = Some(number);
                Err(())
            }
            Some(number) => {
                if room
                    && self
                        .queue
                        .front()
                        .is_some_and(|(front, _)| *front == number)
                {
                    self.queue.pop_front();
                    *ticket = None;
                    // More room still: the next waiter's turn too.
                    return Ok(self.front_if_room(in_flight + 1));
                }
                if let Some((_, kept)) = self.queue.iter_mut().find(|(n, _)| *n == number) {
                    if !kept.will_wake(waker) {
                        kept.clone_from(waker);
                    }
                } else {
                    // Not queued any more (cannot happen while the session runs): queue again.
                    *ticket = None;
                    return self.admit(ticket, in_flight, waker);
                }
                Err(())
            }
        }
    }

    /// A slot was freed, leaving `in_flight` calls: the waker of the oldest waiter, whose turn it
    /// is (to wake outside the lock).
    pub(crate) fn freed(&self, in_flight: usize) -> Option<Waker> {
        self.front_if_room(in_flight)
    }

    /// The caller holding `ticket` gave up waiting: its place is dropped, and if it was first in
    /// line with a slot free, the next waiter's waker is returned to wake.
    pub(crate) fn leave(&mut self, ticket: &mut Ticket, in_flight: usize) -> Option<Waker> {
        let number = ticket.take()?;
        let at = self.queue.iter().position(|(n, _)| *n == number)?;
        self.queue.remove(at);
        if at == 0 {
            self.front_if_room(in_flight)
        } else {
            None
        }
    }

    /// Every waiter's waker, taken: the connection has ended, and each is to learn it when it
    /// runs.
    pub(crate) fn wake_all(&mut self) -> Vec<Waker> {
        self.queue.drain(..).map(|(_, waker)| waker).collect()
    }

    fn front_if_room(&self, in_flight: usize) -> Option<Waker> {
        if in_flight >= self.max {
            return None;
        }
        self.queue.front().map(|(_, waker)| waker.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wakers::counting_waker as counter;

    #[test]
    fn callers_within_the_slots_go_at_once() {
        let mut admission = Admission::new(2);
        let (_, waker) = counter();
        let mut ticket = None;
        assert!(matches!(admission.admit(&mut ticket, 0, &waker), Ok(None)));
        assert!(matches!(admission.admit(&mut ticket, 1, &waker), Ok(None)));
        assert!(ticket.is_none());
        assert!(admission.admit(&mut ticket, 2, &waker).is_err());
        assert!(ticket.is_some());
    }

    #[test]
    fn a_freed_slot_goes_to_the_oldest_waiter_not_to_a_newcomer() {
        let mut admission = Admission::new(1);
        let (first_count, first) = counter();
        let (_, second) = counter();
        let (_, newcomer) = counter();
        let (mut a, mut b, mut c) = (None, None, None);
        assert!(admission.admit(&mut a, 1, &first).is_err());
        assert!(admission.admit(&mut b, 1, &second).is_err());
        // The call in flight is answered: the oldest waiter is the one to wake.
        admission.freed(0).expect("a waiter to wake").wake();
        assert_eq!(first_count.get(), 1);
        // A newcomer that runs first does not take the slot.
        assert!(admission.admit(&mut c, 0, &newcomer).is_err());
        // Nor does the second waiter, woken by nothing but polled anyway.
        assert!(admission.admit(&mut b, 0, &second).is_err());
        // The oldest does, and the next one's turn has not come (no room left).
        assert!(matches!(admission.admit(&mut a, 0, &first), Ok(None)));
        assert!(a.is_none());
        // Then the second, then the newcomer, in their order.
        assert!(admission.freed(0).is_some());
        assert!(admission.admit(&mut c, 0, &newcomer).is_err());
        assert!(matches!(admission.admit(&mut b, 0, &second), Ok(None)));
        assert!(matches!(admission.admit(&mut c, 0, &newcomer), Ok(None)));
    }

    #[test]
    fn a_waiter_that_gives_up_first_in_line_passes_its_turn_on() {
        let mut admission = Admission::new(1);
        let (_, first) = counter();
        let (second_count, second) = counter();
        let (mut a, mut b) = (None, None);
        assert!(admission.admit(&mut a, 1, &first).is_err());
        assert!(admission.admit(&mut b, 1, &second).is_err());
        // The slot is freed and the first waiter woken, but it is dropped before it runs.
        assert!(admission.freed(0).is_some());
        admission.leave(&mut a, 0).expect("the next waiter").wake();
        assert_eq!(second_count.get(), 1);
        assert!(matches!(admission.admit(&mut b, 0, &second), Ok(None)));
    }

    #[test]
    fn two_slots_freed_at_once_admit_two_waiters() {
        let mut admission = Admission::new(2);
        let (_, waker) = counter();
        let (second_count, second) = counter();
        let (mut a, mut b) = (None, None);
        assert!(admission.admit(&mut a, 2, &waker).is_err());
        assert!(admission.admit(&mut b, 2, &second).is_err());
        // Both calls answered; the first waiter runs, takes a slot and wakes the next.
        admission.freed(1);
        admission.freed(0);
        let next = admission.admit(&mut a, 0, &waker).expect("admitted");
        next.expect("the second waiter's turn").wake();
        assert_eq!(second_count.get(), 1);
        assert!(matches!(admission.admit(&mut b, 1, &second), Ok(None)));
    }

    #[test]
    fn the_end_wakes_every_waiter() {
        let mut admission = Admission::new(1);
        let (count, waker) = counter();
        let mut tickets = [None, None, None];
        for ticket in &mut tickets {
            assert!(admission.admit(ticket, 1, &waker).is_err());
        }
        for waker in admission.wake_all() {
            waker.wake();
        }
        assert_eq!(count.get(), 3);
        assert!(admission.freed(0).is_none());
    }
}
