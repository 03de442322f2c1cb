//! IPv4 reassembly (Linux's `ip_defrag`): fragments are kept by (source,
//! destination, identification, protocol) until the datagram is whole, for at most
//! [`REASM_TIMEOUT`]. A machine reassembles what is addressed to it, and — when it
//! tracks connections — everything it sees first (`nf_defrag_ipv4`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use netloom_core::{SimDuration, SimTime};
use smoltcp::wire::Ipv4Packet;

use crate::net::IpInfo;

/// How long fragments wait for the rest (Linux `ipfrag_time`).
const REASM_TIMEOUT: SimDuration = SimDuration::from_secs(30);

/// One datagram being put together.
struct Reasm {
    header: Vec<u8>,
    parts: BTreeMap<usize, Vec<u8>>,
    total: Option<usize>,
    first_seen: SimTime,
}

/// The datagrams a machine is reassembling.
#[derive(Default)]
pub(super) struct Reassembly {
    queues: BTreeMap<(IpAddr, IpAddr, u16, u8), Reasm>,
}

impl Reassembly {
    /// Takes fragment `pkt` (parsed as `info`) at `now`; returns the whole datagram
    /// once every byte up to the last fragment's end has arrived. Datagrams left
    /// incomplete for [`REASM_TIMEOUT`] are forgotten first.
    pub(super) fn push(&mut self, now: SimTime, pkt: Vec<u8>, info: &IpInfo) -> Option<Vec<u8>> {
        self.queues
            .retain(|_, r| now.saturating_since(r.first_seen) < REASM_TIMEOUT);
        let p = Ipv4Packet::new_checked(&pkt[..]).ok()?;
        let key = (
            info.tuple.src,
            info.tuple.dst,
            p.ident(),
            u8::from(p.next_header()),
        );
        let off = p.frag_offset() as usize;
        let more = p.more_frags();
        let hl = info.header_len;
        let entry = self.queues.entry(key).or_insert_with(|| Reasm {
            header: pkt[..hl].to_vec(),
            parts: BTreeMap::new(),
            total: None,
            first_seen: now,
        });
        if off == 0 {
            entry.header = pkt[..hl].to_vec();
        }
        if !more {
            entry.total = Some(off + pkt.len() - hl);
        }
        entry.parts.insert(off, pkt[hl..].to_vec());
        let total = entry.total?;
        let mut have = 0;
        for (&o, d) in &entry.parts {
            if o > have {
                return None;
            }
            have = have.max(o + d.len());
        }
        if have < total {
            return None;
        }
        let r = self.queues.remove(&key)?;
        let mut whole = r.header.clone();
        whole.resize(r.header.len() + total, 0);
        for (o, d) in r.parts {
            // A fragment claiming bytes beyond the end the last fragment announced is
            // cut to that end (or ignored when it lies wholly beyond it).
            if o >= total {
                continue;
            }
            let end = (o + d.len()).min(total);
            whole[r.header.len() + o..r.header.len() + end].copy_from_slice(&d[..end - o]);
        }
        let mut p = Ipv4Packet::new_unchecked(&mut whole[..]);
        p.set_total_len((r.header.len() + total) as u16);
        p.set_more_frags(false);
        p.set_frag_offset(0);
        p.fill_checksum();
        Some(whole)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use smoltcp::wire::IpProtocol;

    use super::*;
    use crate::net;
    use crate::router::packet::fragment;

    fn datagram(ident: u16, len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 1, 2));
        net::ipv4(a, b, IpProtocol::Udp, 64, ident, false, &payload)
    }

    fn push(r: &mut Reassembly, now: SimTime, f: &[u8]) -> Option<Vec<u8>> {
        let info = net::parse_ip(f).expect("a fragment");
        r.push(now, f.to_vec(), &info)
    }

    /// Fragments in any order give back the datagram as it was sent, byte for byte,
    /// only once the last hole is filled.
    #[test]
    fn out_of_order_fragments_make_the_original() {
        let whole = datagram(7, 3000);
        let mut frags = fragment(&whole, 1280);
        assert_eq!(frags.len(), 3);
        frags.swap(0, 2);
        let mut r = Reassembly::default();
        assert_eq!(
            push(&mut r, SimTime::ZERO, &frags[0]),
            None,
            "the last fragment alone"
        );
        assert_eq!(
            push(&mut r, SimTime::ZERO, &frags[1]),
            None,
            "the first is missing"
        );
        assert_eq!(push(&mut r, SimTime::ZERO, &frags[2]), Some(whole));
        assert!(r.queues.is_empty(), "a finished datagram is forgotten");
    }

    /// A hole of a single 8-byte block keeps the datagram waiting, wherever it is.
    #[test]
    fn smallest_hole_keeps_it_waiting() {
        let whole = datagram(3, 24);
        let frags = fragment(&whole, 28);
        assert_eq!(frags.len(), 3, "three 8-byte blocks");
        let mut r = Reassembly::default();
        assert_eq!(push(&mut r, SimTime::ZERO, &frags[0]), None);
        assert_eq!(
            push(&mut r, SimTime::ZERO, &frags[2]),
            None,
            "the middle block is missing"
        );
        assert_eq!(push(&mut r, SimTime::ZERO, &frags[1]), Some(whole));
    }

    /// Two datagrams with different identifications are kept apart.
    #[test]
    fn datagrams_do_not_mix() {
        let (a, b) = (datagram(1, 2000), datagram(2, 2000));
        let (fa, fb) = (fragment(&a, 1000), fragment(&b, 1000));
        let mut r = Reassembly::default();
        for f in &fa[..fa.len() - 1] {
            assert_eq!(push(&mut r, SimTime::ZERO, f), None);
        }
        for f in &fb[..fb.len() - 1] {
            assert_eq!(push(&mut r, SimTime::ZERO, f), None);
        }
        assert_eq!(push(&mut r, SimTime::ZERO, &fb[fb.len() - 1]), Some(b));
        assert_eq!(push(&mut r, SimTime::ZERO, &fa[fa.len() - 1]), Some(a));
    }

    /// A datagram still incomplete after 30 s is dropped: its late fragment starts a
    /// new, incomplete one.
    #[test]
    fn incomplete_datagrams_time_out() {
        let whole = datagram(9, 2000);
        let frags = fragment(&whole, 1000);
        let mut r = Reassembly::default();
        assert_eq!(push(&mut r, SimTime::ZERO, &frags[0]), None);
        let late = SimTime::ZERO + REASM_TIMEOUT;
        for f in &frags[1..] {
            assert_eq!(push(&mut r, late, f), None);
        }
        assert_eq!(r.queues.len(), 1);
        assert_eq!(
            push(&mut r, late, &frags[0]),
            Some(whole),
            "within the time it completes"
        );
    }
}
