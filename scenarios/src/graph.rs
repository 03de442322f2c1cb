//! `netloom graph`: a scenario's topology drawn from the resolved model — what IPAM
//! allocated, not only what the file wrote.
//!
//! Three renderings of one topology (hosts, their networks, the containers on each):
//!
//! | function | output |
//! | --- | --- |
//! | [`text`] | a tree per Docker host, then LANs, routers, externals, overlay tunnels and impaired links; every line fits [`TEXT_WIDTH`] columns; long lists are summarised |
//! | [`dot`] | Graphviz: a cluster per host (NICs, networks, containers), LANs, routers, externals, VXLAN tunnels between VTEPs, impaired links |
//! | [`mermaid`] | the same graph as a mermaid `flowchart LR` |
//!
//! Names in a scenario are untrusted text: labels are escaped for each language and
//! node ids are built from indices, never from names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use netloom_drivers::docker::{Driver, Impair, NicDef, Published, Resolved, ResolvedNetwork};

/// The width every line of [`text`] fits in.
pub const TEXT_WIDTH: usize = 80;

/// [`text`] lists at most this many containers per network and host, then counts the rest.
pub const TEXT_MAX_CONTAINERS: usize = 12;

/// [`text`] lists at most this many members per LAN (and VTEPs per overlay), then counts.
pub const TEXT_MAX_MEMBERS: usize = 24;

/// Overlays spanning more hosts than this are drawn as a ring of tunnels in [`dot`] and
/// [`mermaid`] (Docker meshes every VTEP with every other; the label says so).
const MESH_MAX: usize = 6;

/// The topology as the three renderings walk it: hosts in order, the networks present
/// on each host, and the containers attached to each network on each host.
struct Topology<'a> {
    r: &'a Resolved,
    /// Host names: the file's hosts, then any host only networks or containers name
    /// (the implicit `host1` of a file without `hosts:`).
    hosts: Vec<String>,
    /// Per host: the networks present there, in [`Resolved::networks`] order.
    nets: Vec<Vec<usize>>,
    /// (host, network) → the containers attached there, with their endpoint index.
    members: HashMap<(usize, usize), Vec<(usize, usize)>>,
    /// Per host: containers on the `host` or `none` network.
    special: Vec<Vec<(usize, &'static str)>>,
    /// Per host: its containers, in file order.
    ctrs: Vec<Vec<usize>>,
}

impl<'a> Topology<'a> {
    fn new(r: &'a Resolved) -> Self {
        let m = &r.model;
        let mut hosts: Vec<String> = m.hosts.iter().map(|h| h.name.clone()).collect();
        let mut index: HashMap<String, usize> =
            hosts.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
        let mut host_of = |name: &str, hosts: &mut Vec<String>| -> usize {
            if let Some(&i) = index.get(name) {
                return i;
            }
            hosts.push(name.to_string());
            index.insert(name.to_string(), hosts.len() - 1);
            hosts.len() - 1
        };
        let default_host = m.default_host();
        let mut net_hosts: Vec<Vec<usize>> = Vec::with_capacity(r.networks.len());
        for n in &r.networks {
            let span: Vec<usize> = if n.hosts.is_empty() {
                vec![host_of(&n.host, &mut hosts)]
            } else {
                n.hosts.iter().map(|h| host_of(h, &mut hosts)).collect()
            };
            net_hosts.push(span);
        }
        let ctr_host: Vec<usize> = m
            .containers
            .iter()
            .map(|c| host_of(c.host.as_deref().unwrap_or(&default_host), &mut hosts))
            .collect();
        let mut nets = vec![Vec::new(); hosts.len()];
        for (ni, span) in net_hosts.iter().enumerate() {
            for &h in span {
                nets[h].push(ni);
            }
        }
        let mut members: HashMap<(usize, usize), Vec<(usize, usize)>> = HashMap::new();
        let mut special = vec![Vec::new(); hosts.len()];
        let mut ctrs = vec![Vec::new(); hosts.len()];
        for (ci, c) in m.containers.iter().enumerate() {
            let h = ctr_host[ci];
            ctrs[h].push(ci);
            if let Some(ep) = c
                .networks
                .iter()
                .find(|e| e.network == "host" || e.network == "none")
            {
                special[h].push((ci, if ep.network == "host" { "host" } else { "none" }));
            }
            for (ei, ep) in r
                .endpoints
                .get(ci)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                members.entry((h, ep.network)).or_default().push((ci, ei));
            }
        }
        // An unused default bridge on every host is noise in a drawing.
        for (h, list) in nets.iter_mut().enumerate() {
            list.retain(|&ni| !r.networks[ni].default_bridge || members.contains_key(&(h, ni)));
        }
        Topology {
            r,
            hosts,
            nets,
            members,
            special,
            ctrs,
        }
    }

    fn members(&self, h: usize, ni: usize) -> &[(usize, usize)] {
        self.members.get(&(h, ni)).map_or(&[], Vec::as_slice)
    }

    /// A host's VTEP address, as text.
    fn vtep(&self, h: usize) -> String {
        self.r
            .model
            .hosts
            .iter()
            .find(|d| d.name == self.hosts[h])
            .and_then(|d| d.underlay_addr())
            .map_or_else(|| "no underlay address".to_string(), |a| a.to_string())
    }

    /// Hosts an overlay spans.
    fn span(&self, ni: usize) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|&h| self.nets[h].contains(&ni))
            .collect()
    }

    /// Pairs of hosts a drawing joins with a tunnel: every pair for a small overlay, a
    /// ring for a large one.
    fn tunnel_pairs(&self, ni: usize) -> Vec<(usize, usize)> {
        let span = self.span(ni);
        let mut pairs = Vec::new();
        if span.len() <= MESH_MAX {
            for (i, &a) in span.iter().enumerate() {
                for &b in &span[i + 1..] {
                    pairs.push((a, b));
                }
            }
        } else {
            for (i, &a) in span.iter().enumerate() {
                pairs.push((a, span[(i + 1) % span.len()]));
            }
        }
        pairs
    }
}

/// What a network is, in a few words: driver, device and options (and, for a network
/// CNI's plugins made, `cni` and the plugins that program rules).
fn net_words(r: &Resolved, n: &ResolvedNetwork) -> Vec<String> {
    let mut w = vec![n.driver.name().to_string(), format!("dev {}", n.device)];
    if let Some(c) = r
        .model
        .networks
        .iter()
        .find(|d| d.name == n.name && !n.default_bridge)
        .and_then(|d| d.cni.as_ref())
    {
        let plugins: Vec<&str> = c
            .plugins
            .iter()
            .map(|p| match p {
                netloom_drivers::cni::iptables::RulePlugin::IpMasq => "ipMasq",
                netloom_drivers::cni::iptables::RulePlugin::Portmap { .. } => "portmap",
                netloom_drivers::cni::iptables::RulePlugin::Firewall { .. } => "firewall",
            })
            .collect();
        w.push(format!("cni {}", c.name));
        if !plugins.is_empty() {
            w.push(plugins.join("+"));
        }
        if c.hairpin_mode {
            w.push("hairpin".into());
        }
    }
    if n.default_bridge && n.name == "bridge" {
        w.push("default bridge (no DNS)".into());
    }
    match n.driver {
        Driver::Overlay => {
            w.push(format!("vni {}", n.vni));
            if n.encrypted {
                w.push("encrypted".into());
            }
        }
        Driver::Macvlan | Driver::Ipvlan => {
            w.push(match &n.parent {
                Some((nic, Some(v))) => format!("parent {nic}.{v} (vlan {v})"),
                Some((nic, None)) => format!("parent {nic}"),
                None => "dummy parent".into(),
            });
            w.push(format!("mode {}", n.mode.name()));
        }
        _ => {}
    }
    if n.internal {
        w.push("internal".into());
    }
    if !n.icc {
        w.push("icc off".into());
    }
    w.push(format!("mtu {}", n.mtu));
    w
}

/// A network's subnets and gateways.
fn net_subnets(n: &ResolvedNetwork) -> Vec<String> {
    let mut w = Vec::new();
    for (s, g) in n.v4.iter().chain(n.more_v4.iter()) {
        w.push(format!("{s} gw {g}"));
    }
    if let Some((s, g)) = &n.v6 {
        w.push(format!("{s} gw {g}"));
    }
    if w.is_empty() {
        w.push("no subnet".into());
    }
    w
}

/// One endpoint of a container: interface and addresses, aliases.
fn endpoint_words(r: &Resolved, ci: usize, ei: usize) -> Vec<String> {
    let Some(ep) = r.endpoints.get(ci).and_then(|e| e.get(ei)) else {
        return Vec::new();
    };
    let mut w = vec![ep.ifname.clone()];
    if let Some(a) = ep.v4 {
        w.push(a.to_string());
    }
    if let Some(a) = ep.v6 {
        w.push(a.to_string());
    }
    if !ep.aliases.is_empty() {
        w.push(format!("alias {}", ep.aliases.join(",")));
    }
    w
}

fn published_words(p: &[Published]) -> Vec<String> {
    p.iter()
        .map(|(ip, hp, cp, l4)| match ip {
            Some(IpAddr::V6(a)) => format!("[{a}]:{hp}->{cp}/{}", l4.name()),
            Some(a) => format!("{a}:{hp}->{cp}/{}", l4.name()),
            None => format!("{hp}->{cp}/{}", l4.name()),
        })
        .collect()
}

fn nic_words(n: &NicDef) -> Vec<String> {
    let mut w = vec![n.name.clone()];
    if let Some(a) = n.address {
        w.push(a.to_string());
    }
    if let Some(l) = &n.lan {
        w.push(format!("lan {l}"));
    }
    if let Some(p) = &n.macvlan_of {
        w.push(format!("macvlan shim on {p}"));
    }
    if let Some(v) = n.vlan {
        w.push(format!("vlan {v}"));
    }
    if let Some(t) = &n.trunk {
        w.push(format!("trunk {}", join(t)));
    }
    if let Some(m) = n.mtu {
        w.push(format!("mtu {m}"));
    }
    for r in &n.routes {
        w.push(format!("route {r}"));
    }
    w
}

fn impair_words(i: &Impair) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(v) = i.latency {
        w.push(format!("latency {v}"));
    }
    if let Some(v) = i.jitter {
        w.push(format!("jitter {v}"));
    }
    if i.reorder == Some(true) {
        w.push("reorder".into());
    }
    if let Some(v) = i.rate {
        w.push(format!("rate {v}"));
    }
    if let Some(v) = i.loss {
        w.push(format!("loss {}%", v * 100.0));
    }
    if let Some(v) = i.mtu {
        w.push(format!("mtu {v}"));
    }
    if i.up == Some(false) {
        w.push("down".into());
    }
    w
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Who is plugged into each LAN: (label words) per member.
fn lan_members(r: &Resolved) -> BTreeMap<&str, Vec<String>> {
    let m = &r.model;
    let mut out: BTreeMap<&str, Vec<String>> = m.lans.iter().map(|l| (l.name.as_str(), Vec::new())).collect();
    for h in &m.hosts {
        for n in &h.interfaces {
            if let Some(l) = &n.lan {
                let addr = n.address.map(|a| format!(" {a}")).unwrap_or_default();
                out.entry(l.as_str())
                    .or_default()
                    .push(format!("{}.{}{addr}", h.name, n.name));
            }
        }
    }
    for rt in &m.routers {
        for n in &rt.interfaces {
            if let Some(l) = &n.lan {
                let addr = n.address.map(|a| format!(" {a}")).unwrap_or_default();
                out.entry(l.as_str())
                    .or_default()
                    .push(format!("{}.{}{addr}", rt.name, n.name));
            }
        }
    }
    for e in &m.externals {
        out.entry(e.lan.as_str())
            .or_default()
            .push(format!("{} {}", e.name, e.address));
    }
    out
}

// ---------------------------------------------------------------------------------
// text

/// A readable drawing: one tree per Docker host (NICs, networks, containers with their
/// addresses and published ports), then LANs, routers, externals, overlay tunnels and
/// impaired links. Every line fits [`TEXT_WIDTH`] columns: long lines wrap, a single
/// word too long is cut with `…`. A network lists at most [`TEXT_MAX_CONTAINERS`]
/// containers per host, then `… and N more`.
pub fn text(r: &Resolved) -> String {
    let t = Topology::new(r);
    let m = &r.model;
    let mut o = Out::default();
    o.line("Docker hosts");
    for (h, name) in t.hosts.iter().enumerate() {
        let def = m.hosts.iter().find(|d| &d.name == name);
        let mut head = vec![name.clone()];
        if let Some(g) = def.and_then(|d| d.gateway) {
            head.push(format!("gw {g}"));
        }
        if def.is_none() {
            head.push("(implicit)".into());
        }
        o.wrap("", "  ", &head);
        let nics = def.map_or(&[][..], |d| d.interfaces.as_slice());
        let mut items: Vec<Item> = nics
            .iter()
            .map(|n| Item::leaf([vec!["nic".to_string()], nic_words(n)].concat()))
            .collect();
        for &ni in &t.nets[h] {
            let n = &r.networks[ni];
            let mut kids: Vec<Item> = Vec::new();
            let list = t.members(h, ni);
            for &(ci, ei) in list.iter().take(TEXT_MAX_CONTAINERS) {
                let mut w = vec![m.containers[ci].name.clone()];
                w.extend(endpoint_words(r, ci, ei));
                if ei == 0 {
                    let p = published_words(r.published.get(ci).map(Vec::as_slice).unwrap_or_default());
                    if !p.is_empty() {
                        w.push("ports".into());
                        w.extend(p);
                    }
                }
                kids.push(Item::leaf(w));
            }
            if list.len() > TEXT_MAX_CONTAINERS {
                kids.push(Item::leaf(vec![format!(
                    "… and {} more",
                    list.len() - TEXT_MAX_CONTAINERS
                )]));
            }
            if list.is_empty() {
                kids.push(Item::leaf(vec!["(no containers here)".into()]));
            }
            let mut head = vec![format!("network {}", n.name)];
            head.extend(net_words(r, n));
            items.push(Item {
                words: head,
                detail: Some(net_subnets(n)),
                kids,
            });
        }
        for kind in ["host", "none"] {
            let on: Vec<String> = t.special[h]
                .iter()
                .filter(|(_, k)| *k == kind)
                .map(|(ci, _)| m.containers[*ci].name.clone())
                .collect();
            if on.is_empty() {
                continue;
            }
            let what = if kind == "host" {
                "network host (the host's own stack):"
            } else {
                "network none (loopback only):"
            };
            items.push(Item::leaf([vec![what.to_string()], on].concat()));
        }
        o.tree("", &items);
    }
    let lans = lan_members(r);
    if !m.lans.is_empty() {
        o.blank();
        o.line("LANs");
        for l in &m.lans {
            let mut head = vec![l.name.clone()];
            if let Some(mtu) = l.mtu {
                head.push(format!("mtu {mtu}"));
            }
            if l.hairpin {
                head.push("hairpin".into());
            }
            if l.port_security {
                head.push("port security".into());
            }
            o.wrap("", "  ", &head);
            let all = lans.get(l.name.as_str()).map(Vec::as_slice).unwrap_or_default();
            let mut items: Vec<Item> = all
                .iter()
                .take(TEXT_MAX_MEMBERS)
                .map(|s| Item::leaf(vec![s.clone()]))
                .collect();
            if all.len() > TEXT_MAX_MEMBERS {
                items.push(Item::leaf(vec![format!(
                    "… and {} more",
                    all.len() - TEXT_MAX_MEMBERS
                )]));
            }
            o.tree("", &items);
        }
    }
    if !m.routers.is_empty() {
        o.blank();
        o.line("Routers");
        for rt in &m.routers {
            let mut head = vec![rt.name.clone()];
            if let Some(i) = &rt.masquerade {
                head.push(format!("masquerade out of {i}"));
            }
            if !rt.firewall.is_empty() {
                head.push(format!("{} firewall rules", rt.firewall.len()));
            }
            o.wrap("", "  ", &head);
            let mut items: Vec<Item> = rt.interfaces.iter().map(|n| Item::leaf(nic_words(n))).collect();
            items.extend(
                rt.routes
                    .iter()
                    .map(|(d, g)| Item::leaf(vec![format!("route {d} via {g}")])),
            );
            o.tree("", &items);
        }
    }
    if !m.externals.is_empty() {
        o.blank();
        o.line("Externals");
        for e in &m.externals {
            let mut w = vec![e.name.clone(), e.address.to_string(), format!("lan {}", e.lan)];
            if let Some(g) = e.gateway {
                w.push(format!("gw {g}"));
            }
            if let Some(v) = e.vlan {
                w.push(format!("vlan {v}"));
            }
            if !e.listen.is_empty() {
                let l: Vec<String> = e
                    .listen
                    .iter()
                    .map(|l| format!("{}/{}", l.l4.name(), l.port))
                    .collect();
                w.push(format!("listens {}", l.join(",")));
            }
            if e.dns_records.is_some() {
                w.push("dns server".into());
            }
            o.wrap("", "  ", &w);
        }
    }
    let overlays: Vec<usize> = (0..r.networks.len())
        .filter(|&ni| r.networks[ni].driver == Driver::Overlay)
        .collect();
    if !overlays.is_empty() {
        o.blank();
        o.line("Overlay tunnels (VXLAN over UDP 4789, every VTEP to every other)");
        for ni in overlays {
            let n = &r.networks[ni];
            let span = t.span(ni);
            let mut w = vec![format!(
                "{} vni {}{}:",
                n.name,
                n.vni,
                if n.encrypted { " (ESP)" } else { "" }
            )];
            for &h in span.iter().take(TEXT_MAX_MEMBERS) {
                w.push(format!("{} {}", t.hosts[h], t.vtep(h)));
            }
            if span.len() > TEXT_MAX_MEMBERS {
                w.push(format!("… and {} more", span.len() - TEXT_MAX_MEMBERS));
            }
            o.wrap("", "    ", &w);
        }
    }
    if !m.links.is_empty() {
        o.blank();
        o.line("Link impairments");
        for l in &m.links {
            let mut w = vec![format!("{} -- {}:", l.between[0], l.between[1])];
            w.extend(impair_words(&l.impair));
            o.wrap("", "    ", &w);
        }
    }
    o.s
}

/// A node of a text tree: its words (wrapped), an optional detail line, its children.
struct Item {
    words: Vec<String>,
    detail: Option<Vec<String>>,
    kids: Vec<Item>,
}

impl Item {
    fn leaf(words: Vec<String>) -> Self {
        Item {
            words,
            detail: None,
            kids: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Out {
    s: String,
}

impl Out {
    fn blank(&mut self) {
        self.s.push('\n');
    }

    /// One line, cut with `…` when it is wider than [`TEXT_WIDTH`].
    fn line(&mut self, l: &str) {
        if l.chars().count() > TEXT_WIDTH {
            self.s.extend(l.chars().take(TEXT_WIDTH - 1));
            self.s.push('…');
        } else {
            self.s.push_str(l);
        }
        self.s.push('\n');
    }

    /// `words` joined by two spaces, wrapped: the first line starts with `first`, the
    /// others with `cont`.
    fn wrap(&mut self, first: &str, cont: &str, words: &[String]) {
        let mut cur = first.to_string();
        let mut width = cur.chars().count();
        let mut started = false;
        for w in words {
            let ww = w.chars().count();
            if started && width + 2 + ww > TEXT_WIDTH {
                self.line(&cur);
                cur = cont.to_string();
                width = cur.chars().count();
                started = false;
            }
            if started {
                cur.push_str("  ");
                width += 2;
            }
            cur.push_str(w);
            width += ww;
            started = true;
        }
        self.line(&cur);
    }

    fn tree(&mut self, indent: &str, items: &[Item]) {
        for (i, it) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let (branch, cont) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            let below = format!("{indent}{cont}");
            let kid_bar = if it.kids.is_empty() { "  " } else { "│ " };
            self.wrap(
                &format!("{indent}{branch}"),
                &format!("{below}{kid_bar}"),
                &it.words,
            );
            if let Some(d) = &it.detail {
                self.wrap(&format!("{below}{kid_bar}"), &format!("{below}{kid_bar}"), d);
            }
            self.tree(&below, &it.kids);
        }
    }
}

// ---------------------------------------------------------------------------------
// ids shared by dot and mermaid: built from indices, never from names

fn host_id(h: usize) -> String {
    format!("h{h}")
}
fn nic_id(h: usize, k: usize) -> String {
    format!("h{h}_nic{k}")
}
fn net_id(h: usize, ni: usize) -> String {
    format!("h{h}_net{ni}")
}
fn ctr_id(ci: usize) -> String {
    format!("c{ci}")
}
fn lan_id(i: usize) -> String {
    format!("lan{i}")
}
fn router_id(i: usize) -> String {
    format!("r{i}")
}
fn ext_id(i: usize) -> String {
    format!("x{i}")
}

/// A generic graph both dot and mermaid print: clusters of nodes, then edges.
struct Graph {
    /// (cluster id, label, nodes) per host.
    clusters: Vec<(String, String, Vec<Node>)>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Host,
    Nic,
    Network,
    Container,
    Lan,
    Router,
    External,
}

struct Node {
    id: String,
    shape: Shape,
    lines: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Tunnel,
    Impaired,
}

struct Edge {
    a: String,
    b: String,
    label: Vec<String>,
    style: Style,
}

fn edge(a: String, b: String, label: Vec<String>, style: Style) -> Edge {
    Edge { a, b, label, style }
}

/// Lines of words, each line at most about 40 characters, for node labels.
fn label_lines(words: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for w in words {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > 40 {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn build(r: &Resolved) -> Graph {
    let t = Topology::new(r);
    let m = &r.model;
    let lan_index: HashMap<&str, usize> = m
        .lans
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    let mut g = Graph {
        clusters: Vec::new(),
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    for (h, name) in t.hosts.iter().enumerate() {
        let def = m.hosts.iter().find(|d| &d.name == name);
        let mut nodes = Vec::new();
        let mut head = vec![format!("host {name}")];
        if let Some(gw) = def.and_then(|d| d.gateway) {
            head.push(format!("gw {gw}"));
        }
        if let Some(d) = def
            && !d.daemon.ip_forward
        {
            head.push("ip_forward off".into());
        }
        nodes.push(Node {
            id: host_id(h),
            shape: Shape::Host,
            lines: head,
        });
        let nics = def.map_or(&[][..], |d| d.interfaces.as_slice());
        for (k, n) in nics.iter().enumerate() {
            let mut lines = vec![n.name.clone()];
            if let Some(a) = n.address {
                lines.push(a.to_string());
            }
            nodes.push(Node {
                id: nic_id(h, k),
                shape: Shape::Nic,
                lines,
            });
            g.edges
                .push(edge(host_id(h), nic_id(h, k), Vec::new(), Style::Plain));
            if let Some(l) = n.lan.as_deref().and_then(|l| lan_index.get(l)) {
                let mut label = Vec::new();
                if let Some(v) = n.vlan {
                    label.push(format!("vlan {v}"));
                }
                if let Some(tr) = &n.trunk {
                    label.push(format!("trunk {}", join(tr)));
                }
                g.edges.push(edge(nic_id(h, k), lan_id(*l), label, Style::Plain));
            }
            if let Some(p) = &n.macvlan_of
                && let Some(pk) = nics.iter().position(|x| &x.name == p)
            {
                g.edges.push(edge(
                    nic_id(h, k),
                    nic_id(h, pk),
                    vec!["macvlan shim".into()],
                    Style::Plain,
                ));
            }
        }
        for &ni in &t.nets[h] {
            let n = &r.networks[ni];
            let mut words = vec![format!("{} ({})", n.name, n.driver.name())];
            words.extend(net_words(r, n).into_iter().skip(1));
            words.extend(net_subnets(n));
            nodes.push(Node {
                id: net_id(h, ni),
                shape: Shape::Network,
                lines: label_lines(&words),
            });
            match n.driver {
                Driver::Macvlan | Driver::Ipvlan => {
                    let to = n
                        .parent
                        .as_ref()
                        .and_then(|(p, _)| nics.iter().position(|x| &x.name == p))
                        .map_or_else(|| host_id(h), |k| nic_id(h, k));
                    let label = match &n.parent {
                        Some((p, Some(v))) => vec![format!("parent {p}.{v}"), n.mode.name().to_string()],
                        Some((p, None)) => vec![format!("parent {p}"), n.mode.name().to_string()],
                        None => vec!["dummy parent".into()],
                    };
                    g.edges.push(edge(net_id(h, ni), to, label, Style::Plain));
                }
                Driver::Bridge | Driver::Overlay => {
                    let label = if n.internal {
                        vec!["internal".into()]
                    } else if n.driver == Driver::Bridge {
                        vec!["masquerade".into()]
                    } else {
                        vec!["vtep".into()]
                    };
                    g.edges.push(edge(net_id(h, ni), host_id(h), label, Style::Plain));
                }
                Driver::Host | Driver::None => {}
            }
        }
        for &ci in &t.ctrs[h] {
            let c = &m.containers[ci];
            let on_host = t.special[h].iter().find(|(x, _)| *x == ci);
            let eps = r.endpoints.get(ci).map(Vec::as_slice).unwrap_or_default();
            let mut lines = vec![c.name.clone()];
            for ei in 0..eps.len() {
                lines.push(endpoint_words(r, ci, ei).join(" "));
            }
            let p = published_words(r.published.get(ci).map(Vec::as_slice).unwrap_or_default());
            if !p.is_empty() {
                lines.extend(label_lines(&[vec!["ports".to_string()], p].concat()));
            }
            if let Some((_, kind)) = on_host {
                lines.push(format!("network {kind}"));
                if *kind == "host" {
                    g.edges.push(edge(
                        ctr_id(ci),
                        host_id(h),
                        vec!["host network".into()],
                        Style::Plain,
                    ));
                }
            }
            for ep in eps {
                g.edges.push(edge(
                    ctr_id(ci),
                    net_id(h, ep.network),
                    vec![ep.ifname.clone()],
                    Style::Plain,
                ));
            }
            nodes.push(Node {
                id: ctr_id(ci),
                shape: Shape::Container,
                lines,
            });
        }
        g.clusters
            .push((format!("cluster_h{h}"), format!("Docker host {name}"), nodes));
    }
    for ni in 0..r.networks.len() {
        let n = &r.networks[ni];
        if n.driver != Driver::Overlay {
            continue;
        }
        let span = t.span(ni);
        for (a, b) in t.tunnel_pairs(ni) {
            let mut label = vec![format!("VXLAN vni {}", n.vni)];
            label.push(format!("{} <-> {}", t.vtep(a), t.vtep(b)));
            if span.len() > MESH_MAX {
                label.push(format!("(full mesh of {} VTEPs)", span.len()));
            }
            if n.encrypted {
                label.push("ESP".into());
            }
            g.edges
                .push(edge(net_id(a, ni), net_id(b, ni), label, Style::Tunnel));
        }
    }
    for (i, l) in m.lans.iter().enumerate() {
        let mut lines = vec![format!("LAN {}", l.name)];
        if let Some(mtu) = l.mtu {
            lines.push(format!("mtu {mtu}"));
        }
        if l.hairpin {
            lines.push("hairpin".into());
        }
        if l.port_security {
            lines.push("port security".into());
        }
        g.nodes.push(Node {
            id: lan_id(i),
            shape: Shape::Lan,
            lines,
        });
    }
    for (i, rt) in m.routers.iter().enumerate() {
        let mut lines = vec![format!("router {}", rt.name)];
        for (d, gw) in &rt.routes {
            lines.push(format!("{d} via {gw}"));
        }
        if let Some(x) = &rt.masquerade {
            lines.push(format!("masquerade out of {x}"));
        }
        g.nodes.push(Node {
            id: router_id(i),
            shape: Shape::Router,
            lines,
        });
        for n in &rt.interfaces {
            if let Some(l) = n.lan.as_deref().and_then(|l| lan_index.get(l)) {
                let mut label = vec![n.name.clone()];
                if let Some(a) = n.address {
                    label.push(a.to_string());
                }
                g.edges.push(edge(router_id(i), lan_id(*l), label, Style::Plain));
            }
        }
    }
    for (i, e) in m.externals.iter().enumerate() {
        let mut lines = vec![e.name.clone(), e.address.to_string()];
        if !e.listen.is_empty() {
            let l: Vec<String> = e
                .listen
                .iter()
                .map(|l| format!("{}/{}", l.l4.name(), l.port))
                .collect();
            lines.push(format!("listens {}", l.join(",")));
        }
        g.nodes.push(Node {
            id: ext_id(i),
            shape: Shape::External,
            lines,
        });
        if let Some(l) = lan_index.get(e.lan.as_str()) {
            let label = e.vlan.map(|v| vec![format!("vlan {v}")]).unwrap_or_default();
            g.edges.push(edge(ext_id(i), lan_id(*l), label, Style::Plain));
        }
    }
    for l in &m.links {
        let (Some(a), Some(b)) = (end_id(&t, &l.between[0]), end_id(&t, &l.between[1])) else {
            continue;
        };
        g.edges
            .push(edge(a, b, label_lines(&impair_words(&l.impair)), Style::Impaired));
    }
    g
}

/// The node a link's end (`node.iface` or a LAN) is drawn as.
fn end_id(t: &Topology<'_>, end: &str) -> Option<String> {
    let m = &t.r.model;
    if let Some(i) = m.lans.iter().position(|l| l.name == end) {
        return Some(lan_id(i));
    }
    // Names may hold dots: try every split.
    for (pos, _) in end.match_indices('.') {
        let (node, iface) = (&end[..pos], &end[pos + 1..]);
        if let Some(h) = t.hosts.iter().position(|h| h == node) {
            let def = m.hosts.iter().find(|d| d.name == node);
            let k = def.and_then(|d| d.interfaces.iter().position(|n| n.name == iface));
            return Some(k.map_or_else(|| host_id(h), |k| nic_id(h, k)));
        }
        if let Some(i) = m.routers.iter().position(|r| r.name == node) {
            return Some(router_id(i));
        }
        if let Some(i) = m.externals.iter().position(|e| e.name == node) {
            return Some(ext_id(i));
        }
        if let Some(i) = m.containers.iter().position(|c| c.name == node) {
            return Some(ctr_id(i));
        }
    }
    None
}

// ---------------------------------------------------------------------------------
// dot

/// A Graphviz graph (`dot -Tsvg` draws it): a cluster per Docker host holding its
/// NICs, networks and containers (each with its addresses per interface and its
/// published ports); LANs, routers and externals outside; overlay networks joined
/// across hosts by dashed VXLAN tunnels labelled with the VNI and the VTEPs'
/// addresses; impaired links in bold red with their impairments.
pub fn dot(r: &Resolved) -> String {
    let g = build(r);
    let mut s = String::with_capacity(256 + r.model.containers.len() * 160);
    s.push_str("graph netloom {\n");
    s.push_str("  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, compound=true];\n");
    s.push_str("  node [fontname=\"Helvetica\", fontsize=10];\n");
    s.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for (id, label, nodes) in &g.clusters {
        let _ = writeln!(s, "  subgraph {id} {{");
        let _ = writeln!(s, "    label=\"{}\";", dot_escape(label));
        s.push_str("    style=rounded; color=gray40;\n");
        for n in nodes {
            s.push_str("    ");
            dot_node(&mut s, n);
        }
        s.push_str("  }\n");
    }
    for n in &g.nodes {
        s.push_str("  ");
        dot_node(&mut s, n);
    }
    for e in &g.edges {
        let _ = write!(s, "  {} -- {}", e.a, e.b);
        let mut attrs: Vec<String> = Vec::new();
        if !e.label.is_empty() {
            attrs.push(format!("label=\"{}\"", dot_lines(&e.label)));
        }
        match e.style {
            Style::Plain => {}
            Style::Tunnel => attrs.push("style=dashed, color=blue, fontcolor=blue".into()),
            Style::Impaired => attrs.push("style=bold, color=red, fontcolor=red, constraint=false".into()),
        }
        if !attrs.is_empty() {
            let _ = write!(s, " [{}]", attrs.join(", "));
        }
        s.push_str(";\n");
    }
    s.push_str("}\n");
    s
}

fn dot_node(s: &mut String, n: &Node) {
    let shape = match n.shape {
        Shape::Host => "shape=box3d",
        Shape::Nic => "shape=cds",
        Shape::Network => "shape=box, style=\"rounded,filled\", fillcolor=lightyellow",
        Shape::Container => "shape=box, style=filled, fillcolor=lightblue",
        Shape::Lan => "shape=hexagon, style=filled, fillcolor=lightgray",
        Shape::Router => "shape=diamond",
        Shape::External => "shape=box, style=dashed",
    };
    let _ = writeln!(s, "{} [{shape}, label=\"{}\"];", n.id, dot_lines(&n.lines));
}

fn dot_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| dot_escape(l))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// Text inside a double-quoted dot string: backslashes (dot's escapes `\n`, `\l`,
/// `\N`…) and quotes escaped, control characters dropped.
fn dot_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

// ---------------------------------------------------------------------------------
// mermaid

/// A mermaid `flowchart LR` of the same graph as [`dot`]: a subgraph per Docker host,
/// quoted labels, ids built from indices.
pub fn mermaid(r: &Resolved) -> String {
    let g = build(r);
    let mut s = String::with_capacity(256 + r.model.containers.len() * 120);
    s.push_str("flowchart LR\n");
    for (id, label, nodes) in &g.clusters {
        let _ = writeln!(s, "  subgraph {id}[\"{}\"]", mermaid_escape(label));
        for n in nodes {
            s.push_str("    ");
            mermaid_node(&mut s, n);
        }
        s.push_str("  end\n");
    }
    for n in &g.nodes {
        s.push_str("  ");
        mermaid_node(&mut s, n);
    }
    for e in &g.edges {
        let arrow = match e.style {
            Style::Plain => "---",
            Style::Tunnel => "-.-",
            Style::Impaired => "===",
        };
        if e.label.is_empty() {
            let _ = writeln!(s, "  {} {arrow} {}", e.a, e.b);
        } else {
            let _ = writeln!(s, "  {} {arrow}|\"{}\"| {}", e.a, mermaid_lines(&e.label), e.b);
        }
    }
    s
}

fn mermaid_node(s: &mut String, n: &Node) {
    let (open, close) = match n.shape {
        Shape::Host => ("[[", "]]"),
        Shape::Nic => (">", "]"),
        Shape::Network => ("(", ")"),
        Shape::Container => ("[", "]"),
        Shape::Lan => ("{{", "}}"),
        Shape::Router => ("{", "}"),
        Shape::External => ("[/", "/]"),
    };
    let _ = writeln!(s, "{}{open}\"{}\"{close}", n.id, mermaid_lines(&n.lines));
}

fn mermaid_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| mermaid_escape(l))
        .collect::<Vec<_>>()
        .join("<br/>")
}

/// Text inside a quoted mermaid label: quotes, angle brackets, `#`, `&`, backticks and
/// pipes as entity codes, control characters dropped.
fn mermaid_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("#quot;"),
            '<' => o.push_str("#lt;"),
            '>' => o.push_str("#gt;"),
            '#' => o.push_str("#35;"),
            '&' => o.push_str("#amp;"),
            '`' => o.push_str("#96;"),
            '|' => o.push_str("#124;"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use netloom_drivers::docker::{ContainerDef, EndpointDef, Model, NetworkDef};

    fn resolved(yaml: &str) -> Resolved {
        crate::load("t.yaml", yaml).expect("valid scenario").resolved
    }

    fn assert_width(s: &str) {
        for l in s.lines() {
            assert!(
                l.chars().count() <= TEXT_WIDTH,
                "{} columns: {l}",
                l.chars().count()
            );
        }
    }

    const OVERLAY: &str = r#"
name: t
hosts:
  h1: { interfaces: { eth0: { address: 192.168.1.10/24, lan: office } } }
  h2: { interfaces: { eth0: { address: 192.168.1.11/24, lan: office } } }
lans: { office: {} }
networks:
  ov: { driver: overlay, hosts: [h1, h2] }
  vl: { driver: macvlan, host: h1, driver_opts: { parent: eth0.10 }, ipam: { config: [ { subnet: 10.10.0.0/24 } ] } }
containers:
  a: { host: h1, networks: [ov] }
  b: { host: h2, networks: [ov] }
  m: { host: h1, networks: [vl] }
links:
  - { between: [h2.eth0, office], latency: 7ms, loss: 50% }
"#;

    /// The addresses drawn are what IPAM allocated: the file wrote none.
    #[test]
    fn addresses_are_the_resolved_ones() {
        let r = resolved(
            "name: t\nnetworks: { app: {} }\ncontainers:\n  web: { networks: [app], ports: ['8080:80'] }\n  db: { networks: [app] }\n",
        );
        let t = text(&r);
        assert!(t.contains("172.18.0.0/16 gw 172.18.0.1"), "{t}");
        assert!(
            t.contains("web  eth0  172.18.0.2") && t.contains("db  eth0  172.18.0.3"),
            "{t}"
        );
        assert!(t.contains("8080->80/tcp"), "{t}");
        let d = dot(&r);
        assert!(d.contains("web\\neth0 172.18.0.2\\nports 8080->80/tcp"), "{d}");
        let m = mermaid(&r);
        assert!(m.contains("web<br/>eth0 172.18.0.2"), "{m}");
        // An unused default bridge is left out.
        assert!(!t.contains("docker0"), "{t}");
    }

    /// An overlay is one network per host joined by a VXLAN tunnel between the hosts'
    /// VTEPs with its VNI; a macvlan network hangs off its parent NIC with the mode;
    /// an impaired link carries its impairments.
    #[test]
    fn overlay_macvlan_and_links_are_drawn() {
        let r = resolved(OVERLAY);
        let ov = r.networks.iter().position(|n| n.name == "ov").expect("ov");
        let vni = r.networks[ov].vni;
        let d = dot(&r);
        let tunnel = d
            .lines()
            .find(|l| l.contains(&format!("h0_net{ov} -- h1_net{ov}")))
            .unwrap_or_else(|| panic!("no tunnel: {d}"));
        assert!(
            tunnel.contains(&format!("VXLAN vni {vni}"))
                && tunnel.contains("192.168.1.10 <-> 192.168.1.11")
                && tunnel.contains("dashed"),
            "{tunnel}"
        );
        assert!(d.contains("label=\"parent eth0.10\\nmacvlan bridge\""), "{d}");
        assert!(d.contains("latency 7.000ms loss 50%"), "{d}");
        let t = text(&r);
        assert!(
            t.contains(&format!("ov vni {vni}:  h1 192.168.1.10  h2 192.168.1.11")),
            "{t}"
        );
        assert!(
            t.contains("parent eth0.10 (vlan 10)") && t.contains("mode macvlan bridge"),
            "{t}"
        );
        assert!(t.contains("h2.eth0 -- office:  latency 7.000ms  loss 50%"), "{t}");
        assert!(
            t.contains("LANs\noffice\n├─ h1.eth0 192.168.1.10/24\n└─ h2.eth0 192.168.1.11/24\n"),
            "{t}"
        );
        let m = mermaid(&r);
        assert!(m.contains(&format!("h0_net{ov} -.-|\"VXLAN vni {vni}")), "{m}");
        assert_width(&t);
    }

    /// Long names and many published ports wrap; nothing passes 80 columns, and a word
    /// too long for a line is cut with `…`.
    #[test]
    fn text_fits_80_columns() {
        let [h, l, n, c] = ["h", "l", "n", "c"].map(|p| format!("{p}{}", "x".repeat(62)));
        let ports: Vec<String> = (0..20).map(|i| format!("'{}:{}'", 10000 + i, 80 + i)).collect();
        let yaml = format!(
            "name: t\nhosts:\n  {h}: {{ interfaces: {{ eth0: {{ address: 192.168.1.10/24, lan: {l} }} }} }}\nlans: {{ {l}: {{}} }}\nnetworks: {{ {n}: {{}} }}\ncontainers:\n  {c}: {{ networks: {{ {n}: {{ aliases: [{c}a, {c}b] }} }}, ports: [{}] }}\n",
            ports.join(", ")
        );
        let t = text(&resolved(&yaml));
        assert_width(&t);
        assert!(t.contains("10019->99/tcp"), "every port is there, wrapped: {t}");
        assert!(t.lines().any(|l| l.ends_with('…')), "{t}");
    }

    /// A network with many containers is summarised in text; dot keeps every one.
    #[test]
    fn large_networks_are_summarised_in_text() {
        let mut m = Model::default();
        m.networks.push(NetworkDef::bridge("app"));
        for i in 0..30 {
            let mut c = ContainerDef::new(format!("c{i}"));
            c.networks.push(EndpointDef {
                network: "app".into(),
                ipv4: None,
                ipv6: None,
                mac: None,
                aliases: vec![],
            });
            m.containers.push(c);
        }
        let r = m.resolve().expect("resolves");
        let t = text(&r);
        assert!(t.contains("c11  eth0") && !t.contains("c12  eth0"), "{t}");
        assert!(
            t.contains(&format!("… and {} more", 30 - TEXT_MAX_CONTAINERS)),
            "{t}"
        );
        let d = dot(&r);
        assert!(d.contains("c29\\neth0 172.18.0.31"), "{d}");
    }

    /// Names are untrusted: quotes, backslashes, newlines and markup cannot break out of
    /// a label, and ids never carry a name.
    #[test]
    fn labels_are_escaped_and_ids_sanitised() {
        let mut m = Model::default();
        let evil = "x\"];\nevil -- y [label=\"\\N <b>#quot;|`";
        let mut n = NetworkDef::bridge("app");
        n.name = evil.to_string();
        m.networks.push(n);
        let mut c = ContainerDef::new(evil);
        c.networks.push(EndpointDef {
            network: evil.into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            aliases: vec![],
        });
        m.containers.push(c);
        let r = m.resolve().expect("resolves");
        let d = dot(&r);
        assert!(
            d.contains("x\\\"]; evil -- y [label=\\\"\\\\N <b>#quot;|`"),
            "{d}"
        );
        assert!(!d.contains("\nevil"), "{d}");
        let mm = mermaid(&r);
        assert!(
            mm.contains("x#quot;]; evil -- y [label=#quot;\\N #lt;b#gt;#35;quot;#124;#96;"),
            "{mm}"
        );
        for l in mm.lines().skip(1) {
            let id: String = l
                .trim_start()
                .chars()
                .take_while(|c| !c.is_whitespace() && !"[({>".contains(*c))
                .collect();
            assert!(
                id == "end" || id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "id {id:?} in {l}"
            );
        }
        assert_width(&text(&r));
    }

    #[test]
    fn escapes() {
        assert_eq!(dot_escape("a\"b\\c\nd"), "a\\\"b\\\\c d");
        assert_eq!(
            mermaid_escape("<a href=\"#\">"),
            "#lt;a href=#quot;#35;#quot;#gt;"
        );
    }
}
