//! Reconnecting: the policy (exponential backoff with jitter) and the task that watches each
//! connection and, when it is lost, connects again.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::lifecycle::ConnectionEvent;
use super::session::Session;
use super::{Inner, Link, transport};
use crate::contract::ServiceSchema;
use crate::error::{ClosedError, ConnectError, RpcError};
#[cfg(hardlight_native)]
use crate::tls::TlsError;
use crate::wire::close;

/// Automatic reconnection: after a connection is lost, the client connects again, waiting longer
/// after each failed attempt (exponential backoff, with random jitter so that many clients cut off
/// at once do not all come back at the same instant).
///
/// The delay before attempt `n` (from 1) is `initial_delay × 2^(n-1)`, at most `max_delay`, then
/// scaled by a random factor between 0.5 and 1. A refusal that another attempt cannot change (a
/// different schema version, rejected credentials, an invalid address) ends the attempts at once.
///
/// ```
/// use std::time::Duration;
/// use hardlight::client::Reconnect;
/// let policy = Reconnect::default()
///     .delays(Duration::from_millis(50), Duration::from_secs(5))
///     .max_attempts(20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    initial_delay: Duration,
    max_delay: Duration,
    max_attempts: Option<u32>,
}

impl Default for Reconnect {
    /// 100 ms first, doubling up to 10 s, attempts without end.
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

impl Reconnect {
    /// The delay before the first attempt, and the most any delay grows to (at least `initial`).
    #[must_use]
    pub fn delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay = crate::rt::bounded(initial);
        self.max_delay = crate::rt::bounded(max).max(self.initial_delay);
        self
    }

    /// Gives up after this many failed attempts in a row (default: never, for failures another
    /// attempt may fix).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The delay before attempt `attempt` (from 1), jitter included.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let full = self
            .initial_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        // Equal jitter: half fixed, half random.
        full / 2 + full.mul_f64(random_fraction() / 2.0)
    }
}

/// A number in [0, 1) that differs between calls and between processes. Jitter needs no more than
/// that: std's randomly keyed hasher supplies it without another dependency.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether another attempt could succeed after `error`.
pub(crate) fn worth_retrying(error: &ConnectError) -> bool {
    match error {
        // The identity's previous connection not yet gone, rate-limited, a failing hook, over
        // capacity: later may work. Anything else refused is refused for good.
        ConnectError::HandshakeRefused { code, .. } => matches!(code, 409 | 429 | 500 | 503),
        // A handshake the server's certificate failed: it may be replaced meanwhile.
        #[cfg(hardlight_native)]
        ConnectError::Tls(TlsError::Handshake(_)) => true,
        #[cfg(hardlight_native)]
        ConnectError::Tls(_) => false,
        ConnectError::Unauthorized { .. }
        | ConnectError::InvalidToken(_)
        | ConnectError::InvalidAddress { .. }
        | ConnectError::Protocol(_) => false,
        _ => true,
    }
}

/// Watches `session` until it ends; then, unless the user disconnected (or connected again) in the
/// meantime, reconnects as the configuration says, and watches the new connection. Holds the client
/// only weakly: dropping every handle of it ends this task.
pub(crate) async fn supervise<S: ?Sized + ServiceSchema + 'static>(
    client: Weak<Inner<S>>,
    mut session: Arc<Session<S>>,
) {
    loop {
        let why = session.ended().await;
        let Some(inner) = client.upgrade() else {
            return;
        };
        let disconnected = ConnectionEvent::disconnected(&why, session.closed_cleanly());
        let current = matches!(&*inner.link.borrow(), Link::Up(s) if Arc::ptr_eq(s, &session));
        if !current {
            // The user disconnected, or connected again: not ours to handle.
            inner.emit(disconnected);
            return;
        }
        // A connection replaced by a newer one of the same identity stays closed: reconnecting
        // would replace the newer one in turn.
        let replaced = matches!(
            why,
            RpcError::ConnectionClosed {
                code: Some(close::REPLACED),
                ..
            }
        );
        // The link moves on before the event is told, so that whoever reacts to the event sees
        // where the client is.
        let policy = match &inner.config.reconnect {
            Some(policy) if !replaced => policy.clone(),
            _ => {
                inner.set_link(Link::Down(ClosedError::Ended(why)));
                inner.emit(disconnected);
                return;
            }
        };
        inner.set_link(Link::Reconnecting(why));
        inner.emit(disconnected);
        drop(inner);
        match reconnect(&client, &policy).await {
            Some(next) => session = next,
            None => return,
        }
    }
}

/// Attempts to connect again until one succeeds (the new session), the policy gives up, the error
/// is one no attempt can change, or someone else changed the link (`None` for all three).
async fn reconnect<S: ?Sized + ServiceSchema + 'static>(
    client: &Weak<Inner<S>>,
    policy: &Reconnect,
) -> Option<Arc<Session<S>>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let delay = policy.delay(attempt);
        {
            let inner = client.upgrade()?;
            if !matches!(*inner.link.borrow(), Link::Reconnecting(_)) {
                return None;
            }
            inner.emit(ConnectionEvent::Reconnecting { attempt, delay });
        }
        crate::rt::sleep(delay).await;
        let inner = client.upgrade()?;
        let _one_at_a_time = inner.connecting.lock().await;
        if !matches!(*inner.link.borrow(), Link::Reconnecting(_)) {
            return None;
        }
        let error = match transport::connect::<S>(&inner.config, &inner.mirror).await {
            Ok(session) => {
                inner.set_link(Link::Up(session.clone()));
                inner.emit(ConnectionEvent::Connected);
                return Some(session);
            }
            Err(error) => error,
        };
        tracing::debug!(attempt, %error, "reconnect attempt failed");
        let out_of_attempts = policy.max_attempts.is_some_and(|max| attempt >= max);
        if out_of_attempts || !worth_retrying(&error) {
            inner.set_link(Link::Down(ClosedError::GaveUp(error.clone())));
            inner.emit(ConnectionEvent::GaveUp {
                attempts: attempt,
                error,
            });
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_with_at_most_half_taken_off() {
        let policy =
            Reconnect::default().delays(Duration::from_millis(100), Duration::from_millis(1000));
        for (attempt, full_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let full = Duration::from_millis(full_ms);
            for _ in 0..20 {
                let delay = policy.delay(attempt);
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempt}: {delay:?} not within [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let policy = Reconnect::default();
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| policy.delay(3)).collect();
        assert!(delays.len() > 10, "only {} distinct delays", delays.len());
    }

    #[test]
    fn refusals_no_attempt_can_change_are_not_retried() {
        let refused = |code| ConnectError::HandshakeRefused {
            code,
            reason: String::new(),
        };
        assert!(worth_retrying(&refused(503)));
        assert!(worth_retrying(&refused(429)));
        assert!(!worth_retrying(&refused(4001)));
        assert!(!worth_retrying(&refused(400)));
        assert!(!worth_retrying(&ConnectError::Unauthorized {
            status: 401,
            reason: "sign in".into()
        }));
        assert!(worth_retrying(&ConnectError::Transport(
            crate::error::TransportError::message("refused")
        )));
        assert!(!worth_retrying(&ConnectError::invalid_address("x", "bad")));
        assert!(worth_retrying(&ConnectError::Timeout {
            after: Duration::from_secs(1)
        }));
    }
}
