//! IPAM and the daemon's validation: default address pools, subnets, gateways,
//! static and dynamic addresses, published-port conflicts, and name references.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::mtu;
use super::{ChildMode, Driver, HostDef, Model, ModelError, Resolved, ResolvedEndpoint, ResolvedNetwork};
use crate::net::L4;

mod alloc;
mod bridge;

use alloc::NextFree;

/// The bridge Docker adds on every swarm host for overlay containers' way out.
pub(super) const GWBRIDGE: &str = "docker_gwbridge";

/// The most endpoints one network may have on one host: every endpoint is a port of one
/// element (bridge or parent NIC), and ports are numbered with 16 bits.
const MAX_ENDPOINTS: usize = 65_000;

/// Docker's built-in `default-address-pools`, in its order.
pub(super) fn default_pools() -> Vec<(IpNet, u8)> {
    let mut v: Vec<(IpNet, u8)> = Vec::new();
    if let Ok(n) = "172.17.0.0/16".parse() {
        v.push((n, 16));
    }
    for b in 18..=31u8 {
        if let Ok(n) = format!("172.{b}.0.0/16").parse() {
            v.push((n, 16));
        }
    }
    if let Ok(n) = "192.168.0.0/16".parse() {
        v.push((n, 20));
    }
    v
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first usable address of a subnet (Docker's default gateway).
fn first_usable(n: &IpNet) -> IpAddr {
    match n {
        IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()).saturating_add(1))),
        IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()).saturating_add(1))),
    }
}

pub(super) fn resolve(input: &Model) -> Result<Resolved, Vec<ModelError>> {
    let mut m = input.clone();
    if m.hosts.is_empty() {
        m.hosts.push(HostDef::new("host1"));
    }
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    check_names(&m, &mut errs);
    let lans: BTreeSet<&str> = m.lans.iter().map(|l| l.name.as_str()).collect();
    let lan_ref = |field: String, lan: &str, errs: &mut Vec<ModelError>| {
        if !lans.contains(lan) {
            errs.push(unknown(field, "LAN", lan, lans.iter().copied()));
        }
    };
    for h in &m.hosts {
        for n in &h.interfaces {
            if let Some(l) = &n.lan {
                lan_ref(
                    format!("hosts.{}.interfaces.{}.lan", h.name, n.name),
                    l,
                    &mut errs,
                );
            }
        }
        if let Some(gw) = h.gateway
            && !h
                .interfaces
                .iter()
                .any(|n| n.address.is_some_and(|a| a.contains(&gw)))
        {
            errs.push(ModelError::new(
                format!("hosts.{}.gateway", h.name),
                format!("gateway {gw} is not in the subnet of any interface of {}", h.name),
                "give the host an interface whose address covers the gateway",
            ));
        }
    }
    for h in &m.hosts {
        for n in &h.interfaces {
            let f = format!("hosts.{}.interfaces.{}", h.name, n.name);
            if n.vlan.is_some() && n.trunk.is_some() {
                errs.push(vlan_and_trunk(format!("{f}.trunk")));
            }
            let Some(parent) = &n.macvlan_of else { continue };
            if !h
                .interfaces
                .iter()
                .any(|x| &x.name == parent && x.macvlan_of.is_none())
            {
                errs.push(unknown(
                    format!("{f}.macvlan_of"),
                    "NIC",
                    parent,
                    h.interfaces
                        .iter()
                        .filter(|x| x.macvlan_of.is_none())
                        .map(|x| x.name.as_str()),
                ));
            } else if let Some(ip) = m.networks.iter().find(|x| {
                x.driver == Driver::Ipvlan
                    && x.host.as_deref().unwrap_or(default_host_name(&m)) == h.name
                    && x.parent.as_deref().is_some_and(|p| p == parent)
            }) {
                errs.push(ModelError::new(
                    format!("{f}.macvlan_of"),
                    format!(
                        "{parent} already carries ipvlan network {}: a NIC takes macvlan or ipvlan devices, not both \
                         (device or resource busy)",
                        ip.name
                    ),
                    "with ipvlan, reach the containers through a route via the host instead",
                ));
            }
        }
    }
    for r in &m.routers {
        for n in &r.interfaces {
            if let Some(l) = &n.lan {
                lan_ref(
                    format!("routers.{}.interfaces.{}.lan", r.name, n.name),
                    l,
                    &mut errs,
                );
            }
        }
        if let Some(mq) = &r.masquerade
            && !r.interfaces.iter().any(|n| &n.name == mq)
        {
            errs.push(unknown(
                format!("routers.{}.masquerade", r.name),
                "interface",
                mq,
                r.interfaces.iter().map(|n| n.name.as_str()),
            ));
        }
        for (i, (_, via)) in r.routes.iter().enumerate() {
            if !r
                .interfaces
                .iter()
                .any(|n| n.address.is_some_and(|a| a.contains(via)))
            {
                errs.push(ModelError::new(
                    format!("routers.{}.routes.{i}.via", r.name),
                    format!("gateway {via} is not on any subnet of {}", r.name),
                    "a route's `via` must be directly reachable from one of the router's interfaces",
                ));
            }
        }
    }
    for r in &m.routers {
        for n in r
            .interfaces
            .iter()
            .filter(|n| n.vlan.is_some() && n.trunk.is_some())
        {
            errs.push(vlan_and_trunk(format!(
                "routers.{}.interfaces.{}.trunk",
                r.name, n.name
            )));
        }
    }
    for e in &m.externals {
        if e.vlan.is_some() && e.trunk.is_some() {
            errs.push(vlan_and_trunk(format!("externals.{}.trunk", e.name)));
        }
        lan_ref(format!("externals.{}.lan", e.name), &e.lan, &mut errs);
        if let Some(gw) = e.gateway
            && !e.address.contains(&gw)
        {
            errs.push(ModelError::new(
                format!("externals.{}.gateway", e.name),
                format!("gateway {gw} is outside {}", e.address.trunc()),
                "the gateway must be in the machine's own subnet",
            ));
        }
    }
    let host_names: Vec<String> = m.hosts.iter().map(|h| h.name.clone()).collect();
    let default_host = m.default_host();

    // Networks: per host, the default bridge first, then user networks in order.
    let mut nets: Vec<ResolvedNetwork> = Vec::new();
    let mut used: BTreeMap<String, Vec<IpNet>> = BTreeMap::new();
    for h in &m.hosts {
        let taken = used.entry(h.name.clone()).or_default();
        taken.extend(h.interfaces.iter().filter_map(|n| n.address.map(|a| a.trunc())));
        let Some(subnet) = next_pool(&h.daemon.pools, taken) else {
            errs.push(ModelError::new(
                format!("hosts.{}.daemon.default-address-pools", h.name),
                "no free pool for the default bridge network",
                "add a larger pool to default-address-pools",
            ));
            continue;
        };
        taken.push(subnet);
        nets.push(ResolvedNetwork {
            name: "bridge".into(),
            driver: Driver::Bridge,
            host: h.name.clone(),
            default_bridge: true,
            internal: false,
            device: "docker0".into(),
            v4: v4_pair(subnet, None),
            v6: None,
            more_v4: Vec::new(),
            mtu: mtu::mtu(mtu::Device::DefaultBridge { daemon: h.daemon.mtu }),
            icc: h.daemon.icc,
            hosts: vec![h.name.clone()],
            parent: None,
            mode: ChildMode::MacvlanBridge,
            vni: 0,
            encrypted: false,
        });
    }
    let mut ula = 0u16;
    let mut global: Vec<IpNet> = Vec::new();
    let mut vnis = 0u32;
    let explicit_vnis: Vec<u32> = m
        .networks
        .iter()
        .filter(|n| n.driver == Driver::Overlay)
        .filter_map(|n| n.vni)
        .collect();
    for (ni, n) in m.networks.iter().enumerate() {
        let f = format!("networks.{}", n.name);
        if matches!(n.name.as_str(), "bridge" | "host" | "none") {
            errs.push(ModelError::new(
                f.clone(),
                format!("network name '{}' is predefined by Docker", n.name),
                "every host already has the `bridge`, `host` and `none` networks; pick another name",
            ));
            continue;
        }
        if matches!(n.driver, Driver::Host | Driver::None) {
            errs.push(ModelError::new(
                format!("{f}.driver"),
                format!("only one instance of the {:?} network is allowed", n.driver).to_lowercase(),
                "attach containers to the predefined `host` or `none` network instead",
            ));
            continue;
        }
        let overlay = n.driver == Driver::Overlay;
        if overlay && n.host.is_some() {
            errs.push(ModelError::new(
                format!("{f}.host"),
                "an overlay network spans hosts: list them under `hosts:`",
                "write `hosts: [h1, h2]` (or leave it out to span every host)",
            ));
            continue;
        }
        if !overlay && !n.hosts.is_empty() {
            errs.push(ModelError::new(
                format!("{f}.hosts"),
                format!(
                    "a {} network is local to one host; only overlay networks span hosts",
                    n.driver.name()
                ),
                "use `host: NAME` for a local network, or `driver: overlay`",
            ));
            continue;
        }
        let span: Vec<String> = if overlay {
            if n.hosts.is_empty() {
                host_names.clone()
            } else {
                n.hosts.clone()
            }
        } else {
            vec![n.host.clone().unwrap_or_else(|| default_host.clone())]
        };
        if let Some(bad) = span.iter().find(|x| !host_names.contains(x)) {
            let field = if overlay {
                format!("{f}.hosts")
            } else {
                format!("{f}.host")
            };
            errs.push(unknown(field, "host", bad, host_names.iter().map(String::as_str)));
            continue;
        }
        let host = span[0].clone();
        let Some(h) = m.hosts.iter().find(|h| h.name == host) else {
            continue;
        };
        if overlay
            && let Some(bare) = span
                .iter()
                .filter_map(|x| m.hosts.iter().find(|h| &h.name == x))
                .find(|h| underlay_addr(h).is_none())
        {
            errs.push(ModelError::new(
                format!("{f}.hosts"),
                format!("host '{}' has no IPv4 address on a NIC to carry VXLAN", bare.name),
                "give the host an interface with an address on a LAN (its advertise address)",
            ));
            continue;
        }
        // macvlan / ipvlan: the parent NIC and its VLAN.
        let mut parent = None;
        if matches!(n.driver, Driver::Macvlan | Driver::Ipvlan)
            && !n.internal
            && let Some(p) = &n.parent
        {
            match parse_parent(p) {
                Ok((nic, vid)) => {
                    if !h
                        .interfaces
                        .iter()
                        .any(|x| x.name == nic && x.macvlan_of.is_none())
                    {
                        errs.push(ModelError::new(
                            format!("{f}.driver_opts.parent"),
                            format!("-o parent interface was not found on the host: {nic}"),
                            format!(
                                "the parent must be a NIC of host '{host}' ({})",
                                h.interfaces
                                    .iter()
                                    .map(|x| x.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                        continue;
                    }
                    let mode = n.mode.unwrap_or(if n.driver == Driver::Ipvlan {
                        ChildMode::IpvlanL2
                    } else {
                        ChildMode::MacvlanBridge
                    });
                    let same = |x: &&ResolvedNetwork| {
                        x.host == host && x.parent.as_ref().is_some_and(|(pn, pv)| *pn == nic && *pv == vid)
                    };
                    if let Some(other) = nets.iter().filter(same).find(|x| x.driver != n.driver) {
                        errs.push(ModelError::new(
                            format!("{f}.driver_opts.parent"),
                            format!(
                                "{} network {} is already using parent interface {p}: a NIC carries macvlan or \
                                 ipvlan children, not both (device or resource busy)",
                                other.driver.name(),
                                other.name
                            ),
                            "put the other driver on its own NIC or VLAN subinterface (eth0.20)",
                        ));
                        continue;
                    }
                    let passthru = ChildMode::MacvlanPassthru;
                    if let Some(other) = nets
                        .iter()
                        .filter(same)
                        .find(|x| x.mode == passthru || mode == passthru)
                    {
                        let msg = if mode == passthru {
                            format!(
                                "cannot use mode passthru, macvlan network {} is already using parent interface {p}",
                                other.name
                            )
                        } else {
                            format!(
                                "macvlan network {} is already using parent interface {p} in mode passthru",
                                other.name
                            )
                        };
                        errs.push(ModelError::new(
                            format!("{f}.driver_opts.parent"),
                            msg,
                            "a passthru parent serves one network and one container",
                        ));
                        continue;
                    }
                    parent = Some((nic, vid));
                }
                Err(e) => {
                    errs.push(ModelError::new(
                        format!("{f}.driver_opts.parent"),
                        e,
                        "a NIC name, or NIC.VLAN for an 802.1Q subinterface: eth0, eth0.10",
                    ));
                    continue;
                }
            }
        }
        let mode = match (n.driver, n.mode) {
            (_, Some(m)) => m,
            (Driver::Ipvlan, None) => ChildMode::IpvlanL2,
            _ => ChildMode::MacvlanBridge,
        };
        let direct = matches!(n.driver, Driver::Macvlan | Driver::Ipvlan);
        let taken = if overlay {
            &mut global
        } else {
            used.entry(host.clone()).or_default()
        };
        let mut v4 = None;
        let mut v6 = None;
        let mut more_v4 = Vec::new();
        for (ci, c) in n.subnets.iter().enumerate() {
            let cf = format!("{f}.ipam.config.{ci}");
            let sub = c.subnet.trunc();
            if sub != c.subnet {
                errs.push(ModelError::new(
                    format!("{cf}.subnet"),
                    format!("subnet {} has host bits set", c.subnet),
                    format!("write the network address: {sub}"),
                ));
            }
            // An explicit subnet conflicts only with other networks of this host: Docker's
            // IPAM checks its own pools, not the host's interfaces (a bridge subnet over
            // the host's LAN is accepted, and the host's connected route for the LAN,
            // added first, keeps winning — checked with namespaces). Direct-attach
            // networks usually share the LAN's subnet; another host's macvlan network on
            // the same LAN subnet is no conflict (Docker's IPAM is per daemon).
            let owned = |t: &IpNet| {
                nets.iter().any(|x| {
                    x.hosts.iter().any(|hh| span.contains(hh))
                        && (x.v4.is_some_and(|(s, _)| IpNet::V4(s) == *t)
                            || x.v6.is_some_and(|(s, _)| IpNet::V6(s) == *t))
                })
            };
            if let Some(other) = taken.iter().find(|t| overlaps(t, &sub) && owned(t)) {
                let owner = nets
                    .iter()
                    .find(|x| {
                        x.host == host
                            && (x.v4.is_some_and(|(s, _)| IpNet::V4(s) == *other)
                                || x.v6.is_some_and(|(s, _)| IpNet::V6(s) == *other))
                    })
                    .map_or_else(
                        || "an interface of the host".to_string(),
                        |x| format!("network '{}'", x.name),
                    );
                errs.push(ModelError::new(
                    format!("{cf}.subnet"),
                    format!("Pool overlaps with other one on this address space: {sub} overlaps {other} of {owner}"),
                    "give each network on a host its own, non-overlapping subnet",
                ));
                continue;
            }
            if let Some(gw) = c.gateway
                && (!sub.contains(&gw) || gw == sub.network() || Some(gw) == broadcast(&sub))
            {
                errs.push(ModelError::new(
                    format!("{cf}.gateway"),
                    format!("gateway {gw} is not a usable address of {sub}"),
                    format!("use an address inside {sub}, such as {}", first_usable(&sub)),
                ));
                continue;
            }
            if let Some(r) = c.ip_range
                && !(sub.contains(&r.network()) && sub.prefix_len() <= r.prefix_len())
            {
                errs.push(ModelError::new(
                    format!("{cf}.ip_range"),
                    format!("ip_range {r} is not inside subnet {sub}"),
                    "ip_range must be a part of the subnet",
                ));
                continue;
            }
            taken.push(sub);
            match sub {
                IpNet::V4(s) if v4.is_none() => {
                    let gw = match c.gateway {
                        Some(IpAddr::V4(g)) => g,
                        _ => Ipv4Addr::from(u32::from(s.network()).saturating_add(1)),
                    };
                    v4 = Some((s, gw, c.ip_range));
                }
                IpNet::V6(s) if v6.is_none() => {
                    let gw = match c.gateway {
                        Some(IpAddr::V6(g)) => g,
                        _ => Ipv6Addr::from(u128::from(s.network()).saturating_add(1)),
                    };
                    v6 = Some((s, gw, c.ip_range));
                }
                IpNet::V4(s) => {
                    let gw = match c.gateway {
                        Some(IpAddr::V4(g)) => g,
                        _ => Ipv4Addr::from(u32::from(s.network()).saturating_add(1)),
                    };
                    more_v4.push((s, gw));
                }
                _ => errs.push(ModelError::new(
                    format!("{cf}.subnet"),
                    "a second IPv6 subnet is not supported",
                    "use at most one IPv6 subnet per network",
                )),
            }
        }
        if v6.is_some() && !n.enable_ipv6 {
            errs.push(ModelError::new(
                format!("{f}.enable_ipv6"),
                "an IPv6 subnet is configured but enable_ipv6 is false",
                "set `enable_ipv6: true` on the network",
            ));
        }
        if v4.is_none() && overlay {
            // Swarm's default pool 10.0.0.0/8 in /24s; 10.0.0.0/24 is the ingress network's.
            let pool = [(
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap_or_default()),
                24,
            )];
            let mut skip = taken.clone();
            skip.push(IpNet::V4(
                Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 24).unwrap_or_default(),
            ));
            if let Some(IpNet::V4(s)) = next_pool(&pool, &skip) {
                taken.push(IpNet::V4(s));
                v4 = Some((s, Ipv4Addr::from(u32::from(s.network()).saturating_add(1)), None));
            }
        }
        if v4.is_none() {
            match next_pool(&h.daemon.pools, taken) {
                Some(IpNet::V4(s)) => {
                    taken.push(IpNet::V4(s));
                    v4 = Some((s, Ipv4Addr::from(u32::from(s.network()).saturating_add(1)), None));
                }
                _ => errs.push(ModelError::new(
                    f.clone(),
                    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
                    "give the network an explicit subnet or add default-address-pools",
                )),
            }
        }
        if n.enable_ipv6 && v6.is_none() {
            // Docker allocates a unique-local /64 when no IPv6 subnet is given.
            ula += 1;
            let s = Ipv6Net::new(Ipv6Addr::new(0xfd00, 0xd0c, 0xe2, ula, 0, 0, 0, 0), 64).unwrap_or_default();
            v6 = Some((s, Ipv6Addr::from(u128::from(s.network()).saturating_add(1)), None));
        }
        let _ = ni;
        // The parent NIC's MTU (a VLAN subinterface inherits its NIC's): children
        // take it whatever `com.docker.network.driver.mtu` says, since Docker's macvlan
        // and ipvlan drivers never pass that option to the kernel.
        let parent_mtu = parent
            .as_ref()
            .and_then(|(nic, _)| mtu::host_nic_mtu(&m, &host, nic));
        if direct
            && let (Some(opt), Some(pm)) = (n.mtu, parent_mtu)
            && opt != pm
        {
            warnings.push(ModelError::new(
                format!("{f}.driver_opts.com.docker.network.driver.mtu"),
                format!(
                    "the {} driver ignores com.docker.network.driver.mtu: its containers' interfaces take the \
                     parent's MTU, {pm}",
                    n.driver.name()
                ),
                "set the MTU of the parent interface instead (its link's `mtu`, or the host's `mtu`)",
            ));
        }
        let mtu = mtu::mtu(mtu::network_device(
            n.driver,
            false,
            n.mtu,
            h.daemon.mtu,
            n.encrypted,
            parent_mtu,
        ));
        let vni = if overlay {
            // Explicit ids are reserved up front; automatic ones take the next free id
            // from 4097, as Docker's allocator skips ids in use.
            match n.vni {
                Some(v) => {
                    if let Some(other) = nets.iter().find(|x| x.driver == Driver::Overlay && x.vni == v) {
                        errs.push(ModelError::new(
                            format!("{f}.driver_opts.com.docker.network.driver.overlay.vxlanid_list"),
                            format!("VXLAN id {v} is already used by overlay network {}", other.name),
                            "give every overlay network its own VNI",
                        ));
                    }
                    v
                }
                None => {
                    let mut v = 4096 + vnis;
                    loop {
                        v += 1;
                        let used = explicit_vnis.contains(&v)
                            || nets.iter().any(|x| x.driver == Driver::Overlay && x.vni == v);
                        if !used {
                            break;
                        }
                    }
                    vnis = v - 4096;
                    v
                }
            }
        } else {
            0
        };
        let device = match (n.driver, &parent) {
            (Driver::Overlay, _) => format!("ov-{}", n.name),
            (Driver::Macvlan | Driver::Ipvlan, Some((nic, Some(v)))) => format!("{nic}.{v}"),
            (Driver::Macvlan | Driver::Ipvlan, Some((nic, None))) => nic.clone(),
            (Driver::Macvlan | Driver::Ipvlan, None) => device_name("dm-", &n.name),
            _ => bridge::device(n),
        };
        nets.push(ResolvedNetwork {
            name: n.name.clone(),
            driver: n.driver,
            host: host.clone(),
            default_bridge: false,
            internal: n.internal || (direct && parent.is_none()),
            device,
            v4: v4.map(|(s, g, _)| (s, g)),
            v6: v6.map(|(s, g, _)| (s, g)),
            more_v4,
            mtu,
            icc: n.icc.unwrap_or(true),
            hosts: span,
            parent,
            mode,
            vni,
            encrypted: n.encrypted,
        });
    }

    // docker_gwbridge: on a host where a container has only overlay (or internal)
    // networks, Docker gives it a second endpoint on this bridge for its way out
    // (default route, masquerade; `enable_icc=false`). Allocated after the declared
    // networks so that it never moves their subnets.
    // One pass over the containers (not one per host: 1,000 hosts × 100,000 containers
    // was most of the load time).
    let overlays: BTreeMap<&str, &ResolvedNetwork> = nets
        .iter()
        .filter(|n| n.driver == Driver::Overlay && !n.internal)
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut gw_hosts: BTreeSet<String> = BTreeSet::new();
    if !overlays.is_empty() {
        for c in &m.containers {
            let host = c.host.as_deref().unwrap_or(default_host.as_str());
            if c.networks.iter().any(|e| {
                overlays
                    .get(e.network.as_str())
                    .is_some_and(|n| n.hosts.iter().any(|x| x == host))
            }) {
                gw_hosts.insert(host.to_string());
            }
        }
    }
    for h in &m.hosts {
        if !gw_hosts.contains(&h.name) {
            continue;
        }
        let taken = used.entry(h.name.clone()).or_default();
        let Some(subnet) = next_pool(&h.daemon.pools, taken) else {
            continue;
        };
        taken.push(subnet);
        nets.push(ResolvedNetwork {
            name: GWBRIDGE.into(),
            driver: Driver::Bridge,
            host: h.name.clone(),
            // Like docker0: no embedded DNS, no aliases, Docker's own.
            default_bridge: true,
            internal: false,
            device: GWBRIDGE.into(),
            v4: v4_pair(subnet, None),
            v6: None,
            more_v4: Vec::new(),
            // Created by libnetwork with no MTU option: 1500, not daemon.json's `mtu`.
            mtu: mtu::mtu(mtu::Device::Bridge { option: None }),
            icc: false,
            hosts: vec![h.name.clone()],
            parent: None,
            mode: ChildMode::MacvlanBridge,
            vni: 0,
            encrypted: false,
        });
    }

    bridge::check(&m, &nets, &mut errs);

    // Containers: endpoints, static addresses first, then dynamic ones in order.
    let mut endpoints: Vec<Vec<ResolvedEndpoint>> = Vec::new();
    let mut taken_ips: BTreeMap<usize, BTreeMap<IpAddr, String>> = BTreeMap::new();
    for (ni, n) in nets.iter().enumerate() {
        let e = taken_ips.entry(ni).or_default();
        for (_, gw) in n.v4.iter().chain(n.more_v4.iter()) {
            e.insert(IpAddr::V4(*gw), "the gateway".into());
        }
        if let Some((_, gw)) = n.v6 {
            e.insert(IpAddr::V6(gw), "the gateway".into());
        }
        // Auxiliary addresses are reserved (libnetwork's `reserveAddress` at create).
        let def = m
            .networks
            .iter()
            .enumerate()
            .find(|(_, d)| d.name == n.name && !n.default_bridge);
        for (di, d) in def.into_iter() {
            for (si, s) in d.subnets.iter().enumerate() {
                for (name, a) in &s.aux_addresses {
                    if s.subnet.contains(a) {
                        e.insert(*a, format!("the auxiliary address '{name}'"));
                    } else {
                        errs.push(ModelError::new(
                            format!(
                                "networks.{}.ipam.config.{si}.aux_addresses.{name}",
                                m.networks[di].name
                            ),
                            format!("auxiliary address {name}={a} is not in subnet {}", s.subnet),
                            "an aux address must belong to its subnet",
                        ));
                    }
                }
            }
        }
    }
    let host_set: BTreeSet<&str> = m.hosts.iter().map(|h| h.name.as_str()).collect();
    let net_index: BTreeMap<(&str, &str), usize> = nets
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.hosts.iter().map(move |h| ((h.as_str(), n.name.as_str()), i)))
        .collect();
    for c in &m.containers {
        let f = format!("containers.{}", c.name);
        let host = c.host.clone().unwrap_or_else(|| default_host.clone());
        if !host_set.contains(host.as_str()) {
            errs.push(unknown(
                format!("{f}.host"),
                "host",
                &host,
                host_names.iter().map(String::as_str),
            ));
            endpoints.push(Vec::new());
            continue;
        }
        for (k, o) in c.dns_opt.iter().enumerate() {
            if let Err(e) = crate::dns::ResolvConf::default().apply_options(std::slice::from_ref(o)) {
                errs.push(ModelError::new(
                    format!("{f}.dns_opt.{k}"),
                    e,
                    "resolver options look like `ndots:2`, `timeout:1`, `attempts:3`",
                ));
            }
        }
        for (k, d) in c.dns_search.iter().enumerate() {
            if !crate::dns::valid_name(d) {
                errs.push(ModelError::new(
                    format!("{f}.dns_search.{k}"),
                    format!("'{d}' is not a valid domain name"),
                    "labels of letters, digits and hyphens, each at most 63 characters",
                ));
            }
        }
        let mut eps = Vec::new();
        let list: Vec<super::EndpointDef> = if c.networks.is_empty() {
            vec![super::EndpointDef {
                network: "bridge".into(),
                ipv4: None,
                ipv6: None,
                mac: None,
                aliases: Vec::new(),
            }]
        } else {
            c.networks.clone()
        };
        let special = list
            .iter()
            .filter(|e| e.network == "host" || e.network == "none")
            .count();
        if special > 0 && list.len() > 1 {
            errs.push(ModelError::new(
                format!("{f}.networks"),
                "a container on the host or none network cannot join other networks",
                "Docker refuses to connect such a container to another network; use one or the other",
            ));
        }
        for (ei, ep) in list.iter().enumerate() {
            let ef = format!("{f}.networks.{}", ep.network);
            if ep.network == "host" || ep.network == "none" {
                if ep.ipv4.is_some() {
                    errs.push(ModelError::new(
                        format!("{ef}.ipv4_address"),
                        "user specified IP address is supported on user defined networks only",
                        format!(
                            "a container on the {} network has no address of its own",
                            ep.network
                        ),
                    ));
                }
                if !ep.aliases.is_empty() {
                    errs.push(ModelError::new(
                        format!("{ef}.aliases"),
                        "network-scoped alias is supported only for containers in user defined networks",
                        "give aliases on a user-defined network",
                    ));
                }
                continue;
            }
            let Some(&ni) = net_index.get(&(host.as_str(), ep.network.as_str())) else {
                let elsewhere = nets.iter().find(|n| n.name == ep.network);
                let mut e = unknown(
                    ef.clone(),
                    "network",
                    &ep.network,
                    nets.iter()
                        .filter(|n| n.hosts.contains(&host))
                        .map(|n| n.name.as_str()),
                );
                if let Some(n) = elsewhere {
                    e.hint = Some(if n.driver == Driver::Overlay {
                        format!(
                            "overlay network '{}' spans hosts {}: add '{host}' to its `hosts:`",
                            n.name,
                            n.hosts.join(", ")
                        )
                    } else {
                        format!(
                            "network '{}' lives on host '{}'; a {} network is local to its host",
                            n.name,
                            n.host,
                            n.driver.name()
                        )
                    });
                }
                errs.push(e);
                continue;
            };
            let net = &nets[ni];
            if net.default_bridge && !ep.aliases.is_empty() {
                errs.push(ModelError::new(
                    format!("{ef}.aliases"),
                    "network-scoped alias is supported only for containers in user defined networks",
                    "the default bridge has no embedded DNS; attach the container to a user-defined network",
                ));
            }
            let mut v4 = None;
            if let Some(ip) = ep.ipv4 {
                let af = format!("{ef}.ipv4_address");
                if net.default_bridge {
                    errs.push(ModelError::new(
                        af,
                        "user specified IP address is supported on user defined networks only",
                        "create a network with a subnet and attach the container to it",
                    ));
                } else if let Some((s, _)) = net.v4
                    && net
                        .v4_subnet_of(ip)
                        .is_none_or(|s| ip == s.network() || ip == s.broadcast())
                {
                    errs.push(ModelError::new(
                        af,
                        format!("address {ip} is not a usable address of the network's subnet {s}"),
                        format!("pick an address inside {s}"),
                    ));
                } else if claim(&mut taken_ips, ni, IpAddr::V4(ip), af, &c.name, &mut errs) {
                    v4 = Some(ip);
                }
            }
            let mut v6 = None;
            if let Some(ip) = ep.ipv6 {
                let af = format!("{ef}.ipv6_address");
                match net.v6 {
                    None => errs.push(ModelError::new(
                        af,
                        format!("invalid endpoint settings: no configured subnet contains IP address {ip}"),
                        "give the network `enable_ipv6: true` (and an IPv6 subnet), or drop ipv6_address",
                    )),
                    Some(_) if net.default_bridge => errs.push(ModelError::new(
                        af,
                        "user specified IP address is supported on user defined networks only",
                        "create a network with a subnet and attach the container to it",
                    )),
                    Some((s, _)) if !s.contains(&ip) || ip == s.network() => {
                        errs.push(ModelError::new(
                            af,
                            format!(
                                "invalid endpoint settings: no configured subnet contains IP address {ip}"
                            ),
                            format!("pick an address inside {s}"),
                        ));
                    }
                    Some(_) => {
                        if claim(&mut taken_ips, ni, IpAddr::V6(ip), af, &c.name, &mut errs) {
                            v6 = Some(ip);
                        }
                    }
                }
            }
            if let Some(mac) = ep.mac
                && crate::net::is_group(&mac)
            {
                errs.push(ModelError::new(
                    format!("{ef}.mac_address"),
                    format!(
                        "invalid MAC address {}: a multicast address",
                        netloom_core::frame::MacDisplay(mac)
                    ),
                    "a container's MAC must be unicast: the first octet even (02:… is a local one)",
                ));
            }
            eps.push(ResolvedEndpoint {
                network: ni,
                ifname: format!("eth{ei}"),
                v4,
                v6,
                fixed_mac: ep.mac,
                aliases: ep.aliases.clone(),
            });
        }
        let way_out = eps.iter().any(|e| {
            let n = &nets[e.network];
            !n.internal && n.driver != Driver::Overlay
        });
        if !way_out
            && eps
                .iter()
                .any(|e| nets[e.network].driver == Driver::Overlay && !nets[e.network].internal)
            && let Some(&gw) = net_index.get(&(host.as_str(), GWBRIDGE))
        {
            eps.push(ResolvedEndpoint {
                network: gw,
                ifname: format!("eth{}", eps.len()),
                v4: None,
                v6: None,
                fixed_mac: None,
                aliases: Vec::new(),
            });
        }
        endpoints.push(eps);
    }
    // An element's ports are numbered with 16 bits: a network that would need more ports
    // on one host than that is refused here rather than wrapping a port number. (A real
    // Linux bridge stops far earlier, at 1,023 ports: "exchange full".)
    let mut per_host: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for (ci, eps) in endpoints.iter().enumerate() {
        let host = m.containers[ci].host.as_deref().unwrap_or(default_host.as_str());
        for ep in eps {
            let k = per_host.entry((ep.network, host)).or_default();
            *k += 1;
            if *k == MAX_ENDPOINTS + 1 {
                errs.push(ModelError::new(
                    format!(
                        "containers.{}.networks.{}",
                        m.containers[ci].name, nets[ep.network].name
                    ),
                    format!(
                        "network {} has more than {MAX_ENDPOINTS} endpoints on host {host}",
                        nets[ep.network].name
                    ),
                    "spread the containers over several networks or hosts",
                ));
            }
        }
    }
    // Dynamic addresses, in container order, from ip_range when given.
    let ranges: BTreeMap<usize, Option<IpNet>> = nets
        .iter()
        .enumerate()
        .map(|(ni, n)| {
            let r = m
                .networks
                .iter()
                .find(|d| d.name == n.name && !n.default_bridge)
                .and_then(|d| {
                    d.subnets
                        .iter()
                        .find(|s| s.subnet.addr().is_ipv4())
                        .and_then(|s| s.ip_range)
                });
            (ni, r)
        })
        .collect();
    // One cursor per network and family: the lowest free address, as Docker's IPAM
    // hands it out, found without rescanning what is already allocated.
    let mut next_v4: BTreeMap<usize, NextFree> = BTreeMap::new();
    let mut next_v6: BTreeMap<usize, NextFree> = BTreeMap::new();
    for (ci, eps) in endpoints.iter_mut().enumerate() {
        for ep in eps.iter_mut() {
            let net = &nets[ep.network];
            let taken = taken_ips.entry(ep.network).or_default();
            if ep.v4.is_none()
                && let Some((s, _)) = net.v4
            {
                let pool = next_v4.entry(ep.network).or_insert_with(|| {
                    let range = match ranges.get(&ep.network).copied().flatten() {
                        Some(IpNet::V4(r)) => r,
                        _ => s,
                    };
                    NextFree::v4(s, range)
                });
                match pool.take_v4(|a| taken.contains_key(&a)) {
                    Some(ip) => {
                        taken.insert(
                            IpAddr::V4(ip),
                            format!("the address of container '{}'", m.containers[ci].name),
                        );
                        ep.v4 = Some(ip);
                    }
                    None => errs.push(ModelError::new(
                        format!("containers.{}.networks.{}", m.containers[ci].name, net.name),
                        format!("no available IPv4 addresses on network {}", net.name),
                        "use a larger subnet or ip_range",
                    )),
                }
            }
            if ep.v6.is_none()
                && let Some((s, _)) = net.v6
            {
                let pool = next_v6.entry(ep.network).or_insert_with(|| NextFree::v6(s));
                match pool.take_v6(|a| taken.contains_key(&a)) {
                    Some(ip) => {
                        taken.insert(
                            IpAddr::V6(ip),
                            format!("the address of container '{}'", m.containers[ci].name),
                        );
                        ep.v6 = Some(ip);
                    }
                    None => errs.push(ModelError::new(
                        format!("containers.{}.networks.{}", m.containers[ci].name, net.name),
                        format!("no available IPv6 addresses on network {}", net.name),
                        "use a larger IPv6 subnet",
                    )),
                }
            }
        }
    }
    // Published ports: conflicts per host, ephemeral ports from 32768.
    let mut published = Vec::new();
    let mut bound: BTreeMap<(String, L4, u16), (Option<IpAddr>, String)> = BTreeMap::new();
    let mut ephemeral: BTreeMap<String, u16> = BTreeMap::new();
    for (ci, c) in m.containers.iter().enumerate() {
        let host = c.host.clone().unwrap_or_else(|| default_host.clone());
        let mut out = Vec::new();
        // Only the bridge driver maps ports; macvlan and ipvlan log a warning in the
        // daemon's log and ignore them (no DNAT, no docker-proxy, no port allocated).
        let direct = endpoints
            .get(ci)
            .and_then(|eps| gateway_index(eps, &nets).and_then(|g| eps.get(g)))
            .and_then(|e| nets.get(e.network))
            .filter(|n| matches!(n.driver, Driver::Macvlan | Driver::Ipvlan));
        if let Some(n) = direct {
            if !c.ports.is_empty() {
                warnings.push(ModelError::new(
                    format!("containers.{}.ports", c.name),
                    format!(
                        "{} driver does not support port mappings: the ports are ignored",
                        n.driver.name()
                    ),
                    format!(
                        "clients connect to the container's own address on network {} and its container port",
                        n.name
                    ),
                ));
            }
            published.push(out);
            continue;
        }
        if c.networks.iter().any(|e| e.network == "host") {
            if !c.ports.is_empty() {
                warnings.push(ModelError::new(
                    format!("containers.{}.ports", c.name),
                    "WARNING: Published ports are discarded when using host network mode",
                    "the container's listeners are on the host's own addresses already",
                ));
            }
            published.push(out);
            continue;
        }
        for (pi, p) in c.ports.iter().enumerate() {
            for k in 0..p.count {
                let hp = match p.host_port {
                    Some(h) => h.saturating_add(k),
                    None => {
                        let e = ephemeral.entry(host.clone()).or_insert(32768);
                        while bound.contains_key(&(host.clone(), p.l4, *e)) {
                            *e += 1;
                        }
                        *e
                    }
                };
                let key = (host.clone(), p.l4, hp);
                if let Some((ip, owner)) = bound.get(&key)
                    && super::binds_overlap(*ip, p.host_ip)
                {
                    let shown = p.host_ip.map_or("0.0.0.0".to_string(), |i| i.to_string());
                    errs.push(ModelError::new(
                        format!("containers.{}.ports.{pi}", c.name),
                        format!(
                            "Bind for {shown}:{hp} failed: port is already allocated (by container '{owner}')"
                        ),
                        "publish a different host port",
                    ));
                    continue;
                }
                bound.insert(key, (p.host_ip, c.name.clone()));
                out.push((p.host_ip, hp, p.container_port.saturating_add(k), p.l4));
            }
        }
        published.push(out);
    }
    for (i, l) in m.links.iter().enumerate() {
        for (k, end) in l.between.iter().enumerate() {
            if !endpoint_exists(&m, end) {
                errs.push(ModelError::new(
                    format!("links.{i}.between.{k}"),
                    format!("'{end}' is neither a LAN nor an interface `node.iface`"),
                    "name a LAN (`office`) or an interface (`host1.eth0`, `api.eth0`)",
                ));
            }
        }
    }
    if errs.is_empty() {
        Ok(Resolved {
            model: m,
            networks: nets,
            endpoints,
            published,
            warnings,
        })
    } else {
        Err(errs)
    }
}

/// Whether `end` names a LAN or an interface of some node.
/// Docker's gateway endpoint of a container: the one that gives it its default route,
/// the first on a network that is neither internal nor an overlay (an overlay's way
/// out is docker_gwbridge). Ports are published through it.
pub(super) fn gateway_index(eps: &[ResolvedEndpoint], nets: &[ResolvedNetwork]) -> Option<usize> {
    eps.iter().position(|e| {
        nets.get(e.network)
            .is_some_and(|n| !n.internal && n.driver != Driver::Overlay)
    })
}

pub(crate) fn endpoint_exists(m: &Model, end: &str) -> bool {
    // A LAN, or a network (the other end of a container's attachment).
    if m.lans.iter().any(|l| l.name == end) || m.networks.iter().any(|n| n.name == end) {
        return true;
    }
    let Some((node, iface)) = end.split_once('.') else {
        return false;
    };
    m.hosts
        .iter()
        .any(|h| h.name == node && h.interfaces.iter().any(|n| n.name == iface))
        || m.routers
            .iter()
            .any(|r| r.name == node && r.interfaces.iter().any(|n| n.name == iface))
        || m.externals.iter().any(|e| e.name == node && iface == "eth0")
        || m.containers.iter().any(|c| {
            // Overlay-only containers have one more: their docker_gwbridge endpoint.
            let def = |e: &super::EndpointDef| m.networks.iter().find(|n| n.name == e.network);
            let overlay_only = c
                .networks
                .iter()
                .any(|e| def(e).is_some_and(|n| n.driver == Driver::Overlay && !n.internal))
                && c.networks
                    .iter()
                    .all(|e| def(e).is_some_and(|n| n.driver == Driver::Overlay || n.internal));
            c.name == node
                && iface
                    .strip_prefix("eth")
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| n < c.networks.len().max(1) + usize::from(overlay_only))
        })
}

/// Takes static address `ip` on network `ni` for container `owner`, or reports who
/// holds it already (Docker's "Address already in use") at `field`.
fn claim(
    taken: &mut BTreeMap<usize, BTreeMap<IpAddr, String>>,
    ni: usize,
    ip: IpAddr,
    field: String,
    owner: &str,
    errs: &mut Vec<ModelError>,
) -> bool {
    let t = taken.entry(ni).or_default();
    if let Some(holder) = t.get(&ip) {
        errs.push(ModelError::new(
            field,
            format!("Address already in use: {ip} is already {holder}"),
            "give every endpoint of a network its own address",
        ));
        return false;
    }
    t.insert(ip, format!("the address of container '{owner}'"));
    true
}

fn check_names(m: &Model, errs: &mut Vec<ModelError>) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let all = m
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), "hosts"))
        .chain(m.routers.iter().map(|r| (r.name.as_str(), "routers")))
        .chain(m.externals.iter().map(|e| (e.name.as_str(), "externals")))
        .chain(m.containers.iter().map(|c| (c.name.as_str(), "containers")))
        .chain(m.lans.iter().map(|l| (l.name.as_str(), "lans")));
    for (name, kind) in all {
        if let Some(first) = seen.insert(name, kind) {
            errs.push(ModelError::new(
                format!("{kind}.{name}"),
                format!("the name '{name}' is already used in `{first}`"),
                "steps refer to machines by name, so every host, router, external, container and LAN needs its own",
            ));
        }
    }
}

fn next_pool(pools: &[(IpNet, u8)], taken: &[IpNet]) -> Option<IpNet> {
    for &(base, size) in pools {
        if size < base.prefix_len() {
            continue;
        }
        let mut cur = IpNet::new(base.network(), size).ok()?.trunc();
        loop {
            if !base.contains(&cur.network()) {
                break;
            }
            if !taken.iter().any(|t| overlaps(t, &cur)) {
                return Some(cur);
            }
            cur = next_subnet(cur)?;
        }
    }
    None
}

fn next_subnet(n: IpNet) -> Option<IpNet> {
    match n {
        IpNet::V4(n) => {
            let step = 1u64 << (32 - n.prefix_len());
            let next = u32::try_from(u32::from(n.network()) as u64 + step).ok()?;
            Ipv4Net::new(Ipv4Addr::from(next), n.prefix_len())
                .ok()
                .map(IpNet::V4)
        }
        IpNet::V6(n) => {
            let step = 1u128.checked_shl(128 - n.prefix_len() as u32)?;
            let next = u128::from(n.network()).checked_add(step)?;
            Ipv6Net::new(Ipv6Addr::from(next), n.prefix_len())
                .ok()
                .map(IpNet::V6)
        }
    }
}

fn v4_pair(n: IpNet, gw: Option<Ipv4Addr>) -> Option<(Ipv4Net, Ipv4Addr)> {
    match n {
        IpNet::V4(s) => Some((
            s,
            gw.unwrap_or_else(|| Ipv4Addr::from(u32::from(s.network()).saturating_add(1))),
        )),
        IpNet::V6(_) => None,
    }
}

fn broadcast(n: &IpNet) -> Option<IpAddr> {
    match n {
        IpNet::V4(n) => Some(IpAddr::V4(n.broadcast())),
        IpNet::V6(_) => None,
    }
}

/// Docker's overlay MTU: the option (or 1500) less VXLAN, less ESP and alignment
/// when encrypted (libnetwork's `maxMTU`).
/// The host's underlay address: the first IPv4 address of a NIC on a LAN.
pub(super) fn underlay_addr(h: &HostDef) -> Option<Ipv4Addr> {
    h.interfaces
        .iter()
        .filter(|n| n.macvlan_of.is_none() && n.lan.is_some())
        .find_map(|n| match n.address {
            Some(IpNet::V4(a)) => Some(a.addr()),
            _ => None,
        })
}

/// `eth0` or `eth0.10` → the NIC and its VLAN.
fn parse_parent(p: &str) -> Result<(String, Option<u16>), String> {
    match p.rsplit_once('.') {
        Some((nic, v)) if !nic.is_empty() => match v.parse::<u16>() {
            Ok(id) if (1..=4094).contains(&id) => Ok((nic.to_string(), Some(id))),
            Ok(id) => Err(format!("vlan id must be between 1-4094, received: {id}")),
            Err(_) => Err(format!(
                "invalid subinterface vlan name {p}, example formatting is eth0.10"
            )),
        },
        _ if p.is_empty() => Err("the parent interface name is empty".into()),
        _ => Ok((p.to_string(), None)),
    }
}

fn vlan_and_trunk(field: String) -> ModelError {
    ModelError::new(
        field,
        "a switch port is an access port (`vlan`) or a trunk (`trunk`), not both",
        "keep `vlan: N` for one untagged VLAN, or `trunk: [N, …]` for tagged ones",
    )
}

fn default_host_name(m: &Model) -> &str {
    m.hosts.first().map_or("host1", |h| h.name.as_str())
}

/// `prefix` + `name`, cut to Linux's 15-byte interface names on a character boundary.
pub(super) fn device_name(prefix: &str, name: &str) -> String {
    let mut d = format!("{prefix}{name}");
    let mut end = d.len().min(15);
    while !d.is_char_boundary(end) {
        end -= 1;
    }
    d.truncate(end);
    d
}

fn unknown<'a>(field: String, what: &str, name: &str, known: impl Iterator<Item = &'a str>) -> ModelError {
    let known: Vec<&str> = known.collect();
    let near = known
        .iter()
        .map(|k| (strsim::levenshtein(k, name), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k);
    let hint = match near {
        Some(k) => format!("did you mean '{k}'?"),
        None if known.is_empty() => format!("no {what} is declared"),
        None => format!("known {what}s: {}", known.join(", ")),
    };
    ModelError {
        field,
        message: format!("unknown {what} '{name}'"),
        hint: Some(hint),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ContainerDef, EndpointDef, NetworkDef, SubnetDef};
    use super::*;

    #[test]
    fn docker_default_allocation_order() {
        // Proves the default bridge takes 172.17/16 and user networks the next pools,
        // with gateway .1 and containers from .2 in declaration order.
        let mut m = Model::default();
        m.networks.push(NetworkDef::bridge("a"));
        m.networks.push(NetworkDef::bridge("b"));
        let mut c1 = ContainerDef::new("c1");
        c1.networks.push(EndpointDef {
            network: "a".into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            aliases: vec![],
        });
        let mut c2 = ContainerDef::new("c2");
        c2.networks.push(EndpointDef {
            network: "a".into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            aliases: vec![],
        });
        m.containers = vec![c1, c2, ContainerDef::new("c3")];
        let r = m.resolve().expect("valid");
        assert_eq!(
            r.networks[0].v4.map(|v| v.0.to_string()),
            Some("172.17.0.0/16".into())
        );
        assert_eq!(
            r.networks[1].v4.map(|v| v.0.to_string()),
            Some("172.18.0.0/16".into())
        );
        assert_eq!(
            r.networks[2].v4.map(|v| v.0.to_string()),
            Some("172.19.0.0/16".into())
        );
        assert_eq!(r.endpoints[0][0].v4, Some(Ipv4Addr::new(172, 18, 0, 2)));
        assert_eq!(r.endpoints[1][0].v4, Some(Ipv4Addr::new(172, 18, 0, 3)));
        assert_eq!(r.endpoints[2][0].v4, Some(Ipv4Addr::new(172, 17, 0, 2)));
    }

    #[test]
    fn many_containers_on_one_network_allocate_in_linear_time() {
        // Proves dynamic allocation no longer rescans the subnet for every container:
        // 30,000 containers on one /16 (the scan from the start took 11 s for 16,000 in
        // a release build, minutes here) resolve in well under the limit, in Docker's
        // order, around a static address and up to the range's last address.
        let mut m = Model::default();
        let mut n = NetworkDef::bridge("big");
        n.subnets.push(super::super::SubnetDef {
            subnet: "10.20.0.0/16".parse().expect("subnet"),
            gateway: None,
            ip_range: Some("10.20.0.0/17".parse().expect("range")),
            aux_addresses: Vec::new(),
        });
        m.networks.push(n);
        for i in 0..30_000u32 {
            let mut c = ContainerDef::new(format!("c{i}"));
            c.networks.push(EndpointDef {
                network: "big".into(),
                ipv4: (i == 5).then_some(Ipv4Addr::new(10, 20, 0, 3)),
                ipv6: None,
                mac: None,
                aliases: vec![],
            });
            m.containers.push(c);
        }
        let t = std::time::Instant::now();
        let r = m.resolve().expect("valid");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "took {:?}",
            t.elapsed()
        );
        assert_eq!(r.endpoints[0][0].v4, Some(Ipv4Addr::new(10, 20, 0, 2)));
        assert_eq!(
            r.endpoints[1][0].v4,
            Some(Ipv4Addr::new(10, 20, 0, 4)),
            ".3 is static"
        );
        assert_eq!(r.endpoints[5][0].v4, Some(Ipv4Addr::new(10, 20, 0, 3)));
        assert_eq!(r.endpoints[29_999][0].v4, Some(Ipv4Addr::new(10, 20, 117, 49)));

        // The range's last address (10.20.127.255, an ordinary host address of the /16)
        // is handed out, and the one after the range is not.
        let mut m = Model::default();
        let mut n = NetworkDef::bridge("r");
        n.subnets.push(super::super::SubnetDef {
            subnet: "10.30.0.0/24".parse().expect("subnet"),
            gateway: None,
            ip_range: Some("10.30.0.0/30".parse().expect("range")),
            aux_addresses: Vec::new(),
        });
        m.networks.push(n);
        for i in 0..4 {
            let mut c = ContainerDef::new(format!("c{i}"));
            c.networks.push(EndpointDef {
                network: "r".into(),
                ipv4: None,
                ipv6: None,
                mac: None,
                aliases: vec![],
            });
            m.containers.push(c);
        }
        let errs = m.resolve().expect_err("the range holds two addresses");
        assert!(
            errs[0].message.contains("no available IPv4 addresses"),
            "{}",
            errs[0].message
        );
        m.containers.truncate(2);
        let r = m.resolve().expect("valid");
        assert_eq!(r.endpoints[1][0].v4, Some(Ipv4Addr::new(10, 30, 0, 3)));
    }

    #[test]
    fn overlapping_subnets_and_bad_static_addresses_are_refused() {
        let mut m = Model::default();
        let mut a = NetworkDef::bridge("a");
        a.subnets.push(SubnetDef {
            subnet: "10.1.0.0/16".parse().expect("lit"),
            gateway: None,
            ip_range: None,
            aux_addresses: Vec::new(),
        });
        let mut b = NetworkDef::bridge("b");
        b.subnets.push(SubnetDef {
            subnet: "10.1.2.0/24".parse().expect("lit"),
            gateway: None,
            ip_range: None,
            aux_addresses: Vec::new(),
        });
        m.networks = vec![a, b];
        let mut c = ContainerDef::new("c");
        c.networks.push(EndpointDef {
            network: "a".into(),
            ipv4: Some(Ipv4Addr::new(10, 2, 0, 5)),
            ipv6: None,
            mac: None,
            aliases: vec![],
        });
        m.containers.push(c);
        let errs = m.resolve().expect_err("invalid");
        assert!(
            errs.iter()
                .any(|e| e.field == "networks.b.ipam.config.0.subnet" && e.message.contains("overlaps"))
        );
        assert!(
            errs.iter()
                .any(|e| e.field == "containers.c.networks.a.ipv4_address")
        );
    }
}
