//! The Docker model: hosts with their daemon settings, LANs, routers, external
//! machines, networks (IPAM), containers (endpoints, published ports, listeners) and
//! links — validated the way the Docker daemon validates them, then compiled into
//! elements and links by [`Lab::build`].
//!
//! Every error names the field it is about as a dotted path (`containers.api.networks.
//! appnet.ipv4_address`), so a scenario loader can point at the line it came from.
//!
//! Building and running a topology in code:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use netloom_drivers::docker::{ContainerDef, EndpointDef, Lab, Model, NetworkDef};
//! use netloom_drivers::host::{ConnOutcome, Listen};
//! use netloom_drivers::net::L4;
//!
//! let mut m = Model::default();
//! m.networks.push(NetworkDef::bridge("app"));
//! let mut web = ContainerDef::new("web");
//! web.networks.push(EndpointDef::on("app"));
//! web.listen.push(Listen { l4: L4::Tcp, addr: None, port: 80 });
//! let mut client = ContainerDef::new("client");
//! client.networks.push(EndpointDef::on("app"));
//! m.containers = vec![web, client];
//!
//! let mut lab = Lab::build(&m, 7).expect("a valid model");
//! let web_ip = IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2)); // IPAM: first user network, .2
//! assert_eq!(lab.ping("client", web_ip, 1, 56, false)?.received, 1);
//! assert_eq!(lab.connect("client", web_ip, 80, L4::Tcp)?.outcome, ConnOutcome::Ok);
//! # Ok::<(), String>(())
//! ```

mod ipam;
pub mod iptables;
mod lab;
mod mtu;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netloom_core::{BitRate, SimDuration};

pub use lab::{
    Attempt, ConnectResult, EmuIface, EmuMachine, Finding, Lab, PROBE_TIMEOUT, Pacer, PingResult,
    PolicyMatrix, Reach, ResolveResult, TransferResult,
};

use crate::host::Listen;
use crate::net::L4;
pub use crate::nic::ChildMode;

/// A whole topology in Docker's terms.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Docker hosts.
    pub hosts: Vec<HostDef>,
    /// Physical L2 segments.
    pub lans: Vec<LanDef>,
    /// Plain L3 routers.
    pub routers: Vec<RouterDef>,
    /// Machines outside any Docker host.
    pub externals: Vec<ExternalDef>,
    /// User-defined networks (the predefined `bridge`, `host`, `none` always exist).
    pub networks: Vec<NetworkDef>,
    /// Containers.
    pub containers: Vec<ContainerDef>,
    /// Impairments of attachments.
    pub links: Vec<LinkDef>,
    /// Kubernetes-style namespaces and NetworkPolicies (`namespaces:`, `policies:`).
    pub cluster: crate::policy::Cluster,
    /// `policy_enforcement: false`: the network plugin ignores NetworkPolicies
    /// (flannel alone); they are accepted and reported as not enforced.
    pub policies_ignored: bool,
}

/// A Docker host.
#[derive(Clone, Debug)]
pub struct HostDef {
    /// Its name.
    pub name: String,
    /// Physical NICs.
    pub interfaces: Vec<NicDef>,
    /// Default gateway.
    pub gateway: Option<IpAddr>,
    /// Default MTU of its NICs.
    pub mtu: Option<u32>,
    /// daemon.json `dns`: the resolvers containers use (empty = not set).
    pub dns: Vec<IpAddr>,
    /// daemon.json settings.
    pub daemon: DaemonDef,
    /// User firewall rules (`firewall:`), appended to their chains in order.
    pub firewall: Vec<UserRule>,
}

/// A user firewall rule: `iptables -A CHAIN RULE` in the filter table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRule {
    /// `DOCKER-USER`, `INPUT`, `OUTPUT` or `FORWARD`.
    pub chain: String,
    /// The rule.
    pub rule: crate::netfilter::Rule,
    /// Where the rule was written (`firewall.host1[2]`), for explanations.
    pub origin: String,
}

impl HostDef {
    /// A host with no NICs and Docker's default daemon settings.
    pub fn new(name: impl Into<String>) -> Self {
        HostDef {
            name: name.into(),
            interfaces: Vec::new(),
            gateway: None,
            mtu: None,
            dns: Vec::new(),
            daemon: DaemonDef::default(),
            firewall: Vec::new(),
        }
    }

    /// The address its VXLAN tunnel endpoint uses: the first IPv4 address of a NIC
    /// plugged into a LAN (a macvlan shim is not one).
    pub fn underlay_addr(&self) -> Option<Ipv4Addr> {
        ipam::underlay_addr(self)
    }
}

/// A NIC of a host or router.
#[derive(Clone, Debug, Default)]
pub struct NicDef {
    /// Its name (`eth0`).
    pub name: String,
    /// Its address with prefix.
    pub address: Option<IpNet>,
    /// The LAN it is plugged into.
    pub lan: Option<String>,
    /// Its switch port is an access port in this VLAN.
    pub vlan: Option<u16>,
    /// Its switch port is a trunk carrying these VLANs tagged.
    pub trunk: Option<Vec<u16>>,
    /// A macvlan shim on the host: the NIC it sits on (then `lan` is unused).
    pub macvlan_of: Option<String>,
    /// The shim's macvlan mode (default bridge).
    pub shim_mode: Option<ChildMode>,
    /// Host routes sent through this interface.
    pub routes: Vec<IpNet>,
    /// Its own MTU (`None`: its link's, its owner's, else 1500).
    pub mtu: Option<u32>,
}

/// The daemon's settings, with daemon.json names.
#[derive(Clone, Debug)]
pub struct DaemonDef {
    /// Default MTU of bridge networks.
    pub mtu: u32,
    /// Inter-container communication on the default bridge.
    pub icc: bool,
    /// docker-proxy for published ports.
    pub userland_proxy: bool,
    /// `default-address-pools`: (base, size) in order.
    pub pools: Vec<(IpNet, u8)>,
    /// The host's `net.ipv4.ip_forward`.
    pub ip_forward: bool,
    /// The filter FORWARD chain's policy is DROP: Docker set it when it enabled
    /// `ip_forward` itself (`setupIPv4Forwarding`, unless `ip-forward-no-drop`).
    pub forward_drop: bool,
    /// The host's own resolv.conf name servers (`None` = not declared).
    pub resolv_conf: Option<Vec<IpAddr>>,
    /// The Docker release whose iptables layout the host gets (`daemon: { version: 28 }`
    /// gives 28.5's DOCKER-ISOLATION-STAGE chains; default 29).
    pub version: u32,
}

impl Default for DaemonDef {
    fn default() -> Self {
        DaemonDef {
            mtu: 1500,
            icc: true,
            userland_proxy: true,
            pools: ipam::default_pools(),
            ip_forward: true,
            forward_drop: false,
            resolv_conf: None,
            version: 29,
        }
    }
}

/// A LAN: one switch.
#[derive(Clone, Debug, Default)]
pub struct LanDef {
    /// Its name.
    pub name: String,
    /// Its MTU (the default MTU of interfaces plugged into it).
    pub mtu: Option<u32>,
    /// Reflective relay: frames may leave through the port they came in (VEPA).
    pub hairpin: bool,
    /// Port security: each switch port accepts only frames whose source MAC is the
    /// MAC of the NIC cabled to it (VMware's forged-transmits reject, cloud VPCs).
    pub port_security: bool,
}

/// A plain router.
#[derive(Clone, Debug)]
pub struct RouterDef {
    /// Its name.
    pub name: String,
    /// Its interfaces.
    pub interfaces: Vec<NicDef>,
    /// Static routes: destination, gateway.
    pub routes: Vec<(IpNet, IpAddr)>,
    /// Masquerade traffic leaving through this interface.
    pub masquerade: Option<String>,
    /// Forwarding ACLs and local rules (`firewall:`): chains FORWARD, INPUT, OUTPUT.
    pub firewall: Vec<UserRule>,
}

/// A machine outside any Docker host.
#[derive(Clone, Debug)]
pub struct ExternalDef {
    /// Its name.
    pub name: String,
    /// Its address with prefix.
    pub address: IpNet,
    /// Its LAN.
    pub lan: String,
    /// Its default gateway.
    pub gateway: Option<IpAddr>,
    /// Its echo listeners.
    pub listen: Vec<Listen>,
    /// Records it serves as a DNS server (name → addresses).
    pub dns_records: Option<BTreeMap<String, Vec<IpAddr>>>,
    /// Its own resolvers (empty = none declared).
    pub dns: Vec<IpAddr>,
    /// Its switch port is an access port in this VLAN.
    pub vlan: Option<u16>,
    /// Its switch port is a trunk carrying these VLANs tagged.
    pub trunk: Option<Vec<u16>>,
    /// Its NIC's own MTU (`None`: its link's, else 1500).
    pub mtu: Option<u32>,
}

/// A network driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// A Linux bridge on one host.
    Bridge,
    /// The host's own stack.
    Host,
    /// Loopback only.
    None,
    /// VXLAN between hosts.
    Overlay,
    /// macvlan children of a host NIC.
    Macvlan,
    /// ipvlan children of a host NIC.
    Ipvlan,
}

impl Driver {
    /// The driver's name, as `docker network create -d` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::None => "none",
            Driver::Overlay => "overlay",
            Driver::Macvlan => "macvlan",
            Driver::Ipvlan => "ipvlan",
        }
    }
}

/// A user-defined network.
#[derive(Clone, Debug)]
pub struct NetworkDef {
    /// Its name.
    pub name: String,
    /// Its driver.
    pub driver: Driver,
    /// The host it lives on (default: the first host).
    pub host: Option<String>,
    /// No way out through the host.
    pub internal: bool,
    /// IPv6 as well.
    pub enable_ipv6: bool,
    /// IPAM configuration, one entry per subnet.
    pub subnets: Vec<SubnetDef>,
    /// `com.docker.network.driver.mtu`.
    pub mtu: Option<u32>,
    /// `com.docker.network.bridge.enable_icc`.
    pub icc: Option<bool>,
    /// Overlay: the hosts it spans (empty = every host).
    pub hosts: Vec<String>,
    /// macvlan/ipvlan `parent` (`eth0`, `eth0.10`; `None` = a dummy parent).
    pub parent: Option<String>,
    /// `macvlan_mode` / `ipvlan_mode` (`None` = bridge / l2).
    pub mode: Option<ChildMode>,
    /// Overlay `encrypted`.
    pub encrypted: bool,
    /// Overlay `com.docker.network.driver.overlay.vxlanid_list`.
    pub vni: Option<u32>,
    /// `com.docker.network.bridge.name`: the bridge device's name.
    pub bridge_name: Option<String>,
    /// `com.docker.network.bridge.gateway_mode_ipv4` (default `nat`).
    pub gateway_mode: GatewayMode,
    /// `com.docker.network.bridge.enable_ip_masquerade` (default true).
    pub masquerade: bool,
    /// `cni:` (an addition): the bridge is a CNI bridge plugin's, not Docker's; its
    /// host runs no Docker and gets the CNI plugins' iptables rules.
    pub cni: Option<CniNetDef>,
}

/// A network made by CNI's reference plugins (`cni:` in a scenario).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CniNetDef {
    /// The CNI network's `name` (chain hashes and comments).
    pub name: String,
    /// The plugins of the chain that program iptables rules, in configuration order.
    pub plugins: Vec<crate::cni::iptables::RulePlugin>,
    /// bridge `hairpinMode`: hairpin on the containers' bridge ports.
    pub hairpin_mode: bool,
}

/// How a bridge network reaches beyond its host
/// (`com.docker.network.bridge.gateway_mode_ipv4`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GatewayMode {
    /// Masquerade out, published ports by DNAT, direct routed access dropped.
    #[default]
    Nat,
    /// As `nat`, but every port is open to direct routed access.
    NatUnprotected,
    /// No NAT: the network's addresses are routed; published ports are opened in the
    /// filter, not mapped; ICMP is allowed in.
    Routed,
}

impl NetworkDef {
    /// A bridge network with Docker's defaults.
    pub fn bridge(name: impl Into<String>) -> Self {
        NetworkDef {
            name: name.into(),
            driver: Driver::Bridge,
            host: None,
            internal: false,
            enable_ipv6: false,
            subnets: Vec::new(),
            mtu: None,
            icc: None,
            hosts: Vec::new(),
            parent: None,
            mode: None,
            encrypted: false,
            vni: None,
            bridge_name: None,
            gateway_mode: GatewayMode::Nat,
            masquerade: true,
            cni: None,
        }
    }
}

/// One IPAM config entry.
#[derive(Clone, Debug)]
pub struct SubnetDef {
    /// The subnet.
    pub subnet: IpNet,
    /// The gateway (default: first usable address).
    pub gateway: Option<IpAddr>,
    /// Where dynamic addresses come from (default: the whole subnet).
    pub ip_range: Option<IpNet>,
    /// `aux_addresses` (`--aux-address`): addresses IPAM never gives a container.
    pub aux_addresses: Vec<(String, IpAddr)>,
}

/// A container.
#[derive(Clone, Debug)]
pub struct ContainerDef {
    /// Its name.
    pub name: String,
    /// Its host (default: the first host).
    pub host: Option<String>,
    /// Its endpoints, in order (`eth0`, `eth1`…). Empty = the default `bridge`.
    pub networks: Vec<EndpointDef>,
    /// Published ports.
    pub ports: Vec<PublishDef>,
    /// Echo listeners inside.
    pub listen: Vec<Listen>,
    /// `--dns`: resolvers (empty = the host's).
    pub dns: Vec<IpAddr>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-opt` (`ndots:2`, `timeout:1`, `attempts:3`).
    pub dns_opt: Vec<String>,
    /// Its Kubernetes-style namespace, for NetworkPolicies (`default`).
    pub namespace: String,
    /// Its labels, for NetworkPolicies.
    pub labels: crate::policy::Labels,
    /// Named container ports, for policies' named ports (`http` = tcp/80).
    pub named_ports: Vec<crate::policy::NamedPort>,
    /// `--add-host` / compose `extra_hosts`: lines of the container's `/etc/hosts`,
    /// looked up before DNS.
    pub extra_hosts: Vec<ExtraHost>,
}

/// One `--add-host NAME:ADDRESS` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraHost {
    /// The host name.
    pub name: String,
    /// Its address.
    pub addr: HostAddr,
}

/// The address of an [`ExtraHost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAddr {
    /// A literal address.
    Ip(IpAddr),
    /// `host-gateway`: the daemon's `host-gateway-ip`, by default the address of the
    /// default bridge (`docker0`) on the container's host.
    HostGateway,
}

impl ContainerDef {
    /// A container on the default bridge of the first host.
    pub fn new(name: impl Into<String>) -> Self {
        ContainerDef {
            name: name.into(),
            host: None,
            networks: Vec::new(),
            ports: Vec::new(),
            listen: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_opt: Vec::new(),
            namespace: "default".into(),
            labels: crate::policy::Labels::new(),
            named_ports: Vec::new(),
            extra_hosts: Vec::new(),
        }
    }
}

/// A container's attachment to a network.
#[derive(Clone, Debug, Default)]
pub struct EndpointDef {
    /// The network's name.
    pub network: String,
    /// A static IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// A static IPv6 address (on a network with IPv6 enabled).
    pub ipv6: Option<Ipv6Addr>,
    /// A fixed MAC address (`--mac-address`); else derived from the IPv4 address.
    pub mac: Option<crate::net::Mac>,
    /// Network-scoped aliases.
    pub aliases: Vec<String>,
}

impl EndpointDef {
    /// An attachment to `network` with a dynamic address and no alias.
    pub fn on(network: impl Into<String>) -> Self {
        EndpointDef {
            network: network.into(),
            ..EndpointDef::default()
        }
    }
}

/// Whether two binds of one host port clash, as bind() without SO_REUSEPORT decides:
/// `None` is every address of both families (`-p 80:80`), an unspecified address
/// (`0.0.0.0`, `::`) every address of its family, else only the same address clashes.
pub(crate) fn binds_overlap(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) => {
            x == y || ((x.is_unspecified() || y.is_unspecified()) && x.is_ipv4() == y.is_ipv4())
        }
    }
}

/// A published port range (`-p [ip:]host[-end]:container[-end][/proto]`).
#[derive(Clone, Debug)]
pub struct PublishDef {
    /// Host address it binds to (`None` = all).
    pub host_ip: Option<IpAddr>,
    /// First host port (`None` = an ephemeral port chosen by the daemon).
    pub host_port: Option<u16>,
    /// First container port.
    pub container_port: u16,
    /// How many consecutive ports.
    pub count: u16,
    /// TCP or UDP.
    pub l4: L4,
}

/// Impairments of an attachment: `between` two endpoints, each `node.iface` or a LAN.
#[derive(Clone, Debug, Default)]
pub struct LinkDef {
    /// The two ends.
    pub between: [String; 2],
    /// The impairments.
    pub impair: Impair,
}

/// Link properties a scenario can set; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct Impair {
    /// One-way delay.
    pub latency: Option<SimDuration>,
    /// Extra random delay.
    pub jitter: Option<SimDuration>,
    /// Whether jitter may reorder frames (default: they keep their order).
    pub reorder: Option<bool>,
    /// Rate.
    pub rate: Option<BitRate>,
    /// Loss probability 0..=1.
    pub loss: Option<f64>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Up or down.
    pub up: Option<bool>,
}

/// A model error: which field, what is wrong, and a one-line hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    /// Dotted path of the field (`networks.appnet.ipam.config.0.subnet`).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl ModelError {
    fn new(field: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ModelError {
            field: field.into(),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ModelError {}

/// A network after IPAM.
#[derive(Clone, Debug)]
pub struct ResolvedNetwork {
    /// Its name (`bridge` for a host's default bridge).
    pub name: String,
    /// Its driver.
    pub driver: Driver,
    /// The host it lives on.
    pub host: String,
    /// Whether it is a host's predefined default bridge (no embedded DNS, `docker0`).
    pub default_bridge: bool,
    /// `internal: true`.
    pub internal: bool,
    /// The Linux device name (`docker0`, `br-appnet`).
    pub device: String,
    /// IPv4 subnet and gateway.
    pub v4: Option<(Ipv4Net, Ipv4Addr)>,
    /// IPv6 subnet and gateway.
    pub v6: Option<(Ipv6Net, Ipv6Addr)>,
    /// Further IPv4 subnets and their gateways (`--subnet` given more than once).
    pub more_v4: Vec<(Ipv4Net, Ipv4Addr)>,
    /// MTU.
    pub mtu: u32,
    /// Inter-container communication.
    pub icc: bool,
    /// Every host it is present on (one for local drivers).
    pub hosts: Vec<String>,
    /// macvlan/ipvlan: the parent NIC and its 802.1Q VLAN (`None` = a dummy parent).
    pub parent: Option<(String, Option<u16>)>,
    /// macvlan/ipvlan mode.
    pub mode: ChildMode,
    /// Overlay: VXLAN network identifier.
    pub vni: u32,
    /// Overlay: ESP between hosts.
    pub encrypted: bool,
}

/// A container endpoint after IPAM.
#[derive(Clone, Debug)]
pub struct ResolvedEndpoint {
    /// The network's index in [`Resolved::networks`].
    pub network: usize,
    /// Interface name inside the container.
    pub ifname: String,
    /// IPv4 address.
    pub v4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub v6: Option<Ipv6Addr>,
    /// A fixed MAC address (else [`ResolvedEndpoint::mac`] derives one).
    pub fixed_mac: Option<crate::net::Mac>,
    /// Aliases.
    pub aliases: Vec<String>,
}

impl ResolvedEndpoint {
    /// Its MAC address: the fixed one, else Docker's `02:42:` + the IPv4 address;
    /// `None` when it has neither (the element then numbers one).
    pub fn mac(&self) -> Option<crate::net::Mac> {
        self.fixed_mac.or(self.v4.map(crate::net::docker_mac))
    }
}

/// One published port after allocation: host address (`None` = all), host port,
/// container port, transport.
pub type Published = (Option<IpAddr>, u16, u16, L4);

/// The validated model with every address decided.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The input.
    pub model: Model,
    /// Every network, default bridges first per host.
    pub networks: Vec<ResolvedNetwork>,
    /// Endpoints per container (same order as `model.containers`).
    pub endpoints: Vec<Vec<ResolvedEndpoint>>,
    /// Published host ports per container, after ephemeral allocation.
    pub published: Vec<Vec<Published>>,
    /// What the daemon would warn about (the field and the warning).
    pub warnings: Vec<ModelError>,
}

impl ResolvedNetwork {
    /// The IPv4 subnet of the network that holds `ip`.
    pub fn v4_subnet_of(&self, ip: Ipv4Addr) -> Option<Ipv4Net> {
        self.v4
            .iter()
            .chain(self.more_v4.iter())
            .map(|(s, _)| *s)
            .find(|s| s.contains(&ip))
    }
}

impl Resolved {
    /// The same network with only the Docker hosts in `keep` (and their containers,
    /// networks and published ports); every LAN, router and external stays. Addresses
    /// are those decided for the whole model. `netloom explain` builds only the hosts
    /// a packet's path can touch: on a 10,000-container file, two of a hundred.
    pub fn slice(&self, keep: &BTreeSet<String>) -> Resolved {
        let m = &self.model;
        let default_host = m.default_host();
        let mut model = Model {
            hosts: m
                .hosts
                .iter()
                .filter(|h| keep.contains(&h.name))
                .cloned()
                .collect(),
            containers: Vec::new(),
            links: Vec::new(),
            ..m.clone_without_hosts_and_containers()
        };
        let mut networks = Vec::new();
        let mut renumber = vec![None; self.networks.len()];
        for (i, n) in self.networks.iter().enumerate() {
            if keep.contains(&n.host) {
                renumber[i] = Some(networks.len());
                let mut n = n.clone();
                n.hosts.retain(|h| keep.contains(h));
                networks.push(n);
            }
        }
        let mut endpoints = Vec::new();
        let mut published = Vec::new();
        let mut kept_names = BTreeSet::new();
        for (ci, c) in m.containers.iter().enumerate() {
            let host = c.host.clone().unwrap_or_else(|| default_host.clone());
            if !keep.contains(&host) {
                continue;
            }
            let mut c = c.clone();
            c.host = Some(host);
            kept_names.insert(c.name.clone());
            model.containers.push(c);
            endpoints.push(
                self.endpoints[ci]
                    .iter()
                    .filter_map(|ep| {
                        let mut ep = ep.clone();
                        ep.network = renumber[ep.network]?;
                        Some(ep)
                    })
                    .collect(),
            );
            published.push(self.published[ci].clone());
        }
        // Impairments whose ends are still there.
        let dropped = |end: &str| {
            let machine = end.split_once('.').map_or(end, |(a, _)| a);
            (m.hosts.iter().any(|h| h.name == machine) && !keep.contains(machine))
                || (m.containers.iter().any(|c| c.name == machine) && !kept_names.contains(machine))
        };
        model.links = m
            .links
            .iter()
            .filter(|l| !l.between.iter().any(|e| dropped(e)))
            .cloned()
            .collect();
        Resolved {
            model,
            networks,
            endpoints,
            published,
            warnings: self.warnings.clone(),
        }
    }

    /// The network `name` on `host`.
    pub fn network(&self, host: &str, name: &str) -> Option<usize> {
        self.networks
            .iter()
            .position(|n| n.host == host && n.name == name)
    }
}

impl Model {
    /// A copy of everything but the hosts, containers and links (which
    /// [`Resolved::slice`] filters).
    fn clone_without_hosts_and_containers(&self) -> Model {
        Model {
            hosts: Vec::new(),
            lans: self.lans.clone(),
            routers: self.routers.clone(),
            externals: self.externals.clone(),
            networks: self.networks.clone(),
            containers: Vec::new(),
            links: Vec::new(),
            cluster: self.cluster.clone(),
            policies_ignored: self.policies_ignored,
        }
    }

    /// Validates the model like the Docker daemon and decides every address.
    ///
    /// # Errors
    /// Every problem found, each naming its field.
    pub fn resolve(&self) -> Result<Resolved, Vec<ModelError>> {
        ipam::resolve(self)
    }

    /// Whether `end` names a LAN or an interface `node.iface` (a NIC of a host or
    /// router, `eth0` of an external, `ethN` of a container).
    pub fn has_endpoint(&self, end: &str) -> bool {
        ipam::endpoint_exists(self, end)
    }

    /// The name of the host a container or network without `host` lands on.
    pub fn default_host(&self) -> String {
        self.hosts
            .first()
            .map_or_else(|| "host1".to_string(), |h| h.name.clone())
    }

    /// Every name a step may use, with what it is.
    pub fn names(&self) -> BTreeMap<String, &'static str> {
        let mut m = BTreeMap::new();
        for h in &self.hosts {
            m.insert(h.name.clone(), "host");
        }
        for r in &self.routers {
            m.insert(r.name.clone(), "router");
        }
        for e in &self.externals {
            m.insert(e.name.clone(), "external");
        }
        for c in &self.containers {
            m.insert(c.name.clone(), "container");
        }
        m
    }
}
