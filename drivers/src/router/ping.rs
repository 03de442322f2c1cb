//! ICMP echo sockets: the identifiers a machine's pings use.
//!
//! iputils `ping` opens an ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)`, allowed in containers by Docker's `net.ipv4.ping_group_range`), and
//! the kernel, not the program, picks the echo identifier: the socket's "port", bound
//! by `ping_get_port()` (net/ipv4/ping.c) to the next 16-bit number after the last one
//! handed out that no open ping socket holds, skipping 0. Replies are delivered to the
//! open socket bound to the reply's identifier; a reply for an identifier nobody holds
//! any more is dropped.

use std::ops::{Deref, DerefMut};

use super::PingApp;

/// The pings of one machine, each an ICMP socket with its own identifier.
#[derive(Default)]
pub(super) struct PingSockets {
    apps: Vec<PingApp>,
    /// `ping_table.next_port`: where the search for a free identifier starts.
    next_port: u16,
}

impl PingSockets {
    /// An identifier for a new socket: the first one from the rover on that no open
    /// socket (a ping not done) holds, as `ping_get_port()` binds an unbound socket.
    pub(super) fn bind(&mut self) -> u16 {
        let mut id = self.next_port;
        for _ in 0..=u16::MAX {
            if id == 0 {
                id = 1;
            }
            if !self.apps.iter().any(|p| !p.done && p.ident == id) {
                break;
            }
            id = id.wrapping_add(1);
        }
        self.next_port = id.wrapping_add(1);
        id
    }

    /// Stores a new ping in the slot of a finished one if there is one (its result was
    /// read when it finished), so a machine keeps as many pings as run at once, not one
    /// per step. Returns its index.
    pub(super) fn insert(&mut self, app: PingApp) -> usize {
        if let Some(i) = self.apps.iter().position(|p| p.done) {
            self.apps[i] = app;
            return i;
        }
        self.apps.push(app);
        self.apps.len() - 1
    }

    /// The open socket a packet with echo identifier `ident` to or from `peer` belongs
    /// to.
    pub(super) fn open_mut(&mut self, ident: u16, peer: Option<std::net::IpAddr>) -> Option<&mut PingApp> {
        self.apps
            .iter_mut()
            .find(|p| !p.done && p.ident == ident && peer.is_none_or(|a| a == p.dst))
    }
}

impl Deref for PingSockets {
    type Target = Vec<PingApp>;
    fn deref(&self) -> &Vec<PingApp> {
        &self.apps
    }
}

impl DerefMut for PingSockets {
    fn deref_mut(&mut self) -> &mut Vec<PingApp> {
        &mut self.apps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_pings_give_their_slot_to_the_next() {
        let mut socks = PingSockets::default();
        let a = socks.insert(app(1, false));
        let b = socks.insert(app(2, true));
        assert_eq!((a, b), (0, 1));
        // Slot 1 is finished: the next ping takes it; slot 0 still runs.
        assert_eq!(socks.insert(app(3, false)), 1);
        assert_eq!(socks.len(), 2);
    }
    use netloom_core::SimDuration;

    fn app(ident: u16, done: bool) -> PingApp {
        PingApp {
            dst: std::net::IpAddr::from([10, 0, 0, 1]),
            count: 1,
            size: 56,
            dont_frag: false,
            ident,
            sent: Vec::new(),
            rtts: Vec::new(),
            errors: Vec::new(),
            frames: Vec::new(),
            done,
            interval: SimDuration::from_secs(1),
        }
    }

    /// Identifiers count up from 1 through the whole 16-bit space (never 0), and a
    /// wrapped rover skips the identifiers of sockets still open.
    #[test]
    fn identifiers_are_16_bit_and_unique_among_open_sockets() {
        let mut s = PingSockets::default();
        for want in 1..=300u16 {
            let id = s.bind();
            assert_eq!(id, want);
            s.push(app(id, true));
        }
        s.push(app(2, false));
        s.push(app(3, false));
        s.next_port = u16::MAX;
        assert_eq!(s.bind(), u16::MAX);
        assert_eq!(s.bind(), 1, "0 is skipped; 1 is closed, so free again");
        assert_eq!(s.bind(), 4, "2 and 3 are held by open sockets");
        let open = s.open_mut(2, None).map(|p| p.ident);
        assert_eq!(open, Some(2));
        assert!(s.open_mut(1, None).is_none(), "a closed socket gets no replies");
    }
}
