//! Random trees of learning bridges with hosts at the leaves, all in 10.0.0.0/24.
//!
//! Trees only: a loop of bridges without STP storms on Linux too, so a loop would test
//! the generator, not the bridge.

use std::net::Ipv4Addr;

use netloom_core::{Fabric, SimTime};
use netloom_drivers::bridge::{Bridge, BridgeConfig, BridgePort};
use netloom_drivers::router::Node;
use proptest::prelude::*;

use super::{Built, Impairment, Timed, echo_listeners, host_node, impairment, pick, traffic};

/// A host on the LAN.
#[derive(Clone, Debug)]
pub struct LanHost {
    /// The bridge it is plugged into (index modulo the bridge count).
    pub bridge: u16,
    /// Its interface MTU.
    pub mtu: u32,
    /// Whether it serves the echo port.
    pub listen: bool,
    /// Its cable.
    pub link: Impairment,
}

/// A tree of bridges, hosts on it, and the traffic they send.
#[derive(Clone, Debug)]
pub struct LanSpec {
    /// Bridge `i + 1` hangs off bridge `parents[i].0 % (i + 1)`: always a tree.
    pub parents: Vec<(u16, Impairment)>,
    /// The hosts (addresses 10.0.0.1, .2, … in order).
    pub hosts: Vec<LanHost>,
    /// What they do.
    pub traffic: Vec<Timed>,
}

fn mtu() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(1500u32), 1 => Just(1400), 1 => Just(1000), 1 => Just(576)]
}

/// 1–8 bridges in a random tree, 2–8 hosts, 1–10 timed actions (garbage included).
pub fn lan_spec() -> impl Strategy<Value = LanSpec> {
    let host =
        (any::<u16>(), mtu(), any::<bool>(), impairment()).prop_map(|(bridge, mtu, listen, link)| LanHost {
            bridge,
            mtu,
            listen,
            link,
        });
    (
        proptest::collection::vec((any::<u16>(), impairment()), 0..=7),
        proptest::collection::vec(host, 2..=8),
        traffic(),
    )
        .prop_map(|(parents, hosts, traffic)| LanSpec {
            parents,
            hosts,
            traffic,
        })
}

impl LanSpec {
    /// The fabric of this spec, seeded with `seed`.
    pub fn build(&self, seed: u64) -> Built {
        let mut fabric = Fabric::new(seed);
        let bridges: Vec<_> = (0..=self.parents.len())
            .map(|i| {
                fabric.add_element(
                    format!("br{i}"),
                    Box::new(Bridge::new(format!("br{i}"), BridgeConfig::default())),
                )
            })
            .collect();
        let plug = |fabric: &mut Fabric, b: usize, name: String| {
            fabric
                .element_mut::<Bridge>(bridges[b])
                .map(|br| {
                    br.add_port(BridgePort {
                        name,
                        hairpin: false,
                        isolated: false,
                    })
                })
                .expect("a bridge")
        };
        for (i, (parent, imp)) in self.parents.iter().enumerate() {
            let (child, parent) = (i + 1, pick(parent, i + 1));
            let up = plug(&mut fabric, child, format!("up{parent}"));
            let down = plug(&mut fabric, parent, format!("down{child}"));
            fabric.connect((bridges[child], up), (bridges[parent], down), imp.config());
        }
        let mut hosts = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let addr = Ipv4Addr::new(10, 0, 0, i as u8 + 1);
            let (id, mut node) = host_node(&mut fabric, format!("h{i}"), addr, h.mtu);
            if h.listen {
                for l in echo_listeners() {
                    node.add_listen(l, SimTime::ZERO);
                }
            }
            *fabric.element_mut::<Node>(id).expect("a node") = node;
            let b = pick(h.bridge, bridges.len());
            let port = plug(&mut fabric, b, format!("h{i}"));
            fabric.connect((id, 0), (bridges[b], port), h.link.config());
            hosts.push((id, addr));
        }
        Built {
            fabric,
            hosts,
            missing: vec![Ipv4Addr::new(10, 0, 0, 200), Ipv4Addr::new(10, 0, 0, 254)],
            infra: vec![Ipv4Addr::new(10, 0, 0, 255)],
        }
    }

    /// Whether some link draws from the RNG.
    pub fn is_random(&self) -> bool {
        self.parents.iter().any(|p| p.1.is_random()) || self.hosts.iter().any(|h| h.link.is_random())
    }
}
