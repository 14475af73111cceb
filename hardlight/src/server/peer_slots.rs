//! Connections per peer address: how many each address holds open, and how many of those are still
//! in their handshake, so that one address cannot take every connection slot of the server
//! (`ServerConfig::max_handshakes_per_ip`, `ServerConfig::max_connections_per_ip`).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use crate::locks::lock;

/// The counts of the addresses that hold connections; an address leaves the map with its last
/// connection, so the map is never larger than the number of connections.
type Counts = Arc<Mutex<HashMap<IpAddr, Held>>>;

/// What one address holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Held {
    /// Connections open, those in their handshake included.
    open: usize,
    /// Connections accepted whose WebSocket upgrade is not done yet.
    handshaking: usize,
}

/// The per-address limits of a server and what each address holds.
pub(crate) struct PeerSlots {
    max_handshakes: Option<usize>,
    max_connections: Option<usize>,
    counts: Counts,
}

/// Why an address gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The address has this many connections in their handshake already.
    Handshakes(usize),
    /// The address has this many connections open already.
    Connections(usize),
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::Handshakes(n) => write!(f, "the address has {n} connections in their handshake"),
            Full::Connections(n) => write!(f, "the address has {n} connections open"),
        }
    }
}

impl PeerSlots {
    /// Limits of `max_handshakes` connections in their handshake and `max_connections` open
    /// connections per address (`None`: no limit).
    pub(crate) fn new(max_handshakes: Option<usize>, max_connections: Option<usize>) -> Self {
        Self {
            max_handshakes,
            max_connections,
            counts: Counts::default(),
        }
    }

    /// A slot for a new connection from `ip`, which starts in its handshake; none if the address
    /// holds as many handshakes or connections as it may.
    pub(crate) fn enter(&self, ip: IpAddr) -> Result<PeerSlot, Full> {
        if self.max_handshakes.is_none() && self.max_connections.is_none() {
            return Ok(PeerSlot {
                held: None,
                handshaking: false,
            });
        }
        let key = address_key(ip);
        let mut counts = lock(&self.counts);
        let held = counts.get(&key).copied().unwrap_or_default();
        if let Some(max) = self.max_handshakes
            && held.handshaking >= max
        {
            return Err(Full::Handshakes(held.handshaking));
        }
        if let Some(max) = self.max_connections
            && held.open >= max
        {
            return Err(Full::Connections(held.open));
        }
        counts.insert(
            key,
            Held {
                open: held.open + 1,
                handshaking: held.handshaking + 1,
            },
        );
        Ok(PeerSlot {
            held: Some((self.counts.clone(), key)),
            handshaking: true,
        })
    }

    /// What `ip` holds now: (open, handshaking).
    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> Option<(usize, usize)> {
        lock(&self.counts)
            .get(&address_key(ip))
            .map(|held| (held.open, held.handshaking))
    }
}

/// One connection's place among its address's connections; given back when dropped, however the
/// connection's task ends.
pub(crate) struct PeerSlot {
    /// The counts and the connection's address; none when no per-address limit is set.
    held: Option<(Counts, IpAddr)>,
    handshaking: bool,
}

impl PeerSlot {
    /// The connection's handshake is over (it was upgraded): it no longer counts among its
    /// address's handshakes, only among its open connections.
    pub(crate) fn handshake_done(&mut self) {
        if std::mem::take(&mut self.handshaking)
            && let Some((counts, key)) = &self.held
            && let Some(held) = lock(counts).get_mut(key)
        {
            held.handshaking -= 1;
        }
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.handshake_done();
        let Some((counts, key)) = &self.held else {
            return;
        };
        let mut counts = lock(counts);
        if let Some(held) = counts.get_mut(key) {
            held.open -= 1;
            if held.open == 0 {
                counts.remove(key);
            }
        }
    }
}

/// What an address is counted as: an IPv4 address as it is (an IPv4-mapped IPv6 address as its
/// IPv4 address), an IPv6 address by its /64 prefix, which is what one host or one customer
/// commonly gets (counting single IPv6 addresses would limit nobody).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn handshakes_are_limited_per_address_and_freed_by_the_upgrade() {
        let slots = PeerSlots::new(Some(2), None);
        let mut first = slots.enter(ip("10.0.0.1")).unwrap();
        let _second = slots.enter(ip("10.0.0.1")).unwrap();
        assert_eq!(
            slots.enter(ip("10.0.0.1")).err(),
            Some(Full::Handshakes(2))
        );
        // Another address has its own count.
        let _other = slots.enter(ip("10.0.0.2")).unwrap();
        // An upgraded connection stays open but no longer counts as a handshake.
        first.handshake_done();
        first.handshake_done();
        assert_eq!(slots.held(ip("10.0.0.1")), Some((2, 1)));
        let _third = slots.enter(ip("10.0.0.1")).unwrap();
        assert_eq!(slots.held(ip("10.0.0.1")), Some((3, 2)));
    }

    #[test]
    fn open_connections_are_limited_per_address() {
        let slots = PeerSlots::new(None, Some(1));
        let mut first = slots.enter(ip("10.0.0.1")).unwrap();
        first.handshake_done();
        assert_eq!(
            slots.enter(ip("10.0.0.1")).err(),
            Some(Full::Connections(1))
        );
        drop(first);
        assert!(slots.enter(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn an_address_leaves_the_map_with_its_last_connection() {
        let slots = PeerSlots::new(Some(8), Some(8));
        let mut upgraded = slots.enter(ip("10.0.0.1")).unwrap();
        upgraded.handshake_done();
        let in_handshake = slots.enter(ip("10.0.0.1")).unwrap();
        drop(upgraded);
        assert_eq!(slots.held(ip("10.0.0.1")), Some((1, 1)));
        drop(in_handshake);
        assert_eq!(slots.held(ip("10.0.0.1")), None);
        assert!(lock(&slots.counts).is_empty());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let slots = PeerSlots::new(Some(1), None);
        let _one = slots.enter(ip("2001:db8:1:2::1")).unwrap();
        assert!(slots.enter(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(slots.enter(ip("2001:db8:1:3::1")).is_ok());
        let _v4 = slots.enter(ip("192.0.2.7")).unwrap();
        assert!(slots.enter(ip("::ffff:192.0.2.7")).is_err());
    }

    #[test]
    fn without_limits_nothing_is_counted() {
        let slots = PeerSlots::new(None, None);
        let held: Vec<_> = (0..100).map(|_| slots.enter(ip("10.0.0.1")).unwrap()).collect();
        assert!(lock(&slots.counts).is_empty());
        drop(held);
    }
}
