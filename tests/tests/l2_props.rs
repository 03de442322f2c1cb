//! Property tests of the layer-2 drivers against the rules a network engineer
//! expects:
//!
//! - 802.1Q: machines in one IP subnet on one switch, each on an access port of some
//!   VLAN, on an untagged port (VLAN 1) or on a trunk (tagging with its first VLAN):
//!   one reaches another exactly when both are in the same VLAN.
//! - macvlan: children of one parent in one mode, with or without a reflecting switch:
//!   two children reach each other exactly as `drivers/net/macvlan.c` lets them
//!   (bridge: always; vepa: only through a reflecting switch; private: never), and a
//!   machine on the LAN reaches every child.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use netloom_drivers::docker::{
    ChildMode, ContainerDef, Driver, EndpointDef, ExternalDef, HostDef, Lab, LanDef, Model, NetworkDef,
    NicDef, SubnetDef,
};
use proptest::prelude::*;

/// Where a machine sits: `Some(v)` an access port of VLAN v, `None` untagged, or a
/// trunk whose first VLAN is the tag it uses.
#[derive(Clone, Copy, Debug)]
enum Port {
    Access(u16),
    Plain,
    Trunk(u16),
}

impl Port {
    fn vlan(self) -> u16 {
        match self {
            Port::Access(v) | Port::Trunk(v) => v,
            Port::Plain => 1,
        }
    }
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![
        (10u16..=12).prop_map(Port::Access),
        Just(Port::Plain),
        (10u16..=12).prop_map(Port::Trunk),
    ]
}

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 50, 0, 10 + i as u8)
}

fn vlan_lab(ports: &[Port]) -> Lab {
    let mut m = Model::default();
    m.lans.push(LanDef {
        name: "sw".into(),
        ..LanDef::default()
    });
    for (i, p) in ports.iter().enumerate() {
        let (vlan, trunk) = match p {
            Port::Access(v) => (Some(*v), None),
            Port::Plain => (None, None),
            Port::Trunk(v) => (None, Some(vec![*v, 99])),
        };
        m.externals.push(ExternalDef {
            name: format!("m{i}"),
            address: IpNet::V4(Ipv4Net::new(addr(i), 24).expect("/24")),
            lan: "sw".into(),
            gateway: None,
            listen: Vec::new(),
            dns_records: None,
            dns: Vec::new(),
            vlan,
            trunk,
            mtu: None,
        });
    }
    Lab::build(&m, 3).expect("a valid model")
}

fn mode() -> impl Strategy<Value = ChildMode> {
    prop_oneof![
        Just(ChildMode::MacvlanBridge),
        Just(ChildMode::MacvlanPrivate),
        Just(ChildMode::MacvlanVepa),
    ]
}

fn macvlan_lab(mode: ChildMode, children: usize, hairpin: bool) -> Lab {
    let mut m = Model::default();
    m.lans.push(LanDef {
        name: "office".into(),
        hairpin,
        ..LanDef::default()
    });
    let mut h = HostDef::new("host1");
    h.interfaces.push(NicDef {
        name: "eth0".into(),
        address: Some("192.168.1.10/24".parse().expect("net")),
        lan: Some("office".into()),
        ..NicDef::default()
    });
    m.hosts.push(h);
    m.externals.push(ExternalDef {
        name: "laptop".into(),
        address: "192.168.1.50/24".parse().expect("net"),
        lan: "office".into(),
        gateway: None,
        listen: Vec::new(),
        dns_records: None,
        dns: Vec::new(),
        vlan: None,
        trunk: None,
        mtu: None,
    });
    let mut n = NetworkDef::bridge("mv");
    n.driver = Driver::Macvlan;
    n.parent = Some("eth0".into());
    n.mode = Some(mode);
    n.subnets.push(SubnetDef {
        subnet: "192.168.1.0/24".parse().expect("net"),
        gateway: None,
        ip_range: Some("192.168.1.128/25".parse().expect("net")),
    });
    m.networks.push(n);
    for i in 0..children {
        let mut c = ContainerDef::new(format!("c{i}"));
        c.networks.push(EndpointDef {
            network: "mv".into(),
            ipv4: Some(Ipv4Addr::new(192, 168, 1, 128 + i as u8)),
            ipv6: None,
            mac: None,
            aliases: Vec::new(),
        });
        m.containers.push(c);
    }
    Lab::build(&m, 5).expect("a valid model")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn vlans_separate_exactly_the_broadcast_domains(
        ports in prop::collection::vec(port(), 2..=5),
        pairs in prop::collection::vec((0usize..5, 0usize..5), 1..=4),
    ) {
        let mut lab = vlan_lab(&ports);
        for (a, b) in pairs {
            let (a, b) = (a % ports.len(), b % ports.len());
            if a == b {
                continue;
            }
            let got = lab.ping(&format!("m{a}"), IpAddr::V4(addr(b)), 1, 56, false).expect("ping");
            let same = ports[a].vlan() == ports[b].vlan();
            prop_assert_eq!(got.received == 1, same, "m{} {:?} -> m{} {:?}", a, ports[a], b, ports[b]);
        }
    }

    #[test]
    fn macvlan_siblings_talk_as_the_mode_allows(
        mode in mode(),
        hairpin in any::<bool>(),
        children in 2usize..=3,
    ) {
        let mut lab = macvlan_lab(mode, children, hairpin);
        let sibling = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 129));
        let got = lab.ping("c0", sibling, 1, 56, false).expect("ping");
        let want = match mode {
            ChildMode::MacvlanBridge => true,
            ChildMode::MacvlanVepa => hairpin,
            _ => false,
        };
        prop_assert_eq!(got.received == 1, want, "{:?}, hairpin {}", mode, hairpin);
        for i in 0..children {
            let child = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 128 + i as u8));
            let got = lab.ping("laptop", child, 1, 56, false).expect("ping");
            prop_assert_eq!(got.received, 1, "laptop -> c{}", i);
        }
    }
}
