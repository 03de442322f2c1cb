//! What `ps`, `port`, `network ls`, `network inspect` and `inspect` print, in Docker's
//! shapes (network inspect through the lab shell's own JSON), and the Go template
//! subset of their `-f`.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::Serialize;

use super::scenario::GAP;
use super::state::{self, State, daemon_err, make_id};
use super::{Replay, Res};

impl Replay {
    pub(super) fn network_ls(&self, quiet: bool, filters: &[String], format: Option<&str>) -> Res {
        let mut nets: Vec<&state::Network> = self.daemon.networks.iter().collect();
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        let filters = match parse_filters(
            filters,
            &["driver", "name", "id", "type", "scope", "label", "dangling"],
        ) {
            Ok(f) => f,
            Err(e) => return Res::err(e, 1),
        };
        let nets: Vec<&state::Network> = nets
            .into_iter()
            .filter(|n| {
                filters.iter().all(|(k, vals)| {
                    vals.iter().any(|v| match k.as_str() {
                        "driver" => n.driver == *v,
                        "name" => n.name.contains(v.as_str()),
                        "id" => n.id.starts_with(v.as_str()),
                        "type" => (v == "builtin") == n.predefined,
                        "scope" => v == "local",
                        _ => false,
                    })
                })
            })
            .collect();
        if quiet {
            return Res::ok(nets.iter().map(|n| format!("{}\n", &n.id[..12])).collect());
        }
        let items: Vec<serde_json::Value> = nets
            .iter()
            .map(|n| {
                serde_json::json!({
                    "ID": &n.id[..12],
                    "Name": n.name,
                    "Driver": n.driver,
                    "Scope": "local",
                    "IPv6": n.ipv6.to_string(),
                    "Internal": n.internal.to_string(),
                    "Labels": "",
                    "CreatedAt": "",
                })
            })
            .collect();
        let headers = [
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("Labels", "LABELS"),
            ("CreatedAt", "CREATED AT"),
        ];
        let default = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
        Res::ok(listing(&items, format.unwrap_or(default), &headers))
    }

    pub(super) fn network_inspect(&mut self, names: &[String], format: Option<&str>) -> Res {
        let mut keys = Vec::new();
        let mut r = Res::default();
        for n in names {
            match self.daemon.network(n) {
                Some(i) => keys.push(self.daemon.networks[i].name.clone()),
                None => {
                    let _ = writeln!(r.err, "{}", daemon_err(format!("network {n} not found")));
                    r.code = 1;
                }
            }
        }
        if keys.is_empty() {
            if r.code == 0 {
                return Res::ok("[]\n".into());
            }
            return r;
        }
        let ids: IndexMap<(String, String), String> = self.ids();
        let id = move |kind: &str, name: &str| -> String {
            ids.get(&(kind.to_string(), name.to_string()))
                .cloned()
                .unwrap_or_else(|| make_id(kind, name, 0))
        };
        let hide = |n: &str| n.starts_with(GAP);
        let attachable: Vec<String> = self
            .daemon
            .networks
            .iter()
            .filter(|n| n.attachable)
            .map(|n| n.name.clone())
            .collect();
        let is_attachable = |n: &str| attachable.iter().any(|a| a == n);
        let naming = crate::shell::inspect::Naming {
            id: &id,
            hide: &hide,
            attachable: &is_attachable,
        };
        let lab = match self.lab() {
            Ok(l) => l,
            Err(e) => return Res::err(e, 1),
        };
        match crate::shell::inspect::network_inspect_with(lab, &keys, &naming) {
            Ok(json) => {
                r.out = match format {
                    Some(f) => match serde_json::from_str::<serde_json::Value>(&json) {
                        Ok(serde_json::Value::Array(items)) => {
                            items.iter().map(|v| template(f, v) + "\n").collect()
                        }
                        _ => json,
                    },
                    None => json,
                };
            }
            Err(e) => {
                r.err.push_str(&e);
                r.code = 1;
            }
        }
        r
    }

    /// The daemon's ids by (kind, name), for inspect.
    fn ids(&self) -> IndexMap<(String, String), String> {
        let mut m = IndexMap::new();
        for n in &self.daemon.networks {
            m.insert(("network".to_string(), n.name.clone()), n.id.clone());
        }
        for c in &self.daemon.containers {
            m.insert(("container".to_string(), c.name.clone()), c.id.clone());
            for (k, a) in c.nets.iter().enumerate() {
                m.insert(
                    ("endpoint".to_string(), format!("{}/eth{k}", c.name)),
                    make_id("endpoint", &format!("{}/{}", c.name, a.network), 0),
                );
            }
        }
        m
    }

    pub(super) fn ps(&self, all: bool, quiet: bool, filters: &[String], format: Option<&str>) -> Res {
        let filters = match parse_filters(
            filters,
            &[
                "name",
                "id",
                "status",
                "network",
                "ancestor",
                "label",
                "exited",
                "publish",
                "expose",
                "health",
                "isolation",
                "is-task",
                "before",
                "since",
                "volume",
            ],
        ) {
            Ok(f) => f,
            Err(e) => return Res::err(e, 1),
        };
        // `--filter status=…` shows stopped containers too, as with `-a`.
        let all = all || filters.iter().any(|(k, _)| k == "status" || k == "exited");
        let state_word = |c: &state::Container| match c.state {
            State::Running => "running",
            State::Exited => "exited",
            State::Created => "created",
        };
        let list: Vec<&state::Container> = self
            .daemon
            .containers
            .iter()
            .rev()
            .filter(|c| all || c.state == State::Running)
            .filter(|c| {
                filters.iter().all(|(k, vals)| {
                    vals.iter().any(|v| match k.as_str() {
                        "name" => c.name.contains(v.as_str()),
                        "id" => c.id.starts_with(v.as_str()),
                        "status" => state_word(c) == v,
                        "exited" => c.state == State::Exited && c.exit_code.to_string() == *v,
                        "network" => c.nets.iter().any(|a| {
                            a.network == *v
                                || self
                                    .daemon
                                    .network(&a.network)
                                    .is_some_and(|i| self.daemon.networks[i].id.starts_with(v.as_str()))
                        }),
                        "ancestor" => c.image == *v || c.image.split(':').next() == Some(v.as_str()),
                        "publish" => c.bound.iter().any(|b| {
                            let (port, proto) = v.split_once('/').unwrap_or((v.as_str(), "tcp"));
                            b.1.to_string() == port && b.3 == proto
                        }),
                        "expose" => c.listen.iter().any(|(proto, p)| {
                            let (port, pr) = v.split_once('/').unwrap_or((v.as_str(), "tcp"));
                            p.to_string() == port && proto == pr
                        }),
                        _ => false,
                    })
                })
            })
            .collect();
        if quiet {
            return Res::ok(list.iter().map(|c| format!("{}\n", &c.id[..12])).collect());
        }
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|c| {
                let cmd = c.cmd.join(" ");
                let cmd = if cmd.chars().count() > 20 {
                    format!("{}…", cmd.chars().take(19).collect::<String>())
                } else {
                    cmd
                };
                let status = match c.state {
                    State::Running => "Up".to_string(),
                    State::Exited => format!("Exited ({})", c.exit_code),
                    State::Created => "Created".to_string(),
                };
                let networks: Vec<&str> = c.nets.iter().map(|a| a.network.as_str()).collect();
                serde_json::json!({
                    "ID": &c.id[..12],
                    "Image": c.image,
                    "Command": format!("\"{cmd}\""),
                    "CreatedAt": "",
                    "RunningFor": "",
                    "Ports": ports_column(c),
                    "State": state_word(c),
                    "Status": status,
                    "Size": "",
                    "Names": c.name,
                    "Labels": "",
                    "Mounts": "",
                    "Networks": networks.join(","),
                })
            })
            .collect();
        let headers = [
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("Ports", "PORTS"),
            ("State", "STATE"),
            ("Status", "STATUS"),
            ("Size", "SIZE"),
            ("Names", "NAMES"),
            ("Labels", "LABELS"),
            ("Mounts", "MOUNTS"),
            ("Networks", "NETWORKS"),
        ];
        let default = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
        Res::ok(listing(&items, format.unwrap_or(default), &headers))
    }

    pub(super) fn inspect(&mut self, names: &[String], format: Option<&str>) -> Res {
        let mut items = Vec::new();
        let mut r = Res::default();
        let macs = self.macs();
        for n in names {
            if let Some(ci) = self.daemon.container(n) {
                items.push(serde_json::to_value(self.container_json(ci, &macs)).unwrap_or_default());
            } else if self.daemon.network(n).is_some() {
                let nr = self.network_inspect(std::slice::from_ref(n), None);
                if let Ok(serde_json::Value::Array(v)) = serde_json::from_str::<serde_json::Value>(&nr.out) {
                    items.extend(v);
                }
            } else {
                let _ = writeln!(r.err, "Error: No such object: {n}");
                r.code = 1;
            }
        }
        match format {
            Some(f) => {
                for v in &items {
                    r.out.push_str(&template(f, v));
                    r.out.push('\n');
                }
            }
            None => {
                if !items.is_empty() || r.code == 0 {
                    r.out = pretty(&items);
                }
            }
        }
        r
    }

    /// The MAC of each running container's interface, from the lab.
    fn macs(&mut self) -> IndexMap<(String, String), String> {
        let mut m = IndexMap::new();
        let names: Vec<(String, Vec<String>)> = self
            .daemon
            .containers
            .iter()
            .filter(|c| c.state == State::Running && !c.host_mode())
            .map(|c| (c.name.clone(), c.nets.iter().map(|a| a.network.clone()).collect()))
            .collect();
        if names.is_empty() {
            return m;
        }
        let Ok(lab) = self.lab() else {
            return m;
        };
        for (c, nets) in names {
            let Some(id) = lab.node(&c) else {
                continue;
            };
            let Some(node) = lab.fabric.element::<netloom_drivers::router::Node>(id) else {
                continue;
            };
            for (k, net) in nets.iter().enumerate() {
                if let Some(i) = node.ifaces().iter().find(|i| i.name == format!("eth{k}")) {
                    let mac = i
                        .mac
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":");
                    m.insert((c.clone(), net.clone()), mac);
                }
            }
        }
        m
    }

    fn container_json(&self, ci: usize, macs: &IndexMap<(String, String), String>) -> ContainerJson {
        let c = &self.daemon.containers[ci];
        let mut networks = IndexMap::new();
        for a in &c.nets {
            let n = self.daemon.network(&a.network).map(|i| &self.daemon.networks[i]);
            let running = c.state == State::Running;
            let special = a.network == "host" || a.network == "none";
            let mut dns = Vec::new();
            if running && n.is_some_and(|n| !n.predefined) {
                dns.push(c.name.clone());
                dns.push(c.id[..12].to_string());
                dns.extend(a.aliases.iter().cloned());
            }
            networks.insert(
                a.network.clone(),
                EndpointJson {
                    ipam_config: a.static_ip.map(|ip| IpamJson {
                        ipv4_address: ip.to_string(),
                    }),
                    links: None,
                    aliases: if a.aliases.is_empty() {
                        None
                    } else {
                        Some(a.aliases.clone())
                    },
                    mac_address: macs
                        .get(&(c.name.clone(), a.network.clone()))
                        .cloned()
                        .unwrap_or_default(),
                    network_id: n.map(|n| n.id.clone()).unwrap_or_default(),
                    endpoint_id: if running {
                        make_id("endpoint", &format!("{}/{}", c.name, a.network), 0)
                    } else {
                        String::new()
                    },
                    gateway: match (running, special, n.and_then(|n| n.v4)) {
                        (true, false, Some((_, g))) => g.to_string(),
                        _ => String::new(),
                    },
                    ip_address: a.ip.map(|i| i.to_string()).unwrap_or_default(),
                    ip_prefix_len: match (a.ip, n.and_then(|n| n.v4)) {
                        (Some(_), Some((s, _))) => s.prefix_len(),
                        _ => 0,
                    },
                    dns_names: if dns.is_empty() { None } else { Some(dns) },
                },
            );
        }
        let mut ports: IndexMap<String, Option<Vec<BindingJson>>> = IndexMap::new();
        for (proto, p) in &c.listen {
            ports.insert(format!("{p}/{proto}"), None);
        }
        for (ip, hp, cp, proto) in &c.bound {
            let e = ports
                .entry(format!("{cp}/{proto}"))
                .or_insert(None)
                .get_or_insert_with(Vec::new);
            let ip = ip.map_or("0.0.0.0".to_string(), |a| a.to_string());
            e.push(BindingJson {
                host_ip: ip.clone(),
                host_port: hp.to_string(),
            });
            if ip == "0.0.0.0" {
                e.push(BindingJson {
                    host_ip: "::".into(),
                    host_port: hp.to_string(),
                });
            }
        }
        let status = match c.state {
            State::Running => "running",
            State::Exited => "exited",
            State::Created => "created",
        };
        ContainerJson {
            id: c.id.clone(),
            name: format!("/{}", c.name),
            state: StateJson {
                status,
                running: c.state == State::Running,
                exit_code: c.exit_code,
            },
            image: c.image.clone(),
            config: ConfigJson {
                hostname: c.hostname.clone(),
                image: c.image.clone(),
                cmd: if c.cmd.is_empty() {
                    None
                } else {
                    Some(c.cmd.clone())
                },
                exposed_ports: c
                    .listen
                    .iter()
                    .map(|(pr, p)| (format!("{p}/{pr}"), Empty {}))
                    .collect(),
            },
            host_config: HostConfigJson {
                network_mode: c.nets.first().map_or("bridge".into(), |a| a.network.clone()),
                dns: c.dns.clone(),
                dns_search: c.dns_search.clone(),
                dns_options: c.dns_opt.clone(),
                extra_hosts: if c.add_hosts.is_empty() {
                    None
                } else {
                    Some(c.add_hosts.iter().map(|(h, a)| format!("{h}:{a}")).collect())
                },
                auto_remove: c.auto_remove,
            },
            network_settings: NetworkSettingsJson { ports, networks },
        }
    }
}

/// `-f KEY=VALUE` flags, grouped by key (several values of one key: any matches).
///
/// # Errors
/// The CLI's message for a value without `=`, the daemon's for an unknown key.
fn parse_filters(fs: &[String], known: &[&str]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for f in fs {
        let Some((k, v)) = f.split_once('=') else {
            return Err(format!(
                "invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            ));
        };
        let k = k.trim().to_lowercase();
        if !known.contains(&k.as_str()) {
            return Err(daemon_err(format!("invalid filter '{k}'")));
        }
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some((_, vals)) => vals.push(v.to_string()),
            None => out.push((k, vec![v.to_string()])),
        }
    }
    Ok(out)
}

/// A listing as the CLI's formatter prints it: `table …` (a header row named as the
/// CLI names the fields, columns padded as its tabwriter does), `json` (one object a
/// line), or a template a line; `\t` and `\n` written out in the format are a tab and
/// a newline.
fn listing(items: &[serde_json::Value], format: &str, headers: &[(&str, &str)]) -> String {
    if format == "json" {
        return items.iter().map(|v| format!("{v}\n")).collect();
    }
    let unescape = |t: &str| t.replace("\\t", "\t").replace("\\n", "\n");
    if let Some(t) = format.strip_prefix("table") {
        let t = unescape(t.trim_start());
        let t = if t.is_empty() { "{{.ID}}".to_string() } else { t };
        let head: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, h)| ((*k).to_string(), serde_json::Value::String((*h).to_string())))
            .collect();
        let head = serde_json::Value::Object(head);
        let cols: Vec<&str> = t.split('\t').collect();
        let mut rows = vec![cols.iter().map(|c| template(c, &head)).collect::<Vec<_>>()];
        for v in items {
            rows.push(cols.iter().map(|c| template(c, v)).collect());
        }
        return crate::shell::inspect::table(&rows);
    }
    let t = unescape(format);
    items.iter().map(|v| format!("{}\n", template(&t, v))).collect()
}

/// `docker ps`'s PORTS cell: published as `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`,
/// exposed-only as `80/tcp`.
pub(super) fn ports_column(c: &state::Container) -> String {
    let mut cells = Vec::new();
    if c.state != State::Running {
        return String::new();
    }
    for (proto, p) in &c.listen {
        let bound: Vec<_> = c.bound.iter().filter(|b| b.2 == *p && b.3 == *proto).collect();
        if bound.is_empty() {
            if !c.host_mode() {
                cells.push(format!("{p}/{proto}"));
            }
            continue;
        }
        for (ip, hp, cp, pr) in bound {
            match ip {
                // An IPv6 host address in brackets (`[::1]:8080`), as net.JoinHostPort.
                Some(a) => cells.push(format!("{}->{cp}/{pr}", std::net::SocketAddr::new(*a, *hp))),
                None => {
                    cells.push(format!("0.0.0.0:{hp}->{cp}/{pr}"));
                    cells.push(format!("[::]:{hp}->{cp}/{pr}"));
                }
            }
        }
    }
    cells.join(", ")
}

/// `docker port CTR`.
pub(super) fn port_lines(c: &state::Container) -> String {
    let mut s = String::new();
    for (ip, hp, cp, proto) in &c.bound {
        match ip {
            Some(a) => {
                let _ = writeln!(s, "{cp}/{proto} -> {}", std::net::SocketAddr::new(*a, *hp));
            }
            None => {
                let _ = writeln!(s, "{cp}/{proto} -> 0.0.0.0:{hp}\n{cp}/{proto} -> [::]:{hp}");
            }
        }
    }
    s
}

/// JSON with Docker's four-space indent.
pub(super) fn pretty<T: Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    let _ = v.serialize(&mut ser);
    String::from_utf8_lossy(&buf).into_owned() + "\n"
}

/// The Go template subset people put after `-f`: `{{.A.B}}`, `{{json .A}}`,
/// `{{range .A}}…{{end}}` (over a map's values or a list), `{{index .A "key"}}`, and
/// text between them.
pub fn template(t: &str, v: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(p) = rest.find("{{") {
        out.push_str(&rest[..p]);
        let after = &rest[p + 2..];
        let Some(e) = after.find("}}") else {
            out.push_str(&rest[p..]);
            return out;
        };
        let action = after[..e]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        rest = &after[e + 2..];
        if let Some(path) = action.strip_prefix("range ") {
            let Some(end) = rest.find("{{end}}") else {
                return out;
            };
            let body = &rest[..end];
            rest = &rest[end + 7..];
            match lookup_path(v, path.trim()) {
                Some(serde_json::Value::Object(m)) => {
                    for x in m.values() {
                        out.push_str(&template(body, x));
                    }
                }
                Some(serde_json::Value::Array(a)) => {
                    for x in a {
                        out.push_str(&template(body, x));
                    }
                }
                _ => {}
            }
        } else if let Some(path) = action.strip_prefix("json ") {
            out.push_str(
                &lookup_path(v, path.trim())
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "null".into()),
            );
        } else if let Some(args) = action.strip_prefix("index ") {
            let mut it = args.split_whitespace();
            let base = it.next().and_then(|p| lookup_path(v, p));
            let key = it.next().unwrap_or("").trim_matches('"');
            out.push_str(
                &base
                    .and_then(|b| b.get(key))
                    .map(scalar)
                    .unwrap_or_else(|| "<no value>".into()),
            );
        } else {
            out.push_str(
                &lookup_path(v, action)
                    .map(scalar)
                    .unwrap_or_else(|| "<no value>".into()),
            );
        }
    }
    out.push_str(rest);
    out
}

fn lookup_path<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// A value as Go's template prints it: strings bare, maps as `map[k:v]`.
fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "<nil>".into(),
        serde_json::Value::Array(a) => format!("[{}]", a.iter().map(scalar).collect::<Vec<_>>().join(" ")),
        serde_json::Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, x)| format!("{k}:{}", scalar(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

#[derive(Serialize)]
struct ContainerJson {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "State")]
    state: StateJson,
    #[serde(rename = "Image")]
    image: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "HostConfig")]
    host_config: HostConfigJson,
    #[serde(rename = "Config")]
    config: ConfigJson,
    #[serde(rename = "NetworkSettings")]
    network_settings: NetworkSettingsJson,
}

#[derive(Serialize)]
struct StateJson {
    #[serde(rename = "Status")]
    status: &'static str,
    #[serde(rename = "Running")]
    running: bool,
    #[serde(rename = "ExitCode")]
    exit_code: i32,
}

#[derive(Serialize)]
struct HostConfigJson {
    #[serde(rename = "NetworkMode")]
    network_mode: String,
    #[serde(rename = "Dns")]
    dns: Vec<String>,
    #[serde(rename = "DnsOptions")]
    dns_options: Vec<String>,
    #[serde(rename = "DnsSearch")]
    dns_search: Vec<String>,
    #[serde(rename = "ExtraHosts")]
    extra_hosts: Option<Vec<String>>,
    #[serde(rename = "AutoRemove")]
    auto_remove: bool,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct ConfigJson {
    #[serde(rename = "Hostname")]
    hostname: String,
    #[serde(rename = "ExposedPorts")]
    exposed_ports: IndexMap<String, Empty>,
    #[serde(rename = "Cmd")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Image")]
    image: String,
}

#[derive(Serialize)]
struct NetworkSettingsJson {
    #[serde(rename = "Ports")]
    ports: IndexMap<String, Option<Vec<BindingJson>>>,
    #[serde(rename = "Networks")]
    networks: IndexMap<String, EndpointJson>,
}

#[derive(Serialize)]
struct BindingJson {
    #[serde(rename = "HostIp")]
    host_ip: String,
    #[serde(rename = "HostPort")]
    host_port: String,
}

#[derive(Serialize)]
struct IpamJson {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

#[derive(Serialize)]
struct EndpointJson {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<IpamJson>,
    #[serde(rename = "Links")]
    links: Option<Vec<String>>,
    #[serde(rename = "Aliases")]
    aliases: Option<Vec<String>>,
    #[serde(rename = "MacAddress")]
    mac_address: String,
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    #[serde(rename = "Gateway")]
    gateway: String,
    #[serde(rename = "IPAddress")]
    ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    ip_prefix_len: u8,
    #[serde(rename = "DNSNames")]
    dns_names: Option<Vec<String>>,
}
