//! CNI, the Container Network Interface, as data: a network configuration list of the
//! reference plugins (bridge, macvlan, ipvlan, loopback with host-local or static IPAM,
//! chained portmap, bandwidth, firewall, tuning) and the ADD / DEL / CHECK operations a
//! runtime calls, pure (no namespace, no file, no iptables binary): what each ADD
//! would return and which iptables rules the plugins would leave on the node.
//!
//! - [`config`]: parsing with serde_json, every problem at its line and column;
//! - [`ipam`]: host-local's allocator (round-robin after the last reserved address,
//!   gateway skipped, range sets);
//! - [`iptables`]: the plugins' chains (`CNI-<hash>`, `CNI-HOSTPORT-*`, `CNI-DN-<hash>`,
//!   `CNI-FORWARD`/`CNI-ADMIN`) in the order they are programmed.
//!
//! ```
//! use netloom_drivers::cni::CniNetwork;
//! let mut net = CniNetwork::from_conflist(r#"{
//!   "cniVersion": "1.0.0", "name": "demo",
//!   "plugins": [{ "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
//!                 "ipam": { "type": "host-local", "subnet": "10.22.0.0/16" } }]
//! }"#).expect("valid");
//! let r = net.add("c1", "eth0").expect("an address");
//! assert_eq!(r.ips[0].address, "10.22.0.2/16");
//! net.del("c1", "eth0").expect("idempotent");
//! // host-local goes on after the last address it handed out.
//! assert_eq!(net.add("c2", "eth0").expect("an address").ips[0].address, "10.22.0.3/16");
//! ```

pub mod config;
pub mod ipam;
pub mod iptables;
mod sha512;

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::Serialize;

pub use config::{ConfigError, Ipam, NetConfList, PluginKind, PortMapping};
use ipam::RangeSetAlloc;
use iptables::{CniAdd, CniEvent, CniFirewall, RulePlugin};

use crate::docker::iptables::PortBinding;
use crate::net::L4;
use crate::netfilter::Ruleset;

/// An error as a plugin returns it (the spec's error JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{msg}")]
pub struct CniError {
    /// `cniVersion`.
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// The spec's code: 1 incompatible version, 2 unsupported field, 3 unknown
    /// container, 4 invalid environment, 5 I/O, 6 decoding, 7 invalid configuration,
    /// 11 try again later, 999 (`ErrInternal`) for a plugin's own failure.
    pub code: u32,
    /// The message.
    pub msg: String,
    /// More detail.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    /// The error JSON the plugin prints on stdout.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// An ADD's result (spec 1.0.0 format; results of 0.3.x/0.4.0 configurations carry
/// their addresses' `version` as those versions do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CniResult {
    /// `cniVersion`.
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// Interfaces created (host side and container side).
    pub interfaces: Vec<CniInterface>,
    /// Addresses, each naming its interface by index.
    pub ips: Vec<CniIp>,
    /// Routes in the container.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<CniRoute>,
    /// DNS settings passed through.
    #[serde(skip_serializing_if = "is_empty_dns")]
    pub dns: config::Dns,
}

fn is_empty_dns(d: &config::Dns) -> bool {
    *d == config::Dns::default()
}

impl CniResult {
    /// The result JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The container's first IPv4 address with its prefix.
    pub fn addr(&self) -> Option<Ipv4Net> {
        self.ips.first().and_then(|i| i.address.parse().ok())
    }
}

/// One interface of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CniInterface {
    /// Its name.
    pub name: String,
    /// Its MAC.
    pub mac: String,
    /// MTU when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The container's network namespace path (container side only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// One address of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CniIp {
    /// `"4"` in results of versions 0.3.x and 0.4.0 (gone in 1.0.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `10.88.0.2/16`.
    pub address: String,
    /// The gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    pub interface: usize,
}

/// One route of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CniRoute {
    /// Destination.
    pub dst: String,
    /// Next hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// One container attached by ADD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// What ADD returned.
    pub result: CniResult,
    /// portmap's mappings for it.
    pub ports: Vec<PortBinding>,
}

/// A CNI network on one node: its configuration, host-local's store and the
/// containers ADDed, in order.
#[derive(Clone, Debug)]
pub struct CniNetwork {
    /// The configuration.
    pub config: NetConfList,
    /// Its IPAM, checked.
    pub ipam: Option<Ipam>,
    allocs: Vec<RangeSetAlloc>,
    attachments: Vec<Attachment>,
    /// Every ADD and DEL, for the rules: chains the plugins never delete
    /// (CNI-HOSTPORT-*, CNI-FORWARD) stay once made.
    history: Vec<CniEvent>,
}

impl CniNetwork {
    /// A network from the text of a `.conflist` or `.conf`.
    ///
    /// # Errors
    /// The first problem, placed at its line and column.
    pub fn from_conflist(text: &str) -> Result<CniNetwork, ConfigError> {
        let config = NetConfList::parse(text)?;
        let ipam = config.ipam(text)?;
        let allocs = match &ipam {
            Some(Ipam::HostLocal { range_sets, .. }) => range_sets
                .iter()
                .map(|r| RangeSetAlloc {
                    ranges: r.clone(),
                    ..RangeSetAlloc::default()
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(CniNetwork {
            config,
            ipam,
            allocs,
            attachments: Vec::new(),
            history: Vec::new(),
        })
    }

    fn error(&self, code: u32, msg: String) -> CniError {
        CniError {
            cni_version: self.config.cni_version.clone(),
            code,
            msg,
            details: String::new(),
        }
    }

    /// The containers attached, in ADD order.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// ADD with the port mappings of the configuration's `runtimeConfig` (if any).
    ///
    /// # Errors
    /// As the plugins fail: a container already attached on that interface, host-local
    /// out of addresses (`failed to allocate for range 0: no IP addresses available in
    /// range set: …`).
    pub fn add(&mut self, container_id: &str, ifname: &str) -> Result<CniResult, CniError> {
        let ports = self
            .config
            .plugin(&PluginKind::Portmap)
            .and_then(|p| p.raw.runtime_config.as_ref())
            .map(|c| c.port_mappings.iter().filter_map(binding).collect())
            .unwrap_or_default();
        self.add_with_ports(container_id, ifname, ports)
    }

    /// ADD with these port mappings (the runtime's `portMappings` capability).
    ///
    /// # Errors
    /// As [`CniNetwork::add`].
    pub fn add_with_ports(
        &mut self,
        container_id: &str,
        ifname: &str,
        ports: Vec<PortBinding>,
    ) -> Result<CniResult, CniError> {
        if container_id.is_empty() {
            return Err(self.error(4, "required env variables [CNI_CONTAINERID] missing".into()));
        }
        let Some(main) = self.config.main().cloned() else {
            return Err(self.error(7, "no interface plugin".into()));
        };
        if self
            .attachments
            .iter()
            .any(|a| a.container_id == container_id && a.ifname == ifname)
        {
            // host-local refuses a second allocation for the same id and interface.
            let held = self
                .allocs
                .iter()
                .find_map(|a| a.held_by(container_id, ifname))
                .map_or_else(String::new, |a| a.to_string());
            return Err(self.error(
                999,
                format!("failed to allocate for range 0: {held} has been allocated to {container_id}, duplicate allocation is not allowed"),
            ));
        }
        // IPAM.
        let mut ips: Vec<(Ipv4Net, Option<Ipv4Addr>)> = Vec::new();
        let mut routes = Vec::new();
        match &self.ipam {
            Some(Ipam::HostLocal { routes: r, .. }) => {
                for idx in 0..self.allocs.len() {
                    match self.allocs[idx].get(container_id, ifname) {
                        Some((net, gw)) => ips.push((net, Some(gw))),
                        None => {
                            for a in &mut self.allocs {
                                a.release(container_id, ifname);
                            }
                            let set = self.allocs[idx].describe();
                            return Err(self.error(
                                999,
                                format!("failed to allocate for range {idx}: no IP addresses available in range set: {set}"),
                            ));
                        }
                    }
                }
                routes.clone_from(r);
            }
            Some(Ipam::Static { addresses, routes: r }) => {
                ips.extend(addresses.iter().copied());
                routes.clone_from(r);
            }
            None => {}
        }
        let raw = &main.raw;
        let id_hash = sha512::hex(container_id.as_bytes());
        let mac = |salt: u8| -> String {
            let d = sha512::digest(format!("{salt}{container_id}").as_bytes());
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                (d[0] & 0xfe) | 0x02,
                d[1],
                d[2],
                d[3],
                d[4],
                d[5]
            )
        };
        let tuning = self.config.plugin(&PluginKind::Tuning).map(|t| t.raw.clone());
        let container_mac = tuning
            .as_ref()
            .and_then(|t| t.mac.clone())
            .unwrap_or_else(|| mac(2));
        let mtu = tuning.as_ref().and_then(|t| t.mtu).or(raw.mtu);
        let sandbox = format!("/var/run/netns/cni-{}", &id_hash[..8]);
        let mut interfaces = Vec::new();
        // The container's interface follows the bridge and the host veth.
        let container_index = if main.kind == PluginKind::Bridge { 2 } else { 0 };
        if main.kind == PluginKind::Bridge {
            interfaces.push(CniInterface {
                name: raw.bridge.clone().unwrap_or_else(|| "cni0".into()),
                mac: mac(0),
                mtu: None,
                sandbox: String::new(),
            });
            interfaces.push(CniInterface {
                name: format!("veth{}", &id_hash[..8]),
                mac: mac(1),
                mtu: None,
                sandbox: String::new(),
            });
        }
        interfaces.push(CniInterface {
            name: ifname.to_string(),
            mac: container_mac,
            mtu,
            sandbox,
        });
        let mut result_routes: Vec<CniRoute> = Vec::new();
        let gw_of = |ips: &[(Ipv4Net, Option<Ipv4Addr>)]| ips.first().and_then(|(_, g)| *g);
        if main.kind == PluginKind::Bridge
            && raw.is_default_gateway
            && let Some(g) = gw_of(&ips)
        {
            result_routes.push(CniRoute {
                dst: "0.0.0.0/0".into(),
                gw: Some(g.to_string()),
            });
        }
        for r in &routes {
            result_routes.push(CniRoute {
                dst: r.dst.to_string(),
                gw: r.gw.map(|g| g.to_string()),
            });
        }
        let dns = raw
            .dns
            .clone()
            .or_else(|| raw.ipam.as_ref().and_then(|i| i.dns.clone()))
            .unwrap_or_default();
        let result = CniResult {
            cni_version: self.config.cni_version.clone(),
            interfaces,
            ips: ips
                .iter()
                .map(|(a, g)| CniIp {
                    version: (self.config.cni_version.starts_with("0.3")
                        || self.config.cni_version.starts_with("0.4"))
                    .then(|| "4".to_string()),
                    address: a.to_string(),
                    gateway: g.map(|g| g.to_string()),
                    interface: container_index,
                })
                .collect(),
            routes: result_routes,
            dns,
        };
        let ports = if self.config.plugin(&PluginKind::Portmap).is_some() {
            ports
        } else {
            Vec::new()
        };
        if let Some((addr, _)) = ips.first() {
            let add = CniAdd {
                bridge: if main.kind == PluginKind::Bridge {
                    raw.bridge.clone().unwrap_or_else(|| "cni0".into())
                } else {
                    String::new()
                },
                network: self.config.name.clone(),
                container_id: container_id.to_string(),
                addr: *addr,
                plugins: self.rule_plugins(),
                ports: ports.clone(),
            };
            self.history.push(CniEvent::Add(add));
        }
        self.attachments.push(Attachment {
            container_id: container_id.to_string(),
            ifname: ifname.to_string(),
            result: result.clone(),
            ports,
        });
        Ok(result)
    }

    /// The plugins of this chain that program iptables rules, in order.
    pub fn rule_plugins(&self) -> Vec<RulePlugin> {
        let mut out = Vec::new();
        for p in &self.config.plugins {
            match p.kind {
                PluginKind::Bridge if p.raw.ip_masq => out.push(RulePlugin::IpMasq),
                PluginKind::Portmap => out.push(RulePlugin::Portmap {
                    snat: p.raw.snat.unwrap_or(true),
                    mark_bit: p.raw.mark_masq_bit.unwrap_or(13),
                }),
                PluginKind::Firewall => out.push(RulePlugin::Firewall {
                    ingress: p
                        .raw
                        .ingress_policy
                        .as_deref()
                        .and_then(iptables::IngressPolicy::parse)
                        .unwrap_or_default(),
                    admin: p
                        .raw
                        .iptables_admin_chain_name
                        .clone()
                        .unwrap_or_else(|| "CNI-ADMIN".into()),
                }),
                _ => {}
            }
        }
        out
    }

    /// DEL: frees the address (host-local keeps its last reserved address, so the
    /// next ADD goes on after it) and removes the container's rules. Idempotent: a
    /// container never added is not an error, as the spec requires.
    ///
    /// # Errors
    /// None today; the signature is the spec's.
    pub fn del(&mut self, container_id: &str, ifname: &str) -> Result<(), CniError> {
        for a in &mut self.allocs {
            a.release(container_id, ifname);
        }
        let was = self
            .attachments
            .iter()
            .any(|a| a.container_id == container_id && a.ifname == ifname);
        self.attachments
            .retain(|a| !(a.container_id == container_id && a.ifname == ifname));
        if was {
            let last = self.history.iter().rev().find_map(|e| match e {
                CniEvent::Add(a) if a.container_id == container_id => Some(a.clone()),
                _ => None,
            });
            if let Some(a) = last {
                self.history.push(CniEvent::Del(a));
            }
        }
        Ok(())
    }

    /// CHECK: the container is attached with the result given (its `prevResult`).
    ///
    /// # Errors
    /// Code 3 when the container was never added (or was deleted), 999 when its
    /// addresses differ from `prev` (host-local's `Failed to find address added by
    /// container`), 7 when the configuration disables CHECK.
    pub fn check(&self, container_id: &str, ifname: &str, prev: &CniResult) -> Result<(), CniError> {
        if self.config.disable_check {
            return Err(self.error(7, "CHECK is disabled for this network (disableCheck)".into()));
        }
        let Some(a) = self
            .attachments
            .iter()
            .find(|a| a.container_id == container_id && a.ifname == ifname)
        else {
            return Err(self.error(
                3,
                format!("container {container_id} (interface {ifname}) is unknown: never added, or deleted"),
            ));
        };
        for ip in &prev.ips {
            if !a.result.ips.iter().any(|x| x.address == ip.address) {
                return Err(self.error(
                    999,
                    format!("host-local: Failed to find address added by container {container_id}"),
                ));
            }
        }
        if a.result.interfaces != prev.interfaces || a.result.routes != prev.routes {
            return Err(self.error(
                999,
                format!("interfaces or routes of container {container_id} differ from the previous result"),
            ));
        }
        Ok(())
    }

    /// The iptables rules the plugins left on the node (IPv4), as `iptables-save`
    /// would print them with [`Ruleset::save`].
    pub fn ruleset(&self) -> Ruleset {
        iptables::ruleset_v4(&CniFirewall {
            events: self.history.clone(),
        })
    }
}

/// A `portMappings` entry as a port binding (`None` for one the checks refused).
pub fn binding(m: &PortMapping) -> Option<PortBinding> {
    let host_port = u16::try_from(m.host_port).ok().filter(|p| *p > 0)?;
    let container_port = u16::try_from(m.container_port).ok().filter(|p| *p > 0)?;
    Some(PortBinding {
        l4: if m.protocol.eq_ignore_ascii_case("udp") {
            L4::Udp
        } else {
            L4::Tcp
        },
        host_ip: if m.host_ip.is_empty() {
            None
        } else {
            m.host_ip.parse::<IpAddr>().ok()
        },
        host_port,
        container_port,
    })
}

/// The container id netloom gives container `name` (64 hex digits, as runtimes'
/// ids are): the first half of SHA-512 of `netloom/NAME`.
pub fn container_id(name: &str) -> String {
    let mut h = sha512::hex(format!("netloom/{name}").as_bytes());
    h.truncate(64);
    h
}
