//! `netloom import compose`: a docker compose project as a netloom scenario.
//!
//! The compose file is interpolated (`${VAR}`, `${VAR:-d}`, `${VAR-d}`, `$$`, from the
//! environment and a `.env` next to the file), parsed with serde-saphyr keeping each
//! value's position, and written out as scenario YAML text that `netloom run` loads as
//! any scenario file. Keys that do not matter for networking are ignored; swarm-only keys
//! that do get a warning naming their line.

mod model;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use crate::error::{Located as _, ScenarioError, ScenarioErrors};
use model::{Compose, Long, NetList, Port, Scalar, Service};

/// The Docker host's address on the LAN, and the outside client's.
pub const HOST_ADDR: &str = "192.168.65.10";
/// The outside client that checks published ports.
pub const CLIENT_ADDR: &str = "192.168.65.100";

/// How to convert.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-p`: the project name.
    pub project: Option<String>,
    /// `--profile`: profiles to enable.
    pub profiles: Vec<String>,
    /// `--no-checks`: no default steps.
    pub no_checks: bool,
    /// Variables; `None` = the process environment plus `.env` next to the file.
    pub env: Option<HashMap<String, String>>,
}

/// The scenario text and the warnings (each `FILE:LINE:COL: warning: …`).
#[derive(Debug, Clone)]
pub struct Converted {
    /// Scenario YAML.
    pub yaml: String,
    /// Warnings for keys that matter but have no equivalent.
    pub warnings: Vec<String>,
}

/// Whether `text` is a compose file: a top-level `services:` key.
pub fn is_compose(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("services:"))
}

/// Compose's project-name normalisation: lowercase, only `[a-z0-9_-]`, leading
/// characters that are not a letter or digit dropped.
pub fn normalize_project(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// Reads `path` and converts it (environment and `.env` from the file's directory).
///
/// # Errors
/// Rendered messages with line:column, ready to print.
pub fn convert_file(path: &Path, opts: &Options) -> Result<Converted, String> {
    let name = path.display().to_string();
    let text = crate::input::read_text(path).map_err(|e| format!("{name}:{e}\n"))?;
    let dir = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut o = opts.clone();
    if o.env.is_none() {
        let mut env: HashMap<String, String> = HashMap::new();
        if let Some(d) = &dir
            && let Ok(t) = std::fs::read_to_string(d.join(".env"))
        {
            env.extend(parse_dotenv(&t));
        }
        env.extend(std::env::vars());
        o.env = Some(env);
    }
    if o.project.is_none() {
        o.project = dir
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|n| format!("\0{}", n.to_string_lossy()));
    }
    convert(&name, &text, &o).map_err(|errs| errs.iter().map(|e| format!("{}\n", e.render(&text))).collect())
}

/// `KEY=VALUE` lines of a `.env` file (comments, `export`, quotes).
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
            {
                &v[1..v.len() - 1]
            } else {
                v.split(" #").next().unwrap_or(v).trim()
            };
            out.push((k.trim().to_owned(), v.to_owned()));
        }
    }
    out
}

/// Compose interpolation on the text, line by line (positions of lines are kept).
///
/// # Errors
/// `${VAR:?msg}` unset, or an unclosed `${`.
pub fn interpolate(file: &str, text: &str, env: &HashMap<String, String>) -> Result<String, ScenarioError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(p) = rest.find('$') {
            out.push_str(&rest[..p]);
            let after = &rest[p + 1..];
            let col = (line.len() - rest.len() + p + 1) as u64;
            if let Some(a) = after.strip_prefix('$') {
                out.push('$');
                rest = a;
            } else if let Some(a) = after.strip_prefix('{') {
                let Some(end) = a.find('}') else {
                    return Err(ScenarioError::new(
                        file,
                        i as u64 + 1,
                        col,
                        "'${' without its closing '}'",
                    ));
                };
                let expr = &a[..end];
                let name_end = expr
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(expr.len());
                let (name, op) = expr.split_at(name_end);
                let val = env.get(name);
                let v = if let Some(d) = op.strip_prefix(":-") {
                    val.filter(|v| !v.is_empty())
                        .cloned()
                        .unwrap_or_else(|| d.to_owned())
                } else if let Some(d) = op.strip_prefix('-') {
                    val.cloned().unwrap_or_else(|| d.to_owned())
                } else if let Some(m) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
                    match val.filter(|v| !v.is_empty() || !op.starts_with(':')) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(ScenarioError::new(
                                file,
                                i as u64 + 1,
                                col,
                                format!("required variable {name} is missing a value: {m}"),
                            ));
                        }
                    }
                } else if let Some(d) = op.strip_prefix(":+") {
                    if val.is_some_and(|v| !v.is_empty()) {
                        d.to_owned()
                    } else {
                        String::new()
                    }
                } else if let Some(d) = op.strip_prefix('+') {
                    if val.is_some() {
                        d.to_owned()
                    } else {
                        String::new()
                    }
                } else if op.is_empty() && !name.is_empty() {
                    val.cloned().unwrap_or_default()
                } else {
                    return Err(ScenarioError::new(
                        file,
                        i as u64 + 1,
                        col,
                        format!("invalid interpolation format for '${{{expr}}}'"),
                    ));
                };
                out.push_str(&v);
                rest = &a[end + 1..];
            } else {
                let n = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                if n == 0 {
                    out.push('$');
                } else {
                    out.push_str(env.get(&after[..n]).map_or("", String::as_str));
                }
                rest = &after[n..];
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

struct Svc<'a> {
    key: &'a str,
    svc: &'a Spanned<Service>,
    containers: Vec<String>,
    /// Network keys (compose keys) and their per-service settings.
    nets: Vec<String>,
    /// (protocol, container port) listened on.
    listen: Vec<(String, u16)>,
    /// Published (host_ip, host port, proto, container port).
    published: Vec<(Option<String>, u16, String, u16)>,
}

/// Converts compose text (`file` names it in messages).
///
/// # Errors
/// Every problem found, each at its line:column.
pub fn convert(file: &str, text: &str, opts: &Options) -> Result<Converted, ScenarioErrors> {
    let empty = HashMap::new();
    let env = opts.env.as_ref().unwrap_or(&empty);
    let text = interpolate(file, text, env).map_err(|e| ScenarioErrors(vec![e]))?;
    let compose: Compose = serde_saphyr::from_str(&text)
        .map_err(|e| ScenarioErrors(vec![ScenarioError::from_yaml(file, &e)]))?;
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    let warn = |w: &mut Vec<String>, at: &dyn crate::error::Located, msg: String| {
        let l = at.location();
        w.push(format!("{file}:{}:{}: warning: {msg}", l.line(), l.column()));
    };
    // Project name: -p, else `name:`, else the directory ("\0" marks the fallback).
    let raw = match (&opts.project, &compose.name) {
        (Some(p), _) if !p.starts_with('\0') => p.clone(),
        (_, Some(n)) => n.value.clone(),
        (Some(p), None) => p.trim_start_matches('\0').to_owned(),
        (None, None) => "default".to_owned(),
    };
    // As compose-go: an explicit -p must already be normalised; `name:` and the
    // directory's name are normalised.
    if let Some(p) = opts.project.as_ref().filter(|p| !p.starts_with('\0'))
        && (normalize_project(p) != *p || p.is_empty())
    {
        return Err(ScenarioErrors(vec![ScenarioError::new(
            file,
            0,
            0,
            format!(
                "invalid project name {p:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
            ),
        )]));
    }
    let project = normalize_project(&raw);
    if project.is_empty() {
        return Err(ScenarioErrors(vec![ScenarioError::new(
            file,
            compose
                .name
                .as_ref()
                .map_or(0, |n| n.referenced.line().max(n.defined.line())),
            0,
            format!(
                "project name {raw:?} is empty once normalised (lowercase letters, digits, '_' and '-', starting with a letter or digit)"
            ),
        )]));
    }
    // Services in the enabled profiles.
    let services: Vec<(&String, &Spanned<Service>)> = compose
        .services
        .iter()
        .filter(|(_, s)| {
            s.value.profiles.is_empty() || s.value.profiles.iter().any(|p| opts.profiles.contains(p))
        })
        .collect();
    // Networks: compose key -> (real name, definition).
    let declared = compose.networks.clone().unwrap_or_default();
    let mut used: IndexMap<String, ()> = IndexMap::new();
    let mut svcs: Vec<Svc> = Vec::new();
    for (key, s) in &services {
        let v = &s.value;
        if let Some(d) = &v.deploy {
            if let Some(m) = &d.mode
                && m.value != "replicated"
            {
                warn(
                    &mut warnings,
                    m,
                    format!(
                        "service {key}: deploy.mode {} is swarm-only; one container per replica is made",
                        m.value
                    ),
                );
            }
            if let Some(e) = &d.endpoint_mode {
                warn(
                    &mut warnings,
                    e,
                    format!("service {key}: deploy.endpoint_mode is swarm-only and ignored (no VIP)"),
                );
            }
        }
        let n = v
            .deploy
            .as_ref()
            .and_then(|d| d.replicas.as_ref().map(|r| r.value))
            .or(v.scale.as_ref().map(|r| r.value))
            .unwrap_or(1);
        if n > 1
            && v.container_name.is_some()
            && let Some(c) = &v.container_name
        {
            errs.push(ScenarioError::at(
                file,
                c,
                format!("service {key}: container_name cannot be used with more than one replica"),
            ));
        }
        let containers: Vec<String> = match &v.container_name {
            Some(c) if n <= 1 => vec![c.value.clone()],
            _ => (1..=n.max(1)).map(|i| format!("{project}-{key}-{i}")).collect(),
        };
        let mut nets: Vec<String> = Vec::new();
        if let Some(m) = &v.network_mode {
            match m.value.as_str() {
                "host" | "none" | "bridge" => nets.push(format!("\0{}", m.value)),
                o if o.starts_with("service:") || o.starts_with("container:") => {
                    errs.push(ScenarioError::at(
                        file,
                        m,
                        format!("service {key}: network_mode {o} (sharing another container's network namespace) has no equivalent in the scenario format yet"),
                    ));
                }
                o => errs.push(ScenarioError::at(file, m, format!("service {key}: unknown network_mode {o:?}: host, none, bridge, service:NAME or container:NAME"))),
            }
            if v.networks.is_some() {
                errs.push(ScenarioError::at(
                    file,
                    m,
                    format!("service {key}: network_mode and networks cannot both be set"),
                ));
            }
        } else {
            match v.networks.as_ref().map(|n| &n.value) {
                None => nets.push("default".into()),
                Some(NetList::List(l)) => nets.extend(l.iter().cloned()),
                Some(NetList::Map(m)) => nets.extend(m.keys().cloned()),
            }
        }
        for n in &nets {
            if n.starts_with('\0') {
                continue;
            }
            if n != "default" && !declared.contains_key(n) {
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
            used.insert(n.clone(), ());
        }
        let mut listen = Vec::new();
        let mut published = Vec::new();
        for p in &v.ports {
            match parse_port(&p.value) {
                Ok(list) => {
                    for (hip, hp, proto, cp) in list {
                        if !listen.contains(&(proto.clone(), cp)) {
                            listen.push((proto.clone(), cp));
                        }
                        if let Some(hp) = hp {
                            published.push((hip, hp, proto, cp));
                        }
                    }
                }
                Err(m) => errs.push(ScenarioError::at(file, p, format!("service {key}: {m}"))),
            }
        }
        for e in &v.expose {
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
        svcs.push(Svc {
            key,
            svc: s,
            containers,
            nets,
            listen,
            published,
        });
    }
    for (key, s) in &services {
        for d in s.value.depends_on.names() {
            if !services.iter().any(|(k, _)| **k == d) {
                errs.push(ScenarioError::at(
                    file,
                    *s,
                    format!("service {key} depends on undefined service {d}"),
                ));
            }
        }
    }
    if !errs.is_empty() {
        return Err(ScenarioErrors(errs));
    }
    let net_name = |k: &str| -> String {
        if let Some(Some(n)) = declared.get(k) {
            if let Some(nm) = &n.value.name {
                return nm.value.clone();
            }
            if let Some(e) = &n.value.external {
                if let model::External::Named { name: Some(nm) } = &e.value {
                    return nm.clone();
                }
                if matches!(e.value, model::External::Bool(true)) {
                    return k.to_owned();
                }
            }
        }
        format!("{project}_{k}")
    };
    let mut y = String::new();
    let _ = writeln!(y, "# generated by `netloom import compose` from {file}");
    let _ = writeln!(y, "name: {}", q(&format!("compose project {project}")));
    let _ = writeln!(
        y,
        "hosts:\n  host1:\n    interfaces:\n      eth0: {{ address: {HOST_ADDR}/24, lan: lan }}"
    );
    let _ = writeln!(y, "lans:\n  lan: {{}}");
    let _ = writeln!(
        y,
        "externals:\n  client: {{ address: {CLIENT_ADDR}/24, lan: lan }}"
    );
    // `host`, `none` and `bridge` are predefined on every host: used, never declared.
    if used.is_empty() {
        let _ = writeln!(y, "networks: {{}}");
    } else {
        let _ = writeln!(y, "networks:");
    }
    for k in used.keys() {
        let _ = writeln!(y, "  {}:", q(&net_name(k)));
        let _ = writeln!(y, "    host: host1");
        let Some(Some(n)) = declared.get(k.as_str()) else {
            continue;
        };
        let n = &n.value;
        if let Some(d) = &n.driver {
            if !["bridge", "macvlan", "ipvlan", "overlay"].contains(&d.value.as_str()) {
                warn(
                    &mut warnings,
                    d,
                    format!(
                        "network {k}: driver {} is not simulated; a bridge is made",
                        d.value
                    ),
                );
            } else if d.value == "overlay" {
                warn(
                    &mut warnings,
                    d,
                    format!("network {k}: overlay (swarm) on one host is simulated as a bridge"),
                );
            } else {
                let _ = writeln!(y, "    driver: {}", d.value);
            }
        }
        if n.internal.as_ref().is_some_and(|b| b.value) {
            let _ = writeln!(y, "    internal: true");
        }
        if n.enable_ipv6.as_ref().is_some_and(|b| b.value) {
            let _ = writeln!(y, "    enable_ipv6: true");
        }
        if !n.driver_opts.is_empty() {
            let _ = writeln!(y, "    driver_opts:");
            for (o, v) in &n.driver_opts {
                let _ = writeln!(y, "      {}: {}", q(o), q(&v.to_string()));
            }
        }
        if let Some(ipam) = &n.ipam
            && !ipam.value.config.is_empty()
        {
            let _ = writeln!(y, "    ipam:\n      config:");
            for c in &ipam.value.config {
                let mut first = true;
                for (f, v) in [
                    ("subnet", &c.subnet),
                    ("gateway", &c.gateway),
                    ("ip_range", &c.ip_range),
                ] {
                    if let Some(v) = v {
                        let _ = writeln!(y, "        {} {f}: {}", if first { "-" } else { " " }, q(v));
                        first = false;
                    }
                }
                if !c.aux_addresses.is_empty() {
                    warn(
                        &mut warnings,
                        ipam,
                        format!("network {k}: ipam aux_addresses are not reserved in the simulation"),
                    );
                }
            }
        }
    }
    let _ = writeln!(y, "containers:");
    for s in &svcs {
        let v = &s.svc.value;
        for c in &s.containers {
            let _ = writeln!(y, "  {}:\n    host: host1\n    networks:", q(c));
            for n in &s.nets {
                if let Some(m) = n.strip_prefix('\0') {
                    let _ = writeln!(y, "      {m}: {{}}");
                    continue;
                }
                let _ = writeln!(y, "      {}:", q(&net_name(n)));
                let mut aliases = vec![s.key.to_owned()];
                let mut ip4 = None;
                let mut ip6 = None;
                if let Some(Spanned {
                    value: NetList::Map(m),
                    ..
                }) = &v.networks
                    && let Some(Some(sn)) = m.get(n)
                {
                    aliases.extend(sn.aliases.iter().cloned());
                    ip4.clone_from(&sn.ipv4_address);
                    ip6.clone_from(&sn.ipv6_address);
                }
                let list: Vec<String> = aliases.iter().map(|a| q(a)).collect();
                let _ = writeln!(y, "        aliases: [{}]", list.join(", "));
                if let Some(a) = ip4 {
                    let _ = writeln!(y, "        ipv4_address: {}", q(&a));
                }
                if ip6.is_some() && c == &s.containers[0] {
                    warn(
                        &mut warnings,
                        s.svc,
                        format!(
                            "service {}: ipv6_address on {n} is not carried over (the scenario format has no per-container IPv6 address yet)",
                            s.key
                        ),
                    );
                }
            }
            if c == &s.containers[0] && !s.published.is_empty() {
                let ports: Vec<String> = s
                    .published
                    .iter()
                    .map(|(hip, hp, proto, cp)| {
                        let pre = hip.as_ref().map(|h| format!("{h}:")).unwrap_or_default();
                        let suf = if proto == "udp" { "/udp" } else { "" };
                        q(&format!("{pre}{hp}:{cp}{suf}"))
                    })
                    .collect();
                let _ = writeln!(y, "    ports: [{}]", ports.join(", "));
            }
            if !s.listen.is_empty() {
                let l: Vec<String> = s.listen.iter().map(|(p, n)| format!("{p}/{n}")).collect();
                let _ = writeln!(y, "    listen: [{}]", l.join(", "));
            }
            for (k, list) in [
                ("dns", &v.dns),
                ("dns_search", &v.dns_search),
                ("dns_opt", &v.dns_opt),
            ] {
                let l = list.list();
                if !l.is_empty() {
                    let l: Vec<String> = l.iter().map(|x| q(x)).collect();
                    let _ = writeln!(y, "    {k}: [{}]", l.join(", "));
                }
            }
        }
    }
    if !opts.no_checks {
        let mut steps = Vec::new();
        for s in &svcs {
            for d in s.svc.value.depends_on.names() {
                let Some(t) = svcs.iter().find(|t| t.key == d) else {
                    continue;
                };
                if s.nets.iter().any(|n| n == "\0none") {
                    continue;
                }
                let from = &s.containers[0];
                // A host-mode dependency answers on the host's address, not a name.
                let target = if t.nets.iter().any(|n| n == "\0host") {
                    HOST_ADDR.to_owned()
                } else {
                    d.clone()
                };
                match t.listen.iter().find(|(p, _)| p == "tcp").or(t.listen.first()) {
                    Some((p, port)) => steps.push(format!(
                        "  - connect: {{ from: {}, to: {}, proto: {p} }}\n    expect: ok\n",
                        q(from),
                        q(&format!("{target}:{port}"))
                    )),
                    None => steps.push(format!(
                        "  - ping: {{ from: {}, to: {} }}\n    expect: reach\n",
                        q(from),
                        q(&target)
                    )),
                }
            }
        }
        for s in &svcs {
            for (hip, hp, proto, _) in &s.published {
                if hip.as_deref().is_some_and(|h| h != "0.0.0.0" && h != HOST_ADDR) {
                    continue;
                }
                steps.push(format!(
                    "  - connect: {{ from: client, to: \"{HOST_ADDR}:{hp}\", proto: {proto} }}\n    expect: ok\n"
                ));
            }
            if s.nets.iter().any(|n| n == "\0host") {
                for (p, port) in &s.listen {
                    steps.push(format!("  - connect: {{ from: client, to: \"{HOST_ADDR}:{port}\", proto: {p} }}\n    expect: ok\n"));
                }
            }
        }
        if !steps.is_empty() {
            let _ = writeln!(y, "steps:");
            for st in steps {
                y.push_str(&st);
            }
        }
    }
    Ok(Converted { yaml: y, warnings })
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

type Mapping = (Option<String>, Option<u16>, String, u16);

/// One `ports:` entry as (host IP, host port or none, protocol, container port) per port.
fn parse_port(p: &Port) -> Result<Vec<Mapping>, String> {
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
            let hp = match published {
                None => None,
                Some(s) => {
                    let r = range(&s.to_string())?;
                    r.first().copied()
                }
            };
            Ok(vec![(host_ip.clone(), hp, proto, t)])
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
                && h.len() < cps.len()
            {
                return Err(format!("port ranges in {t:?} do not match in size"));
            }
            Ok(cps
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        hip.clone(),
                        hps.as_ref().map(|h| h[i.min(h.len() - 1)]),
                        proto.clone(),
                        *c,
                    )
                })
                .collect())
        }
    }
}
