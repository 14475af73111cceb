//! One connection per identity ([`ServerConfig::one_connection_per_identity`]): which connection holds
//! each identity now, shared by every service of a server.
//!
//! A connection claims its identity before its upgrade completes and holds the [`Claim`] until its
//! `on_disconnect` hook has run. An identity's entry lists every connection that claimed it and has
//! not released it yet: the current holder, and the older ones it replaced that are still closing. A
//! newcomer waits for all of them, so that it is served only once every older connection's
//! `on_disconnect` has finished, even when a newcomer in between gave up waiting (its claim gone, the
//! connection it replaced still closing). The entry goes once the list is empty.
//!
//! [`ServerConfig::one_connection_per_identity`]: crate::ServerConfig::one_connection_per_identity

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::identity::Identity;
use crate::events::outbound::CloseSignal;
use crate::locks::lock;
use crate::wire::close;

/// What a server does when an identity that already has a connection opens another
/// ([`ServerConfig::one_connection_per_identity`](crate::ServerConfig::one_connection_per_identity)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityPolicy {
    /// The new connection is refused with HTTP `409 Conflict` and the reason
    /// `identity <name> is already connected`; the first one goes on. An identity whose connection
    /// was lost silently stays connected, to the server, until the keepalive's idle timeout.
    RejectNew,
    /// The old connection is closed with code 4010 (`replaced by a newer connection of the same
    /// identity`), its `on_disconnect` hook runs, and then the new one is served: the new
    /// connection's `on_connect` runs after the old one's `on_disconnect` has finished (after that of
    /// every older connection of the identity still closing, when a newcomer in between gave up
    /// waiting). Suits clients that reconnect after a network failure.
    ReplaceOld,
}

/// The close reason a replaced connection gets.
pub(crate) const REPLACED_REASON: &str = "replaced by a newer connection of the same identity";

/// The connections holding each identity.
#[derive(Clone, Default)]
pub(crate) struct Identities {
    held: Arc<Mutex<HashMap<Arc<str>, Holders>>>,
}

/// An identity's connections that have claimed it and not released it yet.
struct Holders {
    /// The connection the identity belongs to now, and how to close it; `None` once it has released
    /// its claim while connections it replaced are still closing.
    current: Option<(u64, CloseSignal)>,
    /// Every connection of `unreleased` ends (its sender is dropped) when its claim is dropped:
    /// the current one, and those replaced that are still closing.
    unreleased: Vec<(u64, watch::Receiver<()>)>,
}

/// A connection's hold on its identity; freed when dropped.
pub(crate) struct Claim {
    held: Arc<Mutex<HashMap<Arc<str>, Holders>>>,
    name: Arc<str>,
    connection: u64,
    _released: watch::Sender<()>,
}

/// Why a claim was refused: the reason for the `409`.
#[derive(Debug)]
pub(crate) struct AlreadyConnected(pub String);

/// A claim granted, and the connections it waits for, which must have ended before the new one is
/// served.
pub(crate) struct Granted {
    pub claim: Claim,
    pub replaced: Option<Replaced>,
}

/// The older connections of an identity that a newer one waits for: the one it replaced, and any
/// that one was still waiting for.
pub(crate) struct Replaced {
    released: Vec<watch::Receiver<()>>,
}

impl Replaced {
    /// Resolves once every older connection has released its claim (its `on_disconnect` has run).
    pub(crate) async fn ended(self) {
        for mut released in self.released {
            // The sender never sends: `changed` fails exactly when it is dropped.
            while released.changed().await.is_ok() {}
        }
    }
}

impl Identities {
    /// Claims `identity` for `connection` under `policy`; `close` closes that connection if a later
    /// one replaces it.
    pub(crate) fn claim(
        &self,
        policy: IdentityPolicy,
        identity: &Identity,
        connection: u64,
        close: &CloseSignal,
    ) -> Result<Granted, AlreadyConnected> {
        let name: Arc<str> = Arc::from(identity.name());
        let (released_tx, released_rx) = watch::channel(());
        let mut held = lock(&self.held);
        let replaced = match held.entry(name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(Holders {
                    current: Some((connection, close.clone())),
                    unreleased: vec![(connection, released_rx)],
                });
                None
            }
            Entry::Occupied(_) if policy == IdentityPolicy::RejectNew => {
                return Err(AlreadyConnected(format!(
                    "identity {} is already connected",
                    identity.name()
                )));
            }
            Entry::Occupied(mut slot) => {
                let holders = slot.get_mut();
                if let Some((old, old_close)) = holders.current.take() {
                    tracing::debug!(
                        identity = identity.name(),
                        old,
                        "replacing the identity's connection"
                    );
                    old_close.request(close::REPLACED, REPLACED_REASON);
                }
                // Older connections are waited for even when the one that replaced them is gone:
                // it may have given up waiting while they still run their on_disconnect.
                let older = holders
                    .unreleased
                    .iter()
                    .map(|(_, released)| released.clone())
                    .collect();
                holders.current = Some((connection, close.clone()));
                holders.unreleased.push((connection, released_rx));
                Some(Replaced { released: older })
            }
        };
        Ok(Granted {
            claim: Claim {
                held: self.held.clone(),
                name,
                connection,
                _released: released_tx,
            },
            replaced,
        })
    }

    /// Identities held now (by a connection, or by connections still closing).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.held).len()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Runs before `_released` is dropped: whoever waits on it sees the entry already updated.
        let mut held = lock(&self.held);
        let Some(holders) = held.get_mut(&self.name) else {
            return;
        };
        holders
            .unreleased
            .retain(|(connection, _)| *connection != self.connection);
        if holders
            .current
            .as_ref()
            .is_some_and(|(connection, _)| *connection == self.connection)
        {
            holders.current = None;
        }
        if holders.unreleased.is_empty() {
            held.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_new_refuses_a_second_claim_until_the_first_is_dropped() {
        let identities = Identities::default();
        let ada = Identity::new("ada");
        let first = identities
            .claim(IdentityPolicy::RejectNew, &ada, 1, &CloseSignal::new())
            .expect("free");
        let refused = identities
            .claim(IdentityPolicy::RejectNew, &ada, 2, &CloseSignal::new())
            .err()
            .expect("taken");
        assert_eq!(refused.0, "identity ada is already connected");
        // Another identity is not affected.
        let _bob = identities
            .claim(
                IdentityPolicy::RejectNew,
                &Identity::new("bob"),
                3,
                &CloseSignal::new(),
            )
            .expect("free");
        drop(first);
        assert_eq!(identities.len(), 1);
        assert!(
            identities
                .claim(IdentityPolicy::RejectNew, &ada, 4, &CloseSignal::new())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn replace_old_closes_the_old_and_its_late_drop_keeps_the_new_entry() {
        let identities = Identities::default();
        let ada = Identity::new("ada");
        let old_close = CloseSignal::new();
        let old = identities
            .claim(IdentityPolicy::ReplaceOld, &ada, 1, &old_close)
            .expect("free");
        assert!(old.replaced.is_none());
        let new = identities
            .claim(IdentityPolicy::ReplaceOld, &ada, 2, &CloseSignal::new())
            .expect("replaces");
        assert_eq!(old_close.requested().await.code, close::REPLACED);
        let replaced = new.replaced.expect("the old one was replaced");
        // The old connection ends after the new one claimed: the entry stays the new one's.
        drop(old);
        replaced.ended().await;
        assert_eq!(identities.len(), 1);
        drop(new.claim);
        assert_eq!(identities.len(), 0);
    }

    #[tokio::test]
    async fn a_newcomer_waits_for_every_older_connection_still_closing() {
        use futures_util::FutureExt;

        let identities = Identities::default();
        let ada = Identity::new("ada");
        let claim = |connection| {
            identities
                .claim(IdentityPolicy::ReplaceOld, &ada, connection, &CloseSignal::new())
                .expect("ReplaceOld grants every claim")
        };
        let old = claim(1);
        // The second replaces the first, then gives up waiting for it and goes.
        let second = claim(2);
        drop(second);
        // The first is still closing: the third waits for it, though nobody holds the identity now.
        let third = claim(3);
        let mut ended = Box::pin(third.replaced.expect("waits for the first").ended());
        assert!((&mut ended).now_or_never().is_none());
        drop(old.claim);
        ended.await;
        assert_eq!(identities.len(), 1);
        drop(third.claim);
        assert_eq!(identities.len(), 0);
    }
}
