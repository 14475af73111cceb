//! A service of streaming methods (docs/PROTOCOL.md §5.11) for the Python peer
//! (`tests/peers/feed_peer.py`), which speaks `OPENED`, `ITEM` and `CREDIT` with its own code: a
//! finite stream, one that is refused or ends with the handler's error, and one without end.
//!
//! Not in `common`'s module tree: `python_peer.rs` includes it by path, so that the other test
//! binaries do not build it.

use futures_util::stream;
use hardlight::*;

/// An item with an inline field and a string, out of line for odd `seq`s.
#[codable]
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub seq: u32,
    pub label: String,
}

#[codable]
#[derive(Debug, Clone, PartialEq)]
pub enum FeedError {
    /// `ticks` refuses to stream nothing.
    Empty,
    /// `ticks` ends with this at item `at`.
    Broke { at: u32, why: String },
}

/// The label of tick `seq`: short (inline) for even `seq`s, longer than 8 bytes for odd ones.
pub fn label(seq: u32) -> String {
    if seq.is_multiple_of(2) {
        format!("t{seq}")
    } else {
        format!("tick number {seq}")
    }
}

#[rpc]
pub trait Feed {
    /// `0..n`, then the end.
    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>>;
    /// Refuses `n` 0 with `Empty`; otherwise ticks `0..n`, except that tick `fail_at` (if below
    /// `n`) is not sent: the stream ends there with `Broke`.
    async fn ticks(&self, n: u32, fail_at: u32) -> Result<Streaming<Tick, FeedError>, FeedError>;
    /// `0, 1, 2, ...` for ever, as fast as the credit allows.
    async fn endless(&self) -> HandlerResult<Streaming<u64>>;
}

#[rpc_handler(vis = pub)]
impl Feed for FeedHandler {
    async fn count(&self, n: u32) -> HandlerResult<Streaming<u32>> {
        Ok(Streaming::iter(0..n))
    }

    async fn ticks(&self, n: u32, fail_at: u32) -> Result<Streaming<Tick, FeedError>, FeedError> {
        if n == 0 {
            return Err(FeedError::Empty);
        }
        let items = (0..n).map(move |seq| {
            if seq == fail_at {
                Err(FeedError::Broke {
                    at: seq,
                    why: format!("the feed broke at tick {seq}"),
                })
            } else {
                Ok(Tick {
                    seq,
                    label: label(seq),
                })
            }
        });
        Ok(Streaming::from_results(stream::iter(items)))
    }

    async fn endless(&self) -> HandlerResult<Streaming<u64>> {
        Ok(Streaming::iter(0u64..))
    }
}
