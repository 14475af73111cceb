//! File descriptors, which every connection takes one of: the process's open-files limit is raised
//! when a server binds and `max_connections` capped to what it leaves room for, and the accept loop
//! backs off while accepting fails (out of descriptors) instead of spinning.

use std::io;
use std::time::Duration;

use tokio::time::Instant;

use super::MAX_REFUSALS_IN_PROGRESS;

/// Descriptors kept for all but served connections: the runtime's, the listener, logs, the
/// application's own files, and refusals being answered. At most half of a small limit.
const RESERVED: u64 = 64 + MAX_REFUSALS_IN_PROGRESS as u64;

/// The first pause after a failed accept.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between failed accepts, and the shortest time between two warnings.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Raises the process's soft limit on open files to its hard limit (Unix), and returns
/// `max_connections`, lowered with a warning if that limit leaves room for fewer.
pub(crate) fn fit_connections(max_connections: usize) -> usize {
    let Some(limit) = raise_file_limit() else {
        return max_connections;
    };
    let room = room_for_connections(limit);
    if max_connections <= room {
        return max_connections;
    }
    tracing::warn!(
        max_connections,
        open_files_limit = limit,
        serving_at_most = room,
        "max_connections is more than the open-files limit leaves room for: serving at most \
         {room} connections at once; raise the limit (ulimit -n, systemd's LimitNOFILE) to \
         serve more"
    );
    room
}

/// Connections that fit in `limit` open files, after what [`RESERVED`] keeps.
fn room_for_connections(limit: u64) -> usize {
    let reserved = RESERVED.min(limit / 2);
    usize::try_from(limit - reserved)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The soft limit on open files after raising it to the hard one; `None` where it cannot be read.
fn raise_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-files limit");
            rlimit::Resource::NOFILE
                .get()
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// The accept loop's pauses while accepting fails: out of file descriptors (`EMFILE`, `ENFILE`)
/// or memory, accepting fails again at once until a connection ends, so trying without a pause
/// would spin. Pauses double from 10 ms to 1 s, and start over after an accept succeeds.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    pause: Option<Duration>,
    last_warning: Option<Instant>,
    failures_since_warning: u64,
}

impl AcceptBackoff {
    /// Accepting failed with `error`: how long to pause before accepting again (nothing for an
    /// error of that one connection). Warns at most once a second.
    pub(crate) fn failed(&mut self, error: &io::Error) -> Option<Duration> {
        if is_connection_error(error) {
            tracing::debug!(error = %error, "a connection ended before it was accepted");
            return None;
        }
        let pause = self
            .pause
            .map_or(FIRST_PAUSE, |pause| (pause * 2).min(LONGEST_PAUSE));
        self.pause = Some(pause);
        self.failures_since_warning += 1;
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= LONGEST_PAUSE)
        {
            tracing::warn!(
                error = %error,
                failures = self.failures_since_warning,
                retry_in = ?pause,
                "accepting connections fails (out of file descriptors?); those connected are served"
            );
            self.last_warning = Some(now);
            self.failures_since_warning = 0;
        }
        Some(pause)
    }

    /// Accepting works again.
    pub(crate) fn succeeded(&mut self) {
        self.pause = None;
    }
}

/// An error of the one connection being accepted (it was reset before its turn), not of the
/// listener: the next accept may work at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_get_what_the_reserve_leaves() {
        assert_eq!(room_for_connections(1024), 1024 - 128);
        assert_eq!(room_for_connections(100), 50);
        assert_eq!(room_for_connections(1), 1);
        // No limit (RLIM_INFINITY).
        assert!(room_for_connections(u64::MAX) > 1 << 30);
    }

    #[test]
    fn pauses_double_up_to_a_second_and_start_over_after_a_success() {
        let mut backoff = AcceptBackoff::default();
        let out_of_files = io::Error::other("too many open files");
        let pauses: Vec<_> = (0..9)
            .map(|_| backoff.failed(&out_of_files).unwrap().as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(
            backoff.failed(&out_of_files),
            Some(Duration::from_millis(10))
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.failed(&reset), None);
    }
}
