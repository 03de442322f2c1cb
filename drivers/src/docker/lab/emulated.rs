//! Machines left to real network namespaces under emulation: in the fabric a
//! [`TapPort`] takes the place of their namespace model; this module records what the
//! real one needs (interfaces, addresses, routes, resolver, listeners), and lets the
//! Docker host answer their DNS queries on their network's gateway address.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netloom_core::ElemId;

use super::Lab;
use crate::dns::ResolvConf;
use crate::docker::Driver;
use crate::host::Listen;
use crate::net::Mac;
use crate::router::Node;
use crate::tap::TapPort;

/// One interface of a real machine.
#[derive(Clone, Debug)]
pub struct EmuIface {
    /// Its name inside the namespace (`eth0`).
    pub name: String,
    /// Its MAC.
    pub mac: Mac,
    /// IPv4 addresses.
    pub v4: Vec<Ipv4Net>,
    /// IPv6 addresses.
    pub v6: Vec<Ipv6Net>,
    /// MTU.
    pub mtu: u32,
    /// No ARP on it (an ipvlan l3 child): `ip link set … arp off`.
    pub noarp: bool,
}

/// A machine to create as a real network namespace.
#[derive(Clone, Debug)]
pub struct EmuMachine {
    /// The container or external's name.
    pub name: String,
    /// The [`TapPort`] standing for it; port `i` is `ifaces[i]`.
    pub element: ElemId,
    /// Its interfaces.
    pub ifaces: Vec<EmuIface>,
    /// Routes beyond the connected ones: destination, gateway (`None` = on-link,
    /// `dev` only), interface index.
    pub routes: Vec<(IpNet, Option<IpAddr>, usize)>,
    /// Its resolv.conf.
    pub resolv: ResolvConf,
    /// Echo listeners to run inside.
    pub listens: Vec<Listen>,
    /// Records to serve on UDP port 53 (an external's `dns_records`).
    pub zone: Option<crate::dns::Zone>,
    /// Docker's embedded DNS to serve at 127.0.0.11 inside the namespace, as Docker
    /// does: for a container whose network's gateway is not its Docker host (macvlan,
    /// ipvlan, overlay), which no host-side server can answer for. Its directory is
    /// the lab's at start; the server reads the live one ([`Lab::live_directory`]).
    pub embedded: Option<crate::router::Embedded>,
    /// `/etc/hosts` entries beyond localhost (`extra_hosts`), in order.
    pub hosts: Vec<(String, IpAddr)>,
}

impl Lab {
    /// The machines left to real namespaces, in model order.
    pub fn emulated(&self) -> &[EmuMachine] {
        &self.emu
    }

    /// Installs `node` in slot `id`, or, when `name` is emulated, records it as an
    /// [`EmuMachine`] and installs a [`TapPort`] in its place. `ci` is the container's
    /// index (for DNS).
    pub(super) fn install_machine(&mut self, id: ElemId, node: Node, name: &str, ci: Option<usize>) {
        if !self.emulated.contains(name) {
            self.install(id, node);
            return;
        }
        let ifaces: Vec<EmuIface> = node
            .ifaces()
            .iter()
            .enumerate()
            .map(|(p, i)| EmuIface {
                name: i.name.clone(),
                mac: i.mac,
                v4: i.v4.clone(),
                v6: i.v6.clone(),
                mtu: i.mtu,
                noarp: node.is_noarp(p as netloom_core::PortId),
            })
            .collect();
        let connected = |r: &crate::router::Route| {
            node.ifaces().get(r.port as usize).is_some_and(|i| {
                i.v4.iter().any(|a| IpNet::V4(a.trunc()) == r.net)
                    || i.v6.iter().any(|a| IpNet::V6(a.trunc()) == r.net)
            })
        };
        let routes = node
            .routes()
            .iter()
            .filter(|r| r.via.is_some() || !connected(r))
            .map(|r| (r.net, r.via, r.port as usize))
            .collect();
        let mut resolv = node.apps.dns.resolv.clone();
        if let (Some(ci), Some(emb)) = (ci, node.apps.dns.embedded.clone()) {
            // The real namespace's resolver asks the network's gateway, where the
            // Docker host answers for the container with its embedded server.
            let gateway = self.resolved.endpoints[ci].iter().find_map(|e| {
                let n = &self.resolved.networks[e.network];
                (!n.default_bridge && n.driver == Driver::Bridge)
                    .then_some(n.v4.map(|(_, g)| IpAddr::V4(g)))
                    .flatten()
            });
            resolv.nameservers = gateway.into_iter().collect();
            let host = self.resolved.model.containers[ci]
                .host
                .clone()
                .unwrap_or_else(|| self.resolved.model.default_host());
            let addrs: Vec<IpAddr> = self.resolved.endpoints[ci]
                .iter()
                .flat_map(|e| e.v4.map(IpAddr::V4).into_iter().chain(e.v6.map(IpAddr::V6)))
                .collect();
            if let Some(&hid) = self.nodes.get(&host)
                && let Some(h) = self.fabric.element_mut::<Node>(hid)
            {
                for a in addrs {
                    h.apps.dns.proxied.insert(a, emb.clone());
                }
            }
        }
        let mut embedded = None;
        if ci.is_some() && node.apps.dns.embedded.is_some() && resolv.nameservers.is_empty() {
            // Served inside the namespace, at Docker's own address.
            resolv.nameservers = vec![IpAddr::V4(crate::dns::EMBEDDED)];
            embedded = node.apps.dns.embedded.clone();
        }
        let names = ifaces.iter().map(|i| i.name.clone()).collect();
        self.emu.push(EmuMachine {
            name: name.to_string(),
            element: id,
            ifaces,
            routes,
            resolv,
            listens: node.listens().to_vec(),
            zone: node.apps.dns.zone.clone(),
            embedded,
            hosts: node.apps.dns.hosts.clone(),
        });
        self.fabric.replace_element(id, Box::new(TapPort::new(names)));
    }
}
