//! From a parsed [`Scenario`] to a validated [`Model`] and a plan of steps.
//!
//! Model errors come back from the Docker model naming a field path
//! (`containers.api.networks.appnet.ipv4_address`); this module remembers where every
//! such path was written, so each error points at `file:line:column`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use netloom_core::{BitRate, SimDuration};
use netloom_drivers::cni::iptables::{IngressPolicy, RulePlugin};
use netloom_drivers::docker::{
    ChildMode, CniNetDef, ContainerDef, DaemonDef, Driver, EndpointDef, ExternalDef, ExtraHost, GatewayMode,
    HostAddr, HostDef, Impair, LanDef, LinkDef, Model, NetworkDef, NicDef, PublishDef, Resolved, RouterDef,
    SubnetDef,
};
use netloom_drivers::host::Listen;
use netloom_drivers::net::L4;

use crate::error::{Located, ScenarioError, ScenarioErrors, location_of};

mod firewall;
mod policy;
use crate::format::{
    self, Action, Expect, Location, NetworkDriver, Outcome, Proto, Scenario, Spanned, TargetHost,
};

/// A scenario ready to run: the model and the steps.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file name used in messages.
    pub file: String,
    /// The parsed file.
    pub scenario: Scenario,
    /// The Docker model it describes.
    pub model: Model,
    /// The model after IPAM, as validation resolved it: every subnet, gateway,
    /// container address and published port decided (what `netloom graph` draws).
    pub resolved: Resolved,
    /// The steps, checked.
    pub steps: Vec<PlannedStep>,
    /// What the Docker daemon would warn about, each with `file:line:column`.
    pub warnings: Vec<String>,
}

/// A step after validation.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// Where the step starts (1-based line).
    pub line: u64,
    /// A one-line title (`ping api -> web`).
    pub title: String,
    /// What to do.
    pub op: Op,
    /// What must hold afterwards.
    pub expect: Expectations,
}

/// The target of a ping, connect or transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    /// A literal address.
    Ip(IpAddr),
    /// A machine, container or alias name.
    Name(String),
}

/// A step's action.
#[derive(Debug, Clone)]
pub enum Op {
    /// `ping`.
    Ping {
        /// Sender.
        from: String,
        /// Target.
        to: To,
        /// Echo requests.
        count: u32,
        /// Payload bytes.
        size: usize,
        /// DF set.
        dont_fragment: bool,
    },
    /// `connect`.
    Connect {
        /// Client.
        from: String,
        /// Server.
        to: To,
        /// Port.
        port: u16,
        /// TCP or UDP.
        l4: L4,
    },
    /// `transfer`.
    Transfer {
        /// Sender.
        from: String,
        /// Receiver.
        to: To,
        /// Port.
        port: u16,
        /// Bytes.
        bytes: u64,
    },
    /// `link`.
    Link {
        /// The two ends.
        between: [String; 2],
        /// The changes.
        impair: Impair,
    },
    /// `container`.
    Container {
        /// The container.
        name: String,
        /// Start (true) or stop.
        running: bool,
    },
    /// `wait`.
    Wait(SimDuration),
    /// `resolve`.
    Resolve {
        /// Where the lookup runs.
        from: String,
        /// The name.
        name: String,
    },
    /// `exec` (emulation only).
    Exec {
        /// Where.
        inside: String,
        /// What.
        run: String,
    },
    /// `reachability`: the policy matrix on one port.
    Reachability {
        /// The probed port.
        port: (L4, u16),
    },
}

/// Checked expectations.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// reach, no-reach, ok, refused, timeout, closed, nxdomain, servfail.
    pub result: Option<Outcome>,
    /// The first drop's reason.
    pub dropped: Option<netloom_core::DropReason>,
    /// What the step's requests look like at a point.
    pub on_wire: Option<WireCheck>,
    /// Bound on every round trip.
    pub max_rtt: Option<SimDuration>,
    /// Lower bound on a transfer's rate.
    pub min_rate: Option<BitRate>,
    /// An error a container start must report.
    pub error: Option<String>,
    /// Exit code of an exec.
    pub exit: Option<i32>,
    /// The addresses a `resolve` must return, compared as a set.
    pub addresses: Option<Vec<IpAddr>>,
    /// Text an `exec`'s standard output must contain.
    pub stdout: Option<String>,
    /// The truth table a `reachability` step must measure.
    pub matrix: Option<crate::matrix::Expected>,
}

/// An `on_wire` check.
#[derive(Debug, Clone, Default)]
pub struct WireCheck {
    /// `node.iface` or a LAN.
    pub at: String,
    /// Source address.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: Option<IpAddr>,
    /// 802.1Q VLAN id.
    pub vlan: Option<u16>,
    /// VXLAN network id.
    pub vxlan_vni: Option<u32>,
    /// TTL / hop limit.
    pub ttl: Option<u8>,
    /// Transport (`icmp`, `icmpv6`, `tcp`, `udp`).
    pub proto: Option<String>,
}

/// Parses and validates a scenario text.
///
/// # Errors
/// Every problem found, each with `file:line:column`.
pub fn load(file: &str, text: &str) -> Result<Loaded, ScenarioErrors> {
    let scenario = format::parse_scenario(file, text).map_err(ScenarioErrors::from)?;
    // Names first: a bad one would otherwise reach messages, files and namespaces.
    let bad_names = crate::names::check(file, &scenario);
    if !bad_names.is_empty() {
        let mut bad_names = bad_names;
        crate::error::link_sections(&mut bad_names, text);
        return Err(ScenarioErrors::from(bad_names));
    }
    let mut errs: Vec<ScenarioError> = format::reject_unsupported(file, &scenario);
    let mut v = Validator {
        file,
        errs: Vec::new(),
        paths: BTreeMap::new(),
        wire_points: None,
    };
    let model = v.model(&scenario);
    errs.append(&mut v.errs);
    let mut warnings = Vec::new();
    let mut resolved = None;
    if errs.is_empty() {
        match model.resolve() {
            Ok(r) => {
                for w in &r.warnings {
                    let loc = v.locate(&w.field);
                    warnings.push(format!("{file}:{}:{}: {}", loc.line(), loc.column(), w.message));
                }
                resolved = Some(r);
            }
            Err(model_errs) => {
                for e in model_errs {
                    let loc = v.locate(&e.field);
                    let mut se = ScenarioError::at(file, &loc, e.message.clone());
                    if let Some(h) = e.hint {
                        se = se.with_hint(h);
                    }
                    errs.push(se);
                }
            }
        }
    }
    let steps = v.steps(&scenario, &model);
    errs.append(&mut v.errs);
    if model.policies_ignored && !model.cluster.policies.is_empty() {
        warnings.push(format!(
            "{file}: {} NetworkPolic{} defined but NOT enforced: `policy_enforcement: false` models a network plugin \
             without a policy engine (flannel alone), so every connection they would deny goes through (traces \
             note each one)",
            model.cluster.policies.len(),
            if model.cluster.policies.len() == 1 { "y is" } else { "ies are" }
        ));
    }
    // Resolution ran (and succeeded) exactly when nothing was wrong before it.
    match resolved {
        Some(resolved) if errs.is_empty() => Ok(Loaded {
            file: file.to_string(),
            scenario,
            model,
            resolved,
            steps,
            warnings,
        }),
        _ => {
            errs.sort_by_key(|e| (e.line, e.column));
            crate::error::link_sections(&mut errs, text);
            Err(ScenarioErrors::from(errs))
        }
    }
}

struct Validator<'a> {
    file: &'a str,
    errs: Vec<ScenarioError>,
    paths: BTreeMap<String, Location>,
    /// The points `on_wire` may name, from the built lab (computed at the first
    /// `on_wire`; `None` inside when the model does not build).
    wire_points: Option<Option<std::collections::BTreeSet<String>>>,
}

impl Validator<'_> {
    fn at(&mut self, path: String, loc: Location) {
        self.paths.insert(path, loc);
    }

    fn locate(&self, field: &str) -> Location {
        let mut f = field;
        loop {
            if let Some(l) = self.paths.get(f) {
                return *l;
            }
            match f.rfind('.') {
                Some(i) => f = &f[..i],
                None => return Location::UNKNOWN,
            }
        }
    }

    /// A `mac_address` value, or an error at it.
    fn mac(&mut self, m: &Spanned<String>) -> Option<[u8; 6]> {
        match format::parse_mac(&m.value) {
            Ok(mac) => Some(mac),
            Err(msg) => {
                self.err(m, msg, Some("six hex octets, as `02:42:ac:11:00:02`".into()));
                None
            }
        }
    }

    fn err(&mut self, at: &impl Located, msg: impl Into<String>, hint: Option<String>) {
        let mut e = ScenarioError::at(self.file, at, msg.into());
        if let Some(h) = hint {
            e = e.with_hint(h);
        }
        self.errs.push(e);
    }

    /// A NIC's `mtu`, within what Linux accepts for an Ethernet device carrying IPv4
    /// (68 to 65535).
    fn nic_mtu(&mut self, v: Option<&Spanned<u32>>) -> Option<u32> {
        let v = v?;
        if !(68..=65535).contains(&v.value) {
            self.err(
                v,
                format!("MTU {} is out of range", v.value),
                Some("Linux takes 68 to 65535 for an Ethernet device carrying IPv4".into()),
            );
            return None;
        }
        Some(v.value)
    }

    fn model(&mut self, s: &Scenario) -> Model {
        let mut m = Model::default();
        for (name, h) in &s.hosts {
            let p = format!("hosts.{name}");
            self.at(p.clone(), name.location);
            let mut hd = HostDef::new(name.as_str());
            for (iname, i) in &h.interfaces {
                self.at(format!("{p}.interfaces.{iname}"), iname.location);
                if let Some(l) = &i.lan {
                    self.at(format!("{p}.interfaces.{iname}.lan"), location_of(l));
                }
                let ip = format!("{p}.interfaces.{iname}");
                if let Some(v) = &i.macvlan_of {
                    self.at(format!("{ip}.macvlan_of"), location_of(v));
                    if i.lan.is_some() || i.vlan.is_some() || i.trunk.is_some() {
                        self.err(
                            v,
                            format!(
                                "'{iname}' is a macvlan shim on {}: it is not plugged into a LAN itself",
                                v.value
                            ),
                            Some(
                                "remove `lan`/`vlan`/`trunk` from the shim; it shares its parent's cable"
                                    .into(),
                            ),
                        );
                    }
                }
                if let Some(m) = &i.mode
                    && i.macvlan_of.is_none()
                {
                    self.err(
                        m,
                        format!("'mode' is only for macvlan shims ('{iname}' has no macvlan_of)"),
                        Some("add `macvlan_of: eth0`, or remove `mode`".into()),
                    );
                }
                if let Some(t) = &i.trunk {
                    self.at(format!("{ip}.trunk"), location_of(t));
                }
                let vlan = self.vlan_id(i.vlan.as_ref());
                let trunk = self.trunk(i.trunk.as_ref());
                let mtu = self.nic_mtu(i.mtu.as_ref());
                if let (Some(m), Some(_)) = (&i.mtu, &i.macvlan_of) {
                    self.err(
                        m,
                        format!("'{iname}' is a macvlan shim: it takes its parent's MTU"),
                        Some("set `mtu` on the parent NIC".into()),
                    );
                }
                hd.interfaces.push(NicDef {
                    name: iname.value.clone(),
                    address: i.address.as_ref().map(|a| a.value),
                    lan: i.lan.as_ref().map(|l| l.value.clone()),
                    vlan,
                    trunk,
                    mtu,
                    macvlan_of: i.macvlan_of.as_ref().map(|v| v.value.clone()),
                    shim_mode: i.mode.as_ref().map(|m| macvlan_mode(m.value)),
                    routes: i
                        .routes
                        .as_ref()
                        .map_or_else(Vec::new, |r| r.value.iter().map(|x| x.value).collect()),
                });
            }
            if let Some(g) = &h.gateway {
                self.at(format!("{p}.gateway"), location_of(g));
                hd.gateway = Some(g.value);
            }
            hd.mtu = h.mtu.as_ref().map(|m| m.value);
            if let Some(dns) = &h.dns {
                hd.dns = dns.value.iter().map(|a| a.value).collect();
            }
            let mut d = DaemonDef::default();
            if let Some(dm) = &h.daemon {
                if let Some(v) = &dm.mtu {
                    d.mtu = v.value;
                }
                if let Some(v) = &dm.icc {
                    d.icc = v.value;
                }
                if let Some(v) = &dm.userland_proxy {
                    d.userland_proxy = v.value;
                }
                if let Some(v) = &dm.ip_forward {
                    d.ip_forward = v.value;
                }
                if let Some(v) = &dm.forward_policy {
                    match v.value.to_ascii_lowercase().as_str() {
                        "drop" => d.forward_drop = true,
                        "accept" => d.forward_drop = false,
                        other => self.err(
                            v,
                            format!("unknown forward-policy '{other}'"),
                            Some(format!(
                                "drop (Docker enabled ip_forward itself) or accept; {}",
                                crate::error::see("hosts")
                            )),
                        ),
                    }
                }
                if let Some(v) = &dm.resolv_conf {
                    d.resolv_conf = Some(v.value.iter().map(|a| a.value).collect());
                }
                if let Some(v) = &dm.version {
                    if matches!(v.value, 28 | 29) {
                        d.version = v.value;
                    } else {
                        self.err(
                            v,
                            format!("Docker {} is not a version netloom models", v.value),
                            Some(
                                "28 (28.5's iptables rules, with DOCKER-ISOLATION-STAGE-1/2) or 29 (the default)"
                                    .into(),
                            ),
                        );
                    }
                }
                if let Some(pools) = &dm.default_address_pools {
                    self.at(format!("{p}.daemon.default-address-pools"), location_of(pools));
                    d.pools = pools
                        .value
                        .iter()
                        .map(|x| (x.value.base.value, x.value.size.value))
                        .collect();
                }
            }
            hd.daemon = d;
            m.hosts.push(hd);
        }
        for (name, l) in &s.lans {
            self.at(format!("lans.{name}"), name.location);
            m.lans.push(LanDef {
                name: name.value.clone(),
                mtu: l.mtu.as_ref().map(|x| x.value),
                hairpin: l.hairpin.as_ref().is_some_and(|h| h.value),
                port_security: l.port_security.as_ref().is_some_and(|h| h.value),
            });
        }
        for (name, r) in &s.routers {
            let p = format!("routers.{name}");
            self.at(p.clone(), name.location);
            let mut rd = RouterDef {
                name: name.value.clone(),
                interfaces: Vec::new(),
                routes: Vec::new(),
                masquerade: None,
                firewall: Vec::new(),
            };
            for (iname, i) in &r.interfaces {
                if let Some(l) = &i.lan {
                    self.at(format!("{p}.interfaces.{iname}.lan"), location_of(l));
                }
                if let Some(t) = &i.trunk {
                    self.at(format!("{p}.interfaces.{iname}.trunk"), location_of(t));
                }
                let vlan = self.vlan_id(i.vlan.as_ref());
                let trunk = self.trunk(i.trunk.as_ref());
                let mtu = self.nic_mtu(i.mtu.as_ref());
                rd.interfaces.push(NicDef {
                    name: iname.value.clone(),
                    address: i.address.as_ref().map(|a| a.value),
                    lan: i.lan.as_ref().map(|l| l.value.clone()),
                    vlan,
                    trunk,
                    mtu,
                    ..NicDef::default()
                });
            }
            for (k, rt) in r.routes.iter().enumerate() {
                self.at(format!("{p}.routes.{k}.via"), location_of(&rt.value.via));
                rd.routes.push((rt.value.to.value, rt.value.via.value));
            }
            if let Some(mq) = &r.masquerade {
                self.at(format!("{p}.masquerade"), location_of(mq));
                rd.masquerade = Some(mq.value.clone());
            }
            m.routers.push(rd);
        }
        for (name, e) in &s.externals {
            let p = format!("externals.{name}");
            self.at(p.clone(), name.location);
            self.at(format!("{p}.lan"), location_of(&e.lan));
            if let Some(g) = &e.gateway {
                self.at(format!("{p}.gateway"), location_of(g));
            }
            let listen = self.listens(&e.listen);
            if let Some(t) = &e.trunk {
                self.at(format!("{p}.trunk"), location_of(t));
            }
            let vlan = self.vlan_id(e.vlan.as_ref());
            let trunk = self.trunk(e.trunk.as_ref());
            let mtu = self.nic_mtu(e.mtu.as_ref());
            m.externals.push(ExternalDef {
                vlan,
                trunk,
                mtu,
                name: name.value.clone(),
                address: e.address.value,
                lan: e.lan.value.clone(),
                gateway: e.gateway.as_ref().map(|g| g.value),
                listen,
                dns_records: e.dns_records.as_ref().map(|r| {
                    r.value
                        .iter()
                        .map(|(k, v)| (k.clone(), v.iter().map(|a| a.value).collect()))
                        .collect()
                }),
                dns: e
                    .dns
                    .as_ref()
                    .map_or_else(Vec::new, |d| d.value.iter().map(|a| a.value).collect()),
            });
        }
        for (name, n) in &s.networks {
            let p = format!("networks.{name}");
            self.at(p.clone(), name.location);
            let driver = match n.driver.as_ref().map(|d| d.value) {
                None | Some(NetworkDriver::Bridge) => Driver::Bridge,
                Some(NetworkDriver::Host) => Driver::Host,
                Some(NetworkDriver::None) => Driver::None,
                Some(NetworkDriver::Overlay) => Driver::Overlay,
                Some(NetworkDriver::Macvlan) => Driver::Macvlan,
                Some(NetworkDriver::Ipvlan) => Driver::Ipvlan,
            };
            if let Some(d) = &n.driver {
                self.at(format!("{p}.driver"), location_of(d));
            }
            let mut nd = NetworkDef::bridge(name.as_str());
            nd.driver = driver;
            if let Some(h) = &n.host {
                self.at(format!("{p}.host"), location_of(h));
                nd.host = Some(h.value.clone());
            }
            nd.internal = n.internal.as_ref().is_some_and(|x| x.value);
            if let Some(x) = &n.enable_ipv6 {
                self.at(format!("{p}.enable_ipv6"), location_of(x));
                nd.enable_ipv6 = x.value;
            }
            if let Some(ipam) = &n.ipam {
                for (k, c) in ipam.config.iter().enumerate() {
                    let cp = format!("{p}.ipam.config.{k}");
                    self.at(cp.clone(), location_of(c));
                    self.at(format!("{cp}.subnet"), location_of(&c.value.subnet));
                    if let Some(g) = &c.value.gateway {
                        self.at(format!("{cp}.gateway"), location_of(g));
                    }
                    if let Some(r) = &c.value.ip_range {
                        self.at(format!("{cp}.ip_range"), location_of(r));
                    }
                    nd.subnets.push(SubnetDef {
                        subnet: c.value.subnet.value,
                        gateway: c.value.gateway.as_ref().map(|g| g.value),
                        ip_range: c.value.ip_range.as_ref().map(|r| r.value),
                        aux_addresses: c
                            .value
                            .aux_addresses
                            .iter()
                            .flat_map(|m| m.value.iter())
                            .map(|(k, v)| {
                                self.at(format!("{cp}.aux_addresses.{}", k.as_str()), location_of(v));
                                (k.as_str().to_string(), v.value)
                            })
                            .collect(),
                    });
                }
            }
            if let Some(hs) = &n.hosts {
                self.at(format!("{p}.hosts"), location_of(hs));
                nd.hosts = hs.value.iter().map(|h| h.value.clone()).collect();
            }
            if let Some(o) = &n.driver_opts {
                self.driver_opts(&p, driver, o, &mut nd);
                if let Some(mtu) = &o.mtu {
                    match mtu.value.trim().parse::<u32>() {
                        Ok(v) if (68..=65535).contains(&v) => nd.mtu = Some(v),
                        _ => self.err(
                            mtu,
                            format!("'{}' is not an MTU", mtu.value),
                            Some("an integer from 68 to 65535, as a string: \"1450\"".into()),
                        ),
                    }
                }
                if let Some(icc) = &o.bridge_enable_icc {
                    match icc.value.trim() {
                        "true" => nd.icc = Some(true),
                        "false" => nd.icc = Some(false),
                        other => self.err(
                            icc,
                            format!("'{other}' is not a boolean"),
                            Some("\"true\" or \"false\"".into()),
                        ),
                    }
                }
                if let Some(v) = &o.bridge_enable_ip_masquerade {
                    match v.value.trim() {
                        "true" => nd.masquerade = true,
                        "false" => nd.masquerade = false,
                        other => self.err(
                            v,
                            format!("'{other}' is not a boolean"),
                            Some("\"true\" or \"false\"".into()),
                        ),
                    }
                }
            }
            if let Some(c) = &n.cni {
                self.at(format!("{p}.cni"), location_of(c));
                if !matches!(driver, Driver::Bridge | Driver::Macvlan | Driver::Ipvlan) {
                    self.err(
                        c,
                        "`cni:` is for bridge, macvlan and ipvlan networks".to_string(),
                        Some("the CNI reference plugins of these drivers are modelled".into()),
                    );
                }
                let v = &c.value;
                let mut plugins = Vec::new();
                if v.ip_masq {
                    plugins.push(RulePlugin::IpMasq);
                }
                if v.portmap {
                    let bit = v.portmap_mark_bit.as_ref().map_or(13, |b| b.value);
                    if bit > 31
                        && let Some(b) = &v.portmap_mark_bit
                    {
                        self.err(b, format!("mark bit {bit} is not 0 to 31"), None);
                    }
                    plugins.push(RulePlugin::Portmap {
                        snat: v.portmap_snat.unwrap_or(true),
                        mark_bit: bit.min(31),
                    });
                }
                if v.firewall {
                    let ingress = match &v.firewall_ingress_policy {
                        None => IngressPolicy::Open,
                        Some(p) => IngressPolicy::parse(&p.value).unwrap_or_else(|| {
                            self.err(
                                p,
                                format!("unknown ingress policy {:?}", p.value),
                                Some("open, same-bridge or isolated".into()),
                            );
                            IngressPolicy::Open
                        }),
                    };
                    plugins.push(RulePlugin::Firewall {
                        ingress,
                        admin: v
                            .firewall_admin_chain
                            .as_ref()
                            .map_or_else(|| "CNI-ADMIN".into(), |a| a.value.clone()),
                    });
                }
                nd.cni = Some(CniNetDef {
                    name: v
                        .name
                        .as_ref()
                        .map_or_else(|| name.to_string(), |x| x.value.clone()),
                    plugins,
                    hairpin_mode: v.hairpin_mode,
                });
            }
            m.networks.push(nd);
        }
        for (name, c) in &s.containers {
            let p = format!("containers.{name}");
            self.at(p.clone(), name.location);
            let mut cd = ContainerDef::new(name.as_str());
            if let Some(h) = &c.host {
                self.at(format!("{p}.host"), location_of(h));
                cd.host = Some(h.value.clone());
            }
            if let Some(nets) = &c.networks {
                self.at(format!("{p}.networks"), location_of(nets));
                for (nname, ep) in nets.value.iter() {
                    let ep_path = format!("{p}.networks.{nname}");
                    self.at(ep_path.clone(), nname.location);
                    if let Some(a) = &ep.ipv4_address {
                        self.at(format!("{ep_path}.ipv4_address"), location_of(a));
                    }
                    if let Some(a) = ep.aliases.first() {
                        self.at(format!("{ep_path}.aliases"), location_of(a));
                    }
                    if let Some(a) = &ep.ipv6_address {
                        self.at(format!("{ep_path}.ipv6_address"), location_of(a));
                    }
                    let mac = ep.mac_address.as_ref().and_then(|m| {
                        self.at(format!("{ep_path}.mac_address"), location_of(m));
                        self.mac(m)
                    });
                    cd.networks.push(EndpointDef {
                        network: nname.value.clone(),
                        ipv4: ep.ipv4_address.as_ref().map(|a| a.value),
                        ipv6: ep.ipv6_address.as_ref().map(|a| a.value),
                        mac,
                        aliases: ep.aliases.iter().map(|a| a.value.clone()).collect(),
                    });
                }
            }
            if let Some(m) = &c.mac_address
                && let Some(mac) = self.mac(m)
            {
                // `--mac-address` belongs to the first network's endpoint (Docker API
                // 1.44 moved it there).
                if cd.networks.is_empty() {
                    cd.networks.push(EndpointDef::on("bridge"));
                }
                match cd.networks.first_mut() {
                    Some(ep) if ep.mac.is_some() => self.err(
                        m,
                        "conflicting options: mac_address given for the container and for its first network",
                        Some("give it in one place".into()),
                    ),
                    Some(ep) => ep.mac = Some(mac),
                    None => {}
                }
            }
            if let Some(hosts) = &c.extra_hosts {
                for (k, e) in hosts.0.iter().enumerate() {
                    self.at(format!("{p}.extra_hosts.{k}"), location_of(e));
                    match format::parse_extra_host(&e.value) {
                        Ok((name, addr)) => cd.extra_hosts.push(ExtraHost {
                            name,
                            addr: addr.map_or(HostAddr::HostGateway, HostAddr::Ip),
                        }),
                        Err(msg) => self.err(
                            e,
                            msg,
                            Some("write `name:address`, `name=address` or `name:host-gateway`; see SCENARIO-FORMAT.md#containers".into()),
                        ),
                    }
                }
            }
            if let Some(first) = c.ports.first() {
                self.at(format!("{p}.ports"), location_of(first));
            }
            if let Some(v) = &c.dns {
                cd.dns = v.value.iter().map(|a| a.value).collect();
            }
            if let Some(v) = &c.dns_search {
                for (k, d) in v.value.iter().enumerate() {
                    self.at(format!("{p}.dns_search.{k}"), location_of(d));
                }
                cd.dns_search = v.value.iter().map(|d| d.value.clone()).collect();
            }
            if let Some(v) = &c.dns_opt {
                for (k, d) in v.value.iter().enumerate() {
                    self.at(format!("{p}.dns_opt.{k}"), location_of(d));
                }
                cd.dns_opt = v.value.iter().map(|d| d.value.clone()).collect();
            }
            for (k, port) in c.ports.iter().enumerate() {
                self.at(format!("{p}.ports.{k}"), location_of(port));
                match format::parse_port_publish(&port.value) {
                    Ok(pp) => {
                        let count = pp.container_ports.len();
                        if let Some(h) = pp.host_ports
                            && h.len() != count
                        {
                            self.err(
                                port,
                                format!(
                                    "host range {}-{} and container range {}-{} differ in size",
                                    h.start, h.end, pp.container_ports.start, pp.container_ports.end
                                ),
                                Some("both sides of a published range need the same number of ports".into()),
                            );
                            continue;
                        }
                        cd.ports.push(PublishDef {
                            host_ip: pp.host_ip,
                            host_port: pp.host_ports.map(|h| h.start),
                            container_port: pp.container_ports.start,
                            count: count.min(u16::MAX as u32) as u16,
                            l4: l4(pp.proto),
                        });
                    }
                    Err(e) => self.err(
                        port,
                        e,
                        Some(
                            "compose short syntax: \"8080:80\", \"5353:53/udp\", \"127.0.0.1:9443:443\""
                                .into(),
                        ),
                    ),
                }
            }
            cd.listen = self.listens(&c.listen);
            self.container_policy_keys(&p, c, &mut cd);
            m.containers.push(cd);
        }
        for (k, l) in s.links.iter().enumerate() {
            let p = format!("links.{k}");
            self.at(p.clone(), location_of(l));
            self.at(format!("{p}.between.0"), location_of(&l.value.between.value[0]));
            self.at(format!("{p}.between.1"), location_of(&l.value.between.value[1]));
            let impair = self.impair(
                &l.value.latency,
                &l.value.jitter,
                &l.value.loss,
                &l.value.rate,
                &l.value.mtu,
            );
            let impair = Impair {
                reorder: l.value.reorder.as_ref().map(|r| r.value),
                ..impair
            };
            m.links.push(LinkDef {
                between: [
                    l.value.between.value[0].value.clone(),
                    l.value.between.value[1].value.clone(),
                ],
                impair,
            });
        }
        self.firewall(s, &mut m);
        self.policies(s, &mut m);
        m
    }

    /// A VLAN id, 1–4094.
    fn vlan_id(&mut self, v: Option<&Spanned<u16>>) -> Option<u16> {
        let v = v?;
        if (1..=4094).contains(&v.value) {
            Some(v.value)
        } else {
            self.err(
                v,
                format!("VLAN {} is out of range", v.value),
                Some("802.1Q VLAN ids run from 1 to 4094".into()),
            );
            None
        }
    }

    fn trunk(&mut self, t: Option<&Spanned<Vec<Spanned<u16>>>>) -> Option<Vec<u16>> {
        let t = t?;
        if t.value.is_empty() {
            self.err(
                t,
                "a trunk needs at least one VLAN",
                Some("trunk: [10, 20]".into()),
            );
            return None;
        }
        Some(t.value.iter().filter_map(|v| self.vlan_id(Some(v))).collect())
    }

    /// The macvlan / ipvlan / overlay options; a mode or option of another driver is an
    /// error naming it.
    fn driver_opts(&mut self, p: &str, driver: Driver, o: &format::DriverOpts, nd: &mut NetworkDef) {
        let wrong = |key: &str, want: &str| {
            (
                format!(
                    "'{key}' is an option of {want} networks, not of a {} network",
                    driver.name()
                ),
                Some(format!(
                    "remove it, or set `driver: {}`",
                    want.split(' ').next().unwrap_or(want)
                )),
            )
        };
        if let Some(v) = &o.parent {
            self.at(format!("{p}.driver_opts.parent"), location_of(v));
            if matches!(driver, Driver::Macvlan | Driver::Ipvlan) {
                nd.parent = Some(v.value.trim().to_string());
            } else {
                let (m, h) = wrong("parent", "macvlan or ipvlan");
                self.err(v, m, h);
            }
        }
        let modes = [
            (
                &o.macvlan_mode,
                "macvlan",
                Driver::Macvlan,
                MACVLAN_MODES,
                "bridge, private, vepa or passthru",
            ),
            (
                &o.ipvlan_mode,
                "ipvlan",
                Driver::Ipvlan,
                IPVLAN_MODES,
                "l2, l3 or l3s",
            ),
        ];
        for (opt, kind, owner, table, valid) in modes {
            let Some(v) = opt else { continue };
            if driver != owner {
                let (m, h) = wrong(&format!("{kind}_mode"), kind);
                self.err(v, m, h);
                continue;
            }
            match table.iter().find(|(name, _)| *name == v.value.trim()) {
                Some((_, mode)) => nd.mode = Some(*mode),
                None => self.err(
                    v,
                    format!("requested {kind} mode '{}' is not valid", v.value.trim()),
                    Some(valid.into()),
                ),
            }
        }
        if let Some(v) = &o.encrypted {
            if driver != Driver::Overlay {
                let (m, h) = wrong("encrypted", "overlay");
                self.err(v, m, h);
            } else {
                // Docker treats the option's presence as "on", whatever its value
                // (libnetwork: `if _, ok := optMap[secureOption]; ok`).
                nd.encrypted = true;
            }
        }
        if let Some(v) = &o.overlay_vxlanid_list {
            if driver != Driver::Overlay {
                let (m, h) = wrong("com.docker.network.driver.overlay.vxlanid_list", "overlay");
                self.err(v, m, h);
            } else {
                let first = v.value.split(',').next().unwrap_or_default().trim();
                match first.parse::<u32>() {
                    Ok(id) if (1..(1 << 24)).contains(&id) => nd.vni = Some(id),
                    _ => self.err(
                        v,
                        format!("'{}' is not a VXLAN id", v.value),
                        Some("a number from 1 to 16777215, as a string: \"42\"".into()),
                    ),
                }
            }
        }
        if let Some(v) = &o.bridge_enable_icc
            && driver != Driver::Bridge
        {
            let (m, h) = wrong("com.docker.network.bridge.enable_icc", "bridge");
            self.err(v, m, h);
        }
        if let Some(v) = &o.bridge_enable_ip_masquerade
            && driver != Driver::Bridge
        {
            let (m, h) = wrong("com.docker.network.bridge.enable_ip_masquerade", "bridge");
            self.err(v, m, h);
        }
        if let Some(v) = &o.bridge_name {
            let key = "com.docker.network.bridge.name";
            self.at(format!("{p}.driver_opts.{key}"), location_of(v));
            if driver != Driver::Bridge {
                let (m, h) = wrong(key, "bridge");
                self.err(v, m, h);
            } else if let Some(problem) = crate::names::problem(&v.value, crate::names::MAX_IFNAME) {
                self.err(
                    v,
                    format!("invalid bridge name {:?}: {problem}", v.value),
                    Some(format!(
                        "a Linux interface name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most {} characters",
                        crate::names::MAX_IFNAME
                    )),
                );
            } else {
                nd.bridge_name = Some(v.value.clone());
            }
        }
        if let Some(v) = &o.bridge_gateway_mode_ipv4 {
            let key = "com.docker.network.bridge.gateway_mode_ipv4";
            if driver != Driver::Bridge {
                let (m, h) = wrong(key, "bridge");
                self.err(v, m, h);
            } else {
                // Docker's `newGwMode`: the empty string is `nat`.
                match v.value.as_str() {
                    "" | "nat" => nd.gateway_mode = GatewayMode::Nat,
                    "nat-unprotected" => nd.gateway_mode = GatewayMode::NatUnprotected,
                    "routed" => nd.gateway_mode = GatewayMode::Routed,
                    "isolated" => self.err(
                        v,
                        "gateway mode 'isolated' is not supported yet",
                        Some("nat, nat-unprotected or routed".into()),
                    ),
                    other => self.err(
                        v,
                        format!("failed to parse {key} value: invalid gateway mode {other:?}"),
                        Some("nat, nat-unprotected or routed".into()),
                    ),
                }
            }
        }
    }

    fn listens(&mut self, specs: &[Spanned<String>]) -> Vec<Listen> {
        let mut out = Vec::new();
        for s in specs {
            match format::parse_listen(&s.value) {
                Ok(l) => {
                    for port in l.ports.start..=l.ports.end {
                        out.push(Listen {
                            l4: l4(l.proto),
                            addr: l.addr,
                            port,
                        });
                    }
                }
                Err(e) => self.err(
                    s,
                    e,
                    Some("write `tcp/80`, `udp/53` or `tcp/127.0.0.1:8081`".into()),
                ),
            }
        }
        out
    }

    fn impair(
        &mut self,
        latency: &Option<Spanned<String>>,
        jitter: &Option<Spanned<String>>,
        loss: &Option<Spanned<String>>,
        rate: &Option<Spanned<String>>,
        mtu: &Option<Spanned<u32>>,
    ) -> Impair {
        let mut i = Impair::default();
        if let Some(l) = latency {
            i.latency = self.duration(l);
        }
        if let Some(j) = jitter {
            i.jitter = self.duration(j);
        }
        if let Some(x) = loss {
            match format::parse_percent(&x.value) {
                Ok(v) => i.loss = Some(v),
                Err(e) => self.err(x, e, Some("a percentage such as `1%` or `0.5%`".into())),
            }
        }
        if let Some(r) = rate {
            match format::parse_rate(&r.value) {
                Ok(0) => self.err(
                    r,
                    "a rate of zero carries nothing",
                    Some("use `state: down` to cut a link".into()),
                ),
                Ok(v) => i.rate = Some(BitRate(v)),
                Err(e) => self.err(r, e, Some("a rate such as `100mbit` or `1gbit`".into())),
            }
        }
        if let Some(m) = mtu {
            if (68..=65535).contains(&m.value) {
                i.mtu = Some(m.value);
            } else {
                self.err(
                    m,
                    format!("MTU {} is out of range", m.value),
                    Some("an MTU from 68 to 65535".into()),
                );
            }
        }
        i
    }

    fn duration(&mut self, s: &Spanned<String>) -> Option<SimDuration> {
        match format::parse_duration(&s.value) {
            Ok(d) => Some(SimDuration::from_nanos(d.as_nanos().min(u64::MAX as u128) as u64)),
            Err(e) => {
                self.err(s, e, Some("a duration such as `2ms`, `500us` or `1.5s`".into()));
                None
            }
        }
    }

    fn steps(&mut self, s: &Scenario, m: &Model) -> Vec<PlannedStep> {
        let mut names: Vec<String> = m.names().into_keys().collect();
        if m.hosts.is_empty() {
            names.push("host1".into());
        }
        let aliases: Vec<String> = m
            .containers
            .iter()
            .flat_map(|c| c.networks.iter().flat_map(|e| e.aliases.clone()))
            .collect();
        let served: Vec<String> = m
            .externals
            .iter()
            .flat_map(|e| e.dns_records.iter().flat_map(|r| r.keys().cloned()))
            .chain(
                m.containers
                    .iter()
                    .flat_map(|c| c.extra_hosts.iter().map(|h| h.name.clone())),
            )
            .collect();
        let mut out = Vec::new();
        for step in &s.steps {
            let loc = location_of(step);
            let st = &step.value;
            let exp = st.expect.as_ref();
            let (title, op) = match &st.action {
                Action::Ping(p) => {
                    let v = &p.value;
                    let from = self.machine(&v.from, &names);
                    let to = self.target(&v.to, &names, &aliases, &served, false);
                    let size = v.size.as_ref().map_or(56, |x| x.value as usize);
                    if size > 65507 {
                        self.err(
                            &v.size.as_ref().map_or(loc, location_of),
                            format!("ping size {size} is larger than an IP packet can carry"),
                            Some("at most 65507 payload bytes".into()),
                        );
                    }
                    let to = to.map(|t| t.0);
                    (
                        format!("ping {} -> {}", v.from.value, v.to.value),
                        from.zip(to).map(|(from, to)| Op::Ping {
                            from,
                            to,
                            count: v.count.as_ref().map_or(3, |c| c.value.max(1)),
                            size,
                            dont_fragment: v.dont_fragment.as_ref().is_some_and(|d| d.value),
                        }),
                    )
                }
                Action::Connect(c) => {
                    let v = &c.value;
                    let from = self.machine(&v.from, &names);
                    let to = self.target(&v.to, &names, &aliases, &served, true);
                    let proto = v.proto.as_ref().map_or(Proto::Tcp, |p| p.value);
                    (
                        format!("connect {} -> {} ({proto})", v.from.value, v.to.value),
                        from.zip(to).map(|(from, (to, port))| Op::Connect {
                            from,
                            to,
                            port: port.unwrap_or(0),
                            l4: l4(proto),
                        }),
                    )
                }
                Action::Transfer(t) => {
                    let v = &t.value;
                    let from = self.machine(&v.from, &names);
                    let to = self.target(&v.to, &names, &aliases, &served, true);
                    let bytes = match format::parse_size(&v.bytes.value) {
                        Ok(b) if b > 0 => Some(b),
                        Ok(_) => {
                            self.err(&v.bytes, "a transfer of zero bytes measures nothing", None);
                            None
                        }
                        Err(e) => {
                            self.err(
                                &v.bytes,
                                e,
                                Some("a size such as `10MB`, `64KiB` or `1500`".into()),
                            );
                            None
                        }
                    };
                    (
                        format!("transfer {} {} -> {}", v.bytes.value, v.from.value, v.to.value),
                        from.zip(to)
                            .zip(bytes)
                            .map(|((from, (to, port)), bytes)| Op::Transfer {
                                from,
                                to,
                                port: port.unwrap_or(0),
                                bytes,
                            }),
                    )
                }
                Action::Link(l) => {
                    let v = &l.value;
                    let ends = [v.between.value[0].value.clone(), v.between.value[1].value.clone()];
                    let mut impair = self.impair(&v.latency, &v.jitter, &v.loss, &v.rate, &v.mtu);
                    impair.up = v.state.as_ref().map(|s| s.value == format::LinkState::Up);
                    impair.reorder = v.reorder.as_ref().map(|r| r.value);
                    let mut ok = true;
                    for e in &v.between.value {
                        if !m.has_endpoint(&e.value) {
                            ok = false;
                            self.err(
                                e,
                                format!("'{}' is neither a LAN nor an interface `node.iface`", e.value),
                                Some(
                                    "name a LAN (`office`) or an interface (`host1.eth0`, `api.eth0`)".into(),
                                ),
                            );
                        }
                    }
                    (
                        format!("link {} <-> {}", ends[0], ends[1]),
                        ok.then_some(Op::Link {
                            between: ends,
                            impair,
                        }),
                    )
                }
                Action::Container(c) => {
                    let v = &c.value;
                    let exists = m.containers.iter().any(|x| x.name == v.name.value);
                    if !exists {
                        let known: Vec<String> = m.containers.iter().map(|c| c.name.clone()).collect();
                        self.err(
                            &v.name,
                            format!("unknown container '{}'", v.name.value),
                            nearest(&v.name.value, &known),
                        );
                    }
                    let running = v.state.value == format::ContainerState::Started;
                    (
                        format!(
                            "container {} {}",
                            v.name.value,
                            if running { "start" } else { "stop" }
                        ),
                        exists.then(|| Op::Container {
                            name: v.name.value.clone(),
                            running,
                        }),
                    )
                }
                Action::Wait(w) => (format!("wait {}", w.value), self.duration(w).map(Op::Wait)),
                Action::Exec(e) => {
                    let v = &e.value;
                    self.machine(&v.inside, &names);
                    (
                        format!("exec in {}: {}", v.inside.value, v.run.value),
                        Some(Op::Exec {
                            inside: v.inside.value.clone(),
                            run: v.run.value.clone(),
                        }),
                    )
                }
                Action::Reachability(r) => {
                    let port = match crate::matrix::parse_port(&r.value.port.value) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            self.err(
                                &r.value.port,
                                e,
                                Some("the port to probe: `tcp/80` or `udp/53`".into()),
                            );
                            None
                        }
                    };
                    (
                        format!("reachability {}", r.value.port.value),
                        port.map(|port| Op::Reachability { port }),
                    )
                }
                Action::Resolve(r) => {
                    let v = &r.value;
                    let from = self.machine(&v.from, &names);
                    let valid = netloom_drivers::dns::valid_name(&v.name.value);
                    if !valid {
                        self.err(
                            &v.name,
                            format!("'{}' is not a valid domain name", v.name.value),
                            Some("labels of letters, digits and hyphens, each at most 63 characters".into()),
                        );
                    }
                    (
                        format!("resolve {} from {}", v.name.value, v.from.value),
                        from.filter(|_| valid).map(|from| Op::Resolve {
                            from,
                            name: v.name.value.clone(),
                        }),
                    )
                }
            };
            let title = st.name.as_ref().map_or(title, |n| n.value.clone());
            let expect = self.expectations(&st.action, exp, m);
            if let Some(op) = op {
                out.push(PlannedStep {
                    line: loc.line(),
                    title,
                    op,
                    expect,
                });
            }
        }
        out
    }

    fn machine(&mut self, s: &Spanned<String>, names: &[String]) -> Option<String> {
        if names.contains(&s.value) {
            Some(s.value.clone())
        } else {
            self.err(
                s,
                format!("unknown machine '{}'", s.value),
                nearest(&s.value, names).or_else(|| {
                    Some(format!(
                        "steps run from a container, external, router or host: {}",
                        names.join(", ")
                    ))
                }),
            );
            None
        }
    }

    fn target(
        &mut self,
        s: &Spanned<String>,
        names: &[String],
        aliases: &[String],
        served: &[String],
        need_port: bool,
    ) -> Option<(To, Option<u16>)> {
        let t = match format::parse_target(&s.value) {
            Ok(t) => t,
            Err(e) => {
                self.err(
                    s,
                    e,
                    Some("a name, `name:port`, an address or `address:port`".into()),
                );
                return None;
            }
        };
        if need_port && t.port.is_none() {
            self.err(
                s,
                format!("'{}' has no port", s.value),
                Some(format!("write `{}:80` (the port to connect to)", s.value)),
            );
            return None;
        }
        match t.host {
            TargetHost::Ip(ip) => Some((To::Ip(ip), t.port)),
            TargetHost::Name(n) => {
                if names.contains(&n)
                    || aliases.contains(&n)
                    || n.contains('.')
                    || served.iter().any(|x| x.eq_ignore_ascii_case(&n))
                {
                    Some((To::Name(n), t.port))
                } else {
                    let mut all: Vec<String> = names.to_vec();
                    all.extend(aliases.iter().cloned());
                    all.extend(served.iter().cloned());
                    self.err(
                        s,
                        format!("unknown name '{n}'"),
                        nearest(&n, &all).or_else(|| {
                            Some(
                                "a target is a container, alias, external, router, host, a domain name or an IP \
                                 address (a `resolve` step checks that a name does not resolve)"
                                    .into(),
                            )
                        }),
                    );
                    None
                }
            }
        }
    }

    fn expectations(&mut self, action: &Action, exp: Option<&Spanned<Expect>>, m: &Model) -> Expectations {
        let mut out = Expectations::default();
        let Some(exp) = exp else { return out };
        let e = &exp.value;
        let kind = action.keyword();
        let udp_connect = matches!(action, Action::Connect(c)
            if c.value.proto.as_ref().is_some_and(|p| p.value == Proto::Udp));
        let allowed: &[Outcome] = match kind {
            "ping" => &[Outcome::Reach, Outcome::NoReach],
            "connect" if !udp_connect => &[Outcome::Ok, Outcome::Refused, Outcome::Timeout, Outcome::Closed],
            "connect" | "transfer" => &[Outcome::Ok, Outcome::Refused, Outcome::Timeout],
            "resolve" => &[
                Outcome::Ok,
                Outcome::Nxdomain,
                Outcome::Servfail,
                Outcome::Timeout,
            ],
            _ => &[],
        };
        if let Some(w) = &e.unknown_outcome {
            let words: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let hint = if words.is_empty() {
                format!(
                    "a {kind} step has no result to expect; {}",
                    crate::error::see("steps")
                )
            } else {
                format!(
                    "{}; {}",
                    crate::error::suggest(&w.value, &words, &format!("a {kind} step expects one of")),
                    crate::error::see("steps")
                )
            };
            self.err(w, format!("unknown value '{}'", w.value), Some(hint));
        }
        if let Some(r) = &e.result {
            if allowed.contains(&r.value) {
                out.result = Some(r.value);
            } else {
                let words: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                let hint = if words.is_empty() {
                    format!("a {kind} step has no result to expect")
                } else if udp_connect && r.value == Outcome::Closed {
                    "`closed` is a TCP outcome (a connection that opened, then closed); a udp connect \
                     expects one of: ok, refused, timeout"
                        .to_string()
                } else {
                    format!("a {kind} step expects one of: {}", words.join(", "))
                };
                self.err(
                    r,
                    format!("'{}' is not an outcome of a {kind} step", r.value),
                    Some(hint),
                );
            }
        }
        if let Some(d) = &e.dropped {
            out.dropped = Some(core_reason(d.value));
        }
        if let Some(w) = &e.on_wire {
            let v = &w.value;
            let points = self
                .wire_points
                .get_or_insert_with(|| {
                    netloom_drivers::docker::Lab::build(m, 0)
                        .ok()
                        .map(|lab| lab.wire_points().map(str::to_string).collect())
                })
                .as_ref();
            let known = points.map_or_else(|| m.has_endpoint(&v.at.value), |p| p.contains(&v.at.value));
            if !known {
                let hint = match points {
                    Some(p) => wire_hint(&v.at.value, p),
                    None => "name a LAN (`office`) or an interface (`host1.eth0`, `api.eth0`)".into(),
                };
                self.err(
                    &v.at,
                    format!("'{}' is neither a LAN nor an interface `node.iface`", v.at.value),
                    Some(hint),
                );
            }
            out.on_wire = Some(WireCheck {
                at: v.at.value.clone(),
                src: v.src.as_ref().map(|x| x.value),
                dst: v.dst.as_ref().map(|x| x.value),
                vlan: v.vlan.as_ref().map(|x| x.value),
                vxlan_vni: v.vxlan_vni.as_ref().map(|x| x.value),
                ttl: v.ttl.as_ref().map(|x| x.value),
                proto: v.proto.as_ref().map(|x| format!("{:?}", x.value).to_lowercase()),
            });
        }
        if let Some(r) = &e.max_rtt {
            if kind != "ping" {
                self.err(r, "max_rtt applies to ping steps", None);
            }
            out.max_rtt = self.duration(r);
        }
        if let Some(r) = &e.min_rate {
            if kind != "transfer" {
                self.err(r, "min_rate applies to transfer steps", None);
            }
            match format::parse_rate(&r.value) {
                Ok(v) => out.min_rate = Some(BitRate(v)),
                Err(er) => self.err(r, er, Some("a rate such as `50mbit`".into())),
            }
        }
        if let Some(a) = &e.addresses {
            if kind != "resolve" {
                self.err(a, "'addresses' applies to resolve steps", None);
            }
            if e.result.is_some() {
                self.err(
                    a,
                    "a resolve step expects either addresses or an outcome, not both",
                    Some("keep `addresses` (the name resolves) or `result` (it does not)".into()),
                );
            }
            out.addresses = Some(a.value.iter().map(|x| x.value).collect());
        }
        if let Some(er) = &e.error {
            if kind != "container" {
                self.err(er, "'error' applies to container steps", None);
            }
            out.error = Some(er.value.clone());
        }
        if let Some(x) = &e.exit {
            out.exit = Some(x.value);
        }
        if let Some(x) = &e.stdout {
            out.stdout = Some(x.value.clone());
        }
        if let Some(x) = &e.matrix {
            if kind != "reachability" {
                self.err(x, "'matrix' applies to reachability steps", None);
            }
            // A block scalar's position is where its text starts: table line `n` is
            // `n - 1` lines below it.
            let loc = location_of(x);
            let at = |n: usize| (loc.line() + n as u64 - 1, loc.column());
            match crate::matrix::parse_expected(&x.value) {
                Ok(t) => {
                    let known: Vec<String> = m.containers.iter().map(|c| c.name.clone()).collect();
                    let names =
                        t.to.iter()
                            .map(|n| (n, t.header_line))
                            .chain(t.rows.iter().map(|(s, _, l)| (s, *l)));
                    for (n, line) in names {
                        if !known.contains(n) {
                            let (l, c) = at(line);
                            let hint = nearest(n, &known)
                                .unwrap_or_else(|| "rows and columns are container names".into());
                            self.errs.push(
                                ScenarioError::new(
                                    self.file,
                                    l,
                                    c,
                                    format!("the matrix names '{n}', which is not a container"),
                                )
                                .with_hint(hint),
                            );
                        }
                    }
                    out.matrix = Some(t);
                }
                Err((line, e)) => {
                    let (l, c) = at(line);
                    self.errs.push(
                        ScenarioError::new(self.file, l, c, format!("matrix line {line}: {e}")).with_hint(
                            "a header `- a b c`, then a row per source: its name and a cell per column (`.` \
                             connected, `X` blocked, `R` refused)",
                        ),
                    );
                }
            }
        }
        out
    }
}

pub(crate) fn nearest(name: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(k, name), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| format!("did you mean '{k}'?"))
}

/// The engine's drop reason for a reason written in a scenario file.
fn core_reason(r: format::DropReason) -> netloom_core::DropReason {
    use format::DropReason as F;
    use netloom_core::DropReason as C;
    match r {
        F::NoRoute => C::NoRoute,
        F::TtlExceeded => C::TtlExceeded,
        F::MtuExceeded => C::MtuExceeded,
        F::LinkDown => C::LinkDown,
        F::QueueFull => C::QueueFull,
        F::RandomLoss => C::RandomLoss,
        F::ArpUnresolved => C::ArpUnresolved,
        F::Firewall => C::Firewall,
        F::Policy => C::Policy,
        F::ParentIsolation => C::ParentIsolation,
        F::NetworkIsolation => C::NetworkIsolation,
        F::NoNatMapping => C::NoNatMapping,
        F::PortUnreachable => C::PortUnreachable,
        F::NoListener => C::NoListener,
        F::PortSecurity => C::PortSecurity,
    }
}

/// `macvlan_mode` values, as Docker spells them.
const MACVLAN_MODES: &[(&str, ChildMode)] = &[
    ("bridge", ChildMode::MacvlanBridge),
    ("private", ChildMode::MacvlanPrivate),
    ("vepa", ChildMode::MacvlanVepa),
    ("passthru", ChildMode::MacvlanPassthru),
];

/// `ipvlan_mode` values.
const IPVLAN_MODES: &[(&str, ChildMode)] = &[
    ("l2", ChildMode::IpvlanL2),
    ("l3", ChildMode::IpvlanL3),
    ("l3s", ChildMode::IpvlanL3s),
];

fn macvlan_mode(m: format::MacvlanMode) -> ChildMode {
    match m {
        format::MacvlanMode::Bridge => ChildMode::MacvlanBridge,
        format::MacvlanMode::Private => ChildMode::MacvlanPrivate,
        format::MacvlanMode::Vepa => ChildMode::MacvlanVepa,
        format::MacvlanMode::Passthru => ChildMode::MacvlanPassthru,
    }
}

fn l4(p: Proto) -> L4 {
    match p {
        Proto::Tcp => L4::Tcp,
        Proto::Udp => L4::Udp,
    }
}

/// The valid `on_wire` points, nearest first when one is close to what was written.
fn wire_hint(at: &str, points: &std::collections::BTreeSet<String>) -> String {
    let node = at.split('.').next().unwrap_or(at);
    let mut near: Vec<&str> = points
        .iter()
        .map(String::as_str)
        .filter(|p| p.split('.').next() == Some(node))
        .collect();
    if near.is_empty() {
        near = points.iter().map(String::as_str).collect();
    }
    let shown = near.len().min(24);
    let more = if near.len() > shown {
        format!(" … and {} more", near.len() - shown)
    } else {
        String::new()
    };
    format!("valid points: {}{more}", near[..shown].join(", "))
}
