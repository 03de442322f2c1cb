//! `netloom import cni`: a CNI network configuration (`.conflist`, or a single-plugin
//! `.conf`) as a netloom scenario — the network the reference plugins would build on
//! one node for N containers.
//!
//! The containers are ADDed one after another through [`CniNetwork`] (host-local's
//! order, static IPAM's addresses), and the result is written as scenario YAML text: a
//! node `host1` (`eth0` 192.168.65.10/24 on LAN `lan`), an outside `client`
//! (192.168.65.100), the network with a `cni:` key (the host then runs no Docker and
//! gets the plugins' iptables rules), containers `c1`…`cN`, bandwidth as link rates,
//! and default checks.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use netloom_drivers::cni::config::{Ipam, PluginKind};
use netloom_drivers::cni::{CniNetwork, container_id};
use netloom_drivers::docker::iptables::PortBinding;
use netloom_drivers::net::L4;

use crate::compose::{CLIENT_ADDR, HOST_ADDR};

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--containers N` (default 2, or 1 with static IPAM, which gives every container
    /// the same address).
    pub containers: Option<usize>,
    /// `--publish [cN=][HOSTIP:]HOST:CONTAINER[/PROTO]` (to c1 without `cN=`).
    pub publish: Vec<String>,
    /// `--no-checks`.
    pub no_checks: bool,
}

/// The scenario text and the warnings (each `FILE:LINE:COL: warning: …`).
#[derive(Debug, Clone)]
pub struct Converted {
    /// Scenario YAML.
    pub yaml: String,
    /// Warnings for settings that have no equivalent.
    pub warnings: Vec<String>,
}

/// Whether `text` is a CNI configuration: a JSON object with a top-level `plugins` or
/// `type` key.
pub fn is_cni(text: &str) -> bool {
    if !text.trim_start().starts_with('{') {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.as_object()
                .map(|o| o.contains_key("plugins") || o.contains_key("type"))
        })
        .unwrap_or(false)
}

/// Reads `path` and converts it.
///
/// # Errors
/// Messages `FILE:LINE:COL: error: …`, ready to print.
pub fn convert_file(path: &Path, opts: &Options) -> Result<Converted, String> {
    let name = path.display().to_string();
    let text = crate::input::read_text(path).map_err(|e| format!("{name}:{e}\n"))?;
    convert(&name, &text, opts)
}

/// A `--publish` value: (container index from 0, binding).
///
/// # Errors
/// What does not parse, in words.
pub fn parse_publish(s: &str, containers: usize) -> Result<(usize, PortBinding), String> {
    let (who, rest) = match s.split_once('=') {
        Some((c, r)) => {
            let i = c
                .strip_prefix('c')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|i| (1..=containers).contains(i))
                .ok_or_else(|| format!("--publish {s}: {c:?} is not one of c1..c{containers}"))?;
            (i - 1, r)
        }
        None => (0, s),
    };
    let (ports, proto) = match rest.rsplit_once('/') {
        Some((p, "tcp")) => (p, L4::Tcp),
        Some((p, "udp")) => (p, L4::Udp),
        Some((_, o)) => return Err(format!("--publish {s}: protocol {o:?} is not tcp or udp")),
        None => (rest, L4::Tcp),
    };
    let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
    let (ip, hp, cp) = match parts.as_slice() {
        [cp, hp] => (None, *hp, *cp),
        [cp, hp, ip] => (Some(*ip), *hp, *cp),
        _ => return Err(format!("--publish {s}: expected HOST:CONTAINER[/PROTO]")),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let (Some(host_port), Some(container_port)) = (port(hp), port(cp)) else {
        return Err(format!("--publish {s}: ports are 1 to 65535"));
    };
    let host_ip = match ip {
        Some(a) => Some(
            a.trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .map_err(|_| format!("--publish {s}: {a:?} is not an IP address"))?,
        ),
        None => None,
    };
    Ok((
        who,
        PortBinding {
            l4: proto,
            host_ip,
            host_port,
            container_port,
        },
    ))
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A scenario name for the CNI network's name (Docker's name rule).
fn net_key(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if ["bridge", "host", "none"].contains(&s.as_str()) {
        // Docker's predefined networks keep their names on every host.
        format!("cni-{s}")
    } else if s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        s
    } else {
        format!("n{}", s.chars().take(62).collect::<String>())
    }
}

/// Converts CNI configuration text (`file` names it in messages).
///
/// # Errors
/// `FILE:LINE:COL: error: …` for the configuration, `FILE: error: cN: …` for an ADD
/// that fails (host-local out of addresses), ready to print.
pub fn convert(file: &str, text: &str, opts: &Options) -> Result<Converted, String> {
    // Rendered as scenario errors are: the place, then the line with a caret under it.
    let mut net = CniNetwork::from_conflist(text).map_err(|e| {
        let shown =
            crate::error::ScenarioError::new(file, e.line as u64, e.column as u64, e.message).render(text);
        format!("{shown}\n")
    })?;
    let mut warnings: Vec<String> = Vec::new();
    let warn_at = |w: &mut Vec<String>, key: &str, msg: String| {
        let (l, c) = netloom_drivers::cni::config::locate(text, key, None);
        w.push(format!("{file}:{l}:{c}: warning: {msg}"));
    };
    for (m, l, c) in &net.config.skipped {
        warnings.push(format!("{file}:{l}:{c}: warning: {m}"));
    }
    for (t, l, c) in &net.config.unknown {
        warnings.push(format!(
            "{file}:{l}:{c}: warning: plugin type {t:?} is not modelled; the chain runs without it"
        ));
    }
    let is_static = matches!(net.ipam, Some(Ipam::Static { .. }));
    let count = opts.containers.unwrap_or(if is_static { 1 } else { 2 });
    if count == 0 {
        return Err(format!("{file}: error: --containers must be at least 1\n"));
    }
    let Some(main) = net.config.main().cloned() else {
        return Err(format!("{file}: error: no interface plugin\n"));
    };
    let raw = &main.raw;
    let conf = net.config.clone();
    let portmap = conf.plugin(&PluginKind::Portmap).map(|p| p.raw.clone());
    let bandwidth = conf.plugin(&PluginKind::Bandwidth).map(|p| p.raw.clone());
    let firewall = conf.plugin(&PluginKind::Firewall).map(|p| p.raw.clone());
    let tuning = conf.plugin(&PluginKind::Tuning).map(|p| p.raw.clone());
    // Port mappings: runtimeConfig's for c1, then --publish.
    let mut ports: Vec<Vec<PortBinding>> = vec![Vec::new(); count];
    if let Some(pm) = &portmap
        && let Some(rc) = &pm.runtime_config
    {
        ports[0].extend(rc.port_mappings.iter().filter_map(netloom_drivers::cni::binding));
    }
    for p in &opts.publish {
        let (i, b) = parse_publish(p, count).map_err(|e| format!("{file}: error: {e}\n"))?;
        ports[i].push(b);
    }
    if portmap.is_none() && ports.iter().any(|p| !p.is_empty()) {
        warnings.push(format!(
            "{file}: warning: ports to publish but no portmap plugin in the chain: nothing is published"
        ));
        ports.iter_mut().for_each(Vec::clear);
    }
    if main.kind != PluginKind::Bridge && ports.iter().any(|p| !p.is_empty()) {
        warnings.push(format!(
            "{file}: warning: portmap with {} is not modelled (the format publishes ports on bridge networks only): nothing is published",
            kind_name(&main.kind)
        ));
        ports.iter_mut().for_each(Vec::clear);
    }
    // ADD each container, in order.
    let mut results = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let name = format!("c{}", i + 1);
        match net.add_with_ports(&container_id(&name), "eth0", p.clone()) {
            Ok(r) => results.push(r),
            Err(e) => {
                return Err(format!(
                    "{file}: error: ADD of {name} (container {}) failed: {} (CNI error code {})\n",
                    container_id(&name),
                    e.msg,
                    e.code
                ));
            }
        }
    }
    let Some(ipam) = net.ipam.clone() else {
        return Err(format!(
            "{file}: error: the {} plugin has no `ipam`: the containers would have no address",
            kind_name(&main.kind)
        ));
    };
    let (subnet, gateway) = match &ipam {
        Ipam::HostLocal { range_sets, .. } => {
            if range_sets.len() > 1 {
                warn_at(
                    &mut warnings,
                    "ranges",
                    format!(
                        "{} range sets give each container {} addresses; the format has one IPv4 address per network: only the first set's is kept",
                        range_sets.len(),
                        range_sets.len()
                    ),
                );
            }
            let first = range_sets[0][0];
            if range_sets[0].iter().any(|r| r.subnet != first.subnet) {
                return Err(format!(
                    "{file}: error: the ranges of set 0 are in different subnets ({}): a network here has one IPv4 subnet",
                    range_sets[0]
                        .iter()
                        .map(|r| r.subnet.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            (first.subnet, Some(first.gateway))
        }
        Ipam::Static { addresses, .. } => {
            if count > 1 {
                return Err(format!(
                    "{file}: error: static IPAM gives every container the same address ({}): use --containers 1",
                    addresses[0].0
                ));
            }
            (addresses[0].0.trunc(), addresses[0].1)
        }
    };
    let routes = match &ipam {
        Ipam::HostLocal { routes, .. } | Ipam::Static { routes, .. } => routes.clone(),
    };
    let default_route = (main.kind == PluginKind::Bridge && raw.is_default_gateway)
        || routes.iter().any(|r| r.dst.prefix_len() == 0);
    for r in routes.iter().filter(|r| r.dst.prefix_len() != 0) {
        warn_at(
            &mut warnings,
            "routes",
            format!(
                "route to {} is not modelled (containers route their subnet and a default route only)",
                r.dst
            ),
        );
    }
    let key = net_key(&conf.name);
    // MTU: tuning's (last in the chain wins) or the main plugin's.
    let mtu = tuning.as_ref().and_then(|t| t.mtu).or(raw.mtu);
    if let Some(t) = &tuning {
        if t.mac.is_some() {
            warn_at(
                &mut warnings,
                "mac",
                "tuning mac is not modelled (the format has no per-container MAC); the result shows it"
                    .into(),
            );
        }
        if t.sysctl.as_ref().is_some_and(|s| !s.is_empty()) {
            warn_at(&mut warnings, "sysctl", "tuning sysctl is not modelled".into());
        }
        if t.promisc.is_some() {
            warn_at(&mut warnings, "promisc", "tuning promisc is not modelled".into());
        }
    }
    let mut y = String::new();
    let _ = writeln!(y, "# generated by `netloom import cni` from {file}");
    let _ = writeln!(
        y,
        "# container ids: SHA-512(\"netloom/cN\") cut to 64 hex digits; `netloom iptables` shows the plugins' rules"
    );
    let _ = writeln!(y, "name: {}", q(&format!("CNI network {}", conf.name)));
    let _ = writeln!(
        y,
        "description: {}",
        q(&format!(
            "{} containers ADDed to {} ({}) in order",
            count,
            conf.name,
            conf.plugins
                .iter()
                .map(|p| kind_name(&p.kind))
                .collect::<Vec<_>>()
                .join(" + ")
        ))
    );
    let _ = writeln!(
        y,
        "hosts:\n  host1:\n    interfaces:\n      eth0: {{ address: {HOST_ADDR}/24, lan: lan }}"
    );
    let _ = writeln!(y, "lans:\n  lan: {{}}");
    let _ = writeln!(
        y,
        "externals:\n  client: {{ address: {CLIENT_ADDR}/24, lan: lan, listen: [tcp/80] }}"
    );
    let _ = writeln!(y, "networks:\n  {}:", q(&key));
    let _ = writeln!(y, "    driver: {}", kind_name(&main.kind));
    let _ = writeln!(y, "    host: host1");
    let _ = writeln!(y, "    ipam:\n      config:\n        - subnet: {subnet}");
    if let Some(g) = gateway {
        let _ = writeln!(y, "          gateway: {g}");
    }
    let mut opts_lines: Vec<String> = Vec::new();
    match main.kind {
        PluginKind::Bridge => {
            opts_lines.push(format!(
                "com.docker.network.bridge.name: {}",
                q(raw.bridge.as_deref().unwrap_or("cni0"))
            ));
            if !raw.is_gateway && !raw.is_default_gateway {
                warn_at(
                    &mut warnings,
                    "type",
                    "bridge without isGateway: the bridge would have no address and the containers no way out; the model gives it the gateway address".into(),
                );
            }
        }
        PluginKind::Macvlan => {
            opts_lines.push(format!("parent: {}", q(raw.master.as_deref().unwrap_or("eth0"))));
            opts_lines.push(format!(
                "macvlan_mode: {}",
                q(raw.mode.as_deref().unwrap_or("bridge"))
            ));
        }
        PluginKind::Ipvlan => {
            opts_lines.push(format!("parent: {}", q(raw.master.as_deref().unwrap_or("eth0"))));
            opts_lines.push(format!("ipvlan_mode: {}", q(raw.mode.as_deref().unwrap_or("l2"))));
        }
        _ => {}
    }
    if let Some(m) = mtu {
        opts_lines.push(format!("com.docker.network.driver.mtu: \"{m}\""));
    }
    if !opts_lines.is_empty() {
        let _ = writeln!(y, "    driver_opts:");
        for l in &opts_lines {
            let _ = writeln!(y, "      {l}");
        }
    }
    // The `cni:` key: what the plugins' rules depend on.
    let mut cni = vec![format!("name: {}", q(&conf.name))];
    if main.kind == PluginKind::Bridge {
        if raw.ip_masq {
            cni.push("ip_masq: true".into());
        }
        if raw.hairpin_mode {
            cni.push("hairpin_mode: true".into());
        }
    }
    if let Some(pm) = &portmap {
        cni.push("portmap: true".into());
        if pm.snat == Some(false) {
            cni.push("portmap_snat: false".into());
        }
        if let Some(b) = pm.mark_masq_bit {
            cni.push(format!("portmap_mark_bit: {b}"));
        }
    }
    if let Some(f) = &firewall {
        cni.push("firewall: true".into());
        if let Some(a) = &f.iptables_admin_chain_name {
            cni.push(format!("firewall_admin_chain: {}", q(a)));
        }
        if let Some(p) = f
            .ingress_policy
            .as_deref()
            .filter(|p| !p.is_empty() && *p != "open")
        {
            cni.push(format!("firewall_ingress_policy: {p}"));
        }
    }
    let _ = writeln!(y, "    cni: {{ {} }}", cni.join(", "));
    let _ = writeln!(y, "containers:");
    for (i, r) in results.iter().enumerate() {
        let name = format!("c{}", i + 1);
        let _ = writeln!(y, "  {name}:");
        let _ = writeln!(y, "    host: host1");
        let addr = r.addr().map(|a| a.addr().to_string()).unwrap_or_default();
        let _ = writeln!(y, "    networks:\n      {}: {{ ipv4_address: {addr} }}", q(&key));
        let p = &ports[i];
        if !p.is_empty() {
            let list: Vec<String> = p.iter().map(port_text).collect();
            let _ = writeln!(y, "    ports: [{}]", list.join(", "));
        }
        let mut listen: Vec<String> = vec!["tcp/80".into()];
        for b in p {
            let l = format!("{}/{}", b.l4.name(), b.container_port);
            if !listen.contains(&l) {
                listen.push(l);
            }
        }
        let _ = writeln!(y, "    listen: [{}]", listen.join(", "));
        if !r.dns.nameservers.is_empty() {
            let _ = writeln!(y, "    dns: [{}]", r.dns.nameservers.join(", "));
        }
    }
    // bandwidth: a rate on each container's link (tbf on the host veth and ifb).
    if let Some(b) = &bandwidth {
        let rate = match (b.ingress_rate, b.egress_rate) {
            (Some(i), Some(e)) if i != e => {
                warn_at(
                    &mut warnings,
                    "ingressRate",
                    format!(
                        "ingressRate {i} and egressRate {e} differ: a link has one rate here, the lower is used both ways"
                    ),
                );
                Some(i.min(e))
            }
            (i, e) => i.or(e),
        };
        if b.ingress_burst.is_some() || b.egress_burst.is_some() {
            warn_at(
                &mut warnings,
                if b.ingress_burst.is_some() {
                    "ingressBurst"
                } else {
                    "egressBurst"
                },
                "bandwidth burst is not modelled (the link's queue is the model's)".into(),
            );
        }
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let _ = writeln!(y, "links:");
            for i in 0..results.len() {
                let _ = writeln!(
                    y,
                    "  - {{ between: [c{}.eth0, {}], rate: {}bit }}",
                    i + 1,
                    q(&key),
                    rate
                );
            }
        }
    }
    if !opts.no_checks {
        let _ = writeln!(y, "steps:");
        let isolated = main.kind == PluginKind::Bridge
            && firewall
                .as_ref()
                .is_some_and(|f| f.ingress_policy.as_deref() == Some("isolated"));
        if results.len() >= 2 {
            if isolated {
                let _ = writeln!(
                    y,
                    "  # firewall ingressPolicy isolated: containers of the bridge cannot reach each other\n  - ping: {{ from: c1, to: c2 }}\n    expect: no-reach"
                );
            } else {
                let _ = writeln!(y, "  - ping: {{ from: c1, to: c2 }}\n    expect: reach");
            }
        }
        let lan: ipnet::Ipv4Net = format!("{HOST_ADDR}/24").parse().unwrap_or_default();
        let out = match main.kind {
            PluginKind::Bridge if raw.ip_masq && default_route => {
                let _ = writeln!(
                    y,
                    "  - ping: {{ from: c1, to: client }}\n    expect: {{ result: reach, on_wire: {{ at: host1.eth0, src: {HOST_ADDR} }} }}"
                );
                true
            }
            PluginKind::Bridge => {
                let _ = writeln!(
                    y,
                    "  # no ipMasq (or no default route): the client has no route back to {subnet}\n  - ping: {{ from: c1, to: client }}\n    expect: no-reach"
                );
                false
            }
            _ if lan.contains(&subnet.network()) || subnet.contains(&lan.network()) => {
                let _ = writeln!(y, "  - ping: {{ from: c1, to: client }}\n    expect: reach");
                true
            }
            _ => false,
        };
        if out && bandwidth.is_some() {
            // No expectation: the report shows the rate the bandwidth plugin leaves.
            let _ = writeln!(
                y,
                "  - transfer: {{ from: c1, to: \"client:80\", bytes: 1MB }}   # bandwidth"
            );
        }
        for (i, p) in ports.iter().enumerate() {
            for b in p.iter().filter(|b| b.l4 == L4::Udp) {
                if b.host_ip
                    .is_some_and(|a| a.to_string() != HOST_ADDR && !a.is_unspecified())
                {
                    continue;
                }
                let _ = writeln!(
                    y,
                    "  - connect: {{ from: client, to: \"host1:{}\", proto: udp }}\n    expect: ok",
                    b.host_port
                );
            }
            for b in p.iter().filter(|b| b.l4 == L4::Tcp) {
                if b.host_ip
                    .is_some_and(|a| a.to_string() != HOST_ADDR && !a.is_unspecified())
                {
                    continue;
                }
                let _ = writeln!(
                    y,
                    "  - connect: {{ from: client, to: \"host1:{}\" }}\n    expect: ok",
                    b.host_port
                );
                // `isolated` drops the hairpin too (in and out of the same bridge).
                if raw.hairpin_mode && !isolated && portmap.as_ref().is_some_and(|p| p.snat != Some(false)) {
                    let _ = writeln!(
                        y,
                        "  - connect: {{ from: c{}, to: \"{HOST_ADDR}:{}\" }}   # hairpin: back to itself\n    expect: ok",
                        i + 1,
                        b.host_port
                    );
                }
            }
        }
    }
    Ok(Converted { yaml: y, warnings })
}

fn port_text(b: &PortBinding) -> String {
    let ip = match b.host_ip {
        Some(IpAddr::V6(a)) => format!("[{a}]:"),
        Some(a) => format!("{a}:"),
        None => String::new(),
    };
    let proto = if b.l4 == L4::Udp { "/udp" } else { "" };
    q(&format!("{ip}{}:{}{proto}", b.host_port, b.container_port))
}

fn kind_name(k: &PluginKind) -> &'static str {
    match k {
        PluginKind::Bridge => "bridge",
        PluginKind::Macvlan => "macvlan",
        PluginKind::Ipvlan => "ipvlan",
        PluginKind::Loopback => "loopback",
        PluginKind::Portmap => "portmap",
        PluginKind::Bandwidth => "bandwidth",
        PluginKind::Firewall => "firewall",
        PluginKind::Tuning => "tuning",
    }
}
