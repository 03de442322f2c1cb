//! netloom-bench: the topologies that netloom's benchmarks measure, shared by the
//! criterion benches (`benches/`) and the `forwarding` and `scale` binaries.
//!
//! | item | what it builds |
//! | --- | --- |
//! | [`Chain`] | what the forwarding benches drive: `run_batch`, `hops_per_frame` |
//! | [`L2Chain`] | two [`Sink`]s joined by a chain of learning bridges, FDB pre-learned |
//! | [`L3Chain`] | two end [`Node`]s joined by a chain of forwarding routers, ARP resolved |
//! | [`docker_model`] | a Docker [`Model`]: hosts on one LAN, one user bridge network each, N containers each |
//! | [`docker_yaml`] | the same topology as a scenario file's text |
//! | [`mem`] | resident-memory figures from `/proc/self/status` |
//!
//! Every chain is deterministic (seed 1, fixed MACs and addresses, 1 µs links without
//! rate or loss) and records only fates ([`TraceLevel::Fates`]); a batch of frames is
//! injected at once and the fabric is run until idle, so a batch of `n` frames across a
//! chain of `k` forwarding elements is exactly `n * (k + 1)` frame-hops.

#![warn(missing_docs)]

use std::net::Ipv4Addr;

use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net};
use netloom_core::{Ctx, ElemId, Element, Fabric, Frame, LinkConfig, PortId, SimDuration, TraceLevel};
use netloom_drivers::bridge::{Bridge, BridgeConfig, BridgePort};
use netloom_drivers::docker::{ContainerDef, EndpointDef, HostDef, LanDef, Model, NetworkDef, NicDef};
use netloom_drivers::net::{self, ETH_IPV4, Mac};
use netloom_drivers::router::{Iface, Node, Route};

/// Length of every benchmark frame on the wire, without FCS.
pub const FRAME_LEN: usize = 64;

/// The link every chain uses: 1 µs of latency, no rate, no loss, no MTU.
pub fn bench_link() -> LinkConfig {
    LinkConfig {
        latency: SimDuration::from_micros(1),
        mtu: None,
        ..LinkConfig::default()
    }
}

/// An endpoint that accepts every frame (`ctx.deliver`) and counts them.
#[derive(Debug, Default)]
pub struct Sink {
    /// Frames delivered here.
    pub rx_frames: u64,
}

impl Element for Sink {
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, _port: PortId, frame: Frame) {
        self.rx_frames += 1;
        ctx.deliver(&frame, String::new);
    }
}

/// A chain that forwards batches of frames end to end.
pub trait Chain {
    /// Frame-hops one frame makes from one end to the other (one per link crossed).
    fn hops_per_frame(&self) -> u64;

    /// Injects `frames` frames at once and runs until idle; returns the frame-hops
    /// done. The trace keeps two fate events per frame: call [`Chain::clear_trace`]
    /// between batches (outside any timed region).
    fn run_batch(&mut self, frames: usize) -> u64;

    /// Forgets the recorded fates.
    fn clear_trace(&mut self);
}

/// A plain L2 path: `sink A — bridge 1 — … — bridge N — sink Z`, every bridge with
/// two ports, the FDB of every bridge already holding both MACs.
pub struct L2Chain {
    /// The fabric (public so benches can read its stats).
    pub fabric: Fabric,
    /// How many bridges the chain has.
    pub bridges: usize,
    src: ElemId,
    frame: Bytes,
}

const MAC_A: Mac = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_Z: Mac = [0x02, 0, 0, 0, 0, 0x0f];

impl L2Chain {
    /// Builds the chain and pre-learns the FDB with one frame each way.
    ///
    /// # Panics
    /// If the pre-learning frames do not arrive (a broken bridge).
    pub fn new(bridges: usize) -> Self {
        let mut fabric = Fabric::new(1);
        fabric.set_trace_level(TraceLevel::Fates);
        let a = fabric.add_element("a", Box::new(Sink::default()));
        let mut prev = (a, 0);
        for i in 0..bridges {
            let mut br = Bridge::new(format!("br{i}"), BridgeConfig::default());
            for p in ["left", "right"] {
                br.add_port(BridgePort {
                    name: p.into(),
                    hairpin: false,
                    isolated: false,
                });
            }
            let id = fabric.add_element(format!("br{i}"), Box::new(br));
            fabric.connect(prev, (id, 0), bench_link());
            prev = (id, 1);
        }
        let z = fabric.add_element("z", Box::new(Sink::default()));
        fabric.connect(prev, (z, 0), bench_link());
        // Z → A floods (every bridge learns Z), then A → Z is known unicast (and every
        // bridge learns A): from here on no frame is flooded.
        fabric.inject(z, 0, Bytes::from(l2_frame(MAC_A, MAC_Z)));
        fabric.run_until_idle(u64::MAX);
        fabric.inject(a, 0, Bytes::from(l2_frame(MAC_Z, MAC_A)));
        fabric.run_until_idle(u64::MAX);
        let delivered = |f: &mut Fabric, e| f.element_mut::<Sink>(e).map_or(0, |s| s.rx_frames);
        assert_eq!(
            (delivered(&mut fabric, a), delivered(&mut fabric, z)),
            (1, 1),
            "pre-learning frames must reach both ends"
        );
        fabric.clear_trace();
        L2Chain {
            fabric,
            bridges,
            src: a,
            frame: Bytes::from(l2_frame(MAC_Z, MAC_A)),
        }
    }
}

impl Chain for L2Chain {
    fn hops_per_frame(&self) -> u64 {
        self.bridges as u64 + 1
    }

    fn run_batch(&mut self, frames: usize) -> u64 {
        inject_batch(&mut self.fabric, self.src, &self.frame, frames)
    }

    fn clear_trace(&mut self) {
        self.fabric.clear_trace();
    }
}

/// Injects `frames` copies of `frame` out of port 0 of `src`, runs until idle and
/// returns the frame-hops done.
fn inject_batch(fabric: &mut Fabric, src: ElemId, frame: &Bytes, frames: usize) -> u64 {
    let before = fabric.stats().frame_hops;
    for _ in 0..frames {
        fabric.inject(src, 0, frame.clone());
    }
    fabric.run_until_idle(u64::MAX);
    fabric.stats().frame_hops - before
}

/// A 64-byte IPv4-typed Ethernet frame with a zero payload.
fn l2_frame(dst: Mac, src: Mac) -> Vec<u8> {
    net::ethernet(dst, src, ETH_IPV4, &[0u8; FRAME_LEN - 14])
}

/// A routed path: `node A — router 1 — … — router N — node B`, IPv4 with static
/// routes, every neighbour on the way already resolved.
///
/// Link `k` (0 ≤ k ≤ N) is `10.0.k.0/24`, its left end `.1` and its right end `.2`;
/// A is `10.0.0.1` and B is `10.0.N.2`. Frames are ICMP echo replies A → B, which B
/// delivers ("echo reply nobody waits for") without answering, so the flow is one-way
/// like the UDP flow of the ns-3 peer.
pub struct L3Chain {
    /// The fabric.
    pub fabric: Fabric,
    /// How many routers the chain has.
    pub routers: usize,
    src: ElemId,
    frame: Bytes,
}

impl L3Chain {
    /// Builds the chain and resolves ARP along it with one warm-up packet.
    ///
    /// # Panics
    /// If `routers` is 0 or above 254, or the warm-up packet does not get through.
    pub fn new(routers: usize) -> Self {
        assert!((1..=254).contains(&routers), "1 to 254 routers");
        let mut fabric = Fabric::new(1);
        fabric.set_trace_level(TraceLevel::Fates);
        let addr = |link: usize, right: bool| Ipv4Addr::new(10, 0, link as u8, if right { 2 } else { 1 });
        let net = |link: usize| IpNet::V4(Ipv4Net::new(addr(link, false), 24).expect("/24").trunc());
        let iface = |name: &str, mac: Mac, a: Ipv4Addr| Iface {
            name: name.into(),
            mac,
            v4: vec![Ipv4Net::new(a, 24).expect("/24")],
            v6: Vec::new(),
            mtu: 1500,
            bridge: None,
        };
        let mac = |elem: usize, port: u8| -> Mac { [0x02, 0, 0, (elem >> 8) as u8, elem as u8, port] };

        let mut a = Node::new("a", false);
        a.add_iface(iface("eth0", mac(0, 0), addr(0, false)));
        a.add_route(Route {
            net: IpNet::V4(Ipv4Net::default()),
            via: Some(addr(0, true).into()),
            port: 0,
        });
        let a = fabric.add_element("a", Box::new(a));
        let mut prev = (a, 0);
        for i in 1..=routers {
            let mut r = Node::new(format!("r{i}"), true);
            r.add_iface(iface("eth0", mac(i, 0), addr(i - 1, true)));
            r.add_iface(iface("eth1", mac(i, 1), addr(i, false)));
            if i < routers {
                r.add_route(Route {
                    net: net(routers),
                    via: Some(addr(i, true).into()),
                    port: 1,
                });
            }
            if i > 1 {
                r.add_route(Route {
                    net: net(0),
                    via: Some(addr(i - 1, false).into()),
                    port: 0,
                });
            }
            let id = fabric.add_element(format!("r{i}"), Box::new(r));
            fabric.connect(prev, (id, 0), bench_link());
            prev = (id, 1);
        }
        let mut b = Node::new("b", false);
        b.add_iface(iface("eth0", mac(routers + 1, 0), addr(routers, true)));
        b.add_route(Route {
            net: IpNet::V4(Ipv4Net::default()),
            via: Some(addr(routers, false).into()),
            port: 0,
        });
        let b = fabric.add_element("b", Box::new(b));
        fabric.connect(prev, (b, 0), bench_link());

        let ip = ipv4_icmp_echo_reply(addr(0, false), addr(routers, true));
        let frame = Bytes::from(net::ethernet(mac(1, 0), mac(0, 0), ETH_IPV4, &ip));
        assert_eq!(frame.len(), FRAME_LEN);
        let mut chain = L3Chain {
            fabric,
            routers,
            src: a,
            frame,
        };
        // Warm-up: every router resolves its next hop (the packet waits in the
        // neighbour queue meanwhile); afterwards one packet is exactly N + 1 hops.
        chain.run_batch(1);
        assert_eq!(
            chain.run_batch(1),
            chain.hops_per_frame(),
            "after warm-up a packet crosses the chain without ARP"
        );
        let delivered = chain
            .fabric
            .trace()
            .events
            .iter()
            .any(|e| e.elem == b && matches!(e.kind, netloom_core::EventKind::Delivered));
        assert!(delivered, "the packet must be delivered at B");
        chain.clear_trace();
        chain
    }
}

impl Chain for L3Chain {
    fn hops_per_frame(&self) -> u64 {
        self.routers as u64 + 1
    }

    fn run_batch(&mut self, frames: usize) -> u64 {
        inject_batch(&mut self.fabric, self.src, &self.frame, frames)
    }

    fn clear_trace(&mut self) {
        self.fabric.clear_trace();
    }
}

/// An IPv4 ICMP echo reply `src → dst` whose Ethernet frame is [`FRAME_LEN`] bytes.
fn ipv4_icmp_echo_reply(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let icmp = net::icmpv4(0, 0, [0x4e, 0x42, 0, 1], &[0u8; FRAME_LEN - 14 - 20 - 8]);
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ip[8] = 64; // TTL: enough for 63 routers; the chains stop well before.
    ip[9] = 1; // ICMP
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = net::checksum(0, &ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// A Docker model of `hosts` hosts on one LAN (`underlay`, host `i` at
/// `10.0.0.0/8` address `i + 1`), each with one user bridge network `net<i>` (IPAM
/// from the default pools: `172.18.0.0/16`) and `per_host` containers `c<i>-<k>` on it.
pub fn docker_model(hosts: usize, per_host: usize) -> Model {
    let mut m = Model::default();
    m.lans.push(LanDef {
        name: "underlay".into(),
        mtu: None,
        hairpin: false,
        port_security: false,
    });
    for h in 0..hosts {
        let mut host = HostDef::new(host_name(h));
        let n = h as u32 + 1;
        let a = Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8);
        host.interfaces.push(NicDef {
            name: "eth0".into(),
            address: Some(IpNet::V4(Ipv4Net::new(a, 8).expect("/8"))),
            lan: Some("underlay".into()),
            ..NicDef::default()
        });
        m.hosts.push(host);
        let mut nd = NetworkDef::bridge(format!("net{h}"));
        nd.host = Some(host_name(h));
        m.networks.push(nd);
        for k in 0..per_host {
            let mut c = ContainerDef::new(container_name(h, k));
            c.host = Some(host_name(h));
            c.networks.push(EndpointDef {
                network: format!("net{h}"),
                ipv4: None,
                ipv6: None,
                mac: None,
                aliases: Vec::new(),
            });
            m.containers.push(c);
        }
    }
    m
}

/// [`docker_model`] as a scenario file's text: what `netloom graph FILE` reads.
pub fn docker_yaml(hosts: usize, per_host: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("name: scale\nlans: { underlay: {} }\nhosts:\n");
    for h in 0..hosts {
        let n = h as u32 + 1;
        let a = Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8);
        let _ = writeln!(
            s,
            "  {}: {{ interfaces: {{ eth0: {{ address: {a}/8, lan: underlay }} }} }}",
            host_name(h)
        );
    }
    s.push_str("networks:\n");
    for h in 0..hosts {
        let _ = writeln!(s, "  net{h}: {{ host: {} }}", host_name(h));
    }
    s.push_str("containers:\n");
    for h in 0..hosts {
        for k in 0..per_host {
            let _ = writeln!(
                s,
                "  {}: {{ host: {}, networks: [net{h}] }}",
                container_name(h, k),
                host_name(h)
            );
        }
    }
    s
}

/// The name of host `h` in [`docker_model`].
pub fn host_name(h: usize) -> String {
    format!("h{h}")
}

/// The name of container `k` of host `h` in [`docker_model`].
pub fn container_name(h: usize, k: usize) -> String {
    format!("c{h}-{k}")
}

/// Resident-memory figures of this process, from `/proc/self/status` (Linux).
pub mod mem {
    /// `VmRSS` and `VmHWM` (peak resident) in bytes, if the kernel reports them.
    pub fn rss_hwm() -> Option<(u64, u64)> {
        status_of("self")
    }

    /// `VmRSS` and `VmHWM` of process `pid`.
    pub fn rss_hwm_of(pid: u32) -> Option<(u64, u64)> {
        status_of(&pid.to_string())
    }

    fn status_of(who: &str) -> Option<(u64, u64)> {
        let s = std::fs::read_to_string(format!("/proc/{who}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = s.lines().find(|l| l.starts_with(name))?;
            let kb: u64 = line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kb * 1024)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// A path through a compiled Docker [`Lab`]: 64-byte ICMP echo replies injected at a
/// container's `eth0` and delivered at the far end, one way, with every neighbour
/// resolved by a warm-up ping.
///
/// - [`DockerPath::overlay`]: container on host1 → container on host2 over an overlay
///   network (bridge, VXLAN encapsulation in host1, the LAN, decapsulation in host2,
///   bridge): 6 frame-hops.
/// - [`DockerPath::macvlan`]: a macvlan container → a machine on the parent's LAN,
///   through the parent NIC's dispatch and an 802.1Q-filtering switch (the parent is
///   `eth0.10` on a trunk, the machine on an access port of VLAN 10): 3 frame-hops.
pub struct DockerPath {
    /// The compiled lab.
    pub lab: netloom_drivers::docker::Lab,
    src: ElemId,
    frame: Bytes,
    hops: u64,
}

impl DockerPath {
    /// The overlay path.
    ///
    /// # Panics
    /// If the model does not build or the warm-up ping fails.
    pub fn overlay() -> Self {
        use netloom_drivers::docker::Driver;
        let mut m = Model::default();
        m.lans.push(LanDef {
            name: "underlay".into(),
            ..LanDef::default()
        });
        for (i, h) in ["host1", "host2"].iter().enumerate() {
            let mut host = HostDef::new(*h);
            host.interfaces.push(NicDef {
                name: "eth0".into(),
                address: Some(IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::new(10, 0, 0, i as u8 + 1), 24).expect("/24"),
                )),
                lan: Some("underlay".into()),
                ..NicDef::default()
            });
            m.hosts.push(host);
        }
        let mut nd = NetworkDef::bridge("ov");
        nd.driver = Driver::Overlay;
        m.networks.push(nd);
        let (a, b) = (Ipv4Addr::new(10, 0, 1, 2), Ipv4Addr::new(10, 0, 1, 3));
        for (name, host, ip) in [("c1", "host1", a), ("c2", "host2", b)] {
            let mut c = ContainerDef::new(name);
            c.host = Some(host.into());
            c.networks.push(EndpointDef {
                network: "ov".into(),
                ipv4: Some(ip),
                ipv6: None,
                mac: None,
                aliases: Vec::new(),
            });
            m.containers.push(c);
        }
        let frame = net::ethernet(
            net::docker_mac(b),
            net::docker_mac(a),
            ETH_IPV4,
            &ipv4_icmp_echo_reply(a, b),
        );
        Self::warmed(&m, "c1", b, frame)
    }

    /// The macvlan path.
    ///
    /// # Panics
    /// If the model does not build or the warm-up ping fails.
    pub fn macvlan() -> Self {
        use netloom_drivers::docker::{Driver, ExternalDef, SubnetDef};
        let mut m = Model::default();
        m.lans.push(LanDef {
            name: "office".into(),
            ..LanDef::default()
        });
        let mut host = HostDef::new("host1");
        host.interfaces.push(NicDef {
            name: "eth0".into(),
            address: Some("192.168.1.10/24".parse().expect("net")),
            lan: Some("office".into()),
            trunk: Some(vec![10]),
            ..NicDef::default()
        });
        m.hosts.push(host);
        let peer = Ipv4Addr::new(10, 10, 0, 50);
        m.externals.push(ExternalDef {
            name: "printer".into(),
            address: IpNet::V4(Ipv4Net::new(peer, 24).expect("/24")),
            lan: "office".into(),
            gateway: None,
            listen: Vec::new(),
            dns_records: None,
            dns: Vec::new(),
            vlan: Some(10),
            trunk: None,
            mtu: None,
        });
        let mut nd = NetworkDef::bridge("v10");
        nd.driver = Driver::Macvlan;
        nd.parent = Some("eth0.10".into());
        nd.subnets.push(SubnetDef {
            subnet: "10.10.0.0/24".parse().expect("net"),
            gateway: None,
            ip_range: None,
        });
        m.networks.push(nd);
        let a = Ipv4Addr::new(10, 10, 0, 2);
        add_app(&mut m, "v10", a);
        let mut lab = netloom_drivers::docker::Lab::build(&m, 1).expect("a valid model");
        let pid = lab.node("printer").expect("printer");
        let pmac = lab
            .fabric
            .element_mut::<Node>(pid)
            .map(|n| n.ifaces()[0].mac)
            .expect("a node");
        drop(lab);
        let frame = net::ethernet(pmac, net::docker_mac(a), ETH_IPV4, &ipv4_icmp_echo_reply(a, peer));
        Self::warmed(&m, "app", peer, frame)
    }

    /// A Docker host with `networks` bridge networks (`n0`…, `172.20.i.0/24`) and
    /// `user_rules` DOCKER-USER rules (`-s 10.a.b.0/24 -j DROP`, and every tenth
    /// `-p tcp --dport N -j DROP`; none matches): a container on `n0` → the host's FORWARD
    /// (DOCKER-USER, DOCKER-FORWARD…) → a machine on the LAN, 3 frame-hops.
    ///
    /// # Panics
    /// If the model does not build or the warm-up ping fails.
    pub fn firewalled(networks: usize, user_rules: usize) -> Self {
        use netloom_drivers::docker::{ExternalDef, SubnetDef, UserRule};
        use netloom_drivers::netfilter::{Neg, PortRange, Proto, Rule, Target};
        let mut m = Model::default();
        m.lans.push(LanDef {
            name: "office".into(),
            ..LanDef::default()
        });
        let mut host = HostDef::new("host1");
        host.interfaces.push(NicDef {
            name: "eth0".into(),
            address: Some("192.168.1.10/24".parse().expect("net")),
            lan: Some("office".into()),
            ..NicDef::default()
        });
        for k in 0..user_rules {
            let rule = if k % 10 == 9 {
                Rule {
                    proto: Some(Neg::is(Proto::Tcp)),
                    dport: Some(Neg::is(PortRange::one(1000 + k as u16))),
                    ..Rule::jump(Target::Drop)
                }
            } else {
                let net =
                    Ipv4Net::new(Ipv4Addr::new(10, (k / 250) as u8, (k % 250) as u8, 0), 24).expect("/24");
                Rule {
                    src: Some(Neg::is(IpNet::V4(net))),
                    ..Rule::jump(Target::Drop)
                }
            };
            host.firewall.push(UserRule {
                chain: "DOCKER-USER".into(),
                rule,
                origin: format!("firewall.host1[{k}]"),
            });
        }
        m.hosts.push(host);
        let peer = Ipv4Addr::new(192, 168, 1, 50);
        m.externals.push(ExternalDef {
            name: "web".into(),
            address: IpNet::V4(Ipv4Net::new(peer, 24).expect("/24")),
            lan: "office".into(),
            gateway: None,
            listen: Vec::new(),
            dns_records: None,
            dns: Vec::new(),
            vlan: None,
            trunk: None,
            mtu: None,
        });
        for i in 0..networks {
            let mut nd = NetworkDef::bridge(format!("n{i}"));
            nd.subnets.push(SubnetDef {
                subnet: IpNet::V4(Ipv4Net::new(Ipv4Addr::new(172, 20, i as u8, 0), 24).expect("/24")),
                gateway: None,
                ip_range: None,
            });
            m.networks.push(nd);
        }
        let a = Ipv4Addr::new(172, 20, 0, 2);
        add_app(&mut m, "n0", a);
        let mut lab = netloom_drivers::docker::Lab::build(&m, 1).expect("a valid model");
        let hid = lab.node("host1").expect("host");
        let gw = lab
            .fabric
            .element_mut::<Node>(hid)
            .and_then(|n| n.ifaces().iter().find(|i| i.name == "br-n0").map(|i| i.mac))
            .expect("the bridge of n0");
        drop(lab);
        let frame = net::ethernet(gw, net::docker_mac(a), ETH_IPV4, &ipv4_icmp_echo_reply(a, peer));
        Self::warmed(&m, "app", peer, frame)
    }

    fn warmed(m: &Model, from: &str, to: Ipv4Addr, frame: Vec<u8>) -> Self {
        let mut lab = netloom_drivers::docker::Lab::build(m, 1).expect("a valid model");
        let ping = lab.ping(from, to.into(), 1, 56, false).expect("ping");
        assert_eq!(ping.received, 1, "the warm-up ping must get through");
        lab.fabric.set_trace_level(TraceLevel::Fates);
        let src = lab.node(from).expect("container");
        let mut path = DockerPath {
            lab,
            src,
            frame: Bytes::from(frame),
            hops: 0,
        };
        path.hops = path.run_batch(1);
        assert!(path.hops > 0, "a frame must cross the path");
        path.clear_trace();
        path
    }
}

impl DockerPath {
    /// Two pods on one bridge network, `a` → `b` (ICMP echo replies, 2 frame-hops),
    /// with `policies` NetworkPolicies that all select both pods (`select: {}`), each
    /// admitting its own team (`team: tN`) in and out; the pods are team `t{policies-1}`,
    /// so the first packet of the flow walks every policy and the rest ride the guards'
    /// connection tracking at both pod ports. `policies = 0`: no guard at all.
    ///
    /// # Panics
    /// If the model does not build or the warm-up ping fails.
    pub fn policed(policies: usize) -> Self {
        use netloom_drivers::policy::{Direction, NetworkPolicy, Peer, PolicyRule, Selector};
        let mut m = Model::default();
        m.networks.push(NetworkDef::bridge("app"));
        let team = format!("t{}", policies.saturating_sub(1));
        let (a, b) = (Ipv4Addr::new(172, 18, 0, 2), Ipv4Addr::new(172, 18, 0, 3));
        for (name, ip) in [("a", a), ("b", b)] {
            let mut c = ContainerDef::new(name);
            c.networks.push(EndpointDef {
                network: "app".into(),
                ipv4: Some(ip),
                ipv6: None,
                mac: None,
                aliases: Vec::new(),
            });
            c.labels.insert("team".into(), team.clone());
            m.containers.push(c);
        }
        for i in 0..policies {
            let peer = || PolicyRule {
                peers: vec![Peer {
                    pods: Some(Selector::labels([("team", format!("t{i}").as_str())])),
                    ..Peer::default()
                }],
                ports: Vec::new(),
            };
            m.cluster.policies.push(NetworkPolicy {
                name: format!("team-{i}"),
                namespace: "default".into(),
                select: Selector::everything(),
                types: Some(vec![Direction::Ingress, Direction::Egress]),
                ingress: vec![peer()],
                egress: vec![peer()],
            });
        }
        let frame = net::ethernet(
            net::docker_mac(b),
            net::docker_mac(a),
            ETH_IPV4,
            &ipv4_icmp_echo_reply(a, b),
        );
        Self::warmed(&m, "a", b, frame)
    }
}

/// A cluster for the reachability matrix: `pods` pods on one bridge network, spread
/// over 10 namespaces (`ns0`…, labelled `team: nsK`), each labelled `app: aN` (N = its
/// index mod 20) and listening on tcp/80; `policies` NetworkPolicies, policy `i` in
/// namespace `ns(i mod 10)` selecting `app: a(i mod 20)` and admitting on tcp/80 the
/// pods labelled `app: a((i+1) mod 20)` from namespaces with `team: ns((i+1) mod 10)`.
pub fn policy_cluster(pods: usize, policies: usize) -> Model {
    use netloom_drivers::docker::SubnetDef;
    use netloom_drivers::host::Listen;
    use netloom_drivers::net::L4;
    use netloom_drivers::policy::{NetworkPolicy, Peer, PolicyPort, PolicyRule, Selector};
    let mut m = Model::default();
    let mut nd = NetworkDef::bridge("pods");
    nd.subnets.push(SubnetDef {
        subnet: "10.244.0.0/16".parse().expect("subnet"),
        gateway: None,
        ip_range: None,
    });
    m.networks.push(nd);
    for k in 0..10 {
        m.cluster
            .namespaces
            .insert(format!("ns{k}"), [("team".to_owned(), format!("ns{k}"))].into());
    }
    for i in 0..pods {
        let mut c = ContainerDef::new(format!("pod{i}"));
        c.networks.push(EndpointDef {
            network: "pods".into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            aliases: Vec::new(),
        });
        c.namespace = format!("ns{}", i % 10);
        c.labels.insert("app".into(), format!("a{}", i % 20));
        c.listen.push(Listen {
            l4: L4::Tcp,
            addr: None,
            port: 80,
        });
        m.containers.push(c);
    }
    for i in 0..policies {
        let from = Peer {
            pods: Some(Selector::labels([("app", format!("a{}", (i + 1) % 20).as_str())])),
            namespaces: Some(Selector::labels([(
                "team",
                format!("ns{}", (i + 1) % 10).as_str(),
            )])),
            ip_block: None,
        };
        m.cluster.policies.push(NetworkPolicy {
            name: format!("allow-{i}"),
            namespace: format!("ns{}", i % 10),
            select: Selector::labels([("app", format!("a{}", i % 20).as_str())]),
            types: None,
            ingress: vec![PolicyRule {
                peers: vec![from],
                ports: vec![PolicyPort::parse("tcp/80").expect("port")],
            }],
            egress: Vec::new(),
        });
    }
    m
}

/// Adds the container `app` at `a` on `network`.
fn add_app(m: &mut Model, network: &str, a: Ipv4Addr) {
    let mut c = ContainerDef::new("app");
    c.networks.push(EndpointDef {
        network: network.into(),
        ipv4: Some(a),
        ipv6: None,
        mac: None,
        aliases: Vec::new(),
    });
    m.containers.push(c);
}

impl Chain for DockerPath {
    fn hops_per_frame(&self) -> u64 {
        self.hops
    }

    fn run_batch(&mut self, frames: usize) -> u64 {
        inject_batch(&mut self.lab.fabric, self.src, &self.frame, frames)
    }

    fn clear_trace(&mut self) {
        self.lab.fabric.clear_trace();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_batch_is_exactly_frames_times_hops() {
        // Proves the throughput the bench reports is the work done: no flooding, no
        // drops, one hop per link per frame.
        for n in [1, 4] {
            let mut c = L2Chain::new(n);
            assert_eq!(c.run_batch(100), 100 * c.hops_per_frame());
        }
    }

    #[test]
    fn l3_batch_is_exactly_frames_times_hops() {
        for n in [1, 4] {
            let mut c = L3Chain::new(n);
            assert_eq!(c.run_batch(100), 100 * c.hops_per_frame());
        }
    }

    /// The firewall path crosses container → bridge → host → LAN → machine whatever
    /// the DOCKER-USER rules (none matches), and the host really holds them.
    #[test]
    fn firewall_path_crosses_the_host_past_its_user_rules() {
        for rules in [0, 50] {
            let mut p = DockerPath::firewalled(10, rules);
            assert_eq!(p.hops_per_frame(), 4);
            assert_eq!(p.run_batch(100), 400);
            let save = p.lab.iptables_save("host1").expect("a host");
            assert_eq!(save.matches("-A DOCKER-USER").count(), rules);
        }
    }

    /// The policed path crosses both pod ports whatever the number of policies, and
    /// the lab really holds the policies.
    #[test]
    fn policed_path_crosses_both_guards() {
        for n in [0, 100] {
            let mut p = DockerPath::policed(n);
            assert_eq!(p.hops_per_frame(), 2);
            assert_eq!(p.run_batch(100), 200);
            assert_eq!(p.lab.policy_engine().map_or(0, |e| e.cluster().policies.len()), n);
        }
    }

    /// The matrix cluster: each policy admits exactly its neighbour app from its
    /// neighbour namespace, so some cells are blocked and some connect.
    #[test]
    fn policy_cluster_matrix_has_both_kinds_of_cells() {
        use netloom_drivers::net::L4;
        let m = policy_cluster(40, 20);
        let mut lab = netloom_drivers::docker::Lab::build(&m, 1).expect("valid model");
        let mx = lab.policy_matrix(&[(L4::Tcp, 80)]);
        let cells: Vec<bool> = mx.cells[0].iter().flatten().map(|c| c.reached()).collect();
        assert_eq!(cells.len(), 1600);
        assert!(cells.iter().any(|&c| c) && cells.iter().any(|&c| !c));
    }

    #[test]
    fn small_docker_model_builds_and_pings() {
        let m = docker_model(2, 3);
        let mut lab = netloom_drivers::docker::Lab::build(&m, 1).expect("valid model");
        lab.fabric.run_until_idle(u64::MAX);
        let to = lab.address_of(&container_name(1, 2), false).expect("address");
        let p = lab
            .ping(&container_name(1, 0), to, 1, 56, false)
            .expect("ping runs");
        assert_eq!(p.received, 1, "{p:?}");
    }
}
