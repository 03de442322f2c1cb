//! The trace: what happened to every frame, hop by hop, and how each one ended.
//!
//! Every frame ends in exactly one of: delivered to a stack, dropped with a typed
//! [`DropReason`], or still in flight (on a link, in a queue, or held by an element
//! waiting for address resolution). The fabric enforces this: an element that neither
//! forwards, delivers, holds nor drops a frame it received gets the frame recorded as
//! dropped with [`DropReason::Unaccounted`], which tests treat as a bug.

use std::fmt;

use serde::Serialize;

use crate::frame::FrameId;
use crate::time::SimTime;

/// Index of an element in the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ElemId(pub u32);

/// Index of a port on an element.
pub type PortId = u16;

/// Why a frame was dropped. The kebab-case names are the scenario format's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DropReason {
    /// No route to the destination.
    NoRoute,
    /// TTL or hop limit reached zero.
    TtlExceeded,
    /// Larger than the MTU of the way out.
    MtuExceeded,
    /// The link is down or the port is not connected.
    LinkDown,
    /// The link's queue was full.
    QueueFull,
    /// Lost by the link's random loss.
    RandomLoss,
    /// The next hop's address could not be resolved (ARP / neighbour discovery).
    ArpUnresolved,
    /// A firewall rule dropped it.
    Firewall,
    /// A network policy dropped it.
    Policy,
    /// macvlan/ipvlan children and their parent cannot talk.
    ParentIsolation,
    /// Docker isolates different bridge networks (and internal networks) from each other.
    NetworkIsolation,
    /// An inbound packet matched no NAT mapping.
    NoNatMapping,
    /// UDP (or another datagram) to a port nobody listens on.
    PortUnreachable,
    /// TCP to a port nobody listens on (answered with RST).
    NoListener,
    /// A switch port with port security refused a frame whose source MAC is not the
    /// MAC of the NIC cabled to it (VMware vSwitch forged transmits, cloud VPCs).
    PortSecurity,
    /// Not addressed to this machine (wrong MAC or IP, filtered by the receiving stack).
    NotForUs,
    /// Malformed bytes that no stage could parse.
    Malformed,
    /// An element received a frame and gave it no fate: a bug in that element.
    Unaccounted,
}

impl DropReason {
    /// Every reason, in the order of the scenario format.
    pub const ALL: [DropReason; 18] = [
        DropReason::NoRoute,
        DropReason::TtlExceeded,
        DropReason::MtuExceeded,
        DropReason::LinkDown,
        DropReason::QueueFull,
        DropReason::RandomLoss,
        DropReason::ArpUnresolved,
        DropReason::Firewall,
        DropReason::Policy,
        DropReason::ParentIsolation,
        DropReason::NetworkIsolation,
        DropReason::NoNatMapping,
        DropReason::PortUnreachable,
        DropReason::NoListener,
        DropReason::PortSecurity,
        DropReason::NotForUs,
        DropReason::Malformed,
        DropReason::Unaccounted,
    ];

    /// The kebab-case name used in scenario files and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NoRoute => "no-route",
            DropReason::TtlExceeded => "ttl-exceeded",
            DropReason::MtuExceeded => "mtu-exceeded",
            DropReason::LinkDown => "link-down",
            DropReason::QueueFull => "queue-full",
            DropReason::RandomLoss => "random-loss",
            DropReason::ArpUnresolved => "arp-unresolved",
            DropReason::Firewall => "firewall",
            DropReason::Policy => "policy",
            DropReason::ParentIsolation => "parent-isolation",
            DropReason::NetworkIsolation => "network-isolation",
            DropReason::NoNatMapping => "no-nat-mapping",
            DropReason::PortUnreachable => "port-unreachable",
            DropReason::NoListener => "no-listener",
            DropReason::PortSecurity => "port-security",
            DropReason::NotForUs => "not-for-us",
            DropReason::Malformed => "malformed",
            DropReason::Unaccounted => "unaccounted",
        }
    }

    /// The reason named `s` in a scenario file.
    pub fn parse(s: &str) -> Option<DropReason> {
        DropReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dataplane stage, named `<layer>-<verb>` as in VPP; the same string appears in traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// A link carrying the frame (impairments, MTU, state).
    LinkTransmit,
    /// First look at an arriving Ethernet frame.
    EthernetInput,
    /// Bridge learning.
    BridgeLearn,
    /// Bridge forwarding or flooding.
    BridgeForward,
    /// IPv4 input checks.
    Ip4Input,
    /// IPv4 route lookup.
    Ip4Lookup,
    /// IPv6 input checks.
    Ip6Input,
    /// IPv6 route lookup.
    Ip6Lookup,
    /// ARP / neighbour resolution.
    ArpResolve,
    /// Destination NAT before routing.
    NatPrerouting,
    /// Source NAT after routing.
    NatPostrouting,
    /// The forward filter (isolation, firewall).
    FilterForward,
    /// The raw table before connection tracking (PREROUTING).
    RawPrerouting,
    /// The raw table of locally sent packets (OUTPUT).
    RawOutput,
    /// Connection tracking: the packet's connection and state.
    Conntrack,
    /// Destination NAT of locally sent packets (nat OUTPUT).
    NatOutput,
    /// The filter of packets for this machine (INPUT).
    FilterInput,
    /// The filter of packets this machine sends (OUTPUT).
    FilterOutput,
    /// Fragmenting or refusing an oversized packet.
    IpFragment,
    /// Leaving through an interface.
    InterfaceOutput,
    /// Local delivery to a stack.
    LocalDeliver,
    /// A stub resolver asking a name server (glibc's `res_send`).
    DnsResolve,
    /// A name server answering (Docker's embedded DNS, an authoritative server).
    DnsServe,
    /// A name server relaying a query to an upstream resolver.
    DnsForward,
    /// A NetworkPolicy check at a pod's interface.
    Policy,
    /// Dropped.
    ErrorDrop,
}

impl Stage {
    /// The kebab-case name printed in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::LinkTransmit => "link-transmit",
            Stage::EthernetInput => "ethernet-input",
            Stage::BridgeLearn => "bridge-learn",
            Stage::BridgeForward => "bridge-forward",
            Stage::Ip4Input => "ip4-input",
            Stage::Ip4Lookup => "ip4-lookup",
            Stage::Ip6Input => "ip6-input",
            Stage::Ip6Lookup => "ip6-lookup",
            Stage::ArpResolve => "arp-resolve",
            Stage::NatPrerouting => "nat-prerouting",
            Stage::NatPostrouting => "nat-postrouting",
            Stage::FilterForward => "filter-forward",
            Stage::RawPrerouting => "raw-prerouting",
            Stage::RawOutput => "raw-output",
            Stage::Conntrack => "conntrack",
            Stage::NatOutput => "nat-output",
            Stage::FilterInput => "filter-input",
            Stage::FilterOutput => "filter-output",
            Stage::IpFragment => "ip-fragment",
            Stage::InterfaceOutput => "interface-output",
            Stage::LocalDeliver => "local-deliver",
            Stage::DnsResolve => "dns-resolve",
            Stage::DnsServe => "dns-serve",
            Stage::DnsForward => "dns-forward",
            Stage::Policy => "policy",
            Stage::ErrorDrop => "error-drop",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened at one point of a frame's life.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// An element created the frame (a stack sent it, or a router generated an ICMP error).
    Originated,
    /// The frame is a copy of `parent` (flooding, fragmentation, multicast), or a
    /// datagram an application relayed from it (docker-proxy's UDP side).
    Copied {
        /// The frame this one was copied from.
        parent: FrameId,
    },
    /// The frame left an element's port onto a link.
    Transmitted,
    /// The frame arrived at an element's port.
    Received,
    /// An element noted a decision (NAT rewrite, route chosen, learned MAC...).
    Note {
        /// The stage that made the decision.
        stage: Stage,
    },
    /// An element is holding the frame (waiting for ARP).
    Held,
    /// The frame reached a stack.
    Delivered,
    /// The frame was dropped.
    Dropped {
        /// Why.
        reason: DropReason,
        /// Where.
        stage: Stage,
    },
}

/// One event of the trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEvent {
    /// When it happened.
    pub time: SimTime,
    /// Which frame.
    pub frame: FrameId,
    /// At which element.
    pub elem: ElemId,
    /// At which port, where a port is involved.
    pub port: Option<PortId>,
    /// What happened.
    pub kind: EventKind,
    /// A human explanation (empty when there is nothing to add).
    pub detail: String,
    /// The first bytes of the frame at this point, when header snapshots are enabled.
    #[serde(skip)]
    pub snapshot: Option<bytes::Bytes>,
}

/// How much the fabric records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TraceLevel {
    /// Nothing at all (a live network forwarding at full speed).
    Off,
    /// Only the fate of each frame (origin, copy, delivered, dropped).
    Fates,
    /// Every hop and every note.
    Hops,
    /// Every hop, with the frame's first bytes at every transmission.
    Snapshots,
}

/// How a frame ended (or has not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "kebab-case")]
pub enum Fate {
    /// Delivered to a stack.
    Delivered,
    /// Dropped for `reason`.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// Still on a link, in a queue or held by an element.
    InFlight,
}

/// The recorded trace of a run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Events in the order they happened.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// All events of the frames for which `keep` holds, in order.
    pub fn of<'a>(
        &'a self,
        keep: impl Fn(FrameId) -> bool + 'a,
    ) -> impl Iterator<Item = &'a TraceEvent> + 'a {
        self.events.iter().filter(move |e| keep(e.frame))
    }

    /// The terminal events (delivered or dropped) of each frame, counted.
    pub fn terminal_counts(&self) -> std::collections::BTreeMap<FrameId, usize> {
        let mut m = std::collections::BTreeMap::new();
        for e in &self.events {
            match e.kind {
                EventKind::Originated | EventKind::Copied { .. } => {
                    m.entry(e.frame).or_insert(0);
                }
                EventKind::Delivered | EventKind::Dropped { .. } => {
                    *m.entry(e.frame).or_insert(0) += 1;
                }
                _ => {}
            }
        }
        m
    }
}
