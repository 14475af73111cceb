//! How many messages the driver's reader hands out before the writer may flush the calls their
//! callers made in answer: the size of the client's batches under load.
//!
//! Which size is best depends on where the server runs. Beside the client, on a CPU of its own (or
//! another machine), small batches keep both ends busy: the server gets the first calls of a batch
//! while the client still works on the rest, instead of the two ends taking turns on whole windows
//! of calls. On the client's own CPU, every flush hands that CPU to the server, which it wakes:
//! small batches then cost a switch of CPU each and overlap nothing, and one large batch is best
//! (measured both ways: benches/PROFILE.md).
//!
//! The client tells the two apart by the time a flush takes. Handing the CPU to the server shows as
//! a flush that returns only once the server has worked through what it was sent, several times
//! what writing the bytes costs. Each flush votes; the batch is small while few of the last
//! sixteen flushes were long, large while most were, and keeps its size in between. It starts
//! large: a client whose flushes are slow for any other reason keeps the batches it had.

use std::time::Duration;

/// Messages read before the writer may flush, while the server works beside the client.
pub(crate) const SMALL: usize = 32;

/// Messages read before the writer may flush, while each flush hands the CPU to the server.
pub(crate) const LARGE: usize = 256;

/// A flush longer than this, plus [`PER_FRAME`] for each frame it carried, handed the CPU over.
/// Writing the frames to a loopback socket and waking the server on another CPU takes well under
/// it; a server on the same CPU that answers the frames first takes well over it.
const HANDOFF_BASE: Duration = Duration::from_micros(20);

/// See [`HANDOFF_BASE`]: well under what a server takes to answer a call, well over what
/// copying a small frame into the socket takes.
const PER_FRAME: Duration = Duration::from_nanos(150);

/// Of the last 16 flushes, at most this many long ones make the batches small...
const SMALL_AT_MOST: u32 = 4;

/// ... and at least this many make them large.
const LARGE_AT_LEAST: u32 = 8;

/// The driver's choice of batch size, from the flushes it has timed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// One bit per flush, the latest lowest: set when it was long.
    history: u16,
    read_batch: usize,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            history: u16::MAX,
            read_batch: LARGE,
        }
    }
}

impl Pacing {
    /// Messages the reader hands out before letting the writer run.
    pub(crate) fn read_batch(&self) -> usize {
        self.read_batch
    }

    /// A flush of `frames` frames took `took`.
    pub(crate) fn flushed(&mut self, frames: usize, took: Duration) {
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        let long = took > HANDOFF_BASE.saturating_add(PER_FRAME.saturating_mul(frames));
        self.history = (self.history << 1) | u16::from(long);
        let long_ones = self.history.count_ones();
        if long_ones <= SMALL_AT_MOST {
            self.read_batch = SMALL;
        } else if long_ones >= LARGE_AT_LEAST {
            self.read_batch = LARGE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flushes(pacing: &mut Pacing, count: usize, frames: usize, took_us: u64) {
        for _ in 0..count {
            pacing.flushed(frames, Duration::from_micros(took_us));
        }
    }

    #[test]
    fn batches_start_large_and_shrink_once_flushes_are_quick() {
        let mut pacing = Pacing::default();
        assert_eq!(pacing.read_batch(), LARGE);
        // 64 frames written in 8 µs: the server did not take the CPU.
        flushes(&mut pacing, 11, 64, 8);
        assert_eq!(
            pacing.read_batch(),
            LARGE,
            "five long flushes of the start still count"
        );
        flushes(&mut pacing, 1, 64, 8);
        assert_eq!(pacing.read_batch(), SMALL);
    }

    #[test]
    fn flushes_that_hand_the_cpu_over_bring_large_batches_back() {
        let mut pacing = Pacing::default();
        flushes(&mut pacing, 16, 64, 8);
        assert_eq!(pacing.read_batch(), SMALL);
        // 64 frames answered before the flush returned: about 40 µs.
        flushes(&mut pacing, 7, 64, 40);
        assert_eq!(pacing.read_batch(), SMALL, "in between: the size is kept");
        flushes(&mut pacing, 1, 64, 40);
        assert_eq!(pacing.read_batch(), LARGE);
        // And the other way, through the same band.
        flushes(&mut pacing, 11, 64, 8);
        assert_eq!(pacing.read_batch(), LARGE);
        flushes(&mut pacing, 1, 64, 8);
        assert_eq!(pacing.read_batch(), SMALL);
    }

    #[test]
    fn what_counts_as_long_grows_with_the_frames_flushed() {
        let mut pacing = Pacing::default();
        // 256 frames in 50 µs: under 20 µs + 256 × 150 ns, so quick.
        flushes(&mut pacing, 16, 256, 50);
        assert_eq!(pacing.read_batch(), SMALL);
        // 256 frames in 120 µs: long.
        flushes(&mut pacing, 16, 256, 120);
        assert_eq!(pacing.read_batch(), LARGE);
    }
}
