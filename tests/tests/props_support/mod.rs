//! What the property tests share: link impairments, traffic, the run loop and the
//! checks of what DESIGN.md promises about every trace.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`lan`] | random trees of learning bridges with hosts at the leaves, one /24 |
//! | [`routed`] | random graphs of routers (cycles, bad static routes) with hosts at the edges |
//! | [`docker`] | random Docker models: user networks, containers on random subsets of them |
//! | [`garbage`] | near-valid frames with flipped bytes, injected to exercise every parser |
//!
//! Every builder returns a [`Built`]: the fabric, the hosts that run traffic and their
//! addresses. [`drive`] plays timed traffic on it and then runs the fabric until
//! nothing is pending, and the `check_*` functions turn DESIGN.md's promises into
//! assertions that name the offending frame and its whole story.

pub mod docker;
pub mod garbage;
pub mod lan;
pub mod routed;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use netloom_core::{
    BitRate, DropReason, ElemId, EventKind, Fabric, FrameId, LinkConfig, LinkId, SimDuration, SimTime,
};
use netloom_drivers::host::Listen;
use netloom_drivers::net::L4;
use netloom_drivers::router::{Iface, Node};
use proptest::prelude::*;

/// Events a run may handle after its traffic before it must be idle. Far above what any
/// generated case needs (a few thousand); a run that reaches it has a frame or a timer
/// that never stops.
pub const EVENT_CAP: u64 = 200_000;

/// A frame, its copies' ancestors included, may cross at most this many links per link
/// of the topology: generous for flooding in a tree and for TTL-bounded routing loops
/// (TTL 64), and far below what a storm or an endless loop produces.
pub const HOPS_PER_LINK: usize = 64;

/// The echo port some hosts listen on (TCP and UDP); nothing listens on [`CLOSED_PORT`].
pub const ECHO_PORT: u16 = 7;
/// A port nobody listens on.
pub const CLOSED_PORT: u16 = 9;

/// Generated choices are plain `u16`s taken modulo the number of things to choose
/// from: they shrink towards 0 (the first thing) and print readably in a minimal case.
pub fn pick(p: impl std::borrow::Borrow<u16>, len: usize) -> usize {
    usize::from(*p.borrow()) % len
}

/// The impairments of one link, in units a failing case prints readably.
#[derive(Clone, Debug)]
pub struct Impairment {
    /// Random loss probability.
    pub loss: f64,
    /// One-way latency in microseconds.
    pub latency_us: u64,
    /// Jitter in microseconds.
    pub jitter_us: u64,
    /// A small rate (kbit/s) with a tiny queue (bytes), so queues overflow.
    pub rate: Option<(u64, usize)>,
    /// A link MTU, often below the frames sent.
    pub mtu: Option<u32>,
    /// Whether the link is up.
    pub up: bool,
}

impl Impairment {
    /// The core's link configuration.
    pub fn config(&self) -> LinkConfig {
        let mut c = LinkConfig {
            latency: SimDuration::from_micros(self.latency_us),
            jitter: SimDuration::from_micros(self.jitter_us),
            loss: self.loss,
            mtu: self.mtu,
            up: self.up,
            ..LinkConfig::default()
        };
        if let Some((kbit, queue)) = self.rate {
            c.rate = Some(BitRate(kbit * 1000));
            c.queue_bytes = queue;
        }
        c
    }

    /// Whether the link draws from the RNG (so another seed may change the trace).
    pub fn is_random(&self) -> bool {
        self.up && (self.loss > 0.0 || self.jitter_us > 0)
    }
}

/// Link impairments: mostly mild, sometimes lossy (up to 30 %), slow with a tiny queue,
/// with an MTU below the frames, or down.
pub fn impairment() -> impl Strategy<Value = Impairment> {
    (
        prop_oneof![2 => Just(0.0), 1 => 0.0..0.3f64],
        1..5_000u64,
        prop_oneof![2 => Just(0u64), 1 => 1..2_000u64],
        proptest::option::weighted(0.25, (64..10_000u64, 0..4_000usize)),
        proptest::option::weighted(0.2, 200..1_500u32),
        proptest::bool::weighted(0.92),
    )
        .prop_map(|(loss, latency_us, jitter_us, rate, mtu, up)| Impairment {
            loss,
            latency_us,
            jitter_us,
            rate,
            mtu,
            up,
        })
}

/// Whom a packet is for.
#[derive(Clone, Debug)]
pub enum Target {
    /// A host of the topology (index taken modulo the host count).
    Host(u16),
    /// An address in a host subnet that nobody owns (ARP goes unanswered).
    Missing(u16),
    /// An address outside every subnet (no route, or a default route somewhere).
    Outside,
    /// An address that is not a traffic host's: a router interface, or on a LAN the
    /// subnet's broadcast address.
    Infra(u16),
}

/// One thing a host does.
#[derive(Clone, Debug)]
pub enum Action {
    /// `ping -c count -s size [-M do]`.
    Ping {
        /// The sending host (modulo the host count).
        from: u16,
        /// The destination.
        to: Target,
        /// Echo requests.
        count: u32,
        /// ICMP payload bytes (often above the MTUs, so fragmentation happens).
        size: usize,
        /// Don't fragment.
        df: bool,
    },
    /// One UDP datagram waiting for an echo.
    Udp {
        /// The sending host (modulo the host count).
        from: u16,
        /// The destination.
        to: Target,
        /// Its port: [`ECHO_PORT`] or [`CLOSED_PORT`].
        port: u16,
    },
    /// A TCP connection sending `bytes` (0: connect and close).
    Tcp {
        /// The sending host (modulo the host count).
        from: u16,
        /// The destination.
        to: Target,
        /// Its port: [`ECHO_PORT`] or [`CLOSED_PORT`].
        port: u16,
        /// Bytes to send.
        bytes: u64,
    },
    /// Takes a link down, or brings it back up (every link gets its configured state
    /// back when the traffic ends).
    Flap {
        /// The link (modulo the link count).
        link: u16,
    },
    /// A near-valid frame with flipped bytes, sent raw out of a host's first port.
    Garbage {
        /// The host whose port sends it (modulo the host count).
        from: u16,
        /// The frame.
        frame: garbage::GarbageSpec,
    },
}

/// An action after a pause.
#[derive(Clone, Debug)]
pub struct Timed {
    /// Milliseconds after the previous action.
    pub gap_ms: u64,
    /// What happens.
    pub action: Action,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => any::<u16>().prop_map(Target::Host),
        2 => any::<u16>().prop_map(Target::Missing),
        1 => Just(Target::Outside),
        1 => any::<u16>().prop_map(Target::Infra),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![2 => Just(ECHO_PORT), 1 => Just(CLOSED_PORT)]
}

/// Traffic: pings (some larger than every MTU, some with DF), UDP and TCP to existing and
/// missing addresses and ports, links going down and up, and malformed frames.
pub fn traffic() -> impl Strategy<Value = Vec<Timed>> {
    let ping = (
        any::<u16>(),
        target(),
        1..=3u32,
        prop_oneof![3 => 0..1_400usize, 1 => 1_400..4_000usize],
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(from, to, count, size, df)| Action::Ping {
            from,
            to,
            count,
            size,
            df,
        });
    let udp = (any::<u16>(), target(), port()).prop_map(|(from, to, port)| Action::Udp { from, to, port });
    let tcp = (
        any::<u16>(),
        target(),
        port(),
        prop_oneof![Just(0u64), 1..60_000u64],
    )
        .prop_map(|(from, to, port, bytes)| Action::Tcp {
            from,
            to,
            port,
            bytes,
        });
    let junk =
        (any::<u16>(), garbage::garbage_spec()).prop_map(|(from, frame)| Action::Garbage { from, frame });
    let action = prop_oneof![
        4 => ping,
        2 => udp,
        2 => tcp,
        1 => any::<u16>().prop_map(|link| Action::Flap { link }),
        2 => junk,
    ];
    proptest::collection::vec(
        (prop_oneof![Just(0u64), 0..1_500u64], action).prop_map(|(gap_ms, action)| Timed { gap_ms, action }),
        1..=10,
    )
}

/// A topology ready for traffic.
pub struct Built {
    /// The fabric.
    pub fabric: Fabric,
    /// Hosts that send traffic (`Node`s), with their address.
    pub hosts: Vec<(ElemId, Ipv4Addr)>,
    /// Addresses in host subnets that nobody owns.
    pub missing: Vec<Ipv4Addr>,
    /// Addresses that are not a traffic host's (router interfaces, broadcast).
    pub infra: Vec<Ipv4Addr>,
}

impl Built {
    fn resolve(&self, t: &Target) -> IpAddr {
        let choose = |v: &[Ipv4Addr], i: &u16| {
            if v.is_empty() {
                Ipv4Addr::new(203, 0, 113, 9)
            } else {
                v[pick(i, v.len())]
            }
        };
        let hosts: Vec<Ipv4Addr> = self.hosts.iter().map(|h| h.1).collect();
        IpAddr::V4(match t {
            Target::Host(i) => choose(&hosts, i),
            Target::Missing(i) => choose(&self.missing, i),
            Target::Outside => Ipv4Addr::new(203, 0, 113, 9),
            Target::Infra(i) => choose(&self.infra, i),
        })
    }
}

/// The listeners of a host that serves the echo port.
/// Adds a host `name` with one interface `eth0` at `addr`/24 to `fabric`, returning
/// its element and the node to finish (routes, listeners) before it is installed.
pub fn host_node(fabric: &mut Fabric, name: String, addr: Ipv4Addr, mtu: u32) -> (ElemId, Node) {
    let id = fabric.add_element(name.clone(), Box::new(Node::new("placeholder", false)));
    let mut node = Node::new(name, false);
    node.add_iface(Iface {
        name: "eth0".into(),
        mac: netloom_drivers::net::node_mac(id.0, 0),
        v4: vec![ipnet::Ipv4Net::new(addr, 24).expect("valid prefix")],
        v6: vec![],
        mtu,
        bridge: None,
    });
    (id, node)
}

pub fn echo_listeners() -> [Listen; 2] {
    [
        Listen {
            l4: L4::Tcp,
            addr: None,
            port: ECHO_PORT,
        },
        Listen {
            l4: L4::Udp,
            addr: None,
            port: ECHO_PORT,
        },
    ]
}

/// Plays `traffic` on `b`, calling `probe` right after each action (when its frames are
/// in flight), then runs until nothing is pending (or [`EVENT_CAP`]); returns the
/// events handled after the traffic.
pub fn drive(
    b: &mut Built,
    traffic: &[Timed],
    mut probe: impl FnMut(&Fabric) -> Result<(), TestCaseError>,
) -> Result<u64, TestCaseError> {
    let configured: Vec<bool> = b.fabric.links().map(|(_, l)| l.config.up).collect();
    let mut at = SimTime::ZERO;
    for t in traffic {
        at += SimDuration::from_millis(t.gap_ms);
        b.fabric.run_until(at);
        if b.hosts.is_empty() {
            continue;
        }
        let host = |i: &u16| b.hosts[pick(i, b.hosts.len())].0;
        match &t.action {
            Action::Ping {
                from,
                to,
                count,
                size,
                df,
            } => {
                let (id, dst) = (host(from), b.resolve(to));
                b.fabric
                    .with_element::<Node, _>(id, |n, ctx| n.start_ping(ctx, dst, *count, *size, *df));
            }
            Action::Udp { from, to, port } => {
                let (id, dst) = (host(from), b.resolve(to));
                // An error here is `connect: Network is unreachable`: nothing is sent.
                let _ = b
                    .fabric
                    .with_element::<Node, _>(id, |n, ctx| n.start_udp(ctx, dst, *port));
            }
            Action::Tcp {
                from,
                to,
                port,
                bytes,
            } => {
                let (id, dst) = (host(from), b.resolve(to));
                let _ = b
                    .fabric
                    .with_element::<Node, _>(id, |n, ctx| n.start_tcp(ctx, dst, *port, *bytes));
            }
            Action::Flap { link } => {
                if configured.is_empty() {
                    continue;
                }
                let id = LinkId(pick(link, configured.len()) as u32);
                let cfg = b.fabric.link_config_mut(id);
                cfg.up = !cfg.up;
            }
            Action::Garbage { from, frame } => {
                let (id, _) = b.hosts[pick(from, b.hosts.len())];
                let macs: Vec<[u8; 6]> = b
                    .hosts
                    .iter()
                    .filter_map(|(h, _)| {
                        b.fabric
                            .element_mut::<Node>(*h)
                            .and_then(|n| n.ifaces().first().map(|i| i.mac))
                    })
                    .collect();
                let addrs: Vec<Ipv4Addr> = b.hosts.iter().map(|h| h.1).collect();
                let data = frame.bytes(&macs, &addrs);
                b.fabric.inject(id, 0, data);
            }
        }
        probe(&b.fabric)?;
    }
    for (i, up) in configured.into_iter().enumerate() {
        b.fabric.link_config_mut(LinkId(i as u32)).up = up;
    }
    Ok(b.fabric.run_until_idle(EVENT_CAP))
}

/// How the frames of a run ended, for readable failure messages and statistics.
#[derive(Clone, Debug, Default)]
pub struct FateSummary {
    /// Frames that appeared (originated or copied).
    pub frames: usize,
    /// Frames delivered to a stack.
    pub delivered: usize,
    /// Frames dropped, by reason.
    pub dropped: BTreeMap<&'static str, usize>,
    /// Frames still in flight.
    pub in_flight: usize,
}

/// Every event of frame `id`, one per line, with element names: what a failure prints.
pub fn story(fabric: &Fabric, id: FrameId) -> String {
    let mut s = String::new();
    for e in fabric.trace().events.iter().filter(|e| e.frame == id) {
        s.push_str(&format!(
            "  {} {} {}{} {:?} {}\n",
            e.time,
            id,
            fabric.element_name(e.elem),
            e.port
                .map(|p| format!(".{}", fabric.port_name(e.elem, p)))
                .unwrap_or_default(),
            e.kind,
            e.detail
        ));
    }
    s
}

/// DESIGN.md, "Trace": every frame ends in exactly one of delivered, dropped with a
/// reason, or still in flight — and `unaccounted` (an element that lost a frame
/// silently) never appears.
///
/// Checked from both sides: every frame that was originated or copied has exactly one
/// terminal event xor is in flight; every terminal event and every in-flight frame
/// belongs to a frame that was originated or copied.
pub fn check_one_fate(fabric: &Fabric) -> Result<FateSummary, TestCaseError> {
    let mut born: BTreeSet<FrameId> = BTreeSet::new();
    let mut terminal: BTreeMap<FrameId, usize> = BTreeMap::new();
    let mut summary = FateSummary::default();
    for e in &fabric.trace().events {
        match &e.kind {
            EventKind::Originated | EventKind::Copied { .. } => {
                prop_assert!(
                    born.insert(e.frame),
                    "frame {} was born twice:\n{}",
                    e.frame,
                    story(fabric, e.frame)
                );
            }
            EventKind::Delivered => {
                *terminal.entry(e.frame).or_default() += 1;
                summary.delivered += 1;
            }
            EventKind::Dropped { reason, .. } => {
                prop_assert!(
                    *reason != DropReason::Unaccounted,
                    "frame {} was lost silently by {}:\n{}",
                    e.frame,
                    fabric.element_name(e.elem),
                    story(fabric, e.frame)
                );
                *terminal.entry(e.frame).or_default() += 1;
                *summary.dropped.entry(reason.as_str()).or_default() += 1;
            }
            _ => {}
        }
    }
    let in_flight: BTreeSet<FrameId> = fabric.in_flight().into_iter().collect();
    for id in &born {
        let ends = terminal.get(id).copied().unwrap_or(0);
        let flying = in_flight.contains(id);
        prop_assert!(
            (ends == 1 && !flying) || (ends == 0 && flying),
            "frame {id} has {ends} terminal events and is {}in flight:\n{}",
            if flying { "" } else { "not " },
            story(fabric, *id)
        );
    }
    for id in terminal.keys().chain(in_flight.iter()) {
        prop_assert!(
            born.contains(id),
            "frame {id} has a fate but was never originated or copied:\n{}",
            story(fabric, *id)
        );
    }
    summary.frames = born.len();
    summary.in_flight = in_flight.len();
    Ok(summary)
}

/// DESIGN.md's scheduler and TTL promise that nothing circulates forever: once traffic
/// stops, the fabric becomes idle within [`EVENT_CAP`] events with nothing in flight
/// (no frame left on a link, in a queue or held for ARP), and no frame — counting the
/// links its ancestors crossed before it was copied from them, as `Frame::hops` does —
/// crossed more than [`HOPS_PER_LINK`] times the number of links.
pub fn check_settled(fabric: &Fabric, handled: u64) -> Result<(), TestCaseError> {
    prop_assert!(
        handled < EVENT_CAP,
        "still busy after {EVENT_CAP} events: something circulates or re-arms forever"
    );
    prop_assert!(fabric.next_event().is_none(), "events still pending after idle");
    let flying = fabric.in_flight();
    prop_assert!(
        flying.is_empty(),
        "{} frames in flight on an idle fabric, first:\n{}",
        flying.len(),
        story(fabric, flying[0])
    );
    let links = fabric.links().count().max(1);
    let limit = HOPS_PER_LINK * links;
    let mut parent: BTreeMap<FrameId, FrameId> = BTreeMap::new();
    let mut tx: BTreeMap<FrameId, usize> = BTreeMap::new();
    for e in &fabric.trace().events {
        match e.kind {
            EventKind::Copied { parent: p } => {
                parent.insert(e.frame, p);
            }
            EventKind::Transmitted => *tx.entry(e.frame).or_default() += 1,
            _ => {}
        }
    }
    // Parents are always older than their copies, so one pass in id order suffices.
    let mut lineage: BTreeMap<FrameId, usize> = BTreeMap::new();
    let ids: BTreeSet<FrameId> = tx.keys().chain(parent.keys()).copied().collect();
    for id in ids {
        let own = tx.get(&id).copied().unwrap_or(0);
        let up = parent.get(&id).and_then(|p| lineage.get(p)).copied().unwrap_or(0);
        let total = own + up;
        lineage.insert(id, total);
        prop_assert!(
            total <= limit,
            "frame {id} and its ancestors crossed {total} links (limit {limit} for {links} links):\n{}",
            story(fabric, id)
        );
    }
    Ok(())
}
