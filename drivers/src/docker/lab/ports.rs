//! Host ports: what docker-proxy binds for published ports, and what containers on the
//! host network listen on. Two owners of one port on one host conflict the way Linux
//! `bind()` does: the later start fails with "address already in use".

use std::net::IpAddr;

use super::Lab;
use crate::docker::Driver;
use crate::net::L4;
use crate::router::Node;

impl Lab {
    /// Starts every container in file order, as `docker compose up` does: published
    /// ports are bound on the host, host-network containers bind their listeners; a
    /// start that conflicts leaves the container stopped, its error kept.
    pub(super) fn start_all(&mut self) {
        // A passthru parent takes one child: the later ones fail to start.
        let late: Vec<String> = self
            .passthru
            .values()
            .flat_map(|h| h.iter().skip(1).cloned())
            .collect();
        for name in late {
            self.start_errors.insert(
                name.clone(),
                "failed to create the macvlan port: invalid argument (a passthru parent takes one child)"
                    .into(),
            );
            self.running.insert(name.clone(), false);
            for l in self.container_links.get(&name).cloned().unwrap_or_default() {
                self.fabric.link_config_mut(l).up = false;
            }
        }
        for ci in 0..self.resolved.model.containers.len() {
            let name = self.resolved.model.containers[ci].name.clone();
            if self.start_errors.contains_key(&name) {
                continue;
            }
            if self.resolved.published[ci].is_empty() && !self.host_net.contains_key(&name) {
                continue;
            }
            if let Err(e) = self.bind_ports(ci) {
                self.set_published(&name, false);
                self.start_errors.insert(name.clone(), e);
                self.running.insert(name.clone(), false);
                if let Some(links) = self.container_links.get(&name).cloned() {
                    for l in links {
                        self.fabric.link_config_mut(l).up = false;
                    }
                }
            }
        }
    }

    /// Binds the host ports container number `ci` needs: its listeners when it is on the
    /// host network, else its published ports (docker-proxy).
    ///
    /// # Errors
    /// The conflict, as Docker reports it; nothing is bound then.
    pub(super) fn bind_ports(&mut self, ci: usize) -> Result<(), String> {
        let Some(c) = self.resolved.model.containers.get(ci).cloned() else {
            return Err(format!("unknown container #{ci}"));
        };
        let name = c.name.as_str();
        let host = c
            .host
            .clone()
            .unwrap_or_else(|| self.resolved.model.default_host());
        let wanted: Vec<(L4, Option<IpAddr>, u16, String)> = if self.host_net.contains_key(name) {
            c.listen
                .iter()
                .map(|l| {
                    let shown = l.addr.map_or("0.0.0.0".to_string(), |a| a.to_string());
                    (
                        l.l4,
                        l.addr,
                        l.port,
                        format!("listen {} {shown}:{}: bind", l.l4.name(), l.port),
                    )
                })
                .collect()
        } else if self.gateway_routed(ci) || !self.gateway_publishes(ci) {
            // gateway_mode_ipv4 routed: Docker's port mapper maps no host port (it sets
            // it to 0) and starts no docker-proxy; the container port is opened in the
            // filter only.
            Vec::new()
        } else {
            let to = self.gateway_endpoint(ci).and_then(|e| e.v4);
            self.resolved.published[ci]
                .iter()
                .map(|&(ip, hp, cp, l4)| {
                    let shown = ip.map_or("0.0.0.0".to_string(), |a| a.to_string());
                    let target = to.map_or(String::new(), |t| format!(":{t}:{cp}"));
                    (
                        l4,
                        ip,
                        hp,
                        format!(
                            "driver failed programming external connectivity on endpoint {name}: failed to bind \
                             host port for {shown}:{hp}{target}/{}",
                            l4.name()
                        ),
                    )
                })
                .collect()
        };
        for (l4, addr, port, what) in &wanted {
            // Two binds of one port clash when either is on every address or both on
            // the same one, as bind() without SO_REUSEPORT does.
            let clash = self.bound.get(&(host.clone(), *l4, *port)).and_then(|v| {
                v.iter()
                    .find(|(a, owner)| owner != name && crate::docker::binds_overlap(*a, *addr))
            });
            if let Some((_, owner)) = clash {
                let holder = if self.host_net.contains_key(owner) {
                    format!("container '{owner}' on the host network listens there")
                } else {
                    format!("docker-proxy holds it for container '{owner}'")
                };
                return Err(format!(
                    "{what}: address already in use ({}/{port} on host {host}: {holder})",
                    l4.name()
                ));
            }
        }
        for (l4, addr, port, _) in &wanted {
            self.bound
                .entry((host.clone(), *l4, *port))
                .or_default()
                .push((*addr, name.to_string()));
        }
        if self.host_net.contains_key(name)
            && let Some(id) = self.nodes.get(name).copied()
        {
            let now = self.fabric.now();
            if let Some(n) = self.fabric.element_mut::<Node>(id) {
                for l in &c.listen {
                    n.add_listen(*l, now);
                }
            }
        }
        Ok(())
    }

    /// Releases the host ports of container `name` (and a host-network container's
    /// listeners).
    pub(super) fn unbind_ports(&mut self, name: &str) {
        for v in self.bound.values_mut() {
            v.retain(|(_, owner)| owner != name);
        }
        self.bound.retain(|_, v| !v.is_empty());
        if self.host_net.contains_key(name)
            && let Some(c) = self
                .resolved
                .model
                .containers
                .iter()
                .find(|c| c.name == name)
                .cloned()
            && let Some(id) = self.nodes.get(name).copied()
            && let Some(n) = self.fabric.element_mut::<Node>(id)
        {
            for l in &c.listen {
                n.remove_listen(*l);
            }
        }
    }

    /// Whether container `ci`'s gateway endpoint publishes ports at all: only the bridge
    /// driver maps them. The macvlan and ipvlan drivers log "macvlan driver does not
    /// support port mappings" (ipvlan likewise) and ignore `-p`: no DNAT, no
    /// docker-proxy (moby `drivers/macvlan/macvlan_endpoint.go`, `CreateEndpoint`).
    pub(super) fn gateway_publishes(&self, ci: usize) -> bool {
        self.gateway_endpoint(ci)
            .is_some_and(|ep| self.resolved.networks[ep.network].driver == Driver::Bridge)
    }

    /// Whether container `ci`'s gateway endpoint is on a network in routed gateway mode.
    pub(super) fn gateway_routed(&self, ci: usize) -> bool {
        self.gateway_endpoint(ci)
            .is_some_and(|ep| self.routed_networks.contains(&ep.network))
    }

    /// Installs or removes the published-port (DNAT) rules of container `name`, as
    /// Docker does when it starts or stops.
    pub(super) fn set_published(&mut self, name: &str, on: bool) {
        let Some(rules) = self.dnat_rules.get(name).cloned() else {
            return;
        };
        let Some(c) = self.resolved.model.containers.iter().find(|c| c.name == name) else {
            return;
        };
        let host = c
            .host
            .clone()
            .unwrap_or_else(|| self.resolved.model.default_host());
        let Some(id) = self.nodes.get(&host).copied() else {
            return;
        };
        let Some(n) = self.fabric.element_mut::<Node>(id) else {
            return;
        };
        n.apps
            .published
            .retain(|r| !rules.iter().any(|x| x.label == r.label));
        if on {
            n.apps.published.extend(rules);
        }
        // Docker starts docker-proxy with the port mapping and kills it with it.
        n.sync_proxy();
    }
}
