//! What the project's services become: containers (replicas and names as compose
//! names them), the networks each joins in compose's connection order, what listens
//! inside, what is published, and whose network namespace a service shares.

use serde_saphyr::Spanned;

use super::Options;
use super::merge::{Project, Sourced};
use super::model::{Long, NetList, Port, Scalar, Service, ServiceNet};
use crate::error::{Located as _, ScenarioError, ScenarioErrors};

/// The converted project, ready to be written.
pub(super) struct Plan<'a> {
    /// The project's name.
    pub name: String,
    /// Enabled services, in file order.
    pub services: Vec<Svc<'a>>,
    /// Network keys some service uses, in first-use order.
    pub used: Vec<String>,
}

/// One enabled service.
pub(super) struct Svc<'a> {
    pub key: &'a str,
    pub file: &'a str,
    pub svc: &'a Spanned<Service>,
    /// Its containers (none when it joins another service's namespace).
    pub containers: Vec<String>,
    /// Network keys in connection order (eth0 first); `\0host`, `\0none`, `\0bridge`
    /// for those modes.
    pub nets: Vec<String>,
    /// `network_mode: service:X` / `container:X`: the index of the service whose first
    /// container's namespace it joins.
    pub joins: Option<usize>,
    /// (protocol, container port) listened on.
    pub listen: Vec<(String, u16)>,
    /// What `ports:` publishes.
    pub published: Vec<Publish>,
}

impl Svc<'_> {
    /// Whether it is in network mode `m` (`host`, `none`, `bridge`).
    pub fn mode(&self, m: &str) -> bool {
        self.nets.iter().any(|n| n.strip_prefix('\0') == Some(m))
    }

    /// Its per-network settings for network key `n`.
    pub fn net_settings(&self, n: &str) -> Option<&ServiceNet> {
        match &self.svc.value.networks {
            Some(Spanned {
                value: NetList::Map(m),
                ..
            }) => m.get(n).and_then(Option::as_ref),
            _ => None,
        }
    }
}

/// One published container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Publish {
    /// The line of its `ports:` entry.
    pub line: u64,
    pub host_ip: Option<String>,
    pub host: HostPort,
    pub proto: String,
    pub container: u16,
}

/// The host side of a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostPort {
    /// `8080:80`.
    Fixed(u16),
    /// `8080-8085:80`: the first free port of the range, per replica.
    Range(u16, u16),
    /// `80`: a port the daemon picks.
    Ephemeral,
}

/// Plans every enabled service.
pub(super) fn plan<'a>(
    project: &'a Project,
    name: &str,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<Plan<'a>, ScenarioErrors> {
    let mut errs = Vec::new();
    let warn = |w: &mut Vec<String>, file: &str, at: &dyn crate::error::Located, msg: String| {
        let l = at.location();
        w.push(format!("{file}:{}:{}: warning: {msg}", l.line(), l.column()));
    };
    let enabled: Vec<(&String, &Sourced<Spanned<Service>>)> = project
        .services
        .iter()
        .filter(|(_, s)| {
            let p = &s.value.value.profiles;
            p.is_empty() || opts.profiles.iter().any(|x| x == "*" || p.contains(x))
        })
        .collect();
    let mut used: Vec<String> = Vec::new();
    let mut services = Vec::new();
    for (key, src) in &enabled {
        let (file, s) = (src.file.as_str(), &src.value);
        let v = &s.value;
        if let Some(d) = &v.deploy {
            if let Some(m) = &d.mode
                && m.value != "replicated"
            {
                warn(
                    warnings,
                    file,
                    m,
                    format!(
                        "service {key}: deploy.mode {} is swarm-only; one container per replica is made",
                        m.value
                    ),
                );
            }
            if let Some(e) = &d.endpoint_mode {
                warn(
                    warnings,
                    file,
                    e,
                    format!("service {key}: deploy.endpoint_mode is swarm-only and ignored (no VIP)"),
                );
            }
        }
        for (k, at, why) in [
            (
                "links",
                &v.links,
                "legacy links are not simulated: use the service name (every service is reachable by it on a shared network)",
            ),
            (
                "external_links",
                &v.external_links,
                "external_links are not simulated",
            ),
            ("sysctls", &v.sysctls, "container sysctls are not simulated"),
        ] {
            if let Some(at) = at {
                warn(warnings, file, at, format!("service {key}: {k}: {why}"));
            }
        }
        if let Some(Spanned {
            value: NetList::Map(m),
            ..
        }) = &v.networks
            && let Some(at) = &v.networks
        {
            for (n, set) in m {
                let Some(set) = set else { continue };
                if set.interface_name.is_some() {
                    warn(
                        warnings,
                        file,
                        at,
                        format!(
                            "service {key}: networks.{n}.interface_name is not simulated: interfaces are eth0, eth1… in connection order"
                        ),
                    );
                }
                if set.link_local_ips.is_some() {
                    warn(
                        warnings,
                        file,
                        at,
                        format!("service {key}: networks.{n}.link_local_ips are not simulated"),
                    );
                }
            }
        }
        let n = v
            .deploy
            .as_ref()
            .and_then(|d| d.replicas.as_ref().map(|r| r.value.0))
            .or(v.scale.as_ref().map(|r| r.value.0))
            .unwrap_or(1);
        if n > 1
            && let Some(c) = &v.container_name
        {
            errs.push(ScenarioError::at(
                file,
                c,
                format!("service {key}: container_name cannot be used with more than one replica"),
            ));
        }
        // `scale: 0` / `replicas: 0` (a service switched off) makes no container.
        let mut containers: Vec<String> = match &v.container_name {
            _ if n == 0 => Vec::new(),
            Some(c) if n <= 1 => vec![c.value.clone()],
            _ => (1..=n).map(|i| format!("{name}-{key}-{i}")).collect(),
        };
        let mut nets: Vec<String> = Vec::new();
        let mut joins_name = None;
        if let Some(m) = &v.network_mode {
            match m.value.as_str() {
                "host" | "none" | "bridge" => nets.push(format!("\0{}", m.value)),
                o if o.starts_with("service:") || o.starts_with("container:") => {
                    joins_name = Some((o.to_owned(), m));
                    containers.clear();
                }
                o => errs.push(ScenarioError::at(
                    file,
                    m,
                    format!("service {key}: unknown network_mode {o:?}: host, none, bridge, service:NAME or container:NAME"),
                )),
            }
            if v.networks.is_some() {
                errs.push(ScenarioError::at(
                    file,
                    m,
                    format!("service {key}: network_mode and networks cannot both be set"),
                ));
            }
        } else {
            // compose-go's NetworksByPriority: the highest priority first, ties by name.
            let mut keyed: Vec<(i64, String)> = match v.networks.as_ref().map(|n| &n.value) {
                None => vec![(0, "default".into())],
                Some(NetList::List(l)) => l.iter().map(|k| (0, k.clone())).collect(),
                Some(NetList::Map(m)) => m
                    .iter()
                    .map(|(k, s)| (s.as_ref().map_or(0, |s| s.priority), k.clone()))
                    .collect(),
            };
            keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            nets = keyed.into_iter().map(|(_, k)| k).collect();
            if let Some(Spanned {
                value: NetList::Map(m),
                ..
            }) = &v.networks
                && m.values().flatten().any(|s| s.gw_priority.is_some())
                && let Some(at) = &v.networks
            {
                warn(
                    warnings,
                    file,
                    at,
                    format!(
                        "service {key}: gw_priority is not simulated: the default route is eth0's network's"
                    ),
                );
            }
        }
        for n in &nets {
            if n.starts_with('\0') {
                continue;
            }
            if n != "default" && !project.networks.contains_key(n) {
                let at = match &v.networks {
                    Some(x) => x.location(),
                    None => s.location(),
                };
                errs.push(ScenarioError::at(
                    file,
                    &at,
                    format!("service {key} refers to undefined network {n}"),
                ));
            }
            if !used.contains(n) {
                used.push(n.clone());
            }
        }
        let mut listen = Vec::new();
        let mut published = Vec::new();
        for p in &v.ports {
            let sctp = match &p.value {
                Port::Long(l) => l.protocol.as_deref() == Some("sctp"),
                Port::Short(s) => s.to_string().ends_with("/sctp"),
            };
            if sctp {
                // Docker publishes SCTP too; the simulation has no SCTP.
                warn(
                    warnings,
                    file,
                    p,
                    format!("service {key}: an sctp port is not simulated (only tcp and udp); skipped"),
                );
                continue;
            }
            match parse_port(&p.value) {
                Ok(list) => {
                    for mut pb in list {
                        pb.line = p.location().line();
                        if !listen.contains(&(pb.proto.clone(), pb.container)) {
                            listen.push((pb.proto.clone(), pb.container));
                        }
                        published.push(pb);
                    }
                }
                Err(m) => errs.push(ScenarioError::at(file, p, format!("service {key}: {m}"))),
            }
        }
        if let (Some((_, m)), Some(p)) = (&joins_name, v.ports.first()) {
            let _ = m;
            errs.push(ScenarioError::at(
                file,
                p,
                format!(
                    "service {key}: conflicting options: port publishing and the container type network mode"
                ),
            ));
        }
        for e in &v.expose {
            if e.value.to_string().ends_with("/sctp") {
                warn(
                    warnings,
                    file,
                    e,
                    format!("service {key}: an sctp port is not simulated (only tcp and udp); skipped"),
                );
                continue;
            }
            match parse_expose(&e.value) {
                Ok(list) => {
                    for x in list {
                        if !listen.contains(&x) {
                            listen.push(x);
                        }
                    }
                }
                Err(m) => errs.push(ScenarioError::at(file, e, format!("service {key}: expose: {m}"))),
            }
        }
        // What the image's Dockerfile EXPOSEs listens too (`image: postgres` answers on
        // 5432 without `expose:`).
        if let Some(img) = &v.image {
            for (p, port) in crate::images::exposed_ports(img) {
                let x = (p.name().to_owned(), *port);
                if !listen.contains(&x) {
                    listen.push(x);
                }
            }
        }
        services.push((
            Svc {
                key: key.as_str(),
                file,
                svc: s,
                containers,
                nets,
                joins: None,
                listen,
                published,
            },
            joins_name,
        ));
    }
    // Shared namespaces: `service:X` names a service, `container:X` a container name.
    let names: Vec<(String, Vec<String>)> = services
        .iter()
        .map(|(s, _)| (s.key.to_owned(), s.containers.clone()))
        .collect();
    let mut out: Vec<Svc<'a>> = Vec::new();
    for (i, (mut s, j)) in services.into_iter().enumerate() {
        if let Some((mode, at)) = j {
            let target = if let Some(x) = mode.strip_prefix("service:") {
                names.iter().position(|(k, _)| k == x)
            } else {
                let x = mode.trim_start_matches("container:");
                names.iter().position(|(_, c)| c.iter().any(|c| c == x))
            };
            match target {
                Some(t) if t != i => s.joins = Some(t),
                _ => errs.push(ScenarioError::at(
                    s.file,
                    at,
                    format!(
                        "service {}: network_mode {mode}: no such {} in the project",
                        s.key,
                        if mode.starts_with("service:") {
                            "service"
                        } else {
                            "container"
                        }
                    ),
                )),
            }
        }
        out.push(s);
    }
    // Follow chains (a joins b joins c) to the service that owns the namespace.
    for i in 0..out.len() {
        let mut t = out[i].joins;
        let mut hops = 0;
        while let Some(x) = t.and_then(|x| out[x].joins) {
            t = Some(x);
            hops += 1;
            if hops > out.len() {
                errs.push(ScenarioError::at(
                    out[i].file,
                    out[i].svc,
                    format!("service {}: network_mode forms a cycle", out[i].key),
                ));
                t = None;
                break;
            }
        }
        out[i].joins = t;
    }
    for (key, src) in &enabled {
        for d in src.value.value.depends_on.names() {
            if !enabled.iter().any(|(k, _)| **k == d) {
                errs.push(ScenarioError::at(
                    &src.file,
                    &src.value,
                    format!("service {key} depends on undefined service {d}"),
                ));
            }
        }
    }
    // Docker's ipvlan driver keeps one network per parent interface (its
    // createNetwork): the second of the project's ipvlan networks on a parent fails
    // `docker compose up` at network creation.
    let mut parents: Vec<(String, String)> = Vec::new();
    for k in &used {
        let Some(src) = project.networks.get(k) else {
            continue;
        };
        let Some(n) = &src.value else {
            continue;
        };
        if n.value.driver.as_ref().is_none_or(|d| d.value != "ipvlan") {
            continue;
        }
        let Some(p) = n.value.driver_opts.get("parent").map(ToString::to_string) else {
            continue;
        };
        if let Some((other, _)) = parents.iter().find(|(_, q)| *q == p) {
            errs.push(ScenarioError::at(
                &src.file,
                n,
                format!(
                    "network {k}: network {} is already using parent interface {p} (Docker's ipvlan driver takes one network per parent; give one network several subnets instead)",
                    network_name(project, name, other)
                ),
            ));
        } else {
            parents.push((k.clone(), p));
        }
    }
    if errs.is_empty() {
        Ok(Plan {
            name: name.to_owned(),
            services: out,
            used,
        })
    } else {
        Err(ScenarioErrors(errs))
    }
}

/// Network key → its compose definition's real name (`<project>_<key>`, `name:`, or
/// the external name).
pub(super) fn network_name(project: &Project, plan_name: &str, k: &str) -> String {
    if let Some(Some(n)) = project.networks.get(k).map(|s| &s.value) {
        if let Some(nm) = &n.value.name {
            return nm.value.clone();
        }
        if let Some(e) = &n.value.external {
            if let super::model::External::Named { name: Some(nm) } = &e.value {
                return nm.clone();
            }
            if matches!(e.value, super::model::External::Bool(true)) {
                return k.to_owned();
            }
        }
    }
    format!("{plan_name}_{k}")
}

fn parse_expose(s: &Scalar) -> Result<Vec<(String, u16)>, String> {
    let t = s.to_string();
    let (ports, proto) = match t.split_once('/') {
        Some((p, pr)) => (p.to_owned(), pr.to_owned()),
        None => (t.clone(), "tcp".to_owned()),
    };
    check_proto(&proto)?;
    Ok(range(&ports)?.into_iter().map(|p| (proto.clone(), p)).collect())
}

fn check_proto(p: &str) -> Result<(), String> {
    if p == "tcp" || p == "udp" {
        Ok(())
    } else {
        Err(format!("protocol {p:?} is not supported: tcp or udp"))
    }
}

fn range(s: &str) -> Result<Vec<u16>, String> {
    let num = |x: &str| {
        x.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid port {x:?}: a number from 1 to 65535"))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("invalid port range {s:?}: the end is below the start"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![num(s)?]),
    }
}

/// One `ports:` entry, a [`Publish`] per container port.
fn parse_port(p: &Port) -> Result<Vec<Publish>, String> {
    match p {
        Port::Long(Long {
            target,
            published,
            host_ip,
            protocol,
            ..
        }) => {
            let proto = protocol.clone().unwrap_or_else(|| "tcp".into());
            check_proto(&proto)?;
            let t = *target;
            if t == 0 {
                return Err("invalid target port 0".into());
            }
            let host = match published {
                None => HostPort::Ephemeral,
                Some(s) if s.to_string().is_empty() => HostPort::Ephemeral,
                Some(s) => host_side(&range(&s.to_string())?),
            };
            Ok(vec![Publish {
                line: 0,
                host_ip: host_ip.clone(),
                host,
                proto,
                container: t,
            }])
        }
        Port::Short(s) => {
            let t = s.to_string();
            let (spec, proto) = match t.rsplit_once('/') {
                Some((a, b)) => (a.to_owned(), b.to_owned()),
                None => (t.clone(), "tcp".to_owned()),
            };
            check_proto(&proto)?;
            // host_ip may be IPv6 in brackets.
            let (hip, rest) = if let Some(r) = spec.strip_prefix('[') {
                let (ip, r) = r.split_once("]:").ok_or_else(|| format!("invalid port {t:?}"))?;
                (Some(ip.to_owned()), r.to_owned())
            } else {
                let parts: Vec<&str> = spec.split(':').collect();
                match parts.len() {
                    1 | 2 => (None, spec.clone()),
                    3 => (Some(parts[0].to_owned()), format!("{}:{}", parts[1], parts[2])),
                    _ => {
                        return Err(format!(
                            "invalid port {t:?}: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"
                        ));
                    }
                }
            };
            if let Some(h) = &hip
                && h.parse::<std::net::IpAddr>().is_err()
            {
                return Err(format!("invalid host IP {h:?} in port {t:?}"));
            }
            let (hp, cp) = match rest.split_once(':') {
                Some((h, c)) => (if h.is_empty() { None } else { Some(h.to_owned()) }, c.to_owned()),
                None => (None, rest.clone()),
            };
            let cps = range(&cp).map_err(|e| format!("{e} in {t:?}"))?;
            let hps = match &hp {
                Some(h) => Some(range(h).map_err(|e| format!("{e} in {t:?}"))?),
                None => None,
            };
            if let Some(h) = &hps
                && h.len() != cps.len()
                && cps.len() > 1
            {
                return Err(format!(
                    "invalid ranges specified for container and host ports in {t:?}"
                ));
            }
            Ok(cps
                .iter()
                .enumerate()
                .map(|(i, c)| Publish {
                    line: 0,
                    host_ip: hip.clone(),
                    host: match &hps {
                        None => HostPort::Ephemeral,
                        Some(h) if cps.len() == 1 => host_side(h),
                        Some(h) => HostPort::Fixed(h[i.min(h.len() - 1)]),
                    },
                    proto: proto.clone(),
                    container: *c,
                })
                .collect())
        }
    }
}

/// A host port or range.
fn host_side(ports: &[u16]) -> HostPort {
    match ports {
        [p] => HostPort::Fixed(*p),
        [a, .., b] => HostPort::Range(*a, *b),
        [] => HostPort::Ephemeral,
    }
}
