//! The Docker daemon's state: networks and containers in creation order, their
//! addresses and published ports, and the errors the daemon gives, word for word
//! (moby's `daemon/network.go`, `daemon/container_operations.go`,
//! `daemon/libnetwork/error.go`, `ipams/defaultipam`, `portallocator`).
//!
//! Addresses are Docker's: the local IPAM hands out the lowest free address of the
//! pool or of its `ip-range` (`serial` is off for local networks; only swarm's
//! allocator asks for it), so an address freed by a stopped or removed container is
//! the next one given out. A container's dynamic addresses are taken when it starts
//! and released when it stops, as libnetwork deletes its endpoints; a `--ip` is
//! kept across restarts. Host ports are taken at start too, and `-p 80` draws from
//! the ephemeral range upwards from where the last draw ended, as the port allocator
//! does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use indexmap::IndexMap;
use ipnet::{Ipv4Net, Ipv6Net};

use super::parse::{NetCreate, RunSpec};
use crate::compose::HOST_ADDR;

/// The Docker host's name in the lab.
pub const HOST: &str = "host1";

/// The host's LAN subnet (eth0).
pub fn lan_subnet() -> Ipv4Net {
    Ipv4Net::new(HOST_ADDR.parse().unwrap_or(Ipv4Addr::UNSPECIFIED), 24)
        .map(|n| n.trunc())
        .unwrap_or_default()
}

/// A network.
#[derive(Clone, Debug)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// bridge, host, null (`none`), macvlan, ipvlan.
    pub driver: String,
    /// IPv4 subnet and gateway (none for host / none).
    pub v4: Option<(Ipv4Net, Ipv4Addr)>,
    /// The subnet was given with `--subnet`.
    pub user_subnet: bool,
    /// `--ip-range`.
    pub ip_range: Option<Ipv4Net>,
    /// `--ipv6` and its subnet, when given.
    pub ipv6: bool,
    /// `--subnet` of IPv6, with its gateway.
    pub v6: Option<(Ipv6Net, Option<Ipv6Addr>)>,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// `-o` options, as given.
    pub options: IndexMap<String, String>,
    /// `bridge`, `host` and `none`.
    pub predefined: bool,
}

/// A container's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Created, never started (or its start failed).
    Created,
    /// Running.
    Running,
    /// Stopped.
    Exited,
}

/// A container's attachment to a network.
#[derive(Clone, Debug)]
pub struct Attach {
    /// The network's name.
    pub network: String,
    /// `--ip`.
    pub static_ip: Option<Ipv4Addr>,
    /// The address held while running.
    pub ip: Option<Ipv4Addr>,
    /// `--network-alias` / `--alias`.
    pub aliases: Vec<String>,
}

/// A published port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Host address (`None`: every address).
    pub host_ip: Option<IpAddr>,
    /// Host port asked for (`None`: an ephemeral one).
    pub host_port: Option<u16>,
    /// Container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
}

/// A container.
#[derive(Clone, Debug)]
pub struct Container {
    /// Its name (without Docker's leading `/`).
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// Its image.
    pub image: String,
    /// Its command.
    pub cmd: Vec<String>,
    /// Created, running or exited.
    pub state: State,
    /// Its networks, in the order joined; `host` or `none` alone.
    pub nets: Vec<Attach>,
    /// `-p`.
    pub publish: Vec<Publish>,
    /// Host ports held while running: (host ip, host port, container port, proto).
    pub bound: Vec<(Option<IpAddr>, u16, u16, String)>,
    /// Ports something listens on inside: (proto, port).
    pub listen: Vec<(String, u16)>,
    /// `--dns`, `--dns-search`, `--dns-option`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    pub dns_opt: Vec<String>,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<(String, IpAddr)>,
    /// `--hostname` (default: the first 12 digits of the id).
    pub hostname: String,
    /// `--rm`.
    pub auto_remove: bool,
    /// The exit status of its last run (1 when its program could not start).
    pub exit_code: i32,
    /// `--ip6` (on the first network).
    pub ip6: Option<Ipv6Addr>,
    /// `--mac-address`.
    pub mac: Option<String>,
}

impl Container {
    /// Whether it uses the host's network namespace.
    pub fn host_mode(&self) -> bool {
        self.nets.iter().any(|a| a.network == "host")
    }
}

/// The daemon.
#[derive(Clone, Debug)]
pub struct Daemon {
    /// Networks, predefined first, then in creation order.
    pub networks: Vec<Network>,
    /// Containers in creation order.
    pub containers: Vec<Container>,
    /// Objects created so far (ids hash it in).
    seq: u64,
    /// Where the next ephemeral host port search starts.
    next_ephemeral: u16,
}

/// The ephemeral range the port allocator draws from (Linux's default
/// `ip_local_port_range`).
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let sixteens = (17..=31u8).filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok());
    let twenties = (0..16u8).filter_map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).ok());
    sixteens.chain(twenties)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A deterministic 64-hex-digit id from a kind, a name and a creation index.
pub fn make_id(kind: &str, name: &str, seq: u64) -> String {
    crate::shell::inspect::id_of(kind, &format!("{name}#{seq}"))
}

/// `Error response from daemon: …`.
pub fn daemon_err(msg: impl std::fmt::Display) -> String {
    format!("Error response from daemon: {msg}")
}

impl Default for Daemon {
    fn default() -> Self {
        Self::new()
    }
}

impl Daemon {
    /// A fresh daemon: `bridge` (172.17.0.0/16), `host` and `none`.
    pub fn new() -> Daemon {
        let bridge = Network {
            name: "bridge".into(),
            id: make_id("network", "bridge", 0),
            driver: "bridge".into(),
            v4: Ipv4Net::new(Ipv4Addr::new(172, 17, 0, 0), 16)
                .ok()
                .map(|n| (n, Ipv4Addr::new(172, 17, 0, 1))),
            user_subnet: false,
            ip_range: None,
            ipv6: false,
            v6: None,
            internal: false,
            attachable: false,
            options: IndexMap::new(),
            predefined: true,
        };
        let special = |name: &str, driver: &str| Network {
            name: name.into(),
            id: make_id("network", name, 0),
            driver: driver.into(),
            v4: None,
            predefined: true,
            ..bridge.clone()
        };
        Daemon {
            networks: vec![bridge.clone(), special("host", "host"), special("none", "null")],
            containers: Vec::new(),
            seq: 0,
            next_ephemeral: EPHEMERAL.0,
        }
    }

    /// A network by name, full id or unique id prefix, as the daemon looks it up.
    pub fn network(&self, key: &str) -> Option<usize> {
        if let Some(i) = self.networks.iter().position(|n| n.name == key || n.id == key) {
            return Some(i);
        }
        let by_prefix: Vec<usize> = (0..self.networks.len())
            .filter(|&i| !key.is_empty() && self.networks[i].id.starts_with(key))
            .collect();
        (by_prefix.len() == 1).then(|| by_prefix[0])
    }

    /// A container by name (a leading `/` allowed), full id or unique id prefix.
    pub fn container(&self, key: &str) -> Option<usize> {
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(i) = self.containers.iter().position(|c| c.name == name || c.id == key) {
            return Some(i);
        }
        let by_prefix: Vec<usize> = (0..self.containers.len())
            .filter(|&i| !key.is_empty() && self.containers[i].id.starts_with(key))
            .collect();
        (by_prefix.len() == 1).then(|| by_prefix[0])
    }

    /// `No such container: KEY` unless it exists.
    pub fn need_container(&self, key: &str) -> Result<usize, String> {
        self.container(key)
            .ok_or_else(|| daemon_err(format!("No such container: {key}")))
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// `docker network create`.
    ///
    /// # Errors
    /// The daemon's message.
    pub fn network_create(&mut self, c: &NetCreate) -> Result<String, String> {
        if self
            .network(&c.name)
            .is_some_and(|i| self.networks[i].name == c.name)
        {
            return Err(daemon_err(format!("network with name {} already exists", c.name)));
        }
        let driver = c.driver.as_str();
        match driver {
            "bridge" | "macvlan" | "ipvlan" => {}
            "overlay" => {
                return Err(daemon_err(
                    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
                ));
            }
            "host" | "null" | "none" => {
                let t = if driver == "none" { "null" } else { driver };
                return Err(daemon_err(format!(
                    "only one instance of \"{t}\" network is allowed"
                )));
            }
            other => return Err(daemon_err(format!("plugin \"{other}\" not found"))),
        }
        // The bridge driver parses the MTU option (`strconv.Atoi`), refuses a negative
        // one, and the kernel refuses to set one outside 68..=65535 on the bridge
        // (EINVAL). macvlan and ipvlan ignore the option.
        if driver == "bridge"
            && let Some(m) = c.options.get("com.docker.network.driver.mtu")
        {
            match m.parse::<i64>() {
                Err(_) => {
                    return Err(daemon_err(format!("strconv.Atoi: parsing {m:?}: invalid syntax")));
                }
                Ok(n) if n < 0 => return Err(daemon_err(format!("invalid MTU number: {n}"))),
                Ok(n) if n != 0 && !(68..=65535).contains(&n) => {
                    return Err(daemon_err("invalid argument"));
                }
                Ok(_) => {}
            }
        }
        let mut errs: Vec<String> = Vec::new();
        let mut v4: Option<(Ipv4Net, Option<Ipv4Addr>, Option<Ipv4Net>)> = None;
        let mut v6: Option<(Ipv6Net, Option<Ipv6Addr>)> = None;
        for (i, s) in c.subnets.iter().enumerate() {
            let gw = c.gateways.get(i);
            let range = c.ip_ranges.get(i);
            match s.parse::<ipnet::IpNet>() {
                Ok(ipnet::IpNet::V4(n)) => {
                    if n.trunc() != n {
                        errs.push(format!("invalid subnet {n}: it should be {}", n.trunc()));
                    }
                    let gw = match gw.map(|g| g.parse::<Ipv4Addr>()) {
                        None => None,
                        Some(Ok(g)) if n.contains(&g) => Some(g),
                        Some(Ok(g)) => {
                            errs.push(format!(
                                "invalid gateway {g}: parent subnet {} doesn't contain this address",
                                n.trunc()
                            ));
                            None
                        }
                        Some(Err(_)) => {
                            return Err(format!(
                                "invalid argument \"{}\" for \"--gateway\" flag: invalid IP address",
                                gw.map_or("", String::as_str)
                            ));
                        }
                    };
                    let range = match range.map(|r| r.parse::<Ipv4Net>()) {
                        None => None,
                        Some(Ok(r)) => {
                            if r.prefix_len() < n.prefix_len() {
                                errs.push(format!(
                                    "invalid ip-range {r}: CIDR block is bigger than its parent subnet {}",
                                    n.trunc()
                                ));
                            } else if r.trunc() != r {
                                errs.push(format!("invalid ip-range {r}: it should be {}", r.trunc()));
                            } else if !n.contains(&r.network()) {
                                errs.push(format!(
                                    "invalid ip-range {r}: parent subnet {} doesn't contain ip-range",
                                    n.trunc()
                                ));
                            }
                            Some(r.trunc())
                        }
                        Some(Err(_)) => {
                            return Err(format!(
                                "invalid argument \"{}\" for \"--ip-range\" flag: invalid CIDR address",
                                range.map_or("", String::as_str)
                            ));
                        }
                    };
                    if v4.is_none() {
                        v4 = Some((n.trunc(), gw, range));
                    }
                }
                Ok(ipnet::IpNet::V6(n)) => {
                    let gw = gw.and_then(|g| g.parse::<Ipv6Addr>().ok());
                    if v6.is_none() {
                        v6 = Some((n.trunc(), gw));
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "invalid argument \"{s}\" for \"--subnet\" flag: invalid CIDR address: {s}"
                    ));
                }
            }
        }
        if c.gateways.len() > c.subnets.len() || c.ip_ranges.len() > c.subnets.len() {
            return Err(daemon_err(
                "cannot specify a gateway or ip-range without a subnet",
            ));
        }
        if !errs.is_empty() {
            return Err(daemon_err(format!(
                "invalid network config:\n{}",
                errs.join("\n")
            )));
        }
        if v6.is_some() && !c.ipv6 {
            // Docker 28+ enables IPv6 when an IPv6 subnet is given.
        }
        let direct = driver != "bridge";
        // Explicit subnets only conflict with other networks' pools; automatic ones also
        // avoid the host's own subnets.
        let taken: Vec<Ipv4Net> = self
            .networks
            .iter()
            .filter_map(|n| n.v4.map(|(s, _)| s))
            .collect();
        let (subnet, gw, range, user_subnet) = match v4 {
            Some((s, gw, range)) => {
                if taken.iter().any(|t| overlaps(t, &s)) {
                    return Err(daemon_err(
                        "invalid pool request: Pool overlaps with other one on this address space",
                    ));
                }
                let gw = gw.unwrap_or_else(|| Ipv4Addr::from(u32::from(s.network()).saturating_add(1)));
                (s, gw, range, true)
            }
            None => {
                let lan = lan_subnet();
                let Some(s) =
                    default_pools().find(|p| !overlaps(p, &lan) && !taken.iter().any(|t| overlaps(t, p)))
                else {
                    return Err(daemon_err(
                        "all predefined address pools have been fully subnetted",
                    ));
                };
                (
                    s,
                    Ipv4Addr::from(u32::from(s.network()).saturating_add(1)),
                    None,
                    false,
                )
            }
        };
        if direct && let Some(p) = c.options.get("parent") {
            let nic = p.split('.').next().unwrap_or(p);
            if nic != "eth0" {
                return Err(daemon_err(format!(
                    "-o parent interface was not found on the host: {nic}"
                )));
            }
            // The ipvlan driver keeps one network per parent (its createNetwork); the
            // macvlan driver checks only passthru.
            if driver == "ipvlan"
                && let Some(o) = self
                    .networks
                    .iter()
                    .find(|o| o.driver == "ipvlan" && o.options.get("parent") == Some(p))
            {
                return Err(daemon_err(format!(
                    "network di-{} is already using parent interface {p}",
                    &o.id[..12.min(o.id.len())]
                )));
            }
        }
        let seq = self.next_seq();
        let id = make_id("network", &c.name, seq);
        self.networks.push(Network {
            name: c.name.clone(),
            id: id.clone(),
            driver: driver.to_string(),
            v4: Some((subnet, gw)),
            user_subnet,
            ip_range: range,
            ipv6: c.ipv6 || v6.is_some(),
            v6,
            internal: c.internal,
            attachable: c.attachable,
            options: c.options.clone(),
            predefined: false,
        });
        Ok(id)
    }

    /// `docker network rm`: the error, or nothing.
    ///
    /// # Errors
    /// The daemon's message.
    pub fn network_rm(&mut self, key: &str) -> Result<(), String> {
        let Some(i) = self.network(key) else {
            return Err(daemon_err(format!("network {key} not found")));
        };
        let n = &self.networks[i];
        if n.predefined {
            return Err(daemon_err(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let active: Vec<String> = self
            .containers
            .iter()
            .filter(|c| c.state == State::Running && c.nets.iter().any(|a| a.network == n.name))
            .map(|c| {
                format!(
                    "name:{:?} id:{:?}",
                    c.name,
                    &make_id("endpoint", &format!("{}/{}", c.name, n.name), 0)[..12]
                )
            })
            .collect();
        if !active.is_empty() {
            return Err(daemon_err(format!(
                "error while removing network: network {} has active endpoints ({})",
                n.name,
                active.join(", ")
            )));
        }
        let name = n.name.clone();
        // Stopped containers keep the attachment in their configuration; Docker then
        // fails their start with "network … not found".
        self.networks.remove(i);
        let _ = name;
        Ok(())
    }

    /// Creates a container (`docker create`, the first half of `docker run`).
    ///
    /// # Errors
    /// The daemon's message.
    pub fn create(&mut self, r: &RunSpec) -> Result<usize, String> {
        let seq = self.seq + 1;
        let name = match &r.name {
            Some(n) => {
                let valid = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                if !valid {
                    return Err(daemon_err(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.clone()
            }
            None => generated_name(seq),
        };
        if let Some(other) = self.containers.iter().find(|c| c.name == name) {
            return Err(daemon_err(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let net_name = r.network.clone().unwrap_or_else(|| "bridge".to_string());
        let net_name = match net_name.as_str() {
            "default" => "bridge".to_string(),
            _ => net_name,
        };
        let Some(ni) = self.network(&net_name) else {
            return Err(daemon_err(format!("network {net_name} not found")));
        };
        let net = self.networks[ni].clone();
        // Further `--network`s: each must exist (checked at create, in order).
        let mut more = Vec::new();
        for m in &r.more_networks {
            let Some(mi) = self.network(m) else {
                return Err(daemon_err(format!("network {m} not found")));
            };
            more.push(self.networks[mi].name.clone());
        }
        let special = net.name == "host" || net.name == "none";
        if special && !r.publish.is_empty() && net.name == "host" {
            // Docker warns and discards them; the CLI prints the warning.
        }
        if special && r.hostname.is_some() && net.name == "host" {
            return Err(daemon_err("conflicting options: hostname and the network mode"));
        }
        let static_ip = match &r.ip {
            None => None,
            Some(s) => match s.parse::<Ipv4Addr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    return Err(format!(
                        "invalid argument \"{s}\" for \"--ip\" flag: invalid IP address"
                    ));
                }
            },
        };
        let mut errs = Vec::new();
        if !net.predefined || net.name == "bridge" {
            if let Some(a) = static_ip {
                if net.predefined {
                    errs.push(
                        "user-specified IP address is supported on user-defined networks only".to_string(),
                    );
                } else if !net.user_subnet {
                    errs.push(
                        "user specified IP address is supported only when connecting to networks with user configured subnets"
                            .to_string(),
                    );
                } else if !net.v4.is_some_and(|(s, _)| s.contains(&a)) {
                    errs.push(format!(
                        "no configured subnet or ip-range contain the IP address {a}"
                    ));
                }
            }
            if net.predefined && !r.aliases.is_empty() {
                errs.push("network-scoped aliases are only supported for user-defined networks".to_string());
            }
        } else if static_ip.is_some() || !r.aliases.is_empty() {
            errs.push("user specified IP address is supported only when connecting to networks with user configured subnets".to_string());
        }
        let ip6 = match &r.ip6 {
            None => None,
            Some(s) => match s.parse::<Ipv6Addr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    return Err(format!(
                        "invalid argument \"{s}\" for \"--ip6\" flag: invalid IP address"
                    ));
                }
            },
        };
        if let Some(a) = ip6 {
            match net.v6 {
                _ if net.predefined => {
                    errs.push("user-specified IP address is supported on user-defined networks only".to_string());
                }
                None => errs.push(
                    "user specified IP address is supported only when connecting to networks with user configured subnets"
                        .to_string(),
                ),
                Some((s, _)) if !s.contains(&a) => {
                    errs.push(format!("no configured subnet or ip-range contain the IP address {a}"));
                }
                Some(_) => {}
            }
        }
        if let Some(m) = &r.mac {
            let ok = m.split(':').count() == 6
                && m.split(':')
                    .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok());
            if !ok {
                return Err(format!(
                    "invalid argument \"{m}\" for \"--mac-address\" flag: {m} is not a valid mac address"
                ));
            }
        }
        if !errs.is_empty() {
            return Err(daemon_err(format!(
                "invalid endpoint settings:\n{}",
                errs.join("\n")
            )));
        }
        let mut listen: Vec<(String, u16)> = Vec::new();
        // `--expose 1-65535` is 65535 ports: deduplicated through a set, not a scan.
        let mut seen: std::collections::HashSet<(String, u16)> = std::collections::HashSet::new();
        let mut add = |p: (String, u16)| {
            if seen.insert(p.clone()) {
                listen.push(p);
            }
        };
        for p in &r.publish {
            add((p.proto.clone(), p.container_port));
        }
        for (proto, port) in &r.expose {
            add((proto.clone(), *port));
        }
        for (proto, port) in crate::images::exposed_ports(&r.image) {
            add((proto.name().to_string(), *port));
        }
        for p in super::parse::command_listens(&r.cmd) {
            add(p);
        }
        let seq = self.next_seq();
        let id = make_id("container", &name, seq);
        let hostname = r.hostname.clone().unwrap_or_else(|| id[..12].to_string());
        self.containers.push(Container {
            name,
            id,
            image: r.image.clone(),
            cmd: r.cmd.clone(),
            state: State::Created,
            // `--ip` and `--network-alias` belong to the first network, as the CLI
            // applies them.
            nets: std::iter::once(Attach {
                network: net.name.clone(),
                static_ip,
                ip: None,
                aliases: r.aliases.clone(),
            })
            .chain(more.into_iter().map(|m| Attach {
                network: m,
                static_ip: None,
                ip: None,
                aliases: Vec::new(),
            }))
            .collect(),
            publish: if net.name == "bridge" || !special {
                r.publish.clone()
            } else {
                Vec::new()
            },
            bound: Vec::new(),
            listen,
            dns: r.dns.clone(),
            dns_search: r.dns_search.clone(),
            dns_opt: r.dns_opt.clone(),
            add_hosts: r.add_hosts.clone(),
            hostname,
            auto_remove: r.rm,
            exit_code: 0,
            ip6,
            mac: r.mac.clone(),
        });
        Ok(self.containers.len() - 1)
    }

    /// Starts container `ci`: addresses, then host ports.
    ///
    /// # Errors
    /// The daemon's message (the container stays created or exited).
    pub fn start(&mut self, ci: usize) -> Result<(), String> {
        if self.containers[ci].state == State::Running {
            return Ok(());
        }
        let mut given: Vec<Option<Ipv4Addr>> = Vec::new();
        for a in &self.containers[ci].nets {
            if a.network == "host" || a.network == "none" {
                given.push(None);
                continue;
            }
            let Some(ni) = self.network(&a.network) else {
                return Err(daemon_err(format!(
                    "failed to set up container networking: network {} not found",
                    a.network
                )));
            };
            self.parent_free(ni, ci, true)?;
            let ip = self.allocate(ni, a.static_ip, &given)?;
            given.push(Some(ip));
        }
        // `--mac-address` of a multicast (or all-zero) MAC: accepted at create, refused
        // by the kernel when the interface is configured (EADDRNOTAVAIL), as Docker
        // reports it (the veth's name is its own, random there).
        if let Some(m) = &self.containers[ci].mac
            && given.first().is_some_and(Option::is_some)
            && let Some(b0) = m.get(..2).and_then(|b| u8::from_str_radix(b, 16).ok())
            && (b0 & 1 == 1 || m.split(':').all(|b| b == "00"))
        {
            let veth = format!("veth{}", &make_id("veth", &self.containers[ci].name, 0)[..7]);
            return Err(daemon_err(format!(
                "failed to set up container networking: failed to add interface {veth} to sandbox: error setting interface \"{veth}\" MAC to \"{}\": cannot assign requested address",
                m.to_lowercase()
            )));
        }
        // Host ports: each asked port must be free on that address; ephemeral ones are
        // drawn upwards.
        let mut bound = Vec::new();
        // Host ports in use, by (port, protocol): the addresses bound (None = all). An
        // index, as `-p 10000-20000:10000-20000/udp` asks for 10001 ports.
        let mut taken: std::collections::HashMap<(u16, String), Vec<Option<IpAddr>>> =
            std::collections::HashMap::new();
        for (bip, bp, _, bproto) in self
            .containers
            .iter()
            .filter(|c| c.state == State::Running)
            .flat_map(|c| c.bound.iter())
        {
            taken.entry((*bp, bproto.clone())).or_default().push(*bip);
        }
        let port_taken = |taken: &std::collections::HashMap<(u16, String), Vec<Option<IpAddr>>>,
                          ip: Option<IpAddr>,
                          port: u16,
                          proto: &str| {
            taken
                .get(&(port, proto.to_string()))
                .is_some_and(|v| v.iter().any(|bip| bip.is_none() || ip.is_none() || *bip == ip))
        };
        let publish = self.containers[ci].publish.clone();
        let name = self.containers[ci].name.clone();
        for p in &publish {
            let port = match p.host_port {
                Some(hp) => {
                    if port_taken(&taken, p.host_ip, hp, &p.proto) {
                        let ip = p.host_ip.map_or("0.0.0.0".to_string(), |a| a.to_string());
                        let ep = make_id(
                            "endpoint",
                            &format!("{name}/{}", self.containers[ci].nets[0].network),
                            0,
                        );
                        return Err(daemon_err(format!(
                            "failed to set up container networking: driver failed programming external connectivity on endpoint {name} ({ep}): Bind for {ip}:{hp} failed: port is already allocated"
                        )));
                    }
                    hp
                }
                None => {
                    let mut hp = self.next_ephemeral;
                    let mut tries = 0u32;
                    while port_taken(&taken, p.host_ip, hp, &p.proto) {
                        hp = if hp >= EPHEMERAL.1 { EPHEMERAL.0 } else { hp + 1 };
                        tries += 1;
                        if tries > u32::from(EPHEMERAL.1 - EPHEMERAL.0) {
                            return Err(daemon_err(
                                "failed to set up container networking: all ports are allocated",
                            ));
                        }
                    }
                    self.next_ephemeral = if hp >= EPHEMERAL.1 { EPHEMERAL.0 } else { hp + 1 };
                    hp
                }
            };
            taken.entry((port, p.proto.clone())).or_default().push(p.host_ip);
            bound.push((p.host_ip, port, p.container_port, p.proto.clone()));
        }
        let c = &mut self.containers[ci];
        c.exit_code = 0;
        for (a, ip) in c.nets.iter_mut().zip(given) {
            a.ip = ip;
        }
        c.bound = bound;
        c.state = State::Running;
        Ok(())
    }

    /// Whether a macvlan / ipvlan child of network `ni` can be made for container `ci`:
    /// the kernel refuses a macvlan child on a NIC that has ipvlan children and the
    /// other way round (EBUSY), so a network of the other driver on the same parent with
    /// a running container (or `ci` itself) fails the join, as Docker reports it
    /// (`starting`: in `docker start` / `run`, else `network connect`).
    ///
    /// # Errors
    /// The daemon's message.
    pub fn parent_free(&self, ni: usize, ci: usize, starting: bool) -> Result<(), String> {
        let n = &self.networks[ni];
        if !matches!(n.driver.as_str(), "macvlan" | "ipvlan") {
            return Ok(());
        }
        let Some(p) = n.options.get("parent") else {
            return Ok(());
        };
        let busy = self.networks.iter().any(|o| {
            matches!(o.driver.as_str(), "macvlan" | "ipvlan")
                && o.driver != n.driver
                && o.options.get("parent") == Some(p)
                && self.containers.iter().enumerate().any(|(i, c)| {
                    (i == ci || c.state == State::Running) && c.nets.iter().any(|a| a.network == o.name)
                })
        });
        if busy {
            // At start the daemon wraps it (`docker start`, `run`); `network connect`
            // reports the driver's error as it is.
            let pre = if starting {
                "failed to set up container networking: "
            } else {
                ""
            };
            return Err(daemon_err(format!(
                "{pre}failed to create the {} port: device or resource busy",
                n.driver
            )));
        }
        Ok(())
    }

    /// An address of network `ni`: `want` if free, else the lowest free one.
    fn allocate(
        &self,
        ni: usize,
        want: Option<Ipv4Addr>,
        also: &[Option<Ipv4Addr>],
    ) -> Result<Ipv4Addr, String> {
        let n = &self.networks[ni];
        let Some((subnet, gw)) = n.v4 else {
            return Err(daemon_err(format!("network {} has no IPv4 pool", n.name)));
        };
        let used: Vec<Ipv4Addr> = self
            .containers
            .iter()
            .filter(|c| c.state == State::Running)
            .flat_map(|c| c.nets.iter())
            .filter(|a| a.network == n.name)
            .filter_map(|a| a.ip)
            .chain(also.iter().flatten().copied())
            .collect();
        // macvlan / ipvlan without a gateway option still reserve the gateway address.
        let taken = |a: Ipv4Addr| a == gw || used.contains(&a);
        if let Some(a) = want {
            if taken(a) {
                return Err(daemon_err(
                    "failed to set up container networking: Address already in use",
                ));
            }
            return Ok(a);
        }
        let range = n.ip_range.unwrap_or(subnet);
        let first = u32::from(range.network()).max(u32::from(subnet.network()) + 1);
        let last = u32::from(range.broadcast()).min(u32::from(subnet.broadcast()).saturating_sub(1));
        (first..=last)
            .map(Ipv4Addr::from)
            .find(|a| !taken(*a))
            .ok_or_else(|| {
                daemon_err(format!(
                    "failed to set up container networking: no available IPv4 addresses on this network's address pools: {} ({})",
                    n.name, n.id
                ))
            })
    }

    /// Stops container `ci`: its dynamic addresses and host ports are released.
    pub fn stop(&mut self, ci: usize) {
        let c = &mut self.containers[ci];
        if c.state != State::Running {
            return;
        }
        c.state = State::Exited;
        for a in &mut c.nets {
            a.ip = None;
        }
        c.bound.clear();
    }

    /// `docker network connect`.
    ///
    /// # Errors
    /// The daemon's message.
    pub fn connect(
        &mut self,
        net: &str,
        ctr: &str,
        ip: Option<&str>,
        aliases: &[String],
    ) -> Result<(), String> {
        let Some(ni) = self.network(net) else {
            return Err(daemon_err(format!("network {net} not found")));
        };
        let ci = self.need_container(ctr)?;
        let n = self.networks[ni].clone();
        let c = &self.containers[ci];
        if c.nets.iter().any(|a| a.network == "host" || a.network == "none")
            || n.name == "host"
            || n.name == "none"
        {
            return Err(daemon_err(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if c.nets.iter().any(|a| a.network == n.name) {
            return Err(daemon_err(format!(
                "endpoint with name {} already exists in network {}",
                c.name, n.name
            )));
        }
        let static_ip = match ip {
            None => None,
            Some(s) => Some(
                s.parse::<Ipv4Addr>()
                    .map_err(|_| format!("invalid argument \"{s}\" for \"--ip\" flag: invalid IP address"))?,
            ),
        };
        if let Some(a) = static_ip {
            let msg = if n.predefined {
                Some("user-specified IP address is supported on user-defined networks only".to_string())
            } else if !n.user_subnet {
                Some("user specified IP address is supported only when connecting to networks with user configured subnets".to_string())
            } else if !n.v4.is_some_and(|(s, _)| s.contains(&a)) {
                Some(format!(
                    "no configured subnet or ip-range contain the IP address {a}"
                ))
            } else {
                None
            };
            if let Some(m) = msg {
                return Err(daemon_err(format!("invalid endpoint settings:\n{m}")));
            }
        }
        let running = c.state == State::Running;
        if running {
            self.parent_free(ni, ci, false)?;
        }
        let ip_now = if running {
            Some(self.allocate(ni, static_ip, &[])?)
        } else {
            None
        };
        self.containers[ci].nets.push(Attach {
            network: n.name.clone(),
            static_ip,
            ip: ip_now,
            aliases: aliases.to_vec(),
        });
        Ok(())
    }

    /// `docker network disconnect`.
    ///
    /// # Errors
    /// The daemon's message.
    pub fn disconnect(&mut self, net: &str, ctr: &str, force: bool) -> Result<(), String> {
        let ci = self.need_container(ctr)?;
        let Some(ni) = self.network(net) else {
            if force {
                return Ok(());
            }
            return Err(daemon_err(format!("network {net} not found")));
        };
        let name = self.networks[ni].name.clone();
        let c = &mut self.containers[ci];
        let Some(pos) = c.nets.iter().position(|a| a.network == name) else {
            return Err(daemon_err(format!(
                "container {} is not connected to network {name}",
                c.id
            )));
        };
        c.nets.remove(pos);
        Ok(())
    }

    /// `docker rm`: the error, or the removed container's name.
    ///
    /// # Errors
    /// The daemon's message.
    pub fn remove(&mut self, key: &str, force: bool) -> Result<(), String> {
        let ci = self.need_container(key)?;
        if self.containers[ci].state == State::Running {
            if !force {
                return Err(daemon_err(format!(
                    "cannot remove container \"{key}\": container is running: stop the container before removing or force remove"
                )));
            }
            self.stop(ci);
        }
        self.containers.remove(ci);
        Ok(())
    }
}

/// Docker's generated names are `adjective_scientist`; ours are as stable as the ids.
fn generated_name(seq: u64) -> String {
    const LEFT: &[&str] = &[
        "admiring",
        "brave",
        "clever",
        "dazzling",
        "eager",
        "focused",
        "gallant",
        "happy",
        "jolly",
        "keen",
        "lucid",
        "modest",
        "nifty",
        "optimistic",
        "quirky",
        "serene",
    ];
    const RIGHT: &[&str] = &[
        "turing", "hopper", "lovelace", "noether", "dijkstra", "ritchie", "thompson", "knuth", "shannon",
        "curie", "tesla", "babbage", "liskov", "hamilton", "perlman", "cerf",
    ];
    let l = LEFT[(seq as usize * 7) % LEFT.len()];
    let r = RIGHT[(seq as usize * 11 + 3) % RIGHT.len()];
    format!("{l}_{r}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: &mut Daemon, name: &str, net: &str) -> usize {
        let spec = RunSpec {
            name: Some(name.into()),
            network: Some(net.into()),
            image: "alpine".into(),
            ..RunSpec::default()
        };
        let ci = d.create(&spec).expect("created");
        d.start(ci).expect("started");
        ci
    }

    /// The local IPAM is not serial: the address a stopped container gave back is the
    /// next one handed out, and the pools skip subnets in use and the host's LAN.
    #[test]
    fn lowest_free_address_is_reused() {
        let mut d = Daemon::new();
        let a = run(&mut d, "a", "bridge");
        let b = run(&mut d, "b", "bridge");
        assert_eq!(d.containers[a].nets[0].ip, Some(Ipv4Addr::new(172, 17, 0, 2)));
        assert_eq!(d.containers[b].nets[0].ip, Some(Ipv4Addr::new(172, 17, 0, 3)));
        d.stop(a);
        let c = run(&mut d, "c", "bridge");
        assert_eq!(d.containers[c].nets[0].ip, Some(Ipv4Addr::new(172, 17, 0, 2)));
        d.start(a).expect("restarts");
        assert_eq!(d.containers[a].nets[0].ip, Some(Ipv4Addr::new(172, 17, 0, 4)));
        let mut nc = NetCreate {
            name: "x".into(),
            driver: "bridge".into(),
            ..NetCreate::default()
        };
        d.network_create(&nc).expect("x");
        nc.name = "y".into();
        d.network_create(&nc).expect("y");
        let subnets: Vec<String> = d.networks[3..]
            .iter()
            .map(|n| n.v4.map(|(s, _)| s.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(subnets, vec!["172.18.0.0/16", "172.19.0.0/16"]);
    }
}
