//! The rules each machine's netfilter holds: Docker's (generated from the host's bridge
//! networks, running containers and published ports) followed by the user's
//! (`firewall:`), and a router's masquerade.

use super::Lab;
use crate::cni::iptables::{CniAdd, CniEvent, CniFirewall};
use crate::docker::iptables::{self, BridgeNet, DockerFirewall, Endpoint, PortBinding};
use crate::docker::{Driver, UserRule};
use crate::netfilter::{Neg, Rule, Ruleset, TableId, Target};
use crate::router::Node;

impl Lab {
    /// Container `ci`'s published ports as the rule generators take them.
    fn port_bindings(&self, ci: usize) -> Vec<PortBinding> {
        self.resolved.published[ci]
            .iter()
            .map(|&(host_ip, host_port, container_port, l4)| PortBinding {
                l4,
                host_ip,
                host_port,
                container_port,
            })
            .collect()
    }

    /// Whether `host` is a CNI node: one of its networks is a CNI plugin's (`cni:`).
    pub fn is_cni_host(&self, host: &str) -> bool {
        self.resolved.networks.iter().any(|n| {
            n.host == host
                && self
                    .resolved
                    .model
                    .networks
                    .iter()
                    .any(|d| d.name == n.name && d.cni.is_some())
        })
    }

    /// What the CNI plugins' rules on `host` depend on: one ADD per running
    /// container's attachment to a CNI network, in start order.
    pub(super) fn cni_firewall(&self, host: &str) -> Option<CniFirewall> {
        if !self.is_cni_host(host) {
            return None;
        }
        let mut adds: Vec<(u64, CniAdd)> = Vec::new();
        let on_host = self.containers_of.get(host).map_or(&[][..], Vec::as_slice);
        for &ci in on_host {
            let Some(c) = self.resolved.model.containers.get(ci) else {
                continue;
            };
            if !self.running.get(&c.name).copied().unwrap_or(true) || self.start_errors.contains_key(&c.name)
            {
                continue;
            }
            let Some(eps) = self.resolved.endpoints.get(ci) else {
                continue;
            };
            let gw = self.gateway_endpoint_index(ci);
            for (ei, e) in eps.iter().enumerate() {
                let Some(n) = self.resolved.networks.get(e.network) else {
                    continue;
                };
                let Some(def) = self
                    .resolved
                    .model
                    .networks
                    .iter()
                    .find(|d| d.name == n.name)
                    .and_then(|d| d.cni.as_ref())
                else {
                    continue;
                };
                let (Some(v4), Some((subnet, _))) = (e.v4, n.v4) else {
                    continue;
                };
                let Ok(addr) = ipnet::Ipv4Net::new(v4, subnet.prefix_len()) else {
                    continue;
                };
                let ports = if gw == Some(ei) && n.driver == Driver::Bridge {
                    self.port_bindings(ci)
                } else {
                    Vec::new()
                };
                let seq = self.start_seq.get(&c.name).copied().unwrap_or(ci as u64) * 64 + ei as u64;
                adds.push((
                    seq,
                    CniAdd {
                        bridge: if n.driver == Driver::Bridge {
                            n.device.clone()
                        } else {
                            String::new()
                        },
                        network: def.name.clone(),
                        container_id: crate::cni::container_id(&c.name),
                        addr,
                        plugins: def.plugins.clone(),
                        ports,
                    },
                ));
            }
        }
        adds.sort_by_key(|(s, _)| *s);
        Some(CniFirewall {
            events: adds.into_iter().map(|(_, a)| CniEvent::Add(a)).collect(),
        })
    }

    /// What Docker's rules on `host` depend on: its bridge networks in creation order
    /// (the default bridge first) and the endpoints and published ports of its running
    /// containers, in start order.
    pub(super) fn docker_firewall(&self, host: &str) -> Option<DockerFirewall> {
        let hi = *self.host_index.get(host)?;
        let h = self.resolved.model.hosts.get(hi)?;
        let mut networks = Vec::new();
        for (ni, n) in self.resolved.networks.iter().enumerate() {
            if n.driver != Driver::Bridge || n.host != host {
                continue;
            }
            let mode = if self.routed_networks.contains(&ni) {
                crate::docker::GatewayMode::Routed
            } else {
                self.resolved
                    .model
                    .networks
                    .iter()
                    .find(|d| d.name == n.name)
                    .map(|d| d.gateway_mode)
                    .unwrap_or_default()
            };
            // docker0 and docker_gwbridge have no NetworkDef: they masquerade (the
            // daemon's `ip-masq`, default true, is not modelled).
            let masquerade = self
                .resolved
                .model
                .networks
                .iter()
                .find(|d| d.name == n.name && !n.default_bridge)
                .is_none_or(|d| d.masquerade);
            let mut endpoints = Vec::new();
            let on_host = self.containers_of.get(host).map_or(&[][..], Vec::as_slice);
            for &ci in on_host {
                let Some(c) = self.resolved.model.containers.get(ci) else {
                    continue;
                };
                if !self.running.get(&c.name).copied().unwrap_or(true)
                    || self.start_errors.contains_key(&c.name)
                {
                    continue;
                }
                let Some(eps) = self.resolved.endpoints.get(ci) else {
                    continue;
                };
                let gw = self.gateway_endpoint_index(ci);
                for (ei, e) in eps.iter().enumerate() {
                    if e.network != ni {
                        continue;
                    }
                    let ports = if gw == Some(ei) {
                        self.port_bindings(ci)
                    } else {
                        Vec::new()
                    };
                    endpoints.push(Endpoint {
                        v4: e.v4,
                        v6: e.v6,
                        ports,
                        seq: self.start_seq.get(&c.name).copied().unwrap_or(ci as u64) * 64 + ei as u64,
                    });
                }
            }
            networks.push(BridgeNet {
                device: n.device.clone(),
                v4: n.v4.map(|(s, _)| s),
                v6: n.v6.map(|(s, _)| s),
                icc: n.icc,
                internal: n.internal,
                gateway_mode: mode,
                masquerade,
                endpoints,
            });
        }
        Some(DockerFirewall {
            version: h.daemon.version,
            userland_proxy: h.daemon.userland_proxy,
            networks,
        })
    }

    /// The IPv4 and IPv6 rulesets of machine `name` (a Docker host or a router): Docker's
    /// rules, then the user's appended in file order. `None` for other machines.
    pub fn rulesets(&self, name: &str) -> Option<(Ruleset, Ruleset)> {
        if let Some(fw) = self.cni_firewall(name) {
            let mut v4 = crate::cni::iptables::ruleset_v4(&fw);
            let mut v6 = Ruleset::default();
            let hi = *self.host_index.get(name)?;
            add_user_rules(&mut v4, &mut v6, &self.resolved.model.hosts[hi].firewall);
            return Some((v4, v6));
        }
        if let Some(fw) = self.docker_firewall(name) {
            let mut v4 = iptables::ruleset_v4(&fw);
            let mut v6 = iptables::ruleset_v6(&fw);
            let hi = *self.host_index.get(name)?;
            let host = &self.resolved.model.hosts[hi];
            if host.daemon.forward_drop {
                // `iptables -P FORWARD DROP` (and ip6tables), as Docker sets it when it
                // enables forwarding itself.
                for r in [&mut v4, &mut v6] {
                    r.table_mut(TableId::Filter).chain_mut("FORWARD").policy = Some(false);
                }
            }
            add_user_rules(&mut v4, &mut v6, &host.firewall);
            return Some((v4, v6));
        }
        let r = self.resolved.model.routers.iter().find(|r| r.name == name)?;
        let mut v4 = Ruleset::default();
        let mut v6 = Ruleset::default();
        if let Some(out) = &r.masquerade {
            let rule = Rule {
                out_if: Some(Neg::is(out.clone())),
                ..Rule::jump(Target::Masquerade)
            };
            v4.append(TableId::Nat, "POSTROUTING", rule.clone());
            v6.append(TableId::Nat, "POSTROUTING", rule);
        }
        add_user_rules(&mut v4, &mut v6, &r.firewall);
        Some((v4, v6))
    }

    /// Installs machine `name`'s rules into its netfilter (after any change of what
    /// they depend on: a container started or stopped).
    pub(super) fn install_rules(&mut self, name: &str) {
        let Some((v4, v6)) = self.rulesets(name) else {
            return;
        };
        let Some(id) = self.node(name) else { return };
        let Some(node) = self.fabric.element_mut::<Node>(id) else {
            return;
        };
        let names: Vec<String> = node.ifaces().iter().map(|i| i.name.clone()).collect();
        let mut nf = node.nf.borrow_mut();
        nf.set_ifnames(names);
        nf.set_rules(v4, v6);
    }

    /// [`Lab::install_rules`] for every Docker host and router.
    pub(super) fn install_all_rules(&mut self) {
        let names: Vec<String> = self
            .resolved
            .model
            .hosts
            .iter()
            .map(|h| h.name.clone())
            .chain(self.resolved.model.routers.iter().map(|r| r.name.clone()))
            .collect();
        for n in names {
            self.install_rules(&n);
        }
    }

    /// The `n` most recently used connections of machine `name`'s conntrack table, as
    /// `conntrack -L` prints them (empty for machines that track nothing).
    pub fn conntrack(&self, name: &str, n: usize) -> Vec<String> {
        let now = self.fabric.now();
        self.node(name)
            .and_then(|id| self.fabric.element::<Node>(id))
            .map(|node| node.nf.borrow().ct.list_recent(now, n))
            .unwrap_or_default()
    }

    /// `iptables-save` of machine `name`'s IPv4 tables (raw, nat, filter), without
    /// counters, as `netloom iptables FILE --host NAME` prints it.
    pub fn iptables_save(&self, name: &str) -> Option<String> {
        self.rulesets(name).map(|(v4, _)| v4.save())
    }
}

/// Appends the user's rules to the filter table of the family their addresses name
/// (both when they name none).
fn add_user_rules(v4: &mut Ruleset, v6: &mut Ruleset, rules: &[UserRule]) {
    for u in rules {
        let fam = [&u.rule.src, &u.rule.dst, &u.rule.ctorigdst]
            .into_iter()
            .flatten()
            .map(|n| n.value.addr().is_ipv4())
            .next();
        let v6_only = matches!(
            u.rule.proto.as_ref().map(|p| p.value),
            Some(crate::netfilter::Proto::Icmpv6)
        );
        let v4_only = matches!(
            u.rule.proto.as_ref().map(|p| p.value),
            Some(crate::netfilter::Proto::Icmp)
        );
        if fam != Some(false) && !v6_only {
            v4.append(TableId::Filter, &u.chain, u.rule.clone());
        }
        if fam != Some(true) && !v4_only {
            v6.append(TableId::Filter, &u.chain, u.rule.clone());
        }
    }
}
