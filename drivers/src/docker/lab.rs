//! Compiling a resolved model into elements and links, and the operations steps use:
//! ping, connect, transfer, link changes, container stop/start, waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netloom_core::{DropReason, ElemId, Fabric, FrameId, LinkConfig, LinkId, PortId, SimDuration, SimTime};

use super::{ContainerDef, Driver, HostDef, Impair, Model, ModelError, Resolved};
use crate::bridge::PortVlan;
use crate::bridge::{Bridge, BridgeConfig, BridgePort};
use crate::dns::Directory;
use crate::host::ConnOutcome;
use crate::net::{self, L4};
use crate::netfilter::bridge::BridgeNf;
use crate::nic::{ChildMode, Nic};
use crate::router::{BridgeRole, Iface, Node, PublishedPort, Route, Vtep};

mod diagnose;
mod emulated;
mod firewall;
mod naming;
mod policy;
mod ports;
pub use policy::{PROBE_TIMEOUT, PolicyMatrix, Reach};

pub use diagnose::{Attempt, Finding};
pub use emulated::{EmuIface, EmuMachine};
pub use naming::ResolveResult;

/// A port on a host: host name, transport, port number.
type HostPort = (String, L4, u16);

/// A topology compiled into a running fabric.
pub struct Lab {
    /// The fabric: elements, links, scheduler and trace.
    pub fabric: Fabric,
    /// The resolved model it was built from.
    pub resolved: Resolved,
    nodes: BTreeMap<String, ElemId>,
    ports: BTreeMap<String, (ElemId, PortId, LinkId)>,
    lans: BTreeMap<String, ElemId>,
    attachments: Vec<(String, String, LinkId)>,
    container_links: BTreeMap<String, Vec<LinkId>>,
    running: BTreeMap<String, bool>,
    /// The bridge element of each resolved network on each host (overlays have one
    /// per host).
    bridges: BTreeMap<(String, usize), ElemId>,
    /// NIC elements carrying macvlan/ipvlan children, by (host, NIC); a dummy parent
    /// is keyed by its network's device name.
    nics: BTreeMap<(String, String), ElemId>,
    /// Containers holding a passthru parent, by NIC element.
    passthru: BTreeMap<ElemId, Vec<String>>,
    /// What the embedded DNS servers know.
    directory: Arc<Directory>,
    /// Containers on the host network, with their host.
    host_net: BTreeMap<String, String>,
    /// Host ports in use: (host, transport, port) → the bound address (`None` = all)
    /// and the container holding it.
    bound: BTreeMap<HostPort, Vec<(Option<IpAddr>, String)>>,
    /// Containers whose start failed, with Docker's error.
    start_errors: BTreeMap<String, String>,
    /// The published-port rules of each container (installed while it runs).
    dnat_rules: BTreeMap<String, Vec<PublishedPort>>,
    /// Resolved networks in `gateway_mode_ipv4: routed` (no host ports, no proxy).
    routed_networks: BTreeSet<usize>,
    /// The containers of each host (indexes into the model's containers).
    containers_of: BTreeMap<String, Vec<usize>>,
    /// When each container last started (its endpoints' rules are programmed in this
    /// order); containers started with the lab count in file order.
    start_seq: BTreeMap<String, u64>,
    /// Hosts by name (index into the model's hosts).
    host_index: BTreeMap<String, usize>,
    /// Machines left to real namespaces.
    emulated: BTreeSet<String>,
    /// How to set them up.
    emu: Vec<EmuMachine>,
    /// Set while a step runs on a live network: paces the fabric to the wall clock
    /// (and moves the real machines' frames) instead of running it as fast as it goes.
    pacer: Option<Box<dyn Pacer>>,
    /// The directory as other threads see it (the embedded DNS served inside real
    /// namespaces), replaced whenever a container stops or starts.
    live_directory: Option<Arc<std::sync::RwLock<Arc<Directory>>>>,
    /// The compiled NetworkPolicies (`None`: the scenario has none).
    policy: Option<std::rc::Rc<crate::policy::PolicyEngine>>,
}

/// Advances a fabric in real time for steps that run on a live network: the modelled
/// machine's program waits for the real namespaces' answers as a real one would.
pub trait Pacer: Send {
    /// Lets the fabric run up to the wall clock's time (at most `limit`), moving the
    /// frames of real machines meanwhile, and sleeps until something is due or
    /// arrives. Returns `false` when the run is being stopped (a signal): the step
    /// ends with what it has.
    fn advance(&mut self, fabric: &mut Fabric, limit: SimTime) -> bool;
    /// Back to its owner, for [`Lab::take_pacer`].
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

/// What a ping step observed.
#[derive(Clone, Debug)]
pub struct PingResult {
    /// Echo requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    /// Round trips of the replies.
    pub rtts: Vec<SimDuration>,
    /// Errors, as ping prints them.
    pub errors: Vec<String>,
    /// The requests' frames.
    pub frames: Vec<FrameId>,
}

/// What a connect step observed.
#[derive(Clone, Debug)]
pub struct ConnectResult {
    /// ok, refused, timeout or closed.
    pub outcome: ConnOutcome,
    /// How long it took to know: for `ok`, until the handshake completed (the
    /// connection is then watched for [`crate::host::CLOSE_WATCH`] more); for `closed`,
    /// until the peer closed it.
    pub elapsed: SimDuration,
}

/// What a transfer step observed.
#[derive(Clone, Debug)]
pub struct TransferResult {
    /// How it ended.
    pub outcome: ConnOutcome,
    /// Bytes acknowledged by the receiver.
    pub acked: u64,
    /// From the first SYN to the last ACK (or to the failure).
    pub elapsed: SimDuration,
}

impl TransferResult {
    /// Achieved rate in bits per second.
    pub fn rate_bps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.acked as f64 * 8.0 / s } else { 0.0 }
    }
}

impl Lab {
    /// Validates `model` and builds its fabric with `seed`.
    ///
    /// # Errors
    /// The model's validation errors.
    pub fn build(model: &Model, seed: u64) -> Result<Lab, Vec<ModelError>> {
        let resolved = model.resolve()?;
        Ok(Self::from_resolved(resolved, seed))
    }

    /// Builds the fabric of an already resolved model.
    pub fn from_resolved(resolved: Resolved, seed: u64) -> Lab {
        Self::with_emulated(resolved, seed, BTreeSet::new())
    }

    /// Builds the fabric with the machines named in `emulated` (containers,
    /// externals) left to real network namespaces: each becomes a [`TapPort`](crate::tap::TapPort) whose
    /// ports carry what the machine's interfaces send; [`Lab::emulated`] describes how
    /// to set the real machines up.
    pub fn with_emulated(resolved: Resolved, seed: u64, emulated: BTreeSet<String>) -> Lab {
        let mut lab = Lab {
            fabric: Fabric::new(seed),
            resolved,
            nodes: BTreeMap::new(),
            ports: BTreeMap::new(),
            lans: BTreeMap::new(),
            attachments: Vec::new(),
            container_links: BTreeMap::new(),
            running: BTreeMap::new(),
            bridges: BTreeMap::new(),
            nics: BTreeMap::new(),
            passthru: BTreeMap::new(),
            directory: Arc::new(Directory::default()),
            host_net: BTreeMap::new(),
            bound: BTreeMap::new(),
            start_errors: BTreeMap::new(),
            dnat_rules: BTreeMap::new(),
            host_index: BTreeMap::new(),
            start_seq: BTreeMap::new(),
            containers_of: BTreeMap::new(),
            routed_networks: BTreeSet::new(),
            emulated,
            emu: Vec::new(),
            pacer: None,
            live_directory: None,
            policy: None,
        };
        lab.host_index = (lab.resolved.model.hosts.iter().enumerate())
            .map(|(i, h)| (h.name.clone(), i))
            .collect();
        lab.directory = Arc::new(lab.build_directory());
        lab.fabric.set_frame_describer(crate::summary::frame_summary);
        lab.compile();
        lab.name_links();
        lab.register_trace_points();
        lab.start_all();
        lab.install_all_rules();
        lab.refresh_directory();
        lab
    }

    fn compile(&mut self) {
        let m: Model = self.resolved.model.clone();
        // Per-attachment overrides from `links:` (MTU also sets the interface MTU).
        let default_host = m.default_host();
        let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (ci, c) in m.containers.iter().enumerate() {
            by_host
                .entry(c.host.as_deref().unwrap_or(default_host.as_str()))
                .or_default()
                .push(ci);
        }
        self.containers_of = by_host.iter().map(|(h, v)| (h.to_string(), v.clone())).collect();
        let routed: BTreeSet<&str> = m
            .networks
            .iter()
            .filter(|d| d.gateway_mode == super::GatewayMode::Routed)
            .map(|d| d.name.as_str())
            .collect();
        self.routed_networks = self
            .resolved
            .networks
            .iter()
            .enumerate()
            .filter(|(_, n)| routed.contains(n.name.as_str()))
            .map(|(i, _)| i)
            .collect();
        for lan in &m.lans {
            let id = self.fabric.add_element(
                lan.name.clone(),
                Box::new(Bridge::new(lan.name.clone(), BridgeConfig::default())),
            );
            self.lans.insert(lan.name.clone(), id);
        }

        // Hosts, their NICs and bridge networks.
        for h in &m.hosts {
            let mut node = Node::new(h.name.clone(), h.daemon.ip_forward);
            node.apps.dns = naming::host_dns(h);
            {
                // Docker turns on `bridge-nf-call-iptables` when a bridge network has ICC
                // off or the userland proxy is off — and only with IP forwarding on
                // (moby's setupIPv4BridgeNetFiltering): then bridged traffic of every
                // bridge on the host meets iptables.
                let any_no_icc = self
                    .resolved
                    .networks
                    .iter()
                    .any(|n| n.host == h.name && n.driver == Driver::Bridge && !n.icc);
                // A CNI node runs no Docker: no docker-proxy; br_netfilter is loaded
                // (kubelet and the bridge plugin's hairpin rely on it).
                let cni = self.is_cni_host(&h.name);
                let mut nf = node.nf.borrow_mut();
                nf.track = true;
                nf.bridge_nf = h.daemon.ip_forward && (any_no_icc || !h.daemon.userland_proxy || cni);
            }
            node.apps.userland_proxy = h.daemon.userland_proxy && !self.is_cni_host(&h.name);
            node.forward_off = (
                DropReason::NoRoute,
                "IP forwarding is disabled on this host (daemon ip-forward: false)",
            );
            let id = self
                .fabric
                .add_element(h.name.clone(), Box::new(Node::new("placeholder", false)));
            let mut nic_ports = Vec::new();
            let mut shims = Vec::new();
            for (i, nic) in h.interfaces.iter().enumerate() {
                let (port, imp) = plug_nic(&m, &mut node, id, i, &h.name, nic, h.mtu);
                for r in &nic.routes {
                    node.add_route(Route {
                        net: *r,
                        via: None,
                        port,
                    });
                }
                match &nic.macvlan_of {
                    Some(parent) => shims.push((port, i, parent.clone())),
                    None => {
                        nic_ports.push((port, nic.lan.clone(), format!("{}.{}", h.name, nic.name), imp, i))
                    }
                }
            }
            if let Some(gw) = h.gateway
                && let Some(p) = h
                    .interfaces
                    .iter()
                    .position(|n| n.address.is_some_and(|a| a.contains(&gw)))
            {
                node.add_route(Route {
                    net: default_route(gw),
                    via: Some(gw),
                    port: p as PortId,
                });
            }
            // Bridge networks of this host.
            let mut bridges = Vec::new();
            let mut overlays = Vec::new();
            for (ni, n) in self
                .resolved
                .networks
                .iter()
                .enumerate()
                .filter(|(_, n)| n.hosts.contains(&h.name))
            {
                if n.driver == Driver::Overlay && n.hosts.contains(&h.name) {
                    overlays.push(ni);
                }
                if n.driver != Driver::Bridge {
                    continue;
                }
                let mac = net::node_mac(id.0, 0x100 + ni as u16);
                let mut ifc = Iface {
                    name: n.device.clone(),
                    mac,
                    v4: n
                        .v4
                        .iter()
                        .filter_map(|(s, g)| Ipv4Net::new(*g, s.prefix_len()).ok())
                        .collect(),
                    v6: n
                        .v6
                        .iter()
                        .filter_map(|(s, g)| Ipv6Net::new(*g, s.prefix_len()).ok())
                        .collect(),
                    mtu: n.mtu,
                    bridge: Some(BridgeRole {
                        network: n.name.clone(),
                        internal: n.internal,
                    }),
                };
                if n.internal {
                    ifc.bridge = Some(BridgeRole {
                        network: n.name.clone(),
                        internal: true,
                    });
                }
                let port = node.add_iface(ifc);
                let bname = format!("{}/{}", h.name, n.device);
                // ICC is an iptables rule (DOCKER-FORWARD `-i BR -o BR -j DROP`) that
                // bridged frames meet through br_netfilter, not a bridge setting.
                let mut br = Bridge::new(bname.clone(), BridgeConfig::default());
                br.brnf = Some(BridgeNf {
                    nf: node.nf.clone(),
                    dev: port,
                    network: n.name.clone(),
                });
                let bport = br.add_port(BridgePort {
                    name: format!("{}-gw", n.device),
                    hairpin: false,
                    isolated: false,
                });
                let bid = self.fabric.add_element(bname, Box::new(br));
                bridges.push((ni, port, bid, bport, n.mtu));
            }
            // Published ports: DNAT to the container's gateway endpoint.
            for &ci in by_host.get(h.name.as_str()).map_or(&[][..], Vec::as_slice) {
                let c = &m.containers[ci];
                if self.gateway_routed(ci) || !self.gateway_publishes(ci) {
                    continue;
                }
                let Some(ep) = self.gateway_endpoint(ci) else {
                    continue;
                };
                // Docker publishes on the host's IPv4 and IPv6 addresses alike (unless a
                // host address is given), to the container's address of that family.
                let targets: Vec<IpAddr> = ep
                    .v4
                    .map(IpAddr::V4)
                    .into_iter()
                    .chain(ep.v6.map(IpAddr::V6))
                    .collect();
                let v4_only = (ep.v4, ep.v6);
                for &(host_ip, hp, cp, l4) in &self.resolved.published[ci] {
                    for &to in targets
                        .iter()
                        .filter(|t| host_ip.is_none_or(|ip| ip.is_ipv4() == t.is_ipv4()))
                    {
                        let rule = PublishedPort {
                            l4,
                            // `0.0.0.0` (or `::`) binds every address of its family, as
                            // docker-proxy's bind() and Docker's DNAT rule (no `-d`) do.
                            host_ip: host_ip.filter(|ip| !ip.is_unspecified()),
                            host_port: hp,
                            host_port_end: hp,
                            to,
                            to_port: cp,
                            label: format!("{}:{hp}->{}:{cp}/{}", h.name, c.name, l4.name()),
                            any_family: false,
                        };
                        node.apps.published.push(rule.clone());
                        self.dnat_rules.entry(c.name.clone()).or_default().push(rule);
                    }
                    // An IPv4-only container: with the userland proxy on, Docker binds
                    // the port on the host's IPv6 addresses as well and docker-proxy
                    // relays those clients to the IPv4 address (no ip6tables DNAT can).
                    if let (Some(v4), None, true) = (v4_only.0, v4_only.1, h.daemon.userland_proxy)
                        && host_ip.is_none_or(|ip| ip.is_ipv6())
                    {
                        let rule = PublishedPort {
                            l4,
                            host_ip,
                            host_port: hp,
                            host_port_end: hp,
                            to: IpAddr::V4(v4),
                            to_port: cp,
                            label: format!(
                                "{}:{hp}->{}:{cp}/{} (IPv6 via docker-proxy)",
                                h.name,
                                c.name,
                                l4.name()
                            ),
                            any_family: true,
                        };
                        node.apps.published.push(rule.clone());
                        self.dnat_rules.entry(c.name.clone()).or_default().push(rule);
                    }
                }
            }
            // Overlay networks: a bridge per host, joined to the host's VXLAN endpoint.
            for ni in overlays {
                let n = self.resolved.networks[ni].clone();
                let Some(local) = super::ipam::underlay_addr(h) else {
                    continue;
                };
                let vtep = self.vtep_for(ni, &h.name, local);
                let dev = super::ipam::device_name("vx-", &n.name);
                let port = node.add_vtep(&dev, net::node_mac(id.0, 0x300 + ni as u16), n.mtu, vtep);
                let bname = format!("{}/{}", h.name, n.device);
                let mut br = Bridge::new(bname.clone(), BridgeConfig::default());
                let bport = br.add_port(BridgePort {
                    name: dev,
                    hairpin: false,
                    isolated: false,
                });
                let bid = self.fabric.add_element(bname, Box::new(br));
                bridges.push((ni, port, bid, bport, n.mtu));
            }
            let host_ips: Vec<IpAddr> = h
                .interfaces
                .iter()
                .filter_map(|n| n.address.map(|a| a.addr()))
                .collect();
            self.install(id, node);
            self.nodes.insert(h.name.clone(), id);
            for (port, lan, key, imp, i) in nic_ports {
                let nic = &h.interfaces[i];
                if self.stacked(&h.name, &nic.name) {
                    // macvlan / ipvlan children or shims ride on this NIC.
                    let mac = net::node_mac(id.0, i as u16);
                    let mut el = Nic::new(nic.name.clone(), mac, lan.is_some());
                    el.host_ips = host_ips.clone();
                    el.wire_reflects = lan
                        .as_deref()
                        .is_some_and(|l| m.lans.iter().any(|x| x.name == l && x.hairpin));
                    let stack = el.add_stack();
                    let l3 = self.resolved.networks.iter().any(|n| {
                        n.host == h.name
                            && n.driver == Driver::Ipvlan
                            && n.mode != ChildMode::IpvlanL2
                            && n.parent.as_ref().is_some_and(|(p, _)| *p == nic.name)
                    });
                    let l3_port = l3.then(|| el.add_l3_out());
                    let nid = self.fabric.add_element(h.name.clone(), Box::new(el));
                    // The cable first: captures and `on_wire` of `host.eth0` find it.
                    if let Some(lan) = lan {
                        self.attach_vlan(nid, 0, &key, &lan, imp.unwrap_or_default(), nic_vlan(nic));
                    }
                    let cfg = LinkConfig {
                        mtu: None,
                        latency: SimDuration::ZERO,
                        ..LinkConfig::default()
                    };
                    self.fabric.connect((id, port), (nid, stack), cfg.clone());
                    if let Some(l3p) = l3_port
                        && let Some(node) = self.fabric.element_mut::<Node>(id)
                    {
                        let mtu = node.ifaces()[port as usize].mtu;
                        let hp = node.add_iface(iface(&format!("ipvl-{}", nic.name), mac, None, mtu, None));
                        node.set_local_out(hp);
                        self.fabric.connect((id, hp), (nid, l3p), cfg);
                    }
                    self.nics.insert((h.name.clone(), nic.name.clone()), nid);
                } else if let Some(lan) = lan {
                    self.attach_vlan(id, port, &key, &lan, imp.unwrap_or_default(), nic_vlan(nic));
                }
            }
            for (port, i, parent) in shims {
                let Some(&nid) = self.nics.get(&(h.name.clone(), parent)) else {
                    continue;
                };
                let nic = &h.interfaces[i];
                let ips: Vec<IpAddr> = nic.address.map(|a| a.addr()).into_iter().collect();
                let mode = nic.shim_mode.unwrap_or(ChildMode::MacvlanBridge);
                let mac = net::node_mac(id.0, i as u16);
                let cport = self
                    .fabric
                    .element_mut::<Nic>(nid)
                    .map(|n| n.add_child(format!("{}.{}", h.name, nic.name), None, mode, mac, ips, true));
                if let Some(cport) = cport {
                    self.fabric
                        .connect((id, port), (nid, cport), LinkConfig::default());
                }
            }
            for (ni, port, bid, bport, mtu) in bridges {
                let cfg = LinkConfig {
                    mtu: Some(mtu),
                    latency: SimDuration::from_micros(2),
                    ..LinkConfig::default()
                };
                self.fabric.connect((id, port), (bid, bport), cfg);
                self.bridges.insert((h.name.clone(), ni), bid);
            }
            // Dummy parents of macvlan / ipvlan networks without one.
            for (ni, n) in self.resolved.networks.iter().enumerate() {
                if n.host == h.name
                    && matches!(n.driver, Driver::Macvlan | Driver::Ipvlan)
                    && n.parent.is_none()
                {
                    let name = format!("{}.{}", h.name, n.device);
                    let el = Nic::new(n.device.clone(), net::node_mac(id.0, 0x400 + ni as u16), false);
                    let nid = self.fabric.add_element(name, Box::new(el));
                    self.nics.insert((h.name.clone(), n.device.clone()), nid);
                }
            }
        }
        // Containers.
        let mut pod_addrs: Vec<Vec<IpAddr>> = vec![Vec::new(); m.containers.len()];
        let mut pod_ports = Vec::new();
        for (ci, c) in m.containers.iter().enumerate() {
            if c.networks.iter().any(|e| e.network == "host") {
                // The host network: the container is a process in the host's namespace.
                let host = c.host.clone().unwrap_or_else(|| default_host.clone());
                if let Some(&hid) = self.nodes.get(&host) {
                    self.nodes.insert(c.name.clone(), hid);
                }
                self.host_net.insert(c.name.clone(), host);
                self.running.insert(c.name.clone(), true);
                continue;
            }
            let mut node = Node::new(c.name.clone(), false);
            node.apps.dns = self.container_dns(ci);
            node.apps.dns.hosts = self.container_hosts(ci);
            let id = self
                .fabric
                .add_element(c.name.clone(), Box::new(Node::new("placeholder", false)));
            let eps = self.resolved.endpoints[ci].clone();
            let gw_ep = self.gateway_endpoint_index(ci);
            let mut plugs = Vec::new();
            let host = c.host.clone().unwrap_or_else(|| default_host.clone());
            for (ei, ep) in eps.iter().enumerate() {
                let net = &self.resolved.networks[ep.network];
                let mut mac = ep.mac().unwrap_or_else(|| net::node_mac(id.0, ei as u16));
                if net.driver == Driver::Ipvlan
                    && let Some(pm) = self
                        .parent_nic(&host, ep.network)
                        .and_then(|n| self.fabric.element_mut::<Nic>(n))
                        .map(|n| n.mac())
                {
                    // ipvlan children share their parent's MAC.
                    mac = pm;
                }
                let v4 = ep.v4.and_then(|a| {
                    net.v4_subnet_of(a)
                        .and_then(|s| Ipv4Net::new(a, s.prefix_len()).ok())
                });
                let v6 = net
                    .v6
                    .and_then(|(s, _)| ep.v6.and_then(|a| Ipv6Net::new(a, s.prefix_len()).ok()));
                let port = node.add_iface(Iface {
                    name: ep.ifname.clone(),
                    mac,
                    v4: v4.into_iter().collect(),
                    v6: v6.into_iter().collect(),
                    // `links:` may give the container's side its own MTU (a
                    // mismatch with the network's is a classic blackhole).
                    mtu: super::mtu::mtu(super::mtu::Device::Endpoint {
                        link: super::mtu::link_mtu(&m, &format!("{}.{}", c.name, ep.ifname)),
                        network: net.mtu,
                    }),
                    bridge: None,
                });
                if net.driver == Driver::Ipvlan && net.mode != ChildMode::IpvlanL2 {
                    // l3 / l3s: NOARP, and Docker's default route is `default dev eth0`.
                    node.set_noarp(port);
                    if Some(ei) == gw_ep {
                        node.add_route(Route {
                            net: IpNet::V4(Ipv4Net::default()),
                            via: None,
                            port,
                        });
                    }
                } else if Some(ei) == gw_ep {
                    // The gateway of the subnet that holds the address (a network may have
                    // several), as Docker's join does.
                    let v4gw = net
                        .v4
                        .iter()
                        .chain(net.more_v4.iter())
                        .find(|(s, _)| ep.v4.is_some_and(|a| s.contains(&a)))
                        .or(net.v4.as_ref())
                        .copied();
                    if let Some((_, gw)) = v4gw {
                        node.add_route(Route {
                            net: default_route(IpAddr::V4(gw)),
                            via: Some(IpAddr::V4(gw)),
                            port,
                        });
                    }
                    if let Some((_, gw)) = net.v6 {
                        node.add_route(Route {
                            net: default_route(IpAddr::V6(gw)),
                            via: Some(IpAddr::V6(gw)),
                            port,
                        });
                    }
                }
                let ips: Vec<IpAddr> = v4
                    .iter()
                    .map(|a| IpAddr::V4(a.addr()))
                    .chain(v6.iter().map(|a| IpAddr::V6(a.addr())))
                    .collect();
                plugs.push((
                    port,
                    ep.network,
                    format!("{}.{}", c.name, ep.ifname),
                    net.mtu,
                    (mac, ips),
                ));
            }
            for l in &c.listen {
                node.add_listen(*l, SimTime::ZERO);
            }
            self.install_machine(id, node, &c.name, Some(ci));
            self.nodes.insert(c.name.clone(), id);
            self.running.insert(c.name.clone(), true);
            for (port, ni, key, mtu, addr) in plugs {
                let net = &self.resolved.networks[ni];
                pod_addrs[ci].extend(addr.1.iter().copied());
                if matches!(net.driver, Driver::Macvlan | Driver::Ipvlan) {
                    self.plug_child(&c.name, &host, (id, port), ni, &key, addr, &m);
                    continue;
                }
                let Some(&bid) = self.bridges.get(&(host.clone(), ni)) else {
                    continue;
                };
                let veth = super::ipam::device_name("veth-", &c.name);
                // CNI's bridge plugin with `hairpinMode` sets hairpin on the port;
                // Docker does with the userland proxy off (libnetwork's
                // setHairpinMode in CreateEndpoint).
                let cni = m
                    .networks
                    .iter()
                    .find(|d| d.name == net.name)
                    .and_then(|d| d.cni.as_ref());
                let hairpin = match cni {
                    Some(c) => c.hairpin_mode,
                    None => m
                        .hosts
                        .iter()
                        .find(|x| x.name == host)
                        .is_some_and(|x| !x.daemon.userland_proxy),
                };
                let bport = self.fabric.element_mut::<Bridge>(bid).map(|b| {
                    b.add_port(BridgePort {
                        name: veth,
                        hairpin,
                        isolated: true,
                    })
                });
                let Some(bport) = bport else { continue };
                pod_ports.push((bid, bport, ci));
                let imp = m
                    .links
                    .iter()
                    .find(|l| l.between.contains(&key))
                    .map(|l| l.impair.clone())
                    .unwrap_or_default();
                let mut cfg = LinkConfig {
                    mtu: Some(mtu),
                    latency: SimDuration::from_micros(2),
                    ..LinkConfig::default()
                };
                apply(&mut cfg, &imp);
                let link = self.fabric.connect((id, port), (bid, bport), cfg);
                self.ports.insert(key, (id, port, link));
                self.container_links.entry(c.name.clone()).or_default().push(link);
            }
        }
        self.install_policies(&m, pod_addrs, &pod_ports);
        // Externals.
        for e in &m.externals {
            let id = self
                .fabric
                .add_element(e.name.clone(), Box::new(Node::new("placeholder", false)));
            let key = format!("{}.eth0", e.name);
            let imp = link_impair(&m, &key, &e.lan).unwrap_or_default();
            let mtu = super::mtu::mtu(super::mtu::Device::Nic {
                own: e.mtu,
                link: imp.mtu,
                owner: None,
            });
            let mut node = Node::new(e.name.clone(), false);
            node.apps.dns.resolv.nameservers = e.dns.clone();
            node.apps.dns.zone = e.dns_records.as_ref().map(|z| {
                z.iter()
                    .map(|(k, v)| (crate::dns::normalize(k), v.clone()))
                    .collect()
            });
            let port = node.add_iface(iface("eth0", net::node_mac(id.0, 0), Some(e.address), mtu, None));
            if let Some(gw) = e.gateway {
                node.add_route(Route {
                    net: default_route(gw),
                    via: Some(gw),
                    port,
                });
            }
            for l in &e.listen {
                node.add_listen(*l, SimTime::ZERO);
            }
            self.install_machine(id, node, &e.name, None);
            self.nodes.insert(e.name.clone(), id);
            let nic = super::NicDef {
                name: "eth0".into(),
                vlan: e.vlan,
                trunk: e.trunk.clone(),
                ..super::NicDef::default()
            };
            self.attach_machine((id, port), &e.name, &nic, &key, &e.lan, imp);
        }
        // Routers.
        for r in &m.routers {
            let id = self
                .fabric
                .add_element(r.name.clone(), Box::new(Node::new("placeholder", false)));
            let mut node = Node::new(r.name.clone(), true);
            let mut plugs = Vec::new();
            for (i, nic) in r.interfaces.iter().enumerate() {
                let key = format!("{}.{}", r.name, nic.name);
                let (port, imp) = plug_nic(&m, &mut node, id, i, &r.name, nic, None);
                if r.masquerade.as_deref() == Some(nic.name.as_str()) || !r.firewall.is_empty() {
                    node.nf.borrow_mut().track = true;
                }
                plugs.push((port, nic.lan.clone(), key, imp));
            }
            for (to, via) in &r.routes {
                if let Some(p) = r
                    .interfaces
                    .iter()
                    .position(|n| n.address.is_some_and(|a| a.contains(via)))
                {
                    node.add_route(Route {
                        net: *to,
                        via: Some(*via),
                        port: p as PortId,
                    });
                }
            }
            self.install(id, node);
            self.nodes.insert(r.name.clone(), id);
            for (i, (port, lan, key, imp)) in plugs.into_iter().enumerate() {
                if let Some(lan) = lan {
                    self.attach_machine(
                        (id, port),
                        &r.name,
                        &r.interfaces[i],
                        &key,
                        &lan,
                        imp.unwrap_or_default(),
                    );
                }
            }
        }
    }

    /// Plugs a machine's NIC into `lan`: a plain port, an access port (`vlan`), or a
    /// trunk, where the machine's address lives on its 802.1Q subinterface for the
    /// trunk's first VLAN (`eth0.10`) so that what it sends leaves tagged.
    fn attach_machine(
        &mut self,
        (id, port): (ElemId, PortId),
        owner: &str,
        nic: &super::NicDef,
        key: &str,
        lan: &str,
        imp: Impair,
    ) {
        match (&nic.trunk, nic.vlan) {
            (Some(t), _) => {
                let mut el = Nic::new(nic.name.clone(), net::node_mac(id.0, 0x500 + port), true);
                let stack = el.add_stack_on(t.first().copied());
                let nid = self.fabric.add_element(owner.to_string(), Box::new(el));
                self.attach_vlan(nid, 0, key, lan, imp, PortVlan::Trunk(t.clone()));
                self.fabric
                    .connect((id, port), (nid, stack), LinkConfig::default());
            }
            (None, Some(v)) => self.attach_vlan(id, port, key, lan, imp, PortVlan::Access(v)),
            (None, None) => self.attach(id, port, key, lan, imp),
        }
    }
}

impl Lab {
    /// Puts the finished `node` in the slot reserved for it (the slot is added first so
    /// that its id can seed MAC addresses before the node is complete).
    fn install(&mut self, id: ElemId, node: Node) {
        if let Some(slot) = self.fabric.element_mut::<Node>(id) {
            *slot = node;
        }
    }

    fn attach(&mut self, id: ElemId, port: PortId, key: &str, lan: &str, imp: Impair) {
        self.attach_vlan(id, port, key, lan, imp, PortVlan::Plain);
    }

    /// Plugs (`id`, `port`) into LAN `lan` on a switch port with VLAN role `vlan`.
    fn attach_vlan(&mut self, id: ElemId, port: PortId, key: &str, lan: &str, imp: Impair, vlan: PortVlan) {
        let Some(&lid) = self.lans.get(lan) else { return };
        let def = self.resolved.model.lans.iter().find(|l| l.name == lan);
        let hairpin = def.is_some_and(|l| l.hairpin);
        // Port security: the switch knows the MAC of the NIC cabled to each port (a
        // vSwitch knows its vNICs) and accepts no other source.
        let secured = if def.is_some_and(|l| l.port_security) {
            self.mac_of(id, port)
        } else {
            None
        };
        let Some(bport) = self.fabric.element_mut::<Bridge>(lid).map(|b| {
            let p = b.add_port(BridgePort {
                name: key.to_string(),
                hairpin,
                isolated: false,
            });
            if vlan != PortVlan::Plain {
                b.set_vlan(p, vlan);
            }
            if let Some(mac) = secured {
                b.set_port_security(p, mac);
            }
            p
        }) else {
            return;
        };
        let mut cfg = LinkConfig::default();
        apply(&mut cfg, &imp);
        // The LAN's `mtu` is its switch's frame limit: a larger frame entering the
        // switch port is discarded without a word (no ICMP), whatever the NIC's MTU.
        if let Some(limit) = lan_mtu(&self.resolved.model, Some(lan)) {
            cfg.mtu = Some(cfg.mtu.map_or(limit, |m| m.min(limit)));
        }
        let link = self.fabric.connect((id, port), (lid, bport), cfg);
        self.ports.insert(key.to_string(), (id, port, link));
        self.attachments.push((key.to_string(), lan.to_string(), link));
    }

    /// The MAC address of the NIC behind (`id`, `port`): a machine's interface, a NIC
    /// carrying macvlan/ipvlan children (its own, the parent's, MAC), or the interface
    /// of a machine left to a real namespace.
    fn mac_of(&self, id: ElemId, port: PortId) -> Option<net::Mac> {
        if let Some(n) = self.fabric.element::<Node>(id) {
            return n.ifaces().get(port as usize).map(|i| i.mac);
        }
        if let Some(n) = self.fabric.element::<Nic>(id) {
            return Some(n.mac());
        }
        self.emu
            .iter()
            .find(|e| e.element == id)
            .and_then(|e| e.ifaces.get(port as usize))
            .map(|i| i.mac)
    }

    /// The endpoint that gives container `ci` its default route: the first one on a
    /// network that is not internal (Docker's gateway endpoint).
    fn gateway_endpoint_index(&self, ci: usize) -> Option<usize> {
        super::ipam::gateway_index(self.resolved.endpoints.get(ci)?, &self.resolved.networks)
    }

    /// Whether NIC `nic` of `host` carries macvlan/ipvlan children or shims.
    fn stacked(&self, host: &str, nic: &str) -> bool {
        let m = &self.resolved.model;
        self.resolved
            .networks
            .iter()
            .any(|n| n.host == host && n.parent.as_ref().is_some_and(|(p, _)| p == nic))
            || m.hosts
                .iter()
                .filter(|h| h.name == host)
                .flat_map(|h| h.interfaces.iter())
                .any(|i| i.macvlan_of.as_deref() == Some(nic))
    }

    /// The NIC element carrying the children of macvlan/ipvlan network `ni` on `host`.
    fn parent_nic(&self, host: &str, ni: usize) -> Option<ElemId> {
        let n = self.resolved.networks.get(ni)?;
        let key = match &n.parent {
            Some((nic, _)) => nic.clone(),
            None => n.device.clone(),
        };
        self.nics.get(&(host.to_string(), key)).copied()
    }

    /// The VXLAN endpoint of overlay `ni` on `host`: Docker's control plane tells each
    /// host where every remote container's MAC lives.
    fn vtep_for(&self, ni: usize, host: &str, local: std::net::Ipv4Addr) -> Vtep {
        let n = &self.resolved.networks[ni];
        let m = &self.resolved.model;
        let underlay = |h: &str| {
            m.hosts
                .iter()
                .find(|x| x.name == h)
                .and_then(super::ipam::underlay_addr)
        };
        let mut fdb = BTreeMap::new();
        let mut neighbours = BTreeMap::new();
        let default_host = m.default_host();
        for (ci, c) in m.containers.iter().enumerate() {
            let ch = c.host.clone().unwrap_or_else(|| default_host.clone());
            if ch == host || !self.is_running(&c.name) {
                continue;
            }
            for ep in self.resolved.endpoints[ci].iter().filter(|e| e.network == ni) {
                if let (Some(ip), Some(mac), Some(remote)) = (ep.v4, ep.mac(), underlay(&ch)) {
                    fdb.insert(mac, remote);
                    neighbours.insert(ip, mac);
                }
            }
        }
        Vtep {
            port: 0,
            vni: n.vni,
            local,
            fdb,
            neighbours,
            esp: n.encrypted,
        }
    }

    /// Joins container `name`'s interface (`id`, `port`) to its macvlan/ipvlan parent
    /// as a child; a second child of a passthru parent cannot start.
    #[allow(clippy::too_many_arguments)]
    fn plug_child(
        &mut self,
        name: &str,
        host: &str,
        (id, port): (ElemId, PortId),
        ni: usize,
        key: &str,
        (mac, ips): (net::Mac, Vec<IpAddr>),
        m: &Model,
    ) {
        let Some(nid) = self.parent_nic(host, ni) else {
            return;
        };
        let n = self.resolved.networks[ni].clone();
        let vid = n.parent.as_ref().and_then(|(_, v)| *v);
        let Some(cport) = self
            .fabric
            .element_mut::<Nic>(nid)
            .map(|el| el.add_child(key.to_string(), vid, n.mode, mac, ips, false))
        else {
            return;
        };
        if n.mode == ChildMode::MacvlanPassthru {
            let holders = self.passthru.entry(nid).or_default();
            holders.push(name.to_string());
        }
        let imp = m
            .links
            .iter()
            .find(|l| l.between.iter().any(|b| b == key))
            .map(|l| l.impair.clone())
            .unwrap_or_default();
        let mut cfg = LinkConfig {
            mtu: Some(n.mtu),
            latency: SimDuration::from_micros(1),
            ..LinkConfig::default()
        };
        apply(&mut cfg, &imp);
        let link = self.fabric.connect((id, port), (nid, cport), cfg);
        self.ports.insert(key.to_string(), (id, port, link));
        self.container_links
            .entry(name.to_string())
            .or_default()
            .push(link);
    }

    /// Why `to` may be out of `from`'s reach where a user would not expect it: it is
    /// an ipvlan l3 child, which answers no ARP and is reached only by routing to its
    /// subnet via its host.
    pub fn reach_hint(&self, from: &str, to: IpAddr) -> Option<String> {
        self.l3_child_hint(from, to).or_else(|| self.vlan_hint(from, to))
    }

    /// The LAN and VLAN where `name` (a machine, or the owner of an address) sends
    /// its frames: an access port's VLAN, a trunk external's first VLAN, a macvlan /
    /// ipvlan parent's subinterface, else VLAN 1 (untagged).
    fn lan_vlan(&self, name: &str, addr: Option<IpAddr>) -> Option<(String, u16, String)> {
        let m = &self.resolved.model;
        let nic_vlan = |nic: &super::NicDef| nic.vlan.unwrap_or(1);
        for e in &m.externals {
            if e.name == name || Some(e.address.addr()) == addr {
                let v = e
                    .vlan
                    .or_else(|| e.trunk.as_ref().and_then(|t| t.first().copied()));
                return Some((e.lan.clone(), v.unwrap_or(1), e.name.clone()));
            }
        }
        for h in &m.hosts {
            for nic in &h.interfaces {
                let mine = (h.name == name && addr.is_none()) || nic.address.map(|a| a.addr()) == addr;
                if mine && let Some(lan) = &nic.lan {
                    return Some((lan.clone(), nic_vlan(nic), h.name.clone()));
                }
            }
        }
        for (ci, c) in m.containers.iter().enumerate() {
            for ep in &self.resolved.endpoints[ci] {
                if !(c.name == name || ep.v4.map(IpAddr::V4) == addr) {
                    continue;
                }
                let n = &self.resolved.networks[ep.network];
                let host = c.host.clone().unwrap_or_else(|| m.default_host());
                if let Some((pnic, vid)) = &n.parent
                    && let Some(nic) = m
                        .hosts
                        .iter()
                        .find(|h| h.name == host)
                        .and_then(|h| h.interfaces.iter().find(|i| &i.name == pnic))
                    && let Some(lan) = &nic.lan
                {
                    return Some((lan.clone(), vid.unwrap_or_else(|| nic_vlan(nic)), c.name.clone()));
                }
            }
        }
        None
    }

    /// `to` sits on the same LAN as `from` but in another VLAN.
    fn vlan_hint(&self, from: &str, to: IpAddr) -> Option<String> {
        let (lan_a, va, _) = self.lan_vlan(from, None)?;
        let (lan_b, vb, owner) = self.lan_vlan("", Some(to))?;
        (lan_a == lan_b && va != vb).then(|| {
            format!(
                "{from} sends in VLAN {va} and {to} ({owner}) is in VLAN {vb} of LAN {lan_a}: different \
                 broadcast domains, so its ARP requests never reach {owner} (a router between the VLANs, or \
                 the same VLAN, is needed)"
            )
        })
    }

    fn l3_child_hint(&self, from: &str, to: IpAddr) -> Option<String> {
        let m = &self.resolved.model;
        let (ci, ep) = m.containers.iter().enumerate().find_map(|(ci, _)| {
            self.resolved.endpoints[ci]
                .iter()
                .find(|e| e.v4.map(IpAddr::V4) == Some(to))
                .map(|e| (ci, e))
        })?;
        let n = &self.resolved.networks[ep.network];
        if n.driver != Driver::Ipvlan || n.mode == ChildMode::IpvlanL2 || m.containers[ci].name == from {
            return None;
        }
        let host = m.containers[ci].host.clone().unwrap_or_else(|| m.default_host());
        let via = m
            .hosts
            .iter()
            .find(|h| h.name == host)
            .and_then(super::ipam::underlay_addr)
            .map_or_else(|| host.clone(), |a| a.to_string());
        let subnet = ep
            .v4
            .and_then(|a| n.v4_subnet_of(a))
            .map_or_else(String::new, |s| s.to_string());
        Some(format!(
            "{to} is an {} container on {host}: it answers no ARP, so machines reach it only through a route \
             to {subnet} via {via} (the host's own table has none either)",
            n.mode.name()
        ))
    }

    /// Docker's control plane after a container starts or stops: every host's VXLAN
    /// endpoints learn or forget the remote containers.
    fn refresh_overlays(&mut self) {
        let hosts: Vec<super::HostDef> = self.resolved.model.hosts.clone();
        for h in &hosts {
            let (Some(&id), Some(local)) = (self.nodes.get(&h.name), super::ipam::underlay_addr(h)) else {
                continue;
            };
            for ni in 0..self.resolved.networks.len() {
                let n = &self.resolved.networks[ni];
                if n.driver != Driver::Overlay || !n.hosts.contains(&h.name) {
                    continue;
                }
                let v = self.vtep_for(ni, &h.name, local);
                if let Some(node) = self.fabric.element_mut::<Node>(id) {
                    node.set_vtep_entries(v.vni, v.fdb, v.neighbours);
                }
            }
        }
    }

    /// Why container `name` cannot start now: a passthru parent already has its one
    /// running child.
    pub(super) fn passthru_conflict(&self, name: &str) -> Option<String> {
        self.passthru.values().find_map(|holders| {
            let me = holders.iter().position(|h| h == name)?;
            holders[..me]
                .iter()
                .chain(holders[me + 1..].iter())
                .any(|other| self.is_running(other) && !self.start_errors.contains_key(other))
                .then(|| {
                    "failed to create the macvlan port: invalid argument (a passthru parent takes one child)"
                        .to_string()
                })
        })
    }

    fn gateway_endpoint(&self, ci: usize) -> Option<&super::ResolvedEndpoint> {
        let i = self.gateway_endpoint_index(ci)?;
        self.resolved.endpoints.get(ci)?.get(i)
    }

    /// The element of a container, external, router or host.
    pub fn node(&self, name: &str) -> Option<ElemId> {
        self.nodes.get(name).copied()
    }

    /// The element of a LAN's switch.
    pub fn lan(&self, name: &str) -> Option<ElemId> {
        self.lans.get(name).copied()
    }

    /// Every point an `on_wire` check may name: LANs, and each machine interface as the
    /// trace prints it (`node.iface`), in name order.
    pub fn wire_points(&self) -> impl Iterator<Item = &str> {
        self.lans.keys().chain(self.ports.keys()).map(String::as_str)
    }

    /// Names links as a scenario writes them, for capture files: a machine's NIC on a
    /// LAN `host1.eth0--office`, a container's interface `api.eth0`.
    fn name_links(&mut self) {
        let mut names: Vec<(LinkId, String)> = self
            .attachments
            .iter()
            .map(|(key, lan, link)| (*link, format!("{key}--{lan}")))
            .collect();
        for (c, links) in &self.container_links {
            for link in links {
                let own = format!("{c}.");
                // The container's own ports are the keys `c.…`, one range of the map.
                if let Some((key, _)) = self
                    .ports
                    .range(own.clone()..)
                    .take_while(|(k, _)| k.starts_with(&own))
                    .find(|(_, v)| v.2 == *link)
                {
                    names.push((*link, key.clone()));
                }
            }
        }
        // The rest (a host's side of its bridges and VXLAN devices): the first end,
        // `host1.docker0`, when that names one link only.
        let named: BTreeSet<LinkId> = names.iter().map(|(l, _)| *l).collect();
        let mut firsts: BTreeMap<String, Vec<LinkId>> = BTreeMap::new();
        for (id, l) in self.fabric.links() {
            if !named.contains(&id)
                && let Some((first, _)) = l.name.split_once(" <-> ")
            {
                firsts.entry(first.to_string()).or_default().push(id);
            }
        }
        for (first, ids) in firsts {
            if let [id] = ids[..] {
                names.push((id, first));
            }
        }
        for (link, name) in names {
            self.fabric.set_link_name(link, name);
        }
    }

    /// Registers as `element.port` every port that the compile phases did not name (a
    /// host's macvlan shim, its bridges' gateway ports, its VXLAN devices, a bridge's
    /// veth ports), exactly as the trace prints it, so that every interface a trace
    /// names can be checked with `on_wire`.
    fn register_trace_points(&mut self) {
        let mut found = Vec::new();
        for (id, link) in self.fabric.links() {
            for &(elem, port) in &link.ends {
                let pname = self.fabric.port_name(elem, port);
                // Switch ports named after what is plugged in (`web.eth0`) are printed
                // `lan[web.eth0]`: that point is `web.eth0`, registered already.
                if !pname.contains('.') {
                    found.push((
                        format!("{}.{pname}", self.fabric.element_name(elem)),
                        (elem, port, id),
                    ));
                }
            }
        }
        for (key, at) in found {
            self.ports.entry(key).or_insert(at);
        }
    }

    /// The element, port and link of interface `node.iface`.
    pub fn port(&self, key: &str) -> Option<(ElemId, PortId, LinkId)> {
        self.ports.get(key).copied()
    }

    /// The link between two endpoints (`node.iface` and a LAN, or two interfaces
    /// joined by a veth).
    pub fn link_between(&self, a: &str, b: &str) -> Option<LinkId> {
        if let Some((_, lan, l)) = self
            .attachments
            .iter()
            .find(|(k, lan, _)| (k == a && lan == b) || (k == b && lan == a))
        {
            let _ = lan;
            return Some(*l);
        }
        let (pa, pb) = (self.ports.get(a), self.ports.get(b));
        match (pa, pb) {
            (Some(x), _) if self.lans.contains_key(b) || pb.is_none() => Some(x.2),
            (_, Some(y)) if self.lans.contains_key(a) => Some(y.2),
            (Some(x), Some(y)) if x.2 == y.2 => Some(x.2),
            _ => None,
        }
    }

    /// The address a step means by `name`: a host, router or external stands for the
    /// address of its first interface; a container for its first endpoint's address.
    pub fn address_of(&mut self, name: &str, v6: bool) -> Option<IpAddr> {
        let id = self.node(name)?;
        if let Some(m) = self.emu.iter().find(|m| m.element == id) {
            // A machine left to a real namespace: the addresses it was given.
            return m.ifaces.iter().find_map(|i| {
                if v6 {
                    i.v6.first().map(|a| IpAddr::V6(a.addr()))
                } else {
                    i.v4.first().map(|a| IpAddr::V4(a.addr()))
                }
            });
        }
        let n = self.fabric.element_mut::<Node>(id)?;
        n.ifaces().iter().find_map(|i| {
            if v6 {
                i.v6.first().map(|a| IpAddr::V6(a.addr()))
            } else {
                i.v4.first().map(|a| IpAddr::V4(a.addr()))
            }
        })
    }

    /// Resolves a container name or alias as seen from `from`: containers on a user
    /// network shared with `from` (by name or by an alias given on that network).
    /// Returns `Ok(None)` when `name` is not a container or alias at all.
    ///
    /// # Errors
    /// Why the name does not resolve from there (the default bridge has no embedded
    /// DNS; the container shares no network with the asker; it is stopped).
    pub fn resolve_container(&self, from: &str, name: &str) -> Result<Option<IpAddr>, String> {
        let m = &self.resolved.model;
        let from_ci = m.containers.iter().position(|c| c.name == from);
        let mut matches: Vec<(usize, usize)> = Vec::new();
        for (ci, eps) in self.resolved.endpoints.iter().enumerate() {
            for (ei, ep) in eps.iter().enumerate() {
                if m.containers[ci].name == name || ep.aliases.iter().any(|a| a == name) {
                    matches.push((ci, ei));
                }
            }
        }
        if matches.is_empty() {
            return Ok(None);
        }
        let Some(fci) = from_ci else {
            // From outside Docker: a container name stands for its first address.
            let (ci, ei) = matches[0];
            return Ok(self.resolved.endpoints[ci][ei].v4.map(IpAddr::V4));
        };
        let mine: Vec<usize> = self.resolved.endpoints[fci].iter().map(|e| e.network).collect();
        for &(ci, ei) in &matches {
            let ep = &self.resolved.endpoints[ci][ei];
            if !mine.contains(&ep.network) {
                continue;
            }
            let net = &self.resolved.networks[ep.network];
            if net.default_bridge {
                return Err(format!(
                    "cannot resolve '{name}': the default bridge network has no embedded DNS; \
                     containers there reach each other only by IP address (use a user-defined network)"
                ));
            }
            if !self.running.get(&m.containers[ci].name).copied().unwrap_or(true) {
                return Err(format!(
                    "cannot resolve '{name}': container '{}' is stopped",
                    m.containers[ci].name
                ));
            }
            return Ok(ep.v4.map(IpAddr::V4).or(ep.v6.map(IpAddr::V6)));
        }
        Err(format!(
            "cannot resolve '{name}' from '{from}': no network shared with it (Docker's DNS answers only \
             for containers on a network the asker is attached to)"
        ))
    }

    /// Runs the steps' operations ([`Lab::ping`], [`Lab::connect`], [`Lab::transfer`],
    /// [`Lab::resolve`]) in real time with `pacer` until [`Lab::take_pacer`].
    pub fn set_pacer(&mut self, pacer: Box<dyn Pacer>) {
        self.pacer = Some(pacer);
    }

    /// The pacer given to [`Lab::set_pacer`]; operations run in simulated time again.
    pub fn take_pacer(&mut self) -> Option<Box<dyn std::any::Any>> {
        self.pacer.take().map(Pacer::into_any)
    }

    /// Runs the fabric until `done` holds or simulated time passes `limit` (with a
    /// pacer: as the wall clock passes it).
    fn run_until_done(&mut self, limit: SimTime, mut done: impl FnMut(&mut Fabric) -> bool) {
        if let Some(p) = self.pacer.as_mut() {
            while !done(&mut self.fabric) && self.fabric.now() < limit {
                if !p.advance(&mut self.fabric, limit) {
                    return;
                }
            }
            return;
        }
        loop {
            if done(&mut self.fabric) {
                return;
            }
            match self.fabric.next_event() {
                Some(t) if t <= limit => {
                    self.fabric.step();
                }
                _ => {
                    self.fabric.run_until(limit);
                    return;
                }
            }
        }
    }

    /// The element of machine `name`, or the error steps report for an unknown one.
    fn machine(&self, name: &str) -> Result<ElemId, String> {
        self.node(name).ok_or_else(|| format!("unknown machine '{name}'"))
    }

    /// Runs until socket application `idx` of `id` has an outcome, or until `limit`.
    fn run_sock_app(&mut self, id: ElemId, idx: usize, limit: SimTime) {
        self.run_until_done(limit, |f| {
            f.element_mut::<Node>(id)
                .and_then(|n| n.sock_app(idx))
                .is_none_or(|a| a.outcome.is_some())
        });
    }

    /// Pings `to` from `from`, as `ping -c count -s size [-M do]` would.
    ///
    /// # Errors
    /// When `from` is not a machine of the lab.
    pub fn ping(
        &mut self,
        from: &str,
        to: IpAddr,
        count: u32,
        size: usize,
        dont_frag: bool,
    ) -> Result<PingResult, String> {
        let id = self.machine(from)?;
        let idx = self
            .fabric
            .with_element::<Node, _>(id, |n, ctx| n.start_ping(ctx, to, count, size, dont_frag))
            .ok_or_else(|| format!("'{from}' cannot run ping"))?;
        let limit = self.fabric.now() + SimDuration::from_secs(count as u64 + 12);
        self.run_until_done(limit, |f| {
            f.element_mut::<Node>(id)
                .and_then(|n| n.ping(idx))
                .is_none_or(|p| p.done)
        });
        let p = self
            .fabric
            .element_mut::<Node>(id)
            .and_then(|n| n.ping(idx))
            .cloned()
            .ok_or("ping vanished")?;
        Ok(PingResult {
            sent: p.sent.len() as u32,
            received: p.rtts.iter().filter(|r| r.is_some()).count() as u32,
            rtts: p.rtts.iter().flatten().copied().collect(),
            errors: p.errors,
            frames: p.frames,
        })
    }

    /// Opens a TCP connection (or sends a UDP probe) from `from` to `to:port`.
    ///
    /// # Errors
    /// When `from` is not a machine of the lab.
    pub fn connect(&mut self, from: &str, to: IpAddr, port: u16, l4: L4) -> Result<ConnectResult, String> {
        let id = self.machine(from)?;
        let start = self.fabric.now();
        let started = self
            .fabric
            .with_element::<Node, _>(id, |n, ctx| match l4 {
                L4::Udp => n.start_udp(ctx, to, port),
                _ => n.start_tcp(ctx, to, port, 0),
            })
            .ok_or_else(|| format!("'{from}' cannot open connections"))?;
        let idx = match started {
            Ok(i) => i,
            Err(e) => {
                return Ok(ConnectResult {
                    outcome: ConnOutcome::Refused(e),
                    elapsed: SimDuration::ZERO,
                });
            }
        };
        self.run_sock_app(
            id,
            idx,
            start + crate::host::CONNECT_TIMEOUT + crate::host::CLOSE_WATCH + SimDuration::from_millis(1),
        );
        let (outcome, known) = self
            .fabric
            .element_mut::<Node>(id)
            .and_then(|n| n.sock_app(idx))
            .map(|a| {
                let known = match a.outcome {
                    Some(ConnOutcome::Ok) if a.l4 == L4::Tcp => a.connected,
                    Some(ConnOutcome::Closed(_)) => a.finished,
                    _ => None,
                };
                (a.outcome.clone(), known)
            })
            .unwrap_or((None, None));
        let outcome = outcome.unwrap_or(ConnOutcome::Timeout);
        let elapsed = known.unwrap_or(self.fabric.now()).saturating_since(start);
        // Let the close handshake finish so the next step starts from a quiet network.
        let settle = self.fabric.now() + SimDuration::from_millis(200);
        self.run_until_done(settle, |_| false);
        Ok(ConnectResult { outcome, elapsed })
    }

    /// Sends `bytes` over TCP from `from` to `to:port`.
    ///
    /// # Errors
    /// When `from` is not a machine of the lab.
    pub fn transfer(
        &mut self,
        from: &str,
        to: IpAddr,
        port: u16,
        bytes: u64,
    ) -> Result<TransferResult, String> {
        let id = self.machine(from)?;
        let start = self.fabric.now();
        let started = self
            .fabric
            .with_element::<Node, _>(id, |n, ctx| n.start_tcp(ctx, to, port, bytes))
            .ok_or_else(|| format!("'{from}' cannot open connections"))?;
        let idx = match started {
            Ok(i) => i,
            Err(e) => {
                return Ok(TransferResult {
                    outcome: ConnOutcome::Refused(e),
                    acked: 0,
                    elapsed: SimDuration::ZERO,
                });
            }
        };
        // A generous ceiling: 1 hour of simulated time; stalls end sooner (10 s).
        self.run_sock_app(id, idx, start + SimDuration::from_secs(3600));
        let (outcome, finished, acked) = self
            .fabric
            .element_mut::<Node>(id)
            .map(|n| {
                let a = n.sock_app(idx);
                (
                    a.and_then(|a| a.outcome.clone()).unwrap_or(ConnOutcome::Timeout),
                    a.and_then(|a| a.finished),
                    n.sock_acked(idx),
                )
            })
            .unwrap_or((ConnOutcome::Timeout, None, 0));
        let end = finished.unwrap_or(self.fabric.now());
        let settle = self.fabric.now() + SimDuration::from_millis(200);
        self.run_until_done(settle, |_| false);
        Ok(TransferResult {
            outcome,
            acked,
            elapsed: end.saturating_since(start),
        })
    }

    /// Changes the state or impairments of the link between `a` and `b`.
    ///
    /// # Errors
    /// When no link joins them.
    pub fn set_link(&mut self, a: &str, b: &str, imp: &Impair) -> Result<(), String> {
        let id = self
            .link_between(a, b)
            .ok_or_else(|| format!("no link between '{a}' and '{b}'"))?;
        apply(self.fabric.link_config_mut(id), imp);
        Ok(())
    }

    /// Stops or starts a container: its interfaces go down or up, its host ports are
    /// released or bound again, and the embedded DNS servers forget or learn its names.
    ///
    /// # Errors
    /// When `name` is not a container, or its start fails (a host port is in use).
    pub fn set_running(&mut self, name: &str, running: bool) -> Result<(), String> {
        let Some(ci) = self.resolved.model.containers.iter().position(|c| c.name == name) else {
            return Err(format!("unknown container '{name}'"));
        };
        if self.is_running(name) == running {
            return Ok(());
        }
        if running {
            if let Some(e) = self.passthru_conflict(name) {
                return Err(e);
            }
            self.bind_ports(ci)?;
            self.start_errors.remove(name);
            let first = self.resolved.model.containers.len() as u64;
            let next = self.start_seq.values().max().map_or(first, |m| m + 1).max(first);
            self.start_seq.insert(name.to_string(), next);
        } else {
            self.unbind_ports(name);
        }
        self.set_published(name, running);
        for l in self.container_links.get(name).cloned().unwrap_or_default() {
            self.fabric.link_config_mut(l).up = running;
        }
        self.running.insert(name.to_string(), running);
        if let Some(host) = self.resolved.model.containers.get(ci).map(|c| {
            c.host
                .clone()
                .unwrap_or_else(|| self.resolved.model.default_host())
        }) {
            self.install_rules(&host);
        }
        self.refresh_directory();
        self.refresh_overlays();
        Ok(())
    }

    /// Containers whose start failed when the lab came up, with the error.
    pub fn start_errors(&self) -> &BTreeMap<String, String> {
        &self.start_errors
    }

    /// Whether `name` is a container on the host network.
    pub fn on_host_network(&self, name: &str) -> bool {
        self.host_net.contains_key(name)
    }

    /// The host a container lives on.
    fn host_of(&self, c: &ContainerDef) -> Option<&HostDef> {
        let hosts = &self.resolved.model.hosts;
        match &c.host {
            Some(h) => self.host_index.get(h).and_then(|&i| hosts.get(i)),
            None => hosts.first(),
        }
    }

    /// Whether a container is running.
    pub fn is_running(&self, name: &str) -> bool {
        self.running.get(name).copied().unwrap_or(true)
    }

    /// Lets `d` of simulated time pass.
    pub fn wait(&mut self, d: SimDuration) {
        self.fabric.run_for(d);
    }
}

fn iface(name: &str, mac: net::Mac, addr: Option<IpNet>, mtu: u32, bridge: Option<BridgeRole>) -> Iface {
    Iface {
        name: name.to_string(),
        mac,
        v4: addr
            .iter()
            .filter_map(|a| match a {
                IpNet::V4(n) => Some(*n),
                IpNet::V6(_) => None,
            })
            .collect(),
        v6: addr
            .iter()
            .filter_map(|a| match a {
                IpNet::V6(n) => Some(*n),
                IpNet::V4(_) => None,
            })
            .collect(),
        mtu,
        bridge,
    }
}

/// The impairments `links:` sets on the attachment between `a` and `b`.
fn link_impair(m: &Model, a: &str, b: &str) -> Option<Impair> {
    m.links
        .iter()
        .find(|l| (l.between[0] == a && l.between[1] == b) || (l.between[0] == b && l.between[1] == a))
        .map(|l| l.impair.clone())
}

/// The MTU declared for LAN `name`.
fn lan_mtu(m: &Model, name: Option<&str>) -> Option<u32> {
    name.and_then(|l| m.lans.iter().find(|x| x.name == l))
        .and_then(|l| l.mtu)
}

/// Adds NIC number `i` of `owner` to `node`, with the MTU [`super::mtu`] decides.
/// Returns the port and the link's impairments.
fn plug_nic(
    m: &Model,
    node: &mut Node,
    id: ElemId,
    i: usize,
    owner: &str,
    nic: &super::NicDef,
    owner_mtu: Option<u32>,
) -> (PortId, Option<Impair>) {
    let key = format!("{owner}.{}", nic.name);
    let imp = nic.lan.as_deref().and_then(|l| link_impair(m, &key, l));
    // A shim follows its parent NIC; a NIC keeps its own MTU, never its LAN's.
    let mtu = match &nic.macvlan_of {
        Some(parent) => super::mtu::host_nic_mtu(m, owner, parent).unwrap_or(1500),
        None => super::mtu::mtu(super::mtu::Device::Nic {
            own: nic.mtu,
            link: imp.as_ref().and_then(|x| x.mtu),
            owner: owner_mtu,
        }),
    };
    let port = node.add_iface(iface(
        &nic.name,
        net::node_mac(id.0, i as u16),
        nic.address,
        mtu,
        None,
    ));
    (port, imp)
}

/// The switch-port role of a NIC.
fn nic_vlan(nic: &super::NicDef) -> PortVlan {
    match (&nic.trunk, nic.vlan) {
        (Some(t), _) => PortVlan::Trunk(t.clone()),
        (None, Some(v)) => PortVlan::Access(v),
        (None, None) => PortVlan::Plain,
    }
}

fn default_route(gw: IpAddr) -> IpNet {
    match gw {
        IpAddr::V4(_) => IpNet::V4(Ipv4Net::default()),
        IpAddr::V6(_) => IpNet::V6(Ipv6Net::default()),
    }
}

fn apply(cfg: &mut LinkConfig, imp: &Impair) {
    if let Some(v) = imp.latency {
        cfg.latency = v;
    }
    if let Some(v) = imp.jitter {
        cfg.jitter = v;
    }
    if let Some(v) = imp.reorder {
        cfg.reorder = v;
    }
    if let Some(v) = imp.rate {
        cfg.rate = Some(v);
    }
    if let Some(v) = imp.loss {
        cfg.loss = v;
    }
    if let Some(v) = imp.mtu {
        cfg.mtu = Some(v);
    }
    if let Some(v) = imp.up {
        cfg.up = v;
    }
}
