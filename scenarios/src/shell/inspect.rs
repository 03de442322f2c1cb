//! What `network ls`, `network inspect` and `ps` show: the model's networks and
//! containers in Docker's shapes, with the lab's live state (MACs, running or not).
//!
//! Docker's ids are random; here they are derived from the names (FNV-1a), so the same
//! file shows the same ids every time.

use std::fmt::Write as _;
use std::net::IpAddr;

use indexmap::IndexMap;
use netloom_drivers::docker::{ChildMode, Driver, Lab, ResolvedNetwork};
use netloom_drivers::router::Node;
use serde::Serialize;

/// One network as `network ls` lists it: a resolved network, or a host's predefined
/// `host` or `none` network (which IPAM does not hold).
#[derive(Clone, Debug)]
pub struct NetEntry {
    /// Its name.
    pub name: String,
    /// What `network inspect` accepts for it: the name, or `HOST/NAME` when several
    /// hosts have a network of that name.
    pub key: String,
    /// The hosts it is on (an overlay spans several).
    pub hosts: Vec<String>,
    /// Its driver.
    pub driver: Driver,
    /// Index into the resolved networks (`None`: `host` or `none`).
    pub resolved: Option<usize>,
}

/// Every network of the lab, sorted by name then host (as `docker network ls` sorts).
pub fn networks(lab: &Lab) -> Vec<NetEntry> {
    let r = &lab.resolved;
    let mut out: Vec<NetEntry> = r
        .networks
        .iter()
        .enumerate()
        .map(|(i, n)| NetEntry {
            name: n.name.clone(),
            key: String::new(),
            hosts: n.hosts.clone(),
            driver: n.driver,
            resolved: Some(i),
        })
        .collect();
    for h in hosts(lab) {
        for (name, driver) in [("host", Driver::Host), ("none", Driver::None)] {
            out.push(NetEntry {
                name: name.into(),
                key: String::new(),
                hosts: vec![h.clone()],
                driver,
                resolved: None,
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.hosts).cmp(&(&b.name, &b.hosts)));
    let names: Vec<String> = out.iter().map(|n| n.name.clone()).collect();
    for n in &mut out {
        let shared = names.iter().filter(|x| **x == n.name).count() > 1;
        n.key = match n.hosts.first() {
            Some(h) if shared => format!("{h}/{}", n.name),
            _ => n.name.clone(),
        };
    }
    out
}

/// The Docker hosts (the default `host1` when the file declares none).
pub fn hosts(lab: &Lab) -> Vec<String> {
    let m = &lab.resolved.model;
    if m.hosts.is_empty() {
        vec![m.default_host()]
    } else {
        m.hosts.iter().map(|h| h.name.clone()).collect()
    }
}

/// A 64-hex-digit id for `kind` `name`, as Docker's look, but stable.
pub fn id_of(kind: &str, name: &str) -> String {
    let mut out = String::with_capacity(64);
    for round in 0u8..4 {
        let h = [round, b':']
            .iter()
            .chain(kind.as_bytes())
            .chain(b"/")
            .chain(name.as_bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
            });
        // splitmix64's finaliser: names that differ in one letter get unrelated ids.
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let _ = write!(out, "{z:016x}");
    }
    out
}

fn scope(d: Driver) -> &'static str {
    if d == Driver::Overlay { "swarm" } else { "local" }
}

/// `network ls`.
pub fn network_ls(lab: &Lab) -> String {
    let nets = networks(lab);
    let multi = hosts(lab).len() > 1;
    let mut rows = vec![vec![
        "NETWORK ID".to_string(),
        "NAME".into(),
        "DRIVER".into(),
        "SCOPE".into(),
    ]];
    if multi {
        rows[0].push("HOST".into());
    }
    for n in &nets {
        let mut row = vec![
            id_of("network", &n.key)[..12].to_string(),
            n.name.clone(),
            n.driver.name().to_string(),
            scope(n.driver).to_string(),
        ];
        if multi {
            row.push(n.hosts.join(","));
        }
        rows.push(row);
    }
    table(&rows)
}

/// `ps`: every container, running or not.
pub fn ps(lab: &Lab) -> String {
    let r = &lab.resolved;
    let m = &r.model;
    let mut rows = vec![vec![
        "CONTAINER ID".to_string(),
        "NAME".into(),
        "HOST".into(),
        "STATE".into(),
        "NETWORKS".into(),
        "PORTS".into(),
    ]];
    for (ci, c) in m.containers.iter().enumerate() {
        let state = if lab.start_errors().contains_key(&c.name) {
            "created (start failed)"
        } else if lab.is_running(&c.name) {
            "running"
        } else {
            "exited"
        };
        let mut nets: Vec<String> = r
            .endpoints
            .get(ci)
            .into_iter()
            .flatten()
            .map(|ep| {
                let name = r.networks.get(ep.network).map_or("?", |n| n.name.as_str());
                let addrs: Vec<String> = ep
                    .v4
                    .map(IpAddr::V4)
                    .into_iter()
                    .chain(ep.v6.map(IpAddr::V6))
                    .map(|a| a.to_string())
                    .collect();
                if addrs.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}:{}", addrs.join(","))
                }
            })
            .collect();
        for e in &c.networks {
            if e.network == "host" || e.network == "none" {
                nets.push(e.network.clone());
            }
        }
        let ports: Vec<String> = r
            .published
            .get(ci)
            .into_iter()
            .flatten()
            .map(|(ip, hp, cp, l4)| {
                let host = match ip {
                    Some(IpAddr::V6(a)) => format!("[{a}]"),
                    Some(a) => a.to_string(),
                    None => "0.0.0.0".into(),
                };
                format!("{host}:{hp}->{cp}/{}", l4.name())
            })
            .collect();
        rows.push(vec![
            id_of("container", &c.name)[..12].to_string(),
            c.name.clone(),
            c.host.clone().unwrap_or_else(|| m.default_host()),
            state.to_string(),
            nets.join(" "),
            ports.join(", "),
        ]);
    }
    table(&rows)
}

/// Columns padded to their widest cell, three spaces apart; no trailing spaces.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let pad = widths[i].saturating_sub(c.chars().count()) + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// `docker network inspect`'s object, its keys in Docker's (28) order; `Created` is left
/// out: it would be the wall clock, and the shell's output depends on its input only.
#[derive(Serialize)]
struct Inspect {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Scope")]
    scope: &'static str,
    #[serde(rename = "Driver")]
    driver: &'static str,
    #[serde(rename = "EnableIPv4")]
    enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: Ipam,
    #[serde(rename = "Internal")]
    internal: bool,
    #[serde(rename = "Attachable")]
    attachable: bool,
    #[serde(rename = "Ingress")]
    ingress: bool,
    #[serde(rename = "ConfigFrom")]
    config_from: ConfigFrom,
    #[serde(rename = "ConfigOnly")]
    config_only: bool,
    #[serde(rename = "Containers")]
    containers: IndexMap<String, Endpoint>,
    #[serde(rename = "Options")]
    options: IndexMap<String, String>,
    #[serde(rename = "Labels")]
    labels: IndexMap<String, String>,
}

#[derive(Serialize)]
struct ConfigFrom {
    #[serde(rename = "Network")]
    network: String,
}

#[derive(Serialize)]
struct Ipam {
    #[serde(rename = "Driver")]
    driver: &'static str,
    #[serde(rename = "Options")]
    options: IndexMap<String, String>,
    #[serde(rename = "Config")]
    config: Vec<IpamConfig>,
}

#[derive(Serialize)]
struct IpamConfig {
    #[serde(rename = "Subnet")]
    subnet: String,
    /// `--ip-range` / `ip_range` (Docker omits it when unset).
    #[serde(rename = "IPRange", skip_serializing_if = "Option::is_none")]
    ip_range: Option<String>,
    #[serde(rename = "Gateway")]
    gateway: String,
    /// `aux_addresses` (Docker omits it when empty).
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "IndexMap::is_empty")]
    aux: IndexMap<String, String>,
}

#[derive(Serialize)]
struct Endpoint {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "MacAddress")]
    mac_address: String,
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    ipv6_address: String,
}

/// `network inspect KEY…`: a JSON array, one object per key, as Docker prints it.
///
/// # Errors
/// A key that names no network (with the nearest one), or a name several hosts share.
pub fn network_inspect(lab: &Lab, keys: &[String]) -> Result<String, String> {
    network_inspect_with(lab, keys, &Naming::default())
}

/// How [`network_inspect_with`] names objects and which containers it leaves out: by
/// default ids derived from names ([`id_of`]) and every container shown. A front end
/// with ids of its own (`netloom docker`) passes them here.
pub struct Naming<'a> {
    /// The id of (`kind`, name): kinds `network`, `container`, `endpoint` (whose name is
    /// `CONTAINER/IFNAME`).
    pub id: &'a dyn Fn(&str, &str) -> String,
    /// Containers not to list.
    pub hide: &'a dyn Fn(&str) -> bool,
    /// Networks created `--attachable`.
    pub attachable: &'a dyn Fn(&str) -> bool,
}

impl Default for Naming<'_> {
    fn default() -> Self {
        Naming {
            id: &id_of,
            hide: &|_| false,
            attachable: &|_| false,
        }
    }
}

/// [`network_inspect`] with ids and visibility from `naming`.
///
/// # Errors
/// As [`network_inspect`].
pub fn network_inspect_with(lab: &Lab, keys: &[String], naming: &Naming<'_>) -> Result<String, String> {
    let nets = networks(lab);
    let mut objects = Vec::new();
    for k in keys {
        let Some(n) = nets.iter().find(|n| &n.key == k) else {
            let shared: Vec<&str> = nets
                .iter()
                .filter(|n| &n.name == k)
                .map(|n| n.key.as_str())
                .collect();
            if !shared.is_empty() {
                return Err(format!(
                    "network inspect: several hosts have a network '{k}': name one of {}",
                    shared.join(", ")
                ));
            }
            let known: Vec<String> = nets.iter().map(|n| n.key.clone()).collect();
            let near = crate::validate::nearest(k, &known)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(format!(
                "network inspect: no such network '{k}'{near}; `network ls` lists them"
            ));
        };
        objects.push(inspect_one(lab, n, naming));
    }
    // Docker indents with four spaces; serde_json's pretty printer uses two.
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    objects
        .serialize(&mut ser)
        .map_err(|e| format!("network inspect: {e}"))?;
    Ok(String::from_utf8_lossy(&buf).into_owned() + "\n")
}

fn inspect_one(lab: &Lab, n: &NetEntry, naming: &Naming<'_>) -> Inspect {
    let r = &lab.resolved;
    let m = &r.model;
    let net = n.resolved.and_then(|i| r.networks.get(i));
    let mut config = Vec::new();
    if let Some(net) = net {
        // The file's IPAM entry of that subnet: its ip_range and aux_addresses.
        let def = m
            .networks
            .iter()
            .filter(|d| d.name == net.name && d.host.as_ref().is_none_or(|h| *h == net.host))
            .flat_map(|d| d.subnets.iter());
        let entry = |s: String, g: String| {
            let d = def.clone().find(|d| d.subnet.to_string() == s);
            IpamConfig {
                ip_range: d.and_then(|d| d.ip_range.map(|r| r.to_string())),
                aux: d
                    .map(|d| {
                        d.aux_addresses
                            .iter()
                            .map(|(k, a)| (k.clone(), a.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                subnet: s,
                gateway: g,
            }
        };
        for (s, g) in net.v4.iter().chain(net.more_v4.iter()) {
            config.push(entry(s.to_string(), g.to_string()));
        }
        if let Some((s, g)) = net.v6 {
            config.push(entry(s.to_string(), g.to_string()));
        }
    }
    let mut containers = IndexMap::new();
    for (ci, c) in m.containers.iter().enumerate() {
        if (naming.hide)(&c.name) {
            continue;
        }
        let host = c.host.clone().unwrap_or_else(|| m.default_host());
        match n.resolved {
            Some(i) => {
                for ep in r
                    .endpoints
                    .get(ci)
                    .into_iter()
                    .flatten()
                    .filter(|e| e.network == i)
                {
                    let prefix4 = |a| net.and_then(|x| x.v4_subnet_of(a)).map_or(32, |s| s.prefix_len());
                    let prefix6 = net.and_then(|x| x.v6).map_or(128, |(s, _)| s.prefix_len());
                    containers.insert(
                        (naming.id)("container", &c.name),
                        Endpoint {
                            name: c.name.clone(),
                            endpoint_id: (naming.id)("endpoint", &format!("{}/{}", c.name, ep.ifname)),
                            mac_address: mac_of(lab, &c.name, &ep.ifname),
                            ipv4_address: ep.v4.map_or_else(String::new, |a| format!("{a}/{}", prefix4(a))),
                            ipv6_address: ep.v6.map_or_else(String::new, |a| format!("{a}/{prefix6}")),
                        },
                    );
                }
            }
            None => {
                if n.hosts.contains(&host) && c.networks.iter().any(|e| e.network == n.name) {
                    containers.insert(
                        (naming.id)("container", &c.name),
                        Endpoint {
                            name: c.name.clone(),
                            endpoint_id: (naming.id)("endpoint", &format!("{}/{}", c.name, n.name)),
                            mac_address: String::new(),
                            ipv4_address: String::new(),
                            ipv6_address: String::new(),
                        },
                    );
                }
            }
        }
    }
    Inspect {
        name: n.name.clone(),
        id: (naming.id)("network", &n.key),
        scope: scope(n.driver),
        driver: n.driver.name(),
        enable_ipv4: net.is_some_and(|x| x.v4.is_some()),
        enable_ipv6: net.is_some_and(|x| x.v6.is_some()),
        ipam: Ipam {
            driver: "default",
            options: IndexMap::new(),
            config,
        },
        internal: net.is_some_and(|x| x.internal),
        attachable: (naming.attachable)(&n.name),
        ingress: false,
        config_from: ConfigFrom {
            network: String::new(),
        },
        config_only: false,
        containers,
        options: net.map(|x| options(lab, x)).unwrap_or_default(),
        labels: IndexMap::new(),
    }
}

/// The MAC of a container's interface, as the lab gave it (empty when unknown).
fn mac_of(lab: &Lab, container: &str, ifname: &str) -> String {
    lab.node(container)
        .and_then(|id| lab.fabric.element::<Node>(id))
        .and_then(|n| n.ifaces().iter().find(|i| i.name == ifname))
        .map(|i| {
            i.mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default()
}

/// A network's `Options`: Docker's for the default bridge; for a user network, the
/// driver options the file gave (Docker shows what was passed to `-o`), and the VNI
/// of an overlay.
fn options(lab: &Lab, net: &ResolvedNetwork) -> IndexMap<String, String> {
    let mut o = IndexMap::new();
    let mut put = |k: &str, v: String| {
        o.insert(k.to_string(), v);
    };
    if net.default_bridge && net.name == "bridge" {
        put("com.docker.network.bridge.default_bridge", "true".into());
        put("com.docker.network.bridge.enable_icc", net.icc.to_string());
        put("com.docker.network.bridge.enable_ip_masquerade", "true".into());
        put("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0".into());
        put("com.docker.network.bridge.name", net.device.clone());
        put("com.docker.network.driver.mtu", net.mtu.to_string());
        return o;
    }
    let Some(def) = lab.resolved.model.networks.iter().find(|d| d.name == net.name) else {
        return o;
    };
    if let Some(b) = &def.bridge_name {
        put("com.docker.network.bridge.name", b.clone());
    }
    if let Some(icc) = def.icc {
        put("com.docker.network.bridge.enable_icc", icc.to_string());
    }
    if let Some(mtu) = def.mtu {
        put("com.docker.network.driver.mtu", mtu.to_string());
    }
    if net.driver == Driver::Overlay {
        put(
            "com.docker.network.driver.overlay.vxlanid_list",
            net.vni.to_string(),
        );
        if def.encrypted {
            put("encrypted", String::new());
        }
    }
    if let Some(p) = &def.parent {
        put("parent", p.clone());
    }
    if let Some(mode) = def.mode {
        let (key, name) = match mode {
            ChildMode::MacvlanBridge => ("macvlan_mode", "bridge"),
            ChildMode::MacvlanPrivate => ("macvlan_mode", "private"),
            ChildMode::MacvlanVepa => ("macvlan_mode", "vepa"),
            ChildMode::MacvlanPassthru => ("macvlan_mode", "passthru"),
            ChildMode::IpvlanL2 => ("ipvlan_mode", "l2"),
            ChildMode::IpvlanL3 => ("ipvlan_mode", "l3"),
            ChildMode::IpvlanL3s => ("ipvlan_mode", "l3s"),
        };
        put(key, name.into());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_hex_and_distinct() {
        let a = id_of("network", "app");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, id_of("network", "app"), "the same name gives the same id");
        assert_ne!(a, id_of("container", "app"));
        assert_ne!(a[..12], id_of("network", "apq")[..12]);
        // Names one letter apart share no long run of digits (FNV alone would).
        let (x, y) = (id_of("container", "api1"), id_of("container", "api2"));
        let same = x.bytes().zip(y.bytes()).filter(|(p, q)| p == q).count();
        assert!(same < 16, "{x} / {y}");
    }

    #[test]
    fn tables_align_without_trailing_spaces() {
        let t = table(&[
            vec!["A".into(), "BB".into(), "C".into()],
            vec!["long".into(), "x".into(), String::new()],
        ]);
        assert_eq!(t, "A      BB   C\nlong   x\n");
    }
}
