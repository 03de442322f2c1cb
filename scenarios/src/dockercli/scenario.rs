//! The daemon's state written out as a scenario: every subnet, gateway and address
//! pinned as the daemon allocated them, so the lab built from it is the daemon's.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::state::{self, Daemon, State};
use crate::compose::{CLIENT_ADDR, HOST_ADDR};

/// Prefix of the stand-in containers that hold the default bridge's free addresses
/// below a running container's (the model allocates there in order; these keep the
/// daemon's holes). Never shown.
pub(super) const GAP: &str = "netloom-gap-";

/// `-o` options the simulation understands.
pub(super) const KNOWN_OPTS: &[&str] = &[
    "parent",
    "macvlan_mode",
    "ipvlan_mode",
    "com.docker.network.driver.mtu",
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.bridge.name",
    "com.docker.network.bridge.gateway_mode_ipv4",
];

/// The lab's names for the Docker host, the outside machine and their LAN: `host1`,
/// `client` and `lan`, unless a container took one of those names.
pub struct Machines {
    /// The Docker host.
    pub host: String,
    /// The outside machine.
    pub client: String,
    /// The LAN.
    pub lan: String,
}

impl Machines {
    /// The names for `d`'s containers.
    pub fn of(d: &Daemon) -> Machines {
        let free = |base: &str| {
            let used = |n: &str| d.containers.iter().any(|c| c.name == n);
            if !used(base) {
                return base.to_string();
            }
            (1..)
                .map(|i| format!("netloom-{base}-{i}"))
                .find(|n| !used(n))
                .unwrap_or_default()
        };
        Machines {
            host: free(state::HOST),
            client: free("client"),
            lan: free("lan"),
        }
    }
}

/// The daemon's state as a scenario: every running container with its addresses
/// pinned, the networks with their subnets and gateways.
pub fn scenario_text(d: &Daemon) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let m = Machines::of(d);
    let mut y = String::new();
    let _ = writeln!(y, "name: \"docker script\"");
    let _ = writeln!(
        y,
        "hosts:\n  {}:\n    interfaces:\n      eth0: {{ address: {HOST_ADDR}/24, lan: {} }}",
        m.host, m.lan
    );
    let _ = writeln!(y, "lans:\n  {}: {{}}", m.lan);
    let _ = writeln!(
        y,
        "externals:\n  {}: {{ address: {CLIENT_ADDR}/24, lan: {} }}",
        m.client, m.lan
    );
    // A macvlan / ipvlan network makes no device until a container joins it (with a
    // plain parent), so one without running containers is left out: a macvlan and an
    // ipvlan network may both name eth0 while only one of them is used.
    let user: Vec<&state::Network> = d
        .networks
        .iter()
        .filter(|n| !n.predefined)
        .filter(|n| {
            !matches!(n.driver.as_str(), "macvlan" | "ipvlan")
                || d.containers
                    .iter()
                    .any(|c| c.state == State::Running && c.nets.iter().any(|a| a.network == n.name))
        })
        .collect();
    if user.is_empty() {
        let _ = writeln!(y, "networks: {{}}");
    } else {
        let _ = writeln!(y, "networks:");
    }
    for n in user {
        let _ = writeln!(y, "  {}:\n    host: {}", q(&n.name), m.host);
        if n.driver != "bridge" {
            let _ = writeln!(y, "    driver: {}", n.driver);
        }
        if n.internal {
            let _ = writeln!(y, "    internal: true");
        }
        if n.ipv6 {
            let _ = writeln!(y, "    enable_ipv6: true");
        }
        if let Some((s, g)) = n.v4 {
            let _ = writeln!(
                y,
                "    ipam:\n      config:\n        - subnet: {s}\n          gateway: {g}"
            );
            if let Some(r) = n.ip_range {
                let _ = writeln!(y, "          ip_range: {r}");
            }
            if let Some((s6, g6)) = n.v6 {
                let _ = writeln!(y, "        - subnet: \"{s6}\"");
                if let Some(g6) = g6 {
                    let _ = writeln!(y, "          gateway: \"{g6}\"");
                }
            }
        }
        let opts: Vec<(&String, &String)> = n
            .options
            .iter()
            .filter(|(k, _)| KNOWN_OPTS.contains(&k.as_str()))
            // The macvlan and ipvlan drivers ignore the MTU option (their children
            // take the parent's MTU); 0 is the default.
            .filter(|(k, v)| {
                k.as_str() != "com.docker.network.driver.mtu" || (n.driver == "bridge" && v.trim() != "0")
            })
            .collect();
        if !opts.is_empty() {
            let _ = writeln!(y, "    driver_opts:");
            for (k, v) in opts {
                let _ = writeln!(y, "      {}: {}", q(k), q(v));
            }
        }
    }
    // Running containers; on the default bridge, in address order with stand-ins for
    // the free addresses below each (the model hands them out in container order).
    let running: Vec<&state::Container> = d
        .containers
        .iter()
        .filter(|c| c.state == State::Running)
        .collect();
    let bridge_ip = |c: &state::Container| c.nets.iter().find(|a| a.network == "bridge").and_then(|a| a.ip);
    let mut order: Vec<&state::Container> = running
        .iter()
        .copied()
        .filter(|c| bridge_ip(c).is_some())
        .collect();
    order.sort_by_key(|c| bridge_ip(c));
    let others: Vec<&state::Container> = running
        .iter()
        .copied()
        .filter(|c| bridge_ip(c).is_none())
        .collect();
    let _ = writeln!(y, "containers:{}", if running.is_empty() { " {}" } else { "" });
    let mut next = u32::from(Ipv4Addr::new(172, 17, 0, 2));
    for c in order.iter().chain(others.iter()) {
        if let Some(ip) = bridge_ip(c) {
            while next < u32::from(ip) {
                let _ = writeln!(
                    y,
                    "  \"{GAP}{}\":\n    host: {}\n    networks: [bridge]",
                    Ipv4Addr::from(next),
                    m.host
                );
                next += 1;
            }
            next = u32::from(ip) + 1;
        }
        let _ = writeln!(y, "  {}:\n    host: {}\n    networks:", q(&c.name), m.host);
        for a in &c.nets {
            let predefined = d.network(&a.network).is_none_or(|i| d.networks[i].predefined);
            if predefined {
                let _ = writeln!(y, "      {}: {{}}", a.network);
                continue;
            }
            let mut aliases = vec![c.id[..12].to_string()];
            aliases.extend(a.aliases.iter().cloned());
            let list: Vec<String> = aliases.iter().map(|s| q(s)).collect();
            let _ = write!(y, "      {}: {{ aliases: [{}]", q(&a.network), list.join(", "));
            if let Some(ip) = a.ip {
                let _ = write!(y, ", ipv4_address: {ip}");
            }
            if let Some(ip6) = c.ip6.filter(|_| std::ptr::eq(a, &c.nets[0])) {
                let _ = write!(y, ", ipv6_address: \"{ip6}\"");
            }
            let _ = writeln!(y, " }}");
        }
        if let Some(mac) = &c.mac {
            let _ = writeln!(y, "    mac_address: {}", q(mac));
        }
        if !c.add_hosts.is_empty() {
            let l: Vec<String> = c.add_hosts.iter().map(|(h, a)| q(&format!("{h}={a}"))).collect();
            let _ = writeln!(y, "    extra_hosts: [{}]", l.join(", "));
        }
        if !c.bound.is_empty() && !c.host_mode() {
            let ports: Vec<String> = c
                .bound
                .iter()
                .map(|(ip, hp, cp, proto)| {
                    // An IPv6 host address in brackets, as the short syntax wants it.
                    let pre = ip
                        .map(|a| {
                            if a.is_ipv6() {
                                format!("[{a}]:")
                            } else {
                                format!("{a}:")
                            }
                        })
                        .unwrap_or_default();
                    let suf = if proto == "udp" { "/udp" } else { "" };
                    q(&format!("{pre}{hp}:{cp}{suf}"))
                })
                .collect();
            let _ = writeln!(y, "    ports: [{}]", ports.join(", "));
        }
        let listen: Vec<String> = c
            .listen
            .iter()
            .filter(|(p, _)| p == "tcp" || p == "udp")
            .map(|(p, n)| format!("{p}/{n}"))
            .collect();
        if !listen.is_empty() {
            let _ = writeln!(y, "    listen: [{}]", listen.join(", "));
        }
        for (k, list) in [
            ("dns", &c.dns),
            ("dns_search", &c.dns_search),
            ("dns_opt", &c.dns_opt),
        ] {
            if !list.is_empty() {
                let l: Vec<String> = list.iter().map(|x| q(x)).collect();
                let _ = writeln!(y, "    {k}: [{}]", l.join(", "));
            }
        }
    }
    y
}
