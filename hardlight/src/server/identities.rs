//! One connection per identity ([`ServerConfig::one_connection_per_identity`]): which connection holds
//! each identity now, shared by every service of a server.
//!
//! A connection claims its identity before its upgrade completes and holds the [`Claim`] until its
//! `on_disconnect` hook has run; dropping the claim frees the identity, but only if the entry is still
//! that connection's (a newer connection may have replaced it meanwhile).
//!
//! [`ServerConfig::one_connection_per_identity`]: crate::ServerConfig::one_connection_per_identity

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::identity::Identity;
use super::outbound::CloseSignal;
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
    /// connection's `on_connect` runs after the old one's `on_disconnect` has finished. Suits clients
    /// that reconnect after a network failure.
    ReplaceOld,
}

/// The close reason a replaced connection gets.
pub(crate) const REPLACED_REASON: &str = "replaced by a newer connection of the same identity";

/// The connection holding each identity.
#[derive(Clone, Default)]
pub(crate) struct Identities {
    held: Arc<Mutex<HashMap<Arc<str>, Holder>>>,
}

struct Holder {
    connection: u64,
    close: CloseSignal,
    /// Ends (its sender is dropped) when the holder's claim is dropped.
    released: watch::Receiver<()>,
}

/// A connection's hold on its identity; freed when dropped.
pub(crate) struct Claim {
    held: Arc<Mutex<HashMap<Arc<str>, Holder>>>,
    name: Arc<str>,
    connection: u64,
    _released: watch::Sender<()>,
}

/// Why a claim was refused: the reason for the `409`.
#[derive(Debug)]
pub(crate) struct AlreadyConnected(pub String);

/// A claim granted, and the connection it replaced, which must have ended before the new one is
/// served.
pub(crate) struct Granted {
    pub claim: Claim,
    pub replaced: Option<Replaced>,
}

/// A connection being closed in favour of a newer one.
pub(crate) struct Replaced {
    released: watch::Receiver<()>,
}

impl Replaced {
    /// Resolves once the replaced connection has released its claim (its `on_disconnect` has run).
    pub(crate) async fn ended(mut self) {
        // The sender never sends: `changed` fails exactly when it is dropped.
        while self.released.changed().await.is_ok() {}
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
        let holder = Holder {
            connection,
            close: close.clone(),
            released: released_rx,
        };
        let mut held = lock(&self.held);
        let replaced = match held.entry(name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(holder);
                None
            }
            Entry::Occupied(_) if policy == IdentityPolicy::RejectNew => {
                return Err(AlreadyConnected(format!(
                    "identity {} is already connected",
                    identity.name()
                )));
            }
            Entry::Occupied(mut slot) => {
                let old = slot.insert(holder);
                tracing::debug!(
                    identity = identity.name(),
                    old = old.connection,
                    "replacing the identity's connection"
                );
                old.close.request(close::REPLACED, REPLACED_REASON);
                Some(Replaced {
                    released: old.released,
                })
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

    /// Identities held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.held).len()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if held
            .get(&self.name)
            .is_some_and(|holder| holder.connection == self.connection)
        {
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
}
