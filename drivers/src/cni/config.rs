//! A CNI network configuration (`.conflist`, or a single-plugin `.conf`) as data: the
//! keys the reference plugins read, checked as they check them, each problem placed at
//! its line and column.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;

/// A problem in a configuration, at a place in its text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ConfigError {
    /// 1-based line (0 when the problem has no place).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, naming the field.
    pub message: String,
    /// The CNI error code the plugins would return (6 = decoding failed, 7 = invalid
    /// network configuration).
    pub code: u32,
}

/// The network configuration list.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfList {
    /// `cniVersion`.
    pub cni_version: String,
    /// `name`: the network's name (in chain names and comments).
    pub name: String,
    /// `disableCheck`.
    pub disable_check: bool,
    /// The plugins, in the order they run on ADD.
    pub plugins: Vec<PluginConf>,
    /// Types no model exists for, with their place (plugins that would have run).
    pub unknown: Vec<(String, usize, usize)>,
    /// What was left out, with its place (IPv6 ranges and routes).
    pub skipped: Vec<(String, usize, usize)>,
}

/// The interface-creating plugins and the chained ones netloom models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginKind {
    /// `bridge`.
    Bridge,
    /// `macvlan`.
    Macvlan,
    /// `ipvlan`.
    Ipvlan,
    /// `loopback`.
    Loopback,
    /// `portmap`.
    Portmap,
    /// `bandwidth`.
    Bandwidth,
    /// `firewall`.
    Firewall,
    /// `tuning`.
    Tuning,
}

impl PluginKind {
    fn from_type(t: &str) -> Option<Self> {
        Some(match t {
            "bridge" => PluginKind::Bridge,
            "macvlan" => PluginKind::Macvlan,
            "ipvlan" => PluginKind::Ipvlan,
            "loopback" => PluginKind::Loopback,
            "portmap" => PluginKind::Portmap,
            "bandwidth" => PluginKind::Bandwidth,
            "firewall" => PluginKind::Firewall,
            "tuning" => PluginKind::Tuning,
            _ => return None,
        })
    }

    /// Whether it creates the container's interface (and calls IPAM).
    pub fn is_main(&self) -> bool {
        matches!(
            self,
            PluginKind::Bridge | PluginKind::Macvlan | PluginKind::Ipvlan
        )
    }
}

/// One plugin's configuration (the keys of every modelled plugin; each reads its own).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPlugin {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// bridge: the bridge device (default `cni0`).
    pub bridge: Option<String>,
    /// bridge: the bridge gets the gateway address.
    #[serde(default)]
    pub is_gateway: bool,
    /// bridge: default route via the gateway (implies `isGateway`).
    #[serde(default)]
    pub is_default_gateway: bool,
    /// bridge: masquerade traffic leaving the subnet (the `CNI-<hash>` chains).
    #[serde(default)]
    pub ip_masq: bool,
    /// bridge: hairpin mode on the container's bridge port.
    #[serde(default)]
    pub hairpin_mode: bool,
    /// bridge, macvlan, ipvlan, tuning: the interface MTU.
    pub mtu: Option<u32>,
    /// macvlan / ipvlan: the parent interface (default: the host's default-route one).
    pub master: Option<String>,
    /// macvlan (`bridge`, `private`, `vepa`, `passthru`) / ipvlan (`l2`, `l3`, `l3s`).
    pub mode: Option<String>,
    /// The IPAM plugin's configuration.
    pub ipam: Option<IpamConf>,
    /// `dns` passed through to the result.
    pub dns: Option<Dns>,
    /// portmap: masquerade hairpin and localhost traffic (default true).
    pub snat: Option<bool>,
    /// portmap: the mark bit (default 13).
    pub mark_masq_bit: Option<u32>,
    /// Capabilities the runtime fills (`portMappings`, `bandwidth`…).
    #[serde(default)]
    pub capabilities: BTreeMap<String, bool>,
    /// Runtime configuration written in the file (portmap's `portMappings`).
    pub runtime_config: Option<RuntimeConfig>,
    /// bandwidth: bits per second into the container.
    pub ingress_rate: Option<u64>,
    /// bandwidth: bits of burst into the container.
    pub ingress_burst: Option<u64>,
    /// bandwidth: bits per second out of the container.
    pub egress_rate: Option<u64>,
    /// bandwidth: bits of burst out of the container.
    pub egress_burst: Option<u64>,
    /// firewall: the admin chain (default `CNI-ADMIN`).
    pub iptables_admin_chain_name: Option<String>,
    /// firewall: `iptables` (default) or `firewalld`.
    pub backend: Option<String>,
    /// firewall: `open` (default), `same-bridge` or `isolated`.
    pub ingress_policy: Option<String>,
    /// tuning: the container interface's MAC.
    pub mac: Option<String>,
    /// tuning: promiscuous mode.
    pub promisc: Option<bool>,
    /// tuning: sysctls set in the container.
    pub sysctl: Option<BTreeMap<String, String>>,
}

/// A plugin of the chain, its type known.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginConf {
    /// Which plugin.
    pub kind: PluginKind,
    /// Its keys.
    pub raw: RawPlugin,
}

/// `runtimeConfig`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// portmap's mappings.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
}

/// One `portMappings` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Host port.
    pub host_port: i64,
    /// Container port.
    pub container_port: i64,
    /// `tcp` or `udp` (default tcp).
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Host address (empty = every address).
    #[serde(default, rename = "hostIP")]
    pub host_ip: String,
}

fn tcp() -> String {
    "tcp".into()
}

/// `dns` of a configuration or a result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Dns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// The `ipam` section (host-local or static).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamConf {
    /// `host-local` or `static`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// host-local, old style: one range.
    pub subnet: Option<String>,
    /// host-local, old style.
    pub range_start: Option<String>,
    /// host-local, old style.
    pub range_end: Option<String>,
    /// host-local, old style.
    pub gateway: Option<String>,
    /// host-local: range sets (one address from each set).
    #[serde(default)]
    pub ranges: Vec<Vec<RawRange>>,
    /// Routes given to the container.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// static: the addresses.
    #[serde(default)]
    pub addresses: Vec<RawStatic>,
    /// static / host-local: DNS.
    pub dns: Option<Dns>,
}

/// One host-local range as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawRange {
    /// The subnet.
    #[serde(default)]
    pub subnet: String,
    /// First address handed out.
    pub range_start: Option<String>,
    /// Last address handed out.
    pub range_end: Option<String>,
    /// The gateway (skipped by the allocator).
    pub gateway: Option<String>,
}

/// One route as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RawRoute {
    /// Destination.
    #[serde(default)]
    pub dst: String,
    /// Next hop (default: the range's gateway).
    pub gw: Option<String>,
}

/// One static address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RawStatic {
    /// `10.10.0.1/24`.
    #[serde(default)]
    pub address: String,
    /// The gateway.
    pub gateway: Option<String>,
}

/// A host-local range, checked and completed as `Range.Canonicalize` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The subnet (no host bits).
    pub subnet: Ipv4Net,
    /// First address handed out (default: the subnet's first).
    pub start: Ipv4Addr,
    /// Last (default: the one before the broadcast).
    pub end: Ipv4Addr,
    /// The gateway (default: the subnet's first address).
    pub gateway: Ipv4Addr,
}

impl Range {
    /// Whether `a` is in the subnet and between start and end.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.subnet.contains(&a) && a >= self.start && a <= self.end
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A route, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination.
    pub dst: IpNet,
    /// Next hop (`None`: the gateway of the result).
    pub gw: Option<IpAddr>,
}

/// The IPAM configuration, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ipam {
    /// host-local: range sets (IPv4 only here).
    HostLocal {
        /// One address is taken from each set.
        range_sets: Vec<Vec<Range>>,
        /// Routes.
        routes: Vec<Route>,
    },
    /// static: the same addresses for every container.
    Static {
        /// (address with prefix, gateway).
        addresses: Vec<(Ipv4Net, Option<Ipv4Addr>)>,
        /// Routes.
        routes: Vec<Route>,
    },
}

impl NetConfList {
    /// Parses a `.conflist` or a single-plugin `.conf` (recognised by a top-level
    /// `type`), checking what the plugins check.
    ///
    /// # Errors
    /// The first problem, at its line and column, naming the field.
    pub fn parse(text: &str) -> Result<NetConfList, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| json_error(text, &e))?;
        let single = value.get("type").is_some() && value.get("plugins").is_none();
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            #[serde(default)]
            cni_version: String,
            #[serde(default)]
            name: String,
            #[serde(default)]
            disable_check: bool,
            plugins: Option<Vec<RawPlugin>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Single {
            #[serde(default)]
            cni_version: String,
            #[serde(default)]
            name: String,
            #[serde(flatten)]
            plugin: RawPlugin,
        }
        let (cni_version, name, disable_check, raws) = if single {
            let s: Single = serde_json::from_str(text).map_err(|e| json_error(text, &e))?;
            (s.cni_version, s.name, false, vec![s.plugin])
        } else {
            let l: List = serde_json::from_str(text).map_err(|e| json_error(text, &e))?;
            let Some(p) = l.plugins else {
                return Err(at(
                    text,
                    "{",
                    "error parsing configuration list: no 'plugins' key",
                ));
            };
            (l.cni_version, l.name, l.disable_check, p)
        };
        if name.is_empty() {
            return Err(at(text, "{", "error parsing configuration list: no name"));
        }
        if raws.is_empty() {
            return Err(at(
                text,
                "\"plugins\"",
                "error parsing configuration list: no plugins in list",
            ));
        }
        let mut plugins = Vec::new();
        let mut unknown = Vec::new();
        for r in raws {
            match PluginKind::from_type(&r.kind) {
                Some(kind) => plugins.push(PluginConf { kind, raw: r }),
                None => {
                    let (l, c) = locate(text, "type", Some(&r.kind));
                    unknown.push((r.kind.clone(), l, c));
                }
            }
        }
        let mut list = NetConfList {
            cni_version,
            name,
            disable_check,
            plugins,
            unknown,
            skipped: Vec::new(),
        };
        list.check(text)?;
        if let Some(ipam) = list.main().and_then(|m| m.raw.ipam.clone()) {
            let mut skipped = Vec::new();
            check_ipam(text, &ipam, &mut skipped)?;
            list.skipped = skipped;
        }
        Ok(list)
    }

    /// The interface plugin (bridge, macvlan or ipvlan).
    pub fn main(&self) -> Option<&PluginConf> {
        self.plugins.iter().find(|p| p.kind.is_main())
    }

    /// The first plugin of `kind`.
    pub fn plugin(&self, kind: &PluginKind) -> Option<&PluginConf> {
        self.plugins.iter().find(|p| &p.kind == kind)
    }

    /// The main plugin's IPAM, checked.
    ///
    /// # Errors
    /// As [`NetConfList::parse`] (it is checked there too).
    pub fn ipam(&self, text: &str) -> Result<Option<Ipam>, ConfigError> {
        let Some(ipam) = self.main().and_then(|m| m.raw.ipam.as_ref()) else {
            return Ok(None);
        };
        check_ipam(text, ipam, &mut Vec::new()).map(Some)
    }

    fn check(&self, text: &str) -> Result<(), ConfigError> {
        if self.main().is_none() {
            let names: Vec<&str> = self.unknown.iter().map(|u| u.0.as_str()).collect();
            let (l, c) = self.unknown.first().map_or((1, 1), |u| (u.1, u.2));
            return Err(ConfigError {
                line: l,
                column: c,
                message: if names.is_empty() {
                    "no interface plugin: netloom models bridge, macvlan and ipvlan".into()
                } else {
                    format!(
                        "plugin type {:?} is not modelled: netloom models the interface plugins bridge, macvlan and ipvlan (and loopback, portmap, bandwidth, firewall, tuning chained after them)",
                        names[0]
                    )
                },
                code: 7,
            });
        }
        for p in &self.plugins {
            let r = &p.raw;
            match p.kind {
                PluginKind::Macvlan => {
                    if let Some(m) = &r.mode
                        && !["bridge", "private", "vepa", "passthru"].contains(&m.as_str())
                    {
                        return Err(at_value(
                            text,
                            "mode",
                            m,
                            format!("mode: unknown macvlan mode: {m}"),
                        ));
                    }
                }
                PluginKind::Ipvlan => {
                    if let Some(m) = &r.mode
                        && !["l2", "l3", "l3s"].contains(&m.as_str())
                    {
                        return Err(at_value(
                            text,
                            "mode",
                            m,
                            format!("mode: unknown ipvlan mode: {m}"),
                        ));
                    }
                }
                PluginKind::Portmap => {
                    if let Some(b) = r.mark_masq_bit
                        && b > 31
                    {
                        return Err(at(
                            text,
                            "\"markMasqBit\"",
                            "markMasqBit: MasqMarkBit must be between 0 and 31",
                        ));
                    }
                    for m in r.runtime_config.iter().flat_map(|c| &c.port_mappings) {
                        if m.container_port <= 0 || m.container_port > 65535 {
                            return Err(at(
                                text,
                                "\"containerPort\"",
                                &format!(
                                    "containerPort: Invalid container port number: {}",
                                    m.container_port
                                ),
                            ));
                        }
                        if m.host_port <= 0 || m.host_port > 65535 {
                            return Err(at(
                                text,
                                "\"hostPort\"",
                                &format!("hostPort: Invalid host port number: {}", m.host_port),
                            ));
                        }
                        if !["tcp", "udp"].contains(&m.protocol.to_ascii_lowercase().as_str()) {
                            return Err(at_value(
                                text,
                                "protocol",
                                &m.protocol,
                                format!("protocol: unknown protocol {:?} (tcp or udp)", m.protocol),
                            ));
                        }
                        if !m.host_ip.is_empty() && m.host_ip.parse::<IpAddr>().is_err() {
                            return Err(at_value(
                                text,
                                "hostIP",
                                &m.host_ip,
                                format!("hostIP: invalid IP address {:?}", m.host_ip),
                            ));
                        }
                    }
                }
                PluginKind::Tuning => {
                    if let Some(m) = &r.mac
                        && parse_mac(m).is_none()
                    {
                        return Err(at_value(
                            text,
                            "mac",
                            m,
                            format!("mac: invalid MAC address {m:?}"),
                        ));
                    }
                }
                PluginKind::Firewall => {
                    if let Some(p) = &r.ingress_policy
                        && super::iptables::IngressPolicy::parse(p).is_none()
                    {
                        return Err(at_value(
                            text,
                            "ingressPolicy",
                            p,
                            format!("ingressPolicy: unknown ingress policy: {p:?}"),
                        ));
                    }
                    if let Some(b) = &r.backend
                        && b != "iptables"
                    {
                        return Err(at_value(
                            text,
                            "backend",
                            b,
                            format!("backend: {b:?} is not modelled (only iptables)"),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for (i, part) in s.split(':').enumerate() {
        if i >= 6 || part.len() != 2 {
            return None;
        }
        out[i] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

fn check_ipam(
    text: &str,
    ipam: &IpamConf,
    skipped: &mut Vec<(String, usize, usize)>,
) -> Result<Ipam, ConfigError> {
    let routes =
        ipam.routes
            .iter()
            .map(|r| {
                let dst = r.dst.parse::<IpNet>().map_err(|_| {
                    at_value(
                        text,
                        "dst",
                        &r.dst,
                        format!("routes: dst: invalid CIDR address: {}", r.dst),
                    )
                })?;
                let gw = match &r.gw {
                    Some(g) => Some(g.parse::<IpAddr>().map_err(|_| {
                        at_value(text, "gw", g, format!("routes: gw: invalid IP address: {g}"))
                    })?),
                    None => None,
                };
                Ok(Route { dst, gw })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
    let (v4_routes, v6_routes): (Vec<Route>, Vec<Route>) =
        routes.into_iter().partition(|r| r.dst.addr().is_ipv4());
    for r in v6_routes {
        let (l, c) = locate(text, "dst", Some(&r.dst.to_string()));
        skipped.push((format!("IPv6 route {} is not modelled; left out", r.dst), l, c));
    }
    let routes = v4_routes;
    match ipam.kind.as_str() {
        "host-local" => {
            let mut sets: Vec<Vec<RawRange>> = Vec::new();
            if let Some(s) = &ipam.subnet {
                sets.push(vec![RawRange {
                    subnet: s.clone(),
                    range_start: ipam.range_start.clone(),
                    range_end: ipam.range_end.clone(),
                    gateway: ipam.gateway.clone(),
                }]);
            }
            sets.extend(ipam.ranges.iter().cloned());
            if sets.is_empty() {
                return Err(at(text, "\"ipam\"", "ipam: no IP ranges specified"));
            }
            let mut range_sets = Vec::new();
            for (i, set) in sets.iter().enumerate() {
                // An IPv6 range set (dual stack) is left out: the model is IPv4 here.
                if set
                    .iter()
                    .any(|r| r.subnet.parse::<IpNet>().is_ok_and(|n| n.addr().is_ipv6()))
                {
                    let (l, c) = locate(text, "subnet", Some(&set[0].subnet));
                    skipped.push((
                        format!(
                            "range set {i} ({}) is IPv6: not modelled, left out",
                            set[0].subnet
                        ),
                        l,
                        c,
                    ));
                    continue;
                }
                if set.is_empty() {
                    return Err(at(
                        text,
                        "\"ranges\"",
                        &format!("ipam: ranges: invalid range set {i}: empty range set"),
                    ));
                }
                let mut out: Vec<Range> = Vec::new();
                for r in set {
                    let range = check_range(text, r)?;
                    if let Some(o) = out.iter().find(|o| overlaps(o, &range)) {
                        return Err(at_value(
                            text,
                            "subnet",
                            &r.subnet,
                            format!("ipam: ranges: invalid range set {i}: subnets {o} and {range} overlap"),
                        ));
                    }
                    out.push(range);
                }
                range_sets.push(out);
            }
            if range_sets.is_empty() {
                return Err(at(
                    text,
                    "\"ipam\"",
                    "ipam: no IPv4 range (IPv6 ranges are not modelled)",
                ));
            }
            for i in 0..range_sets.len() {
                for j in i + 1..range_sets.len() {
                    if range_sets[i]
                        .iter()
                        .any(|a| range_sets[j].iter().any(|b| overlaps(a, b)))
                    {
                        return Err(at(
                            text,
                            "\"ranges\"",
                            &format!("ipam: ranges: range set {i} overlaps with {j}"),
                        ));
                    }
                }
            }
            Ok(Ipam::HostLocal { range_sets, routes })
        }
        "static" => {
            let mut addresses = Vec::new();
            for a in &ipam.addresses {
                let net = a.address.parse::<Ipv4Net>().map_err(|_| {
                    at_value(
                        text,
                        "address",
                        &a.address,
                        format!(
                            "ipam: addresses: address: invalid CIDR address: {} (IPv4 only here)",
                            a.address
                        ),
                    )
                })?;
                let gw = match &a.gateway {
                    Some(g) => Some(g.parse::<Ipv4Addr>().map_err(|_| {
                        at_value(
                            text,
                            "gateway",
                            g,
                            format!("ipam: addresses: gateway: invalid IP address: {g}"),
                        )
                    })?),
                    None => None,
                };
                addresses.push((net, gw));
            }
            if addresses.is_empty() {
                return Err(at(
                    text,
                    "\"ipam\"",
                    "ipam: static: no addresses (netloom takes them from the file, not from CNI_ARGS)",
                ));
            }
            Ok(Ipam::Static { addresses, routes })
        }
        "" => Err(at(text, "\"ipam\"", "ipam: type: missing (host-local or static)")),
        other => Err(at_value(
            text,
            "type",
            other,
            format!("ipam: type: IPAM plugin {other:?} is not modelled (host-local or static)"),
        )),
    }
}

fn overlaps(a: &Range, b: &Range) -> bool {
    a.contains(b.start) || a.contains(b.end) || b.contains(a.start) || b.contains(a.end)
}

fn check_range(text: &str, r: &RawRange) -> Result<Range, ConfigError> {
    let net: IpNet = r.subnet.parse().map_err(|_| {
        at_value(
            text,
            "subnet",
            &r.subnet,
            format!("subnet: invalid CIDR address: {}", r.subnet),
        )
    })?;
    let IpNet::V4(subnet) = net else {
        return Err(at_value(
            text,
            "subnet",
            &r.subnet,
            format!("subnet: {}: IPv6 ranges are not modelled", r.subnet),
        ));
    };
    if subnet.prefix_len() > 30 {
        return Err(at_value(
            text,
            "subnet",
            &r.subnet,
            format!("subnet: Network {subnet} too small to allocate from"),
        ));
    }
    if subnet.addr() != subnet.network() {
        return Err(at_value(
            text,
            "subnet",
            &r.subnet,
            format!(
                "subnet: Network has host bits set. For a subnet mask of length {} the network address is {}",
                subnet.prefix_len(),
                subnet.network()
            ),
        ));
    }
    let ip = |key: &str, v: &Option<String>| -> Result<Option<Ipv4Addr>, ConfigError> {
        match v {
            None => Ok(None),
            Some(s) => s
                .parse::<Ipv4Addr>()
                .map(Some)
                .map_err(|_| at_value(text, key, s, format!("{key}: invalid IP address: {s}"))),
        }
    };
    let first = Ipv4Addr::from(u32::from(subnet.network()) + 1);
    let last = Ipv4Addr::from(u32::from(subnet.broadcast()) - 1);
    let gateway = ip("gateway", &r.gateway)?.unwrap_or(first);
    let start = ip("rangeStart", &r.range_start)?;
    let end = ip("rangeEnd", &r.range_end)?;
    if let Some(s) = start
        && !subnet.contains(&s)
    {
        return Err(at_value(
            text,
            "rangeStart",
            r.range_start.as_deref().unwrap_or(""),
            format!("rangeStart: RangeStart {s} not in network {subnet}"),
        ));
    }
    if let Some(e) = end
        && !subnet.contains(&e)
    {
        return Err(at_value(
            text,
            "rangeEnd",
            r.range_end.as_deref().unwrap_or(""),
            format!("rangeEnd: RangeEnd {e} not in network {subnet}"),
        ));
    }
    let start = start.unwrap_or(first);
    let end = end.unwrap_or(last);
    if start > end {
        return Err(at_value(
            text,
            "rangeEnd",
            r.range_end.as_deref().unwrap_or(""),
            format!("rangeEnd: {end} is before rangeStart {start}"),
        ));
    }
    Ok(Range {
        subnet,
        start,
        end,
        gateway,
    })
}

/// An error from serde_json, placed, naming the key before the place.
fn json_error(text: &str, e: &serde_json::Error) -> ConfigError {
    let (line, column) = (e.line(), e.column());
    let msg = e.to_string();
    // serde_json appends " at line L column C": the place is given apart.
    let msg = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(m, _)| m)
        .to_string();
    let key = if e.is_data() {
        key_before(text, line, column)
    } else {
        None
    };
    ConfigError {
        line,
        column,
        message: match key {
            Some(k) => format!("{k}: {msg}"),
            None => msg,
        },
        code: 6,
    }
}

/// The JSON key written last before `line:column`.
fn key_before(text: &str, line: usize, column: usize) -> Option<String> {
    let off: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + column;
    let head = text.get(..off.min(text.len()))?;
    let colon = head.rfind("\":")?;
    let before = &head[..colon];
    let open = before.rfind('"')?;
    Some(before[open + 1..].to_string())
}

/// Where `"key"` is written (with `value` after it when given), 1-based; the first
/// `"key"` when the value is not found; 1:1 when neither is.
pub fn locate(text: &str, key: &str, value: Option<&str>) -> (usize, usize) {
    let k = format!("\"{key}\"");
    let mut first = None;
    let mut from = 0;
    while let Some(i) = text[from..].find(&k) {
        let at = from + i;
        first.get_or_insert(at);
        if let Some(v) = value {
            let rest = text[at + k.len()..].trim_start();
            if let Some(rest) = rest.strip_prefix(':') {
                let rest = rest.trim_start();
                if rest.starts_with(&format!("\"{v}\"")) || rest.starts_with(v) {
                    return line_col(text, at);
                }
            }
        } else {
            return line_col(text, at);
        }
        from = at + k.len();
    }
    first.map_or((1, 1), |a| line_col(text, a))
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let head = &text[..at];
    let line = head.matches('\n').count() + 1;
    let col = head
        .rfind('\n')
        .map_or(head.chars().count(), |n| head[n + 1..].chars().count())
        + 1;
    (line, col)
}

fn at(text: &str, needle: &str, message: &str) -> ConfigError {
    let (line, column) = text.find(needle).map_or((1, 1), |a| line_col(text, a));
    ConfigError {
        line,
        column,
        message: message.to_string(),
        code: 7,
    }
}

fn at_value(text: &str, key: &str, value: &str, message: String) -> ConfigError {
    let (line, column) = locate(text, key, Some(value));
    ConfigError {
        line,
        column,
        message,
        code: 7,
    }
}
