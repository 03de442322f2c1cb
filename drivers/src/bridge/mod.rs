//! A learning bridge, as Linux's `bridge` device: an FDB with ageing, flooding of
//! broadcast, multicast and unknown unicast, and no reflection back out of the
//! arrival port (unless the port is in hairpin mode).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use netloom_core::{Ctx, DropReason, Element, Frame, PortId, SimDuration, SimTime, Stage};

use crate::net::{Mac, is_group};

/// Settings of a bridge.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// How long a learned MAC stays in the FDB without being seen (Linux: 300 s).
    pub ageing: SimDuration,
    /// Inter-container communication: when false, frames between two ports that are
    /// both marked `isolated` are dropped (Docker's `enable_icc: false`).
    pub icc: bool,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            ageing: SimDuration::from_secs(300),
            icc: true,
        }
    }
}

/// One FDB entry.
#[derive(Clone, Copy, Debug)]
struct FdbEntry {
    port: PortId,
    seen: SimTime,
}

/// A learning bridge.
pub struct Bridge {
    name: String,
    config: BridgeConfig,
    ports: Vec<BridgePort>,
    fdb: HashMap<Mac, FdbEntry, BuildHasherDefault<MacHasher>>,
    /// Frames forwarded to a known port, flooded, or filtered.
    pub stats: BridgeStats,
}

/// Counters of a bridge.
#[derive(Clone, Copy, Debug, Default)]
pub struct BridgeStats {
    /// Frames sent to one learned port.
    pub tx_forwarded: u64,
    /// Frames flooded.
    pub tx_flooded: u64,
}

/// A bridge port.
#[derive(Clone, Debug)]
pub struct BridgePort {
    /// Its name in traces (`veth-api`, `eth0`).
    pub name: String,
    /// Reflective relay: frames may leave through the port they arrived on.
    pub hairpin: bool,
    /// Subject to `icc: false` isolation (container ports, not the gateway).
    pub isolated: bool,
}

impl Bridge {
    /// A bridge without ports.
    pub fn new(name: impl Into<String>, config: BridgeConfig) -> Self {
        Bridge {
            name: name.into(),
            config,
            ports: Vec::new(),
            fdb: HashMap::default(),
            stats: BridgeStats::default(),
        }
    }

    /// Adds a port; its id is its index.
    pub fn add_port(&mut self, port: BridgePort) -> PortId {
        self.ports.push(port);
        (self.ports.len() - 1) as PortId
    }

    /// The bridge's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port on which `mac` was last seen, if it has not aged out at `now`.
    pub fn lookup(&self, mac: &Mac, now: SimTime) -> Option<PortId> {
        self.fdb
            .get(mac)
            .filter(|e| now.saturating_since(e.seen) < self.config.ageing)
            .map(|e| e.port)
    }

    /// Docker's `enable_icc: false` is an iptables rule seen through br_netfilter: it
    /// filters IP between two container ports; ARP still passes.
    fn icc_blocks(&self, from: PortId, to: PortId, frame: &Frame) -> bool {
        !self.config.icc
            && matches!(frame.data.get(12..14), Some([0x08, 0x00]) | Some([0x86, 0xdd]))
            && self.ports.get(from as usize).is_some_and(|p| p.isolated)
            && self.ports.get(to as usize).is_some_and(|p| p.isolated)
    }
}

impl Element for Bridge {
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame) {
        let (Some(dst), Some(src)) = (frame.dst_mac(), frame.src_mac()) else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::EthernetInput, || {
                "runt frame".into()
            });
            return;
        };
        let now = ctx.now();
        if !is_group(&src) {
            // bridge-learn: refresh or move the entry (a MAC that moved ports is relearned).
            self.fdb.insert(src, FdbEntry { port, seen: now });
        }
        let known = if is_group(&dst) {
            None
        } else {
            self.lookup(&dst, now)
        };
        match known {
            Some(out) if out == port && !self.ports.get(port as usize).is_some_and(|p| p.hairpin) => {
                ctx.drop_frame(&frame, DropReason::NotForUs, Stage::BridgeForward, || {
                    "the destination is behind the port the frame came from".into()
                });
            }
            Some(out) => {
                if self.icc_blocks(port, out, &frame) {
                    ctx.drop_frame(&frame, DropReason::NetworkIsolation, Stage::BridgeForward, || {
                        "inter-container communication is disabled on this network (enable_icc: false)".into()
                    });
                    return;
                }
                self.stats.tx_forwarded += 1;
                ctx.send(out, frame);
            }
            None => {
                self.stats.tx_flooded += 1;
                let mut sent = false;
                for out in 0..self.ports.len() as PortId {
                    let reflect = out == port && !self.ports[out as usize].hairpin;
                    if reflect || self.icc_blocks(port, out, &frame) {
                        continue;
                    }
                    ctx.send(out, frame.clone());
                    sent = true;
                }
                if !sent {
                    ctx.drop_frame(&frame, DropReason::NotForUs, Stage::BridgeForward, || {
                        "flooded, but the bridge has no other port".into()
                    });
                }
            }
        }
    }

    fn port_name(&self, port: PortId) -> String {
        self.ports
            .get(port as usize)
            .map_or_else(|| format!("p{port}"), |p| p.name.clone())
    }
}

/// A hasher for 6-byte MACs: the FDB needs no DoS resistance (keys come from the
/// simulated topology), and SipHash costs more than the rest of a bridge hop.
#[derive(Default, Clone, Copy)]
struct MacHasher(u64);

impl Hasher for MacHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_usize(&mut self, _len: usize) {}
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use netloom_core::{ElemId, EventKind, Fabric, LinkConfig, SimDuration};

    use super::*;

    struct Sink;
    impl Element for Sink {
        fn on_frame(&mut self, ctx: &mut Ctx<'_>, _port: PortId, frame: Frame) {
            ctx.deliver(&frame, String::new);
        }
    }

    fn eth(dst: Mac, src: Mac) -> Bytes {
        let mut v = vec![0u8; 60];
        v[0..6].copy_from_slice(&dst);
        v[6..12].copy_from_slice(&src);
        v[12] = 0x08;
        Bytes::from(v)
    }

    /// A bridge with three hosts; returns the fabric, the bridge and the hosts.
    fn lab(ageing: SimDuration) -> (Fabric, ElemId, [ElemId; 3]) {
        let mut f = Fabric::new(0);
        let mut br = Bridge::new("br", BridgeConfig { ageing, icc: true });
        let ports: Vec<PortId> = (0..3)
            .map(|i| {
                br.add_port(BridgePort {
                    name: format!("p{i}"),
                    hairpin: false,
                    isolated: true,
                })
            })
            .collect();
        let b = f.add_element("br", Box::new(br));
        let hosts = [0, 1, 2].map(|i| f.add_element(format!("h{i}"), Box::new(Sink)));
        for (i, h) in hosts.iter().enumerate() {
            f.connect((*h, 0), (b, ports[i]), LinkConfig::default());
        }
        (f, b, hosts)
    }

    fn delivered_at(f: &Fabric, from: usize) -> Vec<ElemId> {
        f.trace().events[from..]
            .iter()
            .filter(|e| e.kind == EventKind::Delivered)
            .map(|e| e.elem)
            .collect()
    }

    const M: [Mac; 3] = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 3]];

    #[test]
    fn unknown_unicast_floods_then_learned_unicast_goes_to_one_port() {
        let (mut f, _, h) = lab(SimDuration::from_secs(300));
        f.inject(h[0], 0, eth(M[1], M[0]));
        f.run_until_idle(100);
        // Flooded to h1 and h2, never back to h0.
        assert_eq!(delivered_at(&f, 0), vec![h[1], h[2]]);
        let mark = f.trace().events.len();
        f.inject(h[1], 0, eth(M[0], M[1]));
        f.run_until_idle(100);
        // h0 was learned from the first frame: only h0 gets the answer.
        assert_eq!(delivered_at(&f, mark), vec![h[0]]);
    }

    #[test]
    fn entries_age_out() {
        let (mut f, _, h) = lab(SimDuration::from_secs(1));
        f.inject(h[0], 0, eth(M[1], M[0]));
        f.run_until_idle(100);
        f.run_for(SimDuration::from_secs(2));
        let mark = f.trace().events.len();
        f.inject(h[1], 0, eth(M[0], M[1]));
        f.run_until_idle(100);
        // h0's entry aged out, so the frame floods again.
        assert_eq!(delivered_at(&f, mark), vec![h[0], h[2]]);
    }

    #[test]
    fn broadcast_reaches_every_other_port() {
        let (mut f, _, h) = lab(SimDuration::from_secs(300));
        f.inject(h[2], 0, eth(crate::net::BROADCAST, M[2]));
        f.run_until_idle(100);
        assert_eq!(delivered_at(&f, 0), vec![h[0], h[1]]);
    }
}
