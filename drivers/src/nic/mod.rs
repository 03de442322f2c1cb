//! A physical NIC with the devices Linux stacks on it: 802.1Q subinterfaces
//! (`eth0.10`), macvlan children (bridge, private, vepa, passthru) and ipvlan children
//! (l2, l3, l3s), each dispatched the way the kernel's `rx_handler` and the drivers'
//! transmit paths do (drivers/net/macvlan.c, drivers/net/ipvlan/).
//!
//! Ports: the wire (the cable to the LAN; absent for a dummy parent), the host's own
//! stack on each lower device, and one port per child. What people come to
//! troubleshoot is reproduced, with the reason in the trace:
//!
//! - a child never reaches its parent's own stack, and the parent never reaches its
//!   children: the host's frames leave through the wire and the children's frames go to
//!   the wire or their siblings, never up (`parent-isolation`) — unless the switch
//!   reflects them (hairpin/VEPA) or a macvlan shim on the host is one of the children;
//! - private children hear nothing of each other, even through a hairpin switch;
//! - vepa children reach each other only through a switch that reflects;
//! - ipvlan l3 children send and answer no ARP: outside machines reach them only by
//!   routing to the parent's MAC; what they send is routed by the parent's table.

use bytes::Bytes;
use netloom_core::frame::MacDisplay;
use netloom_core::{Ctx, DropReason, Element, Frame, PortId, Stage};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::net::{self, ETH_ARP, ETH_IPV4, ETH_IPV6, Mac, is_group};

/// How a child shares its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildMode {
    /// macvlan `bridge`: children of one parent talk directly.
    MacvlanBridge,
    /// macvlan `private`: children never talk to each other.
    MacvlanPrivate,
    /// macvlan `vepa`: everything goes to the wire; siblings meet only through a
    /// switch that reflects.
    MacvlanVepa,
    /// macvlan `passthru`: one child owns the NIC.
    MacvlanPassthru,
    /// ipvlan `l2`: the parent's MAC, switching by IP address.
    IpvlanL2,
    /// ipvlan `l3`: no ARP, routed by the parent.
    IpvlanL3,
    /// ipvlan `l3s`: as l3, with the parent's netfilter on the way in.
    IpvlanL3s,
}

impl ChildMode {
    fn is_ipvlan(self) -> bool {
        matches!(
            self,
            ChildMode::IpvlanL2 | ChildMode::IpvlanL3 | ChildMode::IpvlanL3s
        )
    }

    fn is_l3(self) -> bool {
        matches!(self, ChildMode::IpvlanL3 | ChildMode::IpvlanL3s)
    }

    fn with_article(self) -> String {
        let n = self.name();
        if self.is_ipvlan() {
            format!("an {n}")
        } else {
            format!("a {n}")
        }
    }

    /// The mode as `ip link` prints it.
    pub fn name(self) -> &'static str {
        match self {
            ChildMode::MacvlanBridge => "macvlan bridge",
            ChildMode::MacvlanPrivate => "macvlan private",
            ChildMode::MacvlanVepa => "macvlan vepa",
            ChildMode::MacvlanPassthru => "macvlan passthru",
            ChildMode::IpvlanL2 => "ipvlan l2",
            ChildMode::IpvlanL3 => "ipvlan l3",
            ChildMode::IpvlanL3s => "ipvlan l3s",
        }
    }
}

/// A lower device: the NIC itself or one of its 802.1Q subinterfaces.
#[derive(Clone, Debug)]
struct Lower {
    vid: Option<u16>,
    stack: Option<PortId>,
    /// Its children are ipvlan (a parent carries one kind).
    ipvlan: bool,
    /// The port of its passthru child.
    passthru: Option<PortId>,
    /// A host shim is among its children.
    shim: bool,
    /// Children by MAC (macvlan; an ipvlan child shares the parent's) and by address.
    by_mac: BTreeMap<Mac, usize>,
    by_ip: BTreeMap<IpAddr, usize>,
}

impl Lower {
    fn new(vid: Option<u16>) -> Self {
        Lower {
            vid,
            stack: None,
            ipvlan: false,
            passthru: None,
            shim: false,
            by_mac: BTreeMap::new(),
            by_ip: BTreeMap::new(),
        }
    }
}

/// A child device.
#[derive(Clone, Debug)]
struct Child {
    /// `container.eth0`, or the shim's name on the host.
    name: String,
    lower: usize,
    mode: ChildMode,
    mac: Mac,
    ips: Vec<IpAddr>,
    port: PortId,
    /// A shim: the host's own interface on its NIC (its stack answers for every host
    /// address, as Linux does with `arp_ignore=0`).
    shim: bool,
}

#[derive(Clone, Copy, Debug)]
enum Role {
    Wire,
    Stack(usize),
    Child(usize),
    /// Where ipvlan l3 children's packets enter the parent's namespace as if sent
    /// by it (`ipvlan_process_outbound` → `ip_local_out`).
    L3Out,
}

/// A NIC and what is stacked on it.
pub struct Nic {
    name: String,
    mac: Mac,
    lowers: Vec<Lower>,
    /// Shared so that a frame's handling can hold its child without copying it.
    children: Vec<Arc<Child>>,
    roles: Vec<Role>,
    l3_out: Option<PortId>,
    /// The LAN reflects frames back out of the port they came from (hairpin / VEPA).
    pub wire_reflects: bool,
    /// Every address of the host the NIC belongs to (its stack answers ARP for each).
    pub host_ips: Vec<IpAddr>,
}

impl Nic {
    /// A NIC named `name` (`eth0`) with MAC `mac`; `wired` gives it port 0 to the LAN
    /// (a dummy parent has none). Port 0 carries the NIC's name in traces and
    /// captures; the element is best named after the machine it belongs to.
    pub fn new(name: impl Into<String>, mac: Mac, wired: bool) -> Self {
        Nic {
            name: name.into(),
            mac,
            lowers: vec![Lower::new(None)],
            children: Vec::new(),
            roles: if wired { vec![Role::Wire] } else { Vec::new() },
            l3_out: None,
            wire_reflects: false,
            host_ips: Vec::new(),
        }
    }

    /// The NIC's MAC (what ipvlan children share).
    pub fn mac(&self) -> Mac {
        self.mac
    }

    fn port(&mut self, role: Role) -> PortId {
        self.roles.push(role);
        (self.roles.len() - 1) as PortId
    }

    /// The lower device for VLAN `vid` (`None` = the NIC itself), created on demand
    /// as Docker creates `eth0.10` for a parent written that way.
    fn lower(&mut self, vid: Option<u16>) -> usize {
        if let Some(i) = self.lowers.iter().position(|l| l.vid == vid) {
            return i;
        }
        self.lowers.push(Lower::new(vid));
        self.lowers.len() - 1
    }

    /// The port through which ipvlan l3 / l3s children's packets reach the parent's
    /// namespace to be routed as its own (no forwarding, no TTL decrement).
    pub fn add_l3_out(&mut self) -> PortId {
        let p = self.port(Role::L3Out);
        self.l3_out = Some(p);
        p
    }

    fn l3_out(&self) -> Option<PortId> {
        self.l3_out
    }

    /// The port of the host's own stack on the NIC (untagged).
    pub fn add_stack(&mut self) -> PortId {
        self.add_stack_on(None)
    }

    /// The port of a stack on the NIC (`None`) or on its subinterface for VLAN `vid`
    /// (a machine whose address lives on `eth0.10`).
    pub fn add_stack_on(&mut self, vid: Option<u16>) -> PortId {
        let l = self.lower(vid);
        let p = self.port(Role::Stack(l));
        self.lowers[l].stack = Some(p);
        p
    }

    /// Adds a child on the NIC (`vid: None`) or on its subinterface for VLAN `vid`.
    pub fn add_child(
        &mut self,
        name: impl Into<String>,
        vid: Option<u16>,
        mode: ChildMode,
        mac: Mac,
        ips: Vec<IpAddr>,
        shim: bool,
    ) -> PortId {
        let lower = self.lower(vid);
        let idx = self.children.len();
        let port = self.port(Role::Child(idx));
        let lw = &mut self.lowers[lower];
        lw.ipvlan |= mode.is_ipvlan();
        lw.shim |= shim;
        if mode == ChildMode::MacvlanPassthru {
            lw.passthru.get_or_insert(port);
        }
        if !mode.is_ipvlan() {
            lw.by_mac.entry(mac).or_insert(idx);
        }
        for ip in &ips {
            lw.by_ip.entry(*ip).or_insert(idx);
        }
        self.children.push(Arc::new(Child {
            name: name.into(),
            lower,
            mode,
            mac,
            ips,
            port,
            shim,
        }));
        port
    }

    fn lower_name(&self, l: usize) -> String {
        match self.lowers[l].vid {
            Some(v) => format!("{}.{v}", self.name),
            None => self.name.clone(),
        }
    }

    /// The cable to the LAN is port 0, when there is one.
    fn wire(&self) -> Option<PortId> {
        matches!(self.roles.first(), Some(Role::Wire)).then_some(0)
    }

    fn siblings(&self, l: usize) -> impl Iterator<Item = (usize, &Child)> {
        self.children
            .iter()
            .map(|c| &**c)
            .enumerate()
            .filter(move |(_, c)| c.lower == l)
    }

    fn has_shim(&self, l: usize) -> bool {
        self.lowers[l].shim
    }

    /// Sends `frame` (untagged) to the wire from lower `l`, tagging it for a VLAN
    /// subinterface.
    fn to_wire(&self, ctx: &mut Ctx<'_>, l: usize, frame: Frame) {
        let Some(w) = self.wire() else {
            let nic = self.name.clone();
            ctx.drop_frame(&frame, DropReason::NotForUs, Stage::InterfaceOutput, || {
                if nic.starts_with("dm-") {
                    format!("the parent {nic} is a dummy device (no parent given, or internal): nothing leaves the host")
                } else {
                    format!("the parent {nic} is not plugged into any LAN: nothing leaves the host")
                }
            });
            return;
        };
        match self.lowers[l].vid {
            Some(vid) => {
                let data = Bytes::from(net::push_vlan(&frame.data, vid));
                ctx.send(w, Frame { data, ..frame });
            }
            None => ctx.send(w, frame),
        }
    }

    /// Explains, on a copy, why a broadcast ARP request will go unanswered: its target
    /// is on the other side of the parent-isolation wall.
    fn explain_arp(ctx: &mut Ctx<'_>, frame: &Frame, why: impl FnOnce() -> String) {
        ctx.drop_frame(frame, DropReason::ParentIsolation, Stage::ArpResolve, why);
    }

    fn arp_request_target(frame: &Frame) -> Option<std::net::Ipv4Addr> {
        let (et, off) = net::ethertype(&frame.data)?;
        if et != ETH_ARP {
            return None;
        }
        let a = net::parse_arp(frame.data.get(off..)?)?;
        (a.op == 1).then_some(a.tpa)
    }

    // ---- from the wire -----------------------------------------------------------

    fn wire_rx(&mut self, ctx: &mut Ctx<'_>, frame: Frame) {
        let vid = net::vlan_id(&frame.data);
        let Some(l) = self.lowers.iter().position(|x| x.vid == vid) else {
            let name = self.name.clone();
            ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                format!(
                    "tagged with VLAN {}, but {name} has no such 802.1Q subinterface",
                    vid.unwrap_or(0)
                )
            });
            return;
        };
        let frame = if vid.is_some() {
            let data = Bytes::from(net::pop_vlan(&frame.data));
            Frame { data, ..frame }
        } else {
            frame
        };
        let ipvlan = self.lowers[l].ipvlan;
        if ipvlan {
            self.ipvlan_rx(ctx, l, frame);
        } else {
            self.macvlan_rx(ctx, l, frame);
        }
    }

    /// macvlan_handle_frame.
    fn macvlan_rx(&mut self, ctx: &mut Ctx<'_>, l: usize, frame: Frame) {
        let (Some(dst), Some(src)) = (frame.dst_mac(), frame.src_mac()) else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::EthernetInput, || {
                "runt frame".into()
            });
            return;
        };
        let stack = self.lowers[l].stack;
        if is_group(&dst) {
            let from = self
                .siblings(l)
                .find(|(_, c)| c.mac == src)
                .map(|(i, c)| (i, c.mode));
            if let Some((i, mode)) = from
                && matches!(mode, ChildMode::MacvlanPrivate | ChildMode::MacvlanPassthru)
            {
                // A reflected broadcast of a private child goes back to it alone.
                let port = self.children[i].port;
                let sibling_asked = Self::arp_request_target(&frame).is_some_and(|t| {
                    self.siblings(l)
                        .any(|(j, c)| j != i && c.ips.contains(&IpAddr::V4(t)))
                });
                ctx.send(port, frame.clone());
                if sibling_asked {
                    let name = self.children[i].name.clone();
                    Self::explain_arp(ctx, &frame, || {
                        format!(
                            "the switch reflected {name}'s ARP request, but a broadcast from {} child comes \
                             back to that child alone: its siblings never hear it",
                            mode.with_article()
                        )
                    });
                }
                return;
            }
            let targets: Vec<PortId> = self
                .siblings(l)
                .filter(|(i, c)| match from {
                    None => true,
                    Some((s, ChildMode::MacvlanVepa)) => {
                        *i != s && matches!(c.mode, ChildMode::MacvlanVepa | ChildMode::MacvlanBridge)
                    }
                    // Bridge children already saw it on the way out.
                    Some((s, _)) => *i != s && c.mode == ChildMode::MacvlanVepa,
                })
                .map(|(_, c)| c.port)
                .collect();
            let mut sent = false;
            for p in targets {
                if ctx.port_up(p) {
                    ctx.send(p, frame.clone());
                    sent = true;
                }
            }
            match stack {
                Some(p) => ctx.send(p, frame),
                None if !sent => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                    "broadcast with no listener on this lower device".into()
                }),
                None => {}
            }
            return;
        }
        let passthru = self.lowers[l].passthru;
        if passthru.is_some() && dst == self.mac && stack.is_some() {
            let nic = self.lower_name(l);
            ctx.drop_frame(&frame, DropReason::ParentIsolation, Stage::EthernetInput, || {
                format!(
                    "{nic} is a macvlan passthru parent: every frame it receives goes to its one child, \
                     so this answer to the host's own address never reaches the host"
                )
            });
            return;
        }
        let to = passthru.or_else(|| self.lowers[l].by_mac.get(&dst).map(|&i| self.children[i].port));
        match to.or(stack) {
            Some(p) => ctx.send(p, frame),
            None => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                format!("{} is no child of this parent", MacDisplay(dst))
            }),
        }
    }

    /// ipvlan_handle_frame.
    fn ipvlan_rx(&mut self, ctx: &mut Ctx<'_>, l: usize, frame: Frame) {
        let Some(dst) = frame.dst_mac() else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::EthernetInput, || {
                "runt frame".into()
            });
            return;
        };
        let stack = self.lowers[l].stack;
        let l3dst = net::l3_dst(&frame.data);
        let owner = l3dst.and_then(|ip| self.lowers[l].by_ip.get(&ip).copied());
        let is_arp = net::ethertype(&frame.data).is_some_and(|(t, _)| t == ETH_ARP);
        if is_group(&dst) {
            let l2 = self.siblings(l).any(|(_, c)| c.mode == ChildMode::IpvlanL2);
            if l2 {
                for p in self.siblings(l).map(|(_, c)| c.port).collect::<Vec<_>>() {
                    if ctx.port_up(p) {
                        ctx.send(p, frame.clone());
                    }
                }
            } else if let Some(i) = owner.filter(|_| is_arp) {
                let c = &self.children[i];
                let (name, ip) = (c.name.clone(), l3dst);
                let host = self.host_ips.first().copied();
                ctx.drop_frame(
                    &frame.clone(),
                    DropReason::ArpUnresolved,
                    Stage::ArpResolve,
                    || {
                        format!(
                            "ARP for {} reached {name}, an ipvlan l3 child: l3 children answer no ARP; \
                         outside machines reach them with a route to their subnet via the parent host{}",
                            ip.map_or_else(String::new, |a| a.to_string()),
                            host.map_or_else(String::new, |h| format!(" ({h})"))
                        )
                    },
                );
            }
            match stack {
                Some(p) => ctx.send(p, frame),
                None => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                    "broadcast with no listener on this lower device".into()
                }),
            }
            return;
        }
        if dst == self.mac
            && let Some(i) = owner
        {
            let c = &self.children[i];
            if c.mode.is_l3() && is_arp {
                let name = c.name.clone();
                ctx.drop_frame(&frame, DropReason::ArpUnresolved, Stage::ArpResolve, || {
                    format!("{name} is an ipvlan l3 child: it answers no ARP")
                });
                return;
            }
            let port = c.port;
            ctx.send(port, frame);
            return;
        }
        match stack {
            Some(p) => ctx.send(p, frame),
            None => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                format!("{} is for no child of this parent", MacDisplay(dst))
            }),
        }
    }

    // ---- from the host's own stack -----------------------------------------------

    fn stack_tx(&mut self, ctx: &mut Ctx<'_>, l: usize, frame: Frame) {
        let dst = frame.dst_mac().unwrap_or_default();
        if !self.wire_reflects {
            if let Some(t) = Self::arp_request_target(&frame)
                && let Some(c) = self.lowers[l]
                    .by_ip
                    .get(&IpAddr::V4(t))
                    .map(|&i| &self.children[i])
                    .filter(|c| !c.shim)
            {
                let (name, mode) = (c.name.clone(), c.mode);
                let nic = self.lower_name(l);
                self.to_wire(ctx, l, frame.clone());
                Self::explain_arp(ctx, &frame, || {
                    format!(
                        "the host asks for {t} ({name}, {} child of {nic}) out of {nic}: what the parent \
                         sends leaves through the wire and never reaches its own children \
                         (add a macvlan shim interface on the host, or a switch that reflects)",
                        mode.with_article()
                    )
                });
                return;
            }
            if !is_group(&dst)
                && let Some(c) = self.lowers[l].by_mac.get(&dst).map(|&i| &self.children[i])
            {
                let name = c.name.clone();
                ctx.drop_frame(
                    &frame,
                    DropReason::ParentIsolation,
                    Stage::InterfaceOutput,
                    || format!("{name} is a macvlan child of this NIC: the parent cannot reach its children"),
                );
                return;
            }
        }
        self.to_wire(ctx, l, frame);
    }

    // ---- from a child ------------------------------------------------------------

    fn child_tx(&mut self, ctx: &mut Ctx<'_>, ci: usize, frame: Frame) {
        let c = Arc::clone(&self.children[ci]);
        let Some(dst) = frame.dst_mac() else {
            ctx.drop_frame(&frame, DropReason::Malformed, Stage::EthernetInput, || {
                "runt frame".into()
            });
            return;
        };
        if c.mode.is_ipvlan() {
            self.ipvlan_tx(ctx, &c, dst, frame);
            return;
        }
        let l = c.lower;
        if c.mode == ChildMode::MacvlanBridge {
            if is_group(&dst) {
                let peers: Vec<PortId> = self
                    .siblings(l)
                    .filter(|(i, s)| *i != ci && s.mode == ChildMode::MacvlanBridge)
                    .map(|(_, s)| s.port)
                    .collect();
                for p in peers {
                    if ctx.port_up(p) {
                        ctx.send(p, frame.clone());
                    }
                }
                self.child_to_wire(ctx, &c, frame);
                return;
            }
            if let Some(&i) = self.lowers[l].by_mac.get(&dst)
                && i != ci
                && self.children[i].mode == ChildMode::MacvlanBridge
            {
                let p = self.children[i].port;
                ctx.send(p, frame);
                return;
            }
        }
        self.child_to_wire(ctx, &c, frame);
    }

    /// What a macvlan child sends towards the world, with the isolation explained.
    fn child_to_wire(&mut self, ctx: &mut Ctx<'_>, c: &Child, frame: Frame) {
        let l = c.lower;
        let dst = frame.dst_mac().unwrap_or_default();
        if !c.shim && !self.wire_reflects {
            if !is_group(&dst) && dst == self.mac && self.lowers[l].stack.is_some() {
                let name = c.name.clone();
                ctx.drop_frame(&frame, DropReason::ParentIsolation, Stage::InterfaceOutput, || {
                    format!(
                        "{name} sends to its parent's own MAC: a macvlan child's frames leave through the \
                         wire and never come back up to the parent (add a macvlan shim on the host)"
                    )
                });
                return;
            }
            if let Some(t) = Self::arp_request_target(&frame) {
                let t = IpAddr::V4(t);
                let to_host = self.host_ips.contains(&t) && !self.has_shim(l);
                let to_sibling = self.siblings(l).any(|(_, s)| {
                    s.mac != c.mac
                        && s.ips.contains(&t)
                        && (c.mode != ChildMode::MacvlanBridge || s.mode != ChildMode::MacvlanBridge)
                });
                if to_host || to_sibling {
                    let (name, mode, nic) = (c.name.clone(), c.mode, self.lower_name(l));
                    self.to_wire(ctx, l, frame.clone());
                    Self::explain_arp(ctx, &frame, || {
                        if to_host {
                            format!(
                                "{name} asks for {t}, an address of its own host: {} child's frames go to \
                                 the wire and its siblings, never up to the parent {nic} \
                                 (add a macvlan shim interface on the host)",
                                mode.with_article()
                            )
                        } else if mode == ChildMode::MacvlanPrivate {
                            format!(
                                "{name} asks for {t}, a sibling on {nic}: private mode never lets children of \
                                 one parent talk, even through a switch that reflects"
                            )
                        } else {
                            format!(
                                "{name} asks for {t}, a sibling on {nic}: in {} mode siblings meet only through \
                                 an external switch that reflects frames (hairpin / VEPA), and this LAN does not",
                                mode.name()
                            )
                        }
                    });
                    return;
                }
            }
        }
        self.to_wire(ctx, l, frame);
    }

    /// ipvlan_xmit_mode_l2 / ipvlan_xmit_mode_l3.
    fn ipvlan_tx(&mut self, ctx: &mut Ctx<'_>, c: &Child, dst: Mac, frame: Frame) {
        let l = c.lower;
        let et = net::ethertype(&frame.data).map(|(t, _)| t);
        let l3dst = net::l3_dst(&frame.data);
        let local = l3dst
            .and_then(|ip| self.lowers[l].by_ip.get(&ip))
            .map(|&i| &self.children[i])
            .filter(|s| s.mac == c.mac && s.name != c.name)
            .map(|s| s.port);
        if c.mode.is_l3() {
            if !matches!(et, Some(ETH_IPV4 | ETH_IPV6)) || is_group(&dst) {
                let name = c.name.clone();
                ctx.drop_frame(&frame, DropReason::NotForUs, Stage::InterfaceOutput, || {
                    format!("{name} is an ipvlan l3 child: it sends no ARP or broadcast")
                });
                return;
            }
            if let Some(p) = local {
                let data = rewrite_dst(&frame.data, self.mac);
                ctx.send(p, Frame { data, ..frame });
                return;
            }
            // Routed by the parent's namespace: its table and neighbours decide.
            if let Some(p) = self.l3_out() {
                ctx.send(p, frame);
                return;
            }
            match self.lowers[l].stack {
                Some(p) => {
                    let data = rewrite_dst(&frame.data, self.mac);
                    ctx.note(&frame, Stage::Ip4Lookup, || {
                        "ipvlan l3: routed by the parent host's routing table".into()
                    });
                    ctx.send(p, Frame { data, ..frame });
                }
                None => {
                    let nic = self.lower_name(l);
                    ctx.drop_frame(&frame, DropReason::NoRoute, Stage::Ip4Lookup, || {
                        format!("ipvlan l3 child on {nic}: the parent has no stack to route through")
                    });
                }
            }
            return;
        }
        // l2
        if dst == c.mac {
            if let Some(p) = local {
                ctx.send(p, frame);
                return;
            }
            // The destination is the parent itself (dev_forward_skb to the lower).
            match self.lowers[l].stack {
                Some(p) => ctx.send(p, frame),
                None => ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                    "addressed to the parent, which has no stack on this lower device".into()
                }),
            }
            return;
        }
        if is_group(&dst) {
            let peers: Vec<PortId> = self
                .siblings(l)
                .filter(|(_, s)| s.name != c.name)
                .map(|(_, s)| s.port)
                .collect();
            for p in peers {
                if ctx.port_up(p) {
                    ctx.send(p, frame.clone());
                }
            }
            if !self.wire_reflects
                && let Some(t) = Self::arp_request_target(&frame)
                && self.host_ips.contains(&IpAddr::V4(t))
            {
                let (name, nic) = (c.name.clone(), self.lower_name(l));
                self.to_wire(ctx, l, frame.clone());
                Self::explain_arp(ctx, &frame, || {
                    format!(
                        "{name} asks for {t}, an address of its own host: an ipvlan child's broadcasts go to \
                         its siblings and the wire, never up to the parent {nic}"
                    )
                });
                return;
            }
        }
        self.to_wire(ctx, l, frame);
    }
}

fn rewrite_dst(data: &[u8], mac: Mac) -> Bytes {
    let mut v = data.to_vec();
    if v.len() >= 6 {
        v[..6].copy_from_slice(&mac);
    }
    Bytes::from(v)
}

impl Element for Nic {
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, port: PortId, frame: Frame) {
        match self.roles.get(port as usize).copied() {
            Some(Role::Wire) => self.wire_rx(ctx, frame),
            Some(Role::Stack(l)) => self.stack_tx(ctx, l, frame),
            Some(Role::Child(c)) => self.child_tx(ctx, c, frame),
            Some(Role::L3Out) | None => {
                ctx.drop_frame(&frame, DropReason::NotForUs, Stage::EthernetInput, || {
                    "no such port".into()
                })
            }
        }
    }

    fn port_name(&self, port: PortId) -> String {
        match self.roles.get(port as usize) {
            Some(Role::Wire) => self.name.clone(),
            Some(Role::Stack(l)) => format!("{} (to the stack)", self.lower_name(*l)),
            Some(Role::Child(c)) => self.children[*c].name.clone(),
            Some(Role::L3Out) => format!("{} (ipvlan l3 out)", self.name),
            None => format!("p{port}"),
        }
    }
}
