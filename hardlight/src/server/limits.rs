//! Rate limits: a token bucket, per connection for calls and per peer address for new connections.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep, sleep_until};

use crate::locks::lock;

/// A rate: `per_second` on average, with bursts of up to `burst` at once.
///
/// ```
/// use hardlight::server::RateLimit;
/// let calls = RateLimit::per_second(100).burst(200);
/// assert_eq!((calls.rate(), calls.burst_size()), (100, 200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    per_second: u32,
    burst: u32,
}

impl RateLimit {
    /// `per_second` on average (at least 1), with bursts of the same size.
    pub fn per_second(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Self {
            per_second,
            burst: per_second,
        }
    }

    /// Allows bursts of up to `burst` (at least 1) at once.
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// The average rate per second.
    pub fn rate(&self) -> u32 {
        self.per_second
    }

    /// The largest burst.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }
}

/// A token bucket: full at `burst` tokens, refilled at `per_second`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            updated: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(self.limit.per_second))
            .min(f64::from(self.limit.burst));
        self.updated = now;
    }

    /// Takes a token if there is one; otherwise says how long until there is.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.available(now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether a token is there, without taking it; if not, how long until there is.
    fn available(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(
                missing / f64::from(self.limit.per_second),
            ))
        }
    }

    /// True if the bucket is full: it then says nothing that a fresh bucket would not.
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.limit.burst)
    }
}

/// A connection's call rate: the connection reads only while the bucket has a token, and each call
/// read takes one.
pub(crate) struct CallThrottle {
    bucket: TokenBucket,
    timer: Option<Pin<Box<Sleep>>>,
}

impl CallThrottle {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            bucket: TokenBucket::new(limit),
            timer: None,
        }
    }

    /// Takes the token of a call that was read.
    pub(crate) fn call_read(&mut self) {
        self.bucket.tokens -= 1.0;
    }

    /// `Ready` if a call may be read now; otherwise `Pending`, with the task woken when one may.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let now = Instant::now();
            match self.bucket.available(now) {
                Ok(()) => {
                    self.timer = None;
                    return Poll::Ready(());
                }
                Err(wait) => {
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(sleep_until(now + wait)));
                    timer.as_mut().reset(now + wait);
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// Peer addresses tracked at most; beyond, full buckets are forgotten, then everything is.
const MAX_TRACKED_PEERS: usize = 65_536;

/// New connections per peer address.
pub(crate) struct PeerRateLimiter {
    limit: RateLimit,
    peers: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl PeerRateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            peers: Mutex::default(),
        }
    }

    /// Takes a token for a connection from `peer`; false if it has to wait.
    ///
    /// Memory stays bounded: past [`MAX_TRACKED_PEERS`] addresses, those whose buckets are full
    /// (which a fresh bucket equals) are dropped, and if that is not enough the map starts over, which
    /// forgives everyone's recent connections rather than growing.
    pub(crate) fn allow(&self, peer: IpAddr) -> bool {
        let now = Instant::now();
        let mut peers = lock(&self.peers);
        if peers.len() >= MAX_TRACKED_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, bucket| !bucket.is_full(now));
            if peers.len() >= MAX_TRACKED_PEERS {
                peers.clear();
            }
        }
        peers
            .entry(peer)
            .or_insert_with(|| TokenBucket::new(self.limit))
            .take(now)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::per_second(10).burst(3));
        bucket.updated = start;
        for _ in 0..3 {
            assert!(bucket.take(start).is_ok());
        }
        let wait = bucket.take(start).unwrap_err();
        assert!(wait > Duration::from_millis(99) && wait <= Duration::from_millis(100));
        // 100 ms later, one more.
        let later = start + Duration::from_millis(100);
        assert!(bucket.take(later).is_ok());
        assert!(bucket.take(later).is_err());
        // Never more than the burst, however long it rested.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.take(much_later).is_ok());
        }
        assert!(bucket.take(much_later).is_err());
    }

    #[test]
    fn peers_are_limited_separately() {
        let limiter = PeerRateLimiter::new(RateLimit::per_second(1).burst(2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.allow(a) && limiter.allow(a));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
    }

    #[test]
    fn the_peer_map_stays_bounded() {
        let limiter = PeerRateLimiter::new(RateLimit::per_second(1));
        for i in 0..(MAX_TRACKED_PEERS as u32 + 10) {
            limiter.allow(IpAddr::from(i.to_be_bytes()));
        }
        assert!(lock(&limiter.peers).len() <= MAX_TRACKED_PEERS);
    }
}
