//! A learning bridge, as Linux's `bridge` device: an FDB with ageing, flooding of
//! broadcast, multicast and unknown unicast, and no reflection back out of the
//! arrival port (unless the port is in hairpin mode).
//!
//! 802.1Q: once any port is given a VLAN role ([`Bridge::set_vlan`]) the bridge
//! filters by VLAN as Linux's `vlan_filtering 1` does: an access port carries one
//! VLAN untagged, a trunk carries its VLANs tagged plus VLAN 1 untagged (the default
//! PVID), a plain port carries VLAN 1 untagged; the FDB is per VLAN. Without VLAN
//! roles frames pass with whatever tags they carry, as on a VLAN-unaware bridge.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use netloom_core::{Ctx, DropReason, Element, Frame, PortId, SimDuration, SimTime, Stage};

use bytes::Bytes;

use crate::net::{self, Mac, is_group};
use crate::netfilter::bridge::{BridgeNf, Bridged};
use crate::policy::{Direction, GuardVerdict, Guards, PolicyEngine};

/// NetworkPolicy enforcement at the bridge's pod ports (the host end of each pod's
/// veth, where CNI plugins enforce), with one connection tracking table.
#[derive(Debug)]
pub struct BridgePolicy {
    /// The compiled policies.
    pub engine: Rc<PolicyEngine>,
    /// The policed pod behind each port (by port id; `None`: not a policed pod port).
    pub pods: Vec<Option<usize>>,
    /// The enforcement point and its conntrack.
    pub guards: Guards,
    /// The addresses of the resident node (the Docker host): always allowed.
    pub node: Vec<std::net::IpAddr>,
}

impl BridgePolicy {
    fn pod(&self, port: PortId) -> Option<usize> {
        self.pods.get(port as usize).copied().flatten()
    }

    /// Polices `frame` arriving on `from` and leaving through `to` (`None`: flooded;
    /// then only the policed pod that owns the destination address is asked). `false`:
    /// it was dropped (its fate is given).
    fn police(&mut self, ctx: &mut Ctx<'_>, from: PortId, to: Option<PortId>, frame: &Frame) -> bool {
        if !matches!(frame.data.get(12..14), Some([0x08, 0x00]) | Some([0x86, 0xdd])) {
            return true;
        }
        let src_pod = self.pod(from);
        let dst_pod = match to {
            Some(out) => self.pod(out),
            None => dst_ip(frame)
                .and_then(|ip| self.engine.pod_of(ip))
                .filter(|p| self.pods.contains(&Some(*p))),
        };
        if src_pod.is_none() && dst_pod.is_none() {
            return true;
        }
        let Some(ip) = frame.data.get(14..) else {
            return true;
        };
        let engine = &self.engine;
        match self.guards.check(
            engine,
            ip,
            frame.id,
            ctx.now(),
            (src_pod, dst_pod),
            &self.node,
            ctx.tracing(),
        ) {
            GuardVerdict::Pass => true,
            GuardVerdict::Allowed(by) => {
                ctx.note(frame, Stage::Policy, || {
                    let sides: Vec<String> = by
                        .iter()
                        .map(|&(d, p, r)| {
                            let pod = if d == Direction::Egress { src_pod } else { dst_pod };
                            let name = pod
                                .and_then(|i| engine.pods().get(i))
                                .map_or("", |p| p.name.as_str());
                            format!("{name}'s {} by {} rule {}", d.name(), engine.policy_id(p), r + 1)
                        })
                        .collect();
                    format!("NetworkPolicy: new connection allowed at {}", sides.join(" and "))
                });
                true
            }
            GuardVerdict::Denied { query, enforced } => {
                let why = || {
                    let name = engine.pods().get(query.pod).map_or("", |p| p.name.as_str());
                    let what = match query.proto {
                        Some(p) => format!("{}/{}", p.name(), query.port),
                        None => "icmp".into(),
                    };
                    let src = ip_src(frame).unwrap_or(query.remote);
                    format!(
                        "NetworkPolicy: {src} → {} {what} at {name}'s {}: {}",
                        query.dst,
                        query.direction.name(),
                        engine.explain(&query)
                    )
                };
                if enforced {
                    ctx.drop_frame(frame, DropReason::Policy, Stage::Policy, why);
                    false
                } else {
                    ctx.note(frame, Stage::Policy, || {
                        format!(
                            "{} — NOT enforced: the network plugin ignores NetworkPolicies (policy_enforcement: false)",
                            why()
                        )
                    });
                    true
                }
            }
        }
    }
}

fn dst_ip(frame: &Frame) -> Option<std::net::IpAddr> {
    match frame.data.get(12..14) {
        Some([0x08, 0x00]) => frame
            .data
            .get(30..34)
            .map(|b| std::net::IpAddr::from([b[0], b[1], b[2], b[3]])),
        Some([0x86, 0xdd]) => frame.data.get(38..54).and_then(|b| {
            let a: [u8; 16] = b.try_into().ok()?;
            Some(std::net::IpAddr::from(a))
        }),
        _ => None,
    }
}

fn ip_src(frame: &Frame) -> Option<std::net::IpAddr> {
    net::parse_ip(frame.data.get(14..)?).map(|i| i.tuple.src)
}

/// A port's place in the VLANs of a VLAN-filtering bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PortVlan {
    /// VLAN 1 untagged (the Linux default PVID).
    #[default]
    Plain,
    /// An access port: this VLAN, untagged.
    Access(u16),
    /// A trunk: these VLANs tagged, and VLAN 1 untagged.
    Trunk(Vec<u16>),
}

impl PortVlan {
    /// The VLAN an arriving frame belongs to, or why it is refused.
    fn ingress(&self, tag: Option<u16>) -> Result<u16, String> {
        match (self, tag) {
            (PortVlan::Plain | PortVlan::Trunk(_), None) => Ok(1),
            (PortVlan::Access(v), None) => Ok(*v),
            (PortVlan::Trunk(list), Some(t)) if list.contains(&t) || t == 1 => Ok(t),
            (PortVlan::Trunk(list), Some(t)) => {
                Err(format!("VLAN {t} is not allowed on this trunk ({list:?})"))
            }
            (PortVlan::Access(v), Some(t)) => Err(format!(
                "a frame tagged VLAN {t} arrived on an access port of VLAN {v} (access ports take untagged frames)"
            )),
            (PortVlan::Plain, Some(t)) => Err(format!(
                "a frame tagged VLAN {t} arrived on a port that is in no VLAN but 1 (untagged)"
            )),
        }
    }

    /// Whether frames of `vid` leave through the port, and tagged or not.
    fn egress(&self, vid: u16) -> Option<bool> {
        match self {
            PortVlan::Plain => (vid == 1).then_some(false),
            PortVlan::Access(v) => (*v == vid).then_some(false),
            PortVlan::Trunk(list) if vid == 1 => Some(list.contains(&1)),
            PortVlan::Trunk(list) => list.contains(&vid).then_some(true),
        }
    }
}

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
    vlans: Vec<PortVlan>,
    /// Port security: the only source MAC each port accepts (`None`: any).
    secured: Vec<Option<Mac>>,
    filtering: bool,
    fdb: HashMap<(u16, Mac), FdbEntry, BuildHasherDefault<MacHasher>>,
    /// Frames forwarded to a known port, flooded, or filtered.
    pub stats: BridgeStats,
    /// The host's netfilter, for br_netfilter (a Docker bridge network's bridge).
    pub brnf: Option<BridgeNf>,
    /// NetworkPolicy guards at pod ports.
    pub policy: Option<Box<BridgePolicy>>,
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
            vlans: Vec::new(),
            secured: Vec::new(),
            filtering: false,
            fdb: HashMap::default(),
            stats: BridgeStats::default(),
            brnf: None,
            policy: None,
        }
    }

    /// Adds a port; its id is its index.
    pub fn add_port(&mut self, port: BridgePort) -> PortId {
        self.ports.push(port);
        self.vlans.push(PortVlan::Plain);
        self.secured.push(None);
        (self.ports.len() - 1) as PortId
    }

    /// Port security on `port`: it accepts only frames whose source MAC is `mac` (the
    /// NIC cabled to it), as a VMware vSwitch that rejects forged transmits or a cloud
    /// VPC's anti-spoofing does; any other frame is dropped silently (`port-security`).
    pub fn set_port_security(&mut self, port: PortId, mac: Mac) {
        if let Some(s) = self.secured.get_mut(port as usize) {
            *s = Some(mac);
        }
    }

    /// Gives `port` a VLAN role; the bridge filters by VLAN from then on.
    pub fn set_vlan(&mut self, port: PortId, vlan: PortVlan) {
        if let Some(v) = self.vlans.get_mut(port as usize) {
            *v = vlan;
            self.filtering = true;
        }
    }

    /// Every port reflects frames back out of the port they arrived on (a switch in
    /// VEPA / reflective-relay mode).
    pub fn set_hairpin_all(&mut self) {
        for p in &mut self.ports {
            p.hairpin = true;
        }
    }

    /// The bridge's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records `mac` behind `port` at `now`, as if a frame from it had just arrived (a
    /// network that has been up a while has learned every station).
    pub fn prime(&mut self, mac: Mac, port: PortId, now: SimTime) {
        let vid = if self.filtering { 1 } else { 0 };
        self.fdb.insert((vid, mac), FdbEntry { port, seen: now });
    }

    /// The port on which `mac` was last seen, if it has not aged out at `now`.
    pub fn lookup(&self, mac: &Mac, now: SimTime) -> Option<PortId> {
        self.lookup_in(if self.filtering { 1 } else { 0 }, mac, now)
    }

    fn lookup_in(&self, vid: u16, mac: &Mac, now: SimTime) -> Option<PortId> {
        self.fdb
            .get(&(vid, *mac))
            .filter(|e| now.saturating_since(e.seen) < self.config.ageing)
            .map(|e| e.port)
    }

    /// br_netfilter: an IPv4 frame bridged between two container ports passes the
    /// host's iptables (when `bridge-nf-call-iptables` is on). `None` when a rule
    /// dropped it (its fate is given); else the frame, translated if conntrack says so.
    fn bridge_nf(&self, ctx: &mut Ctx<'_>, from: PortId, to: PortId, frame: Frame) -> Option<Frame> {
        let Some(brnf) = &self.brnf else {
            return Some(frame);
        };
        let container = |p: PortId| self.ports.get(p as usize).is_some_and(|p| p.isolated);
        if !container(from) || !container(to) || frame.data.get(12..14) != Some(&[0x08, 0x00]) {
            return Some(frame);
        }
        match brnf.forward(ctx.now(), &frame.data[14..]) {
            Bridged::Pass => Some(frame),
            Bridged::Rewritten(ip) => {
                let mut data = Vec::with_capacity(14 + ip.len());
                data.extend_from_slice(&frame.data[..14]);
                data.extend_from_slice(&ip);
                ctx.note(&frame, Stage::BridgeForward, || {
                    "conntrack (br_netfilter): a reply of a translated connection rewritten".into()
                });
                Some(Frame {
                    data: Bytes::from(data),
                    ..frame
                })
            }
            Bridged::Dropped(reason, why) => {
                ctx.drop_frame(&frame, reason, Stage::FilterForward, || why);
                None
            }
        }
    }

    /// A container's packet to the host that br_netfilter's DNAT sends back to the
    /// container itself: bridged back out of its own port, dropped unless the port is
    /// in hairpin mode (CNI's `hairpinMode`; Docker sets it with the userland proxy
    /// off). Drops it and returns `true` then.
    fn hairpin_refused(&self, ctx: &mut Ctx<'_>, from: PortId, to: PortId, frame: &Frame) -> bool {
        let Some(brnf) = &self.brnf else {
            return false;
        };
        let port = |p: PortId| self.ports.get(p as usize);
        if !port(from).is_some_and(|p| p.isolated && !p.hairpin)
            || port(to).is_none_or(|p| p.isolated)
            || frame.data.get(12..14) != Some(&[0x08, 0x00])
        {
            return false;
        }
        let Some(rule) = brnf.dnat_back_to_sender(ctx.now(), &frame.data[14..]) else {
            return false;
        };
        // The kernel drops it silently in br_forward; `firewall` because netfilter's
        // DNAT made it so (the text says what happened).
        ctx.drop_frame(frame, DropReason::Firewall, Stage::BridgeForward, || {
            format!(
                "br_netfilter DNAT ({rule}) sends the packet back to its sender: bridged out of the port it came in, which is not in hairpin mode (CNI bridge hairpinMode: false)"
            )
        });
        true
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
        if let Some(Some(allowed)) = self.secured.get(port as usize)
            && src != *allowed
        {
            let allowed = *allowed;
            let name = self.port_name(port);
            ctx.drop_frame(&frame, DropReason::PortSecurity, Stage::BridgeForward, || {
                format!(
                    "port_security: port {name} accepts only source MAC {} (the NIC cabled to it), \
                     this frame comes from {} (a macvlan child's own MAC?)",
                    netloom_core::frame::MacDisplay(allowed),
                    netloom_core::frame::MacDisplay(src)
                )
            });
            return;
        }
        let now = ctx.now();
        let vid = if self.filtering {
            let tag = net::vlan_id(&frame.data);
            match self.vlans[port as usize].ingress(tag) {
                Ok(v) => v,
                Err(why) => {
                    let name = self.ports[port as usize].name.clone();
                    ctx.drop_frame(&frame, DropReason::NetworkIsolation, Stage::BridgeForward, || {
                        format!("{why} (port {name})")
                    });
                    return;
                }
            }
        } else {
            0
        };
        if !is_group(&src) {
            // bridge-learn: refresh or move the entry (a MAC that moved ports is relearned).
            self.fdb.insert((vid, src), FdbEntry { port, seen: now });
        }
        let mut known = if is_group(&dst) {
            None
        } else {
            self.lookup_in(vid, &dst, now)
        };
        if let Some(out) = known
            && !ctx.port_up(out)
        {
            // Linux flushes a port's FDB entries when the port is disabled or removed
            // (`br_fdb_delete_by_port`): a stopped container's MAC is unknown again,
            // and frames to it are flooded, not sent into the dead port.
            self.fdb.retain(|_, e| e.port != out);
            known = None;
        }
        match known {
            Some(out) if out == port && !self.ports.get(port as usize).is_some_and(|p| p.hairpin) => {
                ctx.drop_frame(&frame, DropReason::NotForUs, Stage::BridgeForward, || {
                    "the destination is behind the port the frame came from".into()
                });
            }
            Some(out) => {
                if self.hairpin_refused(ctx, port, out, &frame) {
                    return;
                }
                if let Some(bp) = self.policy.as_deref_mut()
                    && !bp.police(ctx, port, Some(out), &frame)
                {
                    return;
                }
                let frame = match self.bridge_nf(ctx, port, out, frame) {
                    Some(f) => f,
                    None => return,
                };
                if self.icc_blocks(port, out, &frame) {
                    ctx.drop_frame(&frame, DropReason::NetworkIsolation, Stage::BridgeForward, || {
                        "inter-container communication is disabled on this network (enable_icc: false)".into()
                    });
                    return;
                }
                self.stats.tx_forwarded += 1;
                if ctx.tracing() {
                    let name = self.port_name(out);
                    ctx.note(&frame, Stage::BridgeForward, || {
                        format!(
                            "fdb: {} is behind port {name}",
                            netloom_core::frame::MacDisplay(dst)
                        )
                    });
                }
                if self.filtering {
                    match self.vlans[out as usize].egress(vid) {
                        Some(tagged) => ctx.send(out, retag(&frame, vid, tagged)),
                        None => {
                            let name = self.ports[out as usize].name.clone();
                            ctx.drop_frame(
                                &frame,
                                DropReason::NetworkIsolation,
                                Stage::BridgeForward,
                                || format!("VLAN {vid} does not leave through port {name}"),
                            );
                        }
                    }
                } else {
                    ctx.send(out, frame);
                }
            }
            None => {
                if let Some(bp) = self.policy.as_deref_mut()
                    && !bp.police(ctx, port, None, &frame)
                {
                    return;
                }
                self.stats.tx_flooded += 1;
                if ctx.tracing() {
                    ctx.note(&frame, Stage::BridgeForward, || {
                        if is_group(&dst) {
                            "fdb: broadcast/multicast, flooded to every other port".to_string()
                        } else {
                            format!(
                                "fdb: {} unknown (not learned, or aged out), flooded to every other port",
                                netloom_core::frame::MacDisplay(dst)
                            )
                        }
                    });
                }
                let mut sent = false;
                for out in 0..self.ports.len() as PortId {
                    let reflect = out == port && !self.ports[out as usize].hairpin;
                    // A port whose link is down (a stopped container's veth, an
                    // unplugged cable) is in the disabled state: Linux's br_flood()
                    // delivers only to forwarding ports, so no copy goes there to die.
                    if reflect || !ctx.port_up(out) || self.icc_blocks(port, out, &frame) {
                        continue;
                    }
                    if self.filtering {
                        let Some(tagged) = self.vlans[out as usize].egress(vid) else {
                            continue;
                        };
                        ctx.send(out, retag(&frame, vid, tagged));
                    } else {
                        ctx.send(out, frame.clone());
                    }
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

/// `frame` as it leaves a VLAN-filtering port: tagged with `vid` or untagged.
fn retag(frame: &Frame, vid: u16, tagged: bool) -> Frame {
    let has = net::vlan_id(&frame.data).is_some();
    let data = match (has, tagged) {
        (false, true) => Bytes::from(net::push_vlan(&frame.data, vid)),
        (true, false) => Bytes::from(net::pop_vlan(&frame.data)),
        _ => frame.data.clone(),
    };
    Frame {
        data,
        ..frame.clone()
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
    fn a_down_ports_entries_are_forgotten() {
        let (mut f, b, h) = lab(SimDuration::from_secs(300));
        f.inject(h[1], 0, eth(M[0], M[1]));
        f.run_until_idle(100);
        // h1's veth goes down (its container stopped): unicast to h1 is flooded to the
        // ports still up, not sent into the dead port (no `link-down` drop).
        let link = f.link_of(b, 1).expect("linked");
        f.link_config_mut(link).up = false;
        let mark = f.trace().events.len();
        f.inject(h[0], 0, eth(M[1], M[0]));
        f.run_until_idle(100);
        assert_eq!(delivered_at(&f, mark), vec![h[2]]);
        assert!(
            !f.trace().events[mark..].iter().any(|e| matches!(
                e.kind,
                EventKind::Dropped {
                    reason: DropReason::LinkDown,
                    ..
                }
            )),
            "{:?}",
            f.trace().events
        );
    }

    #[test]
    fn a_secured_port_drops_frames_from_a_foreign_source_mac() {
        let (mut f, b, h) = lab(SimDuration::from_secs(300));
        f.element_mut::<Bridge>(b)
            .expect("bridge")
            .set_port_security(0, M[0]);
        // h0 sends with its own MAC: it passes, as before.
        f.inject(h[0], 0, eth(crate::net::BROADCAST, M[0]));
        f.run_until_idle(100);
        assert_eq!(delivered_at(&f, 0), vec![h[1], h[2]]);
        // A frame from another MAC behind the same port (a macvlan child) dies at the
        // port, is not learned, and the drop names the reason.
        let mark = f.trace().events.len();
        let child: Mac = [2, 0, 0, 0, 0, 9];
        f.inject(h[0], 0, eth(crate::net::BROADCAST, child));
        f.run_until_idle(100);
        assert!(delivered_at(&f, mark).is_empty());
        assert!(f.trace().events[mark..].iter().any(|e| matches!(
            e.kind,
            EventKind::Dropped {
                reason: DropReason::PortSecurity,
                ..
            }
        )));
        assert_eq!(
            f.element_mut::<Bridge>(b)
                .expect("bridge")
                .lookup(&child, SimTime::ZERO),
            None
        );
        // Unsecured ports are unaffected: h1 may send as anyone.
        let mark = f.trace().events.len();
        f.inject(h[1], 0, eth(crate::net::BROADCAST, child));
        f.run_until_idle(100);
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
